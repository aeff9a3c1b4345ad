// Hardening (issue 12): long graphs freed and differentiated without recursion, dense with no
// input features, undefined behaviour in creation, reshape, integer sums and abs.
#include <cstdint>
#include <limits>
#include <stdexcept>

#include "test_util.hpp"

using lamina::DType;
using lamina::Tensor;
namespace ops = lamina::ops;

namespace {
constexpr int kLongGraph = 1000000;  // far past the ~100k ops where recursive teardown overflowed

// y = x * 1 repeated n times while recording: a chain of n nodes, each holding the previous tensor.
Tensor long_chain(const Tensor& x, int n) {
  Tensor one = ops::scalar(1.0);
  Tensor y = x;
  lamina::GradRecording rec;
  for (int i = 0; i < n; ++i) y = ops::multiply(y, one);
  return y;
}
}  // namespace

TEST(Hardening, MillionOpGraphIsFreedWithoutStackOverflow) {
  Tensor x = lt::f32({}, {2.0f});
  x.set_requires_grad(true);
  Tensor y = long_chain(x, kLongGraph);
  EXPECT_FLOAT_EQ(static_cast<float>(y.item()), 2.0f);
  y = Tensor();  // the whole chain dies here (the old recursive destructors overflowed the stack)
  SUCCEED();
}

TEST(Hardening, MillionOpGraphBackwardAndGradients) {
  Tensor x = lt::f32({}, {2.0f});
  x.set_requires_grad(true);
  Tensor y = long_chain(x, kLongGraph);
  std::vector<Tensor> g = lamina::gradients(y, {x});
  ASSERT_TRUE(g[0].defined());
  EXPECT_FLOAT_EQ(static_cast<float>(g[0].item()), 1.0f);
  lamina::backward(y);
  EXPECT_FLOAT_EQ(static_cast<float>(x.grad().item()), 1.0f);
}

TEST(Hardening, LongGraphWithSharedBranchesIsFreed) {
  // Each step uses the previous result twice (y = y*1 + y*0): nodes have two owners until the
  // later one goes, so the freeing order differs from a plain chain.
  Tensor x = lt::f32({2}, {1.0f, 3.0f});
  x.set_requires_grad(true);
  Tensor one = ops::scalar(1.0), zero = ops::scalar(0.0);
  Tensor y = x;
  {
    lamina::GradRecording rec;
    for (int i = 0; i < kLongGraph / 10; ++i) y = ops::add(ops::multiply(y, one), ops::multiply(y, zero));
  }
  Tensor loss;
  {
    lamina::GradRecording rec;
    loss = ops::sum(y);
  }
  lamina::backward(loss);
  lt::expect_near(x.grad(), {1.0f, 1.0f});
  loss = Tensor();
  y = Tensor();
  SUCCEED();
}
