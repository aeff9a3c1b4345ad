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
// Far past the ~130k ops where the recursive teardown overflowed an 8 MiB stack. ASan's larger
// frames overflow it sooner, so a fifth is enough there (and keeps the sanitizer run short).
#ifdef __SANITIZE_ADDRESS__
constexpr int kLongGraph = 200000;
#else
constexpr int kLongGraph = 1000000;
#endif

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

TEST(Hardening, DenseWithNoInputFeaturesGivesTheBias) {
  // (3, 0) x (0, 2) is zeros (NumPy); + bias: the bias on each row. Filling the cache with other
  // values first makes uninitialised output visible.
  for (int i = 0; i < 3; ++i) {
    ops::dense(ops::full({3, 2}, 7.0), ops::ones({2, 2}), Tensor(), ops::Activation::Linear);
    Tensor x = ops::zeros({3, 0});
    Tensor k = ops::zeros({0, 2});
    Tensor b = lt::f32({2}, {1.5f, -2.0f});
    lt::expect_near(ops::dense(x, k, b, ops::Activation::Linear), {1.5f, -2.0f, 1.5f, -2.0f, 1.5f, -2.0f}, 0.f);
    lt::expect_near(ops::dense(x, k, Tensor(), ops::Activation::Linear), {0, 0, 0, 0, 0, 0}, 0.f);
    lt::expect_near(ops::dense(x, k, b, ops::Activation::Relu), {1.5f, 0, 1.5f, 0, 1.5f, 0}, 0.f);
  }
}

TEST(Hardening, DenseWithNoInputFeaturesGradients) {
  Tensor x = ops::zeros({4, 0});
  Tensor k = ops::zeros({0, 3});
  Tensor b = lt::f32({3}, {1, 1, 1});
  k.set_requires_grad(true);
  b.set_requires_grad(true);
  Tensor loss;
  {
    lamina::GradRecording rec;
    loss = ops::sum(ops::multiply(ops::dense(x, k, b, ops::Activation::Linear), lt::f32({3}, {0, 1, 2})));
  }
  lamina::backward(loss);
  EXPECT_EQ(k.grad().shape(), (lamina::Shape{0, 3}));
  lt::expect_near(b.grad(), {0, 4, 8}, 0.f);  // 4 rows times the weights
}

TEST(Hardening, BoolFillWritesOnlyZeroOrOne) {
  // The fill used to read the uninitialised buffer (a bool load of a byte other than 0 or 1 is
  // undefined behaviour). An optimised build drops the unused load, so this test fails only in the
  // sanitizer build (UBSan: "load of value 3, which is not a valid value for type 'bool'").
  for (int i = 0; i < 3; ++i) {
    Tensor junk = ops::full({64}, 3.0, DType::Int32);  // bytes 0x03 go back to the cache
    junk = Tensor();
    Tensor t = ops::ones({256}, DType::Bool);
    const unsigned char* p = static_cast<const unsigned char*>(t.raw_data());
    for (int64_t j = 0; j < t.numel(); ++j) ASSERT_EQ(p[j], 1u) << j;
  }
}

TEST(Hardening, ShapeProductsThatOverflowThrow) {
  const int64_t big = int64_t(1) << 32;
  lt::expect_throw_msg<std::invalid_argument>([&] { ops::reshape(ops::zeros({4}), {big, big, 4}); },
                                              "(4294967296, 4294967296, 4)");
  lt::expect_throw_msg<std::invalid_argument>([&] { ops::reshape(ops::zeros({4}), {-1, big, big}); },
                                              "(-1, 4294967296, 4294967296)");
  lt::expect_throw_msg<std::invalid_argument>([&] { ops::zeros({0, big, big}); }, "(0, 4294967296, 4294967296)");
  EXPECT_THROW(lamina::shape_numel({big, big}), std::invalid_argument);
  EXPECT_EQ(lamina::shape_numel({1 << 20, 1 << 20, 0}), 0);
  Tensor a = ops::zeros({0, big, 1});
  lt::expect_throw_msg<std::invalid_argument>([&] { ops::add(a, ops::zeros({0, 1, big})); },
                                              "(0, 4294967296, 4294967296)");
}

TEST(Hardening, IntegerArithmeticWrapsAsNumPy) {
  const int32_t mn = std::numeric_limits<int32_t>::min(), mx = std::numeric_limits<int32_t>::max();
  std::vector<int32_t> v = {mx, 1, 5};
  Tensor x = ops::from_data(v.data(), {3}, DType::Int32);
  Tensor s = ops::sum(x);
  ASSERT_EQ(s.dtype(), DType::Int32);  // Keras: int32 stays int32
  EXPECT_EQ(*s.data<int32_t>(), mn + 5);
  std::vector<int32_t> m = {mn, -3, 4};
  Tensor xm = ops::from_data(m.data(), {3}, DType::Int32);
  Tensor ab = ops::abs(xm), ng = ops::negative(xm);
  EXPECT_EQ(ab.data<int32_t>()[0], mn);  // NumPy: abs(INT_MIN) == INT_MIN
  EXPECT_EQ(ab.data<int32_t>()[1], 3);
  EXPECT_EQ(ng.data<int32_t>()[0], mn);
  Tensor sum2 = ops::add(ops::full({1}, mx, DType::Int32), ops::full({1}, 1, DType::Int32));
  EXPECT_EQ(sum2.data<int32_t>()[0], mn);
  Tensor prod = ops::multiply(ops::full({1}, 65536, DType::Int32), ops::full({1}, 65536, DType::Int32));
  EXPECT_EQ(prod.data<int32_t>()[0], 0);
  std::vector<int64_t> m64 = {std::numeric_limits<int64_t>::min()};
  EXPECT_EQ(ops::abs(lt::i64({1}, m64)).data<int64_t>()[0], std::numeric_limits<int64_t>::min());
}

TEST(Hardening, BoolArithmeticFollowsKeras) {
  std::vector<char> av = {1, 1, 0, 0}, bv = {1, 0, 1, 0};
  Tensor a = ops::from_data(av.data(), {4}, DType::Bool), b = ops::from_data(bv.data(), {4}, DType::Bool);
  Tensor s = ops::add(a, b), m = ops::multiply(a, b);
  ASSERT_EQ(s.dtype(), DType::Bool);
  ASSERT_EQ(m.dtype(), DType::Bool);
  for (int i = 0; i < 4; ++i) {
    EXPECT_EQ(s.data<bool>()[i], av[i] || bv[i]);
    EXPECT_EQ(m.data<bool>()[i], av[i] && bv[i]);
  }
  EXPECT_THROW(ops::subtract(a, b), lamina::TypeError);
  EXPECT_EQ(ops::square(a).dtype(), DType::Int32);
}

TEST(Hardening, ArangeAndFullRejectUnrepresentableValues) {
  const double nan = std::numeric_limits<double>::quiet_NaN(), inf = std::numeric_limits<double>::infinity();
  lt::expect_throw_msg<std::invalid_argument>([&] { ops::arange(0, nan, 1, DType::Float32); }, "cannot compute length");
  lt::expect_throw_msg<std::invalid_argument>([&] { ops::arange(0, inf, 1, DType::Float32); }, "maximum allowed size");
  lt::expect_throw_msg<std::invalid_argument>([&] { ops::full({2}, nan, DType::Int32); }, "int32");
  lt::expect_throw_msg<std::invalid_argument>([&] { ops::full({2}, 3e9, DType::Int32); }, "int32");
  EXPECT_EQ(ops::full({1}, -2147483648.0, DType::Int32).data<int32_t>()[0], std::numeric_limits<int32_t>::min());
}

TEST(Hardening, ReleaseGraphCutsHistoryAndFreesSavedTensors) {
  Tensor w = lt::f32({2}, {2, 3});
  w.set_requires_grad(true);
  Tensor h, y;
  {
    lamina::GradRecording rec;
    h = ops::multiply(ops::reshape(w, {2}), w);  // the reshape: a view saved by multiply
    y = ops::sum(h);
  }
  EXPECT_GT(w.storage().use_count(), 1);  // the graph's saved tensors share w's storage
  lamina::release_graph(y);
  EXPECT_TRUE(y.is_leaf());
  EXPECT_TRUE(h.is_leaf());  // every tensor reached through the graph loses its history
  EXPECT_FALSE(h.requires_grad());
  EXPECT_TRUE(w.requires_grad());  // leaves keep their flag
  EXPECT_EQ(w.storage().use_count(), 1);  // the saved tensors are gone: an update can be in place
  EXPECT_FLOAT_EQ(static_cast<float>(y.item()), 13.0f);
  lamina::release_graph(y);  // nothing left: a no-op
}
