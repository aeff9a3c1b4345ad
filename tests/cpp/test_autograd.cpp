// Reverse-mode autodiff: analytic gradients, accumulation, gradients(), recording scopes.
#include <cmath>
#include <stdexcept>

#include "test_util.hpp"

using lamina::Tensor;
namespace ops = lamina::ops;

namespace {
Tensor leaf(const lamina::Shape& shape, const std::vector<float>& v) {
  Tensor t = lt::f32(shape, v);
  t.set_requires_grad(true);
  return t;
}
}  // namespace

TEST(Autograd, ElementwiseExpressionMatchesAnalytic) {
  Tensor a = leaf({3}, {1, 2, 3});
  Tensor b = leaf({3}, {4, 5, 6});
  Tensor loss;
  {
    lamina::GradRecording rec;
    loss = ops::sum(ops::add(ops::multiply(a, b), ops::square(a)));  // sum(a*b + a^2)
  }
  EXPECT_FLOAT_EQ(loss.item(), 4 + 10 + 18 + 1 + 4 + 9);
  lamina::backward(loss);
  lt::expect_near(a.grad(), {6, 9, 12});  // b + 2a
  lt::expect_near(b.grad(), {1, 2, 3});   // a
}

TEST(Autograd, MatmulWithBroadcastBiasAndTanh) {
  Tensor x = leaf({2, 3}, {1, 2, 3, 4, 5, 6});
  Tensor w = leaf({3, 2}, {0.1f, -0.2f, 0.3f, 0.0f, -0.1f, 0.2f});
  Tensor bias = leaf({2}, {0.5f, -0.5f});
  Tensor h, loss;
  {
    lamina::GradRecording rec;
    h = ops::add(ops::matmul(x, w), bias);
    loss = ops::sum(ops::tanh(h));
  }
  ASSERT_NE(h.grad_fn(), nullptr);
  EXPECT_STREQ(h.grad_fn()->name, "add");
  lamina::backward(loss);
  // G = 1 - tanh(h)^2; dW = X^T G, dx = G W^T, dbias = column sums of G.
  std::vector<float> hv = lt::values(h), g(4), gw(6, 0), gx(6, 0), gb(2, 0);
  for (int i = 0; i < 4; ++i) g[i] = 1 - std::tanh(hv[i]) * std::tanh(hv[i]);
  std::vector<float> xv = lt::values(x), wv = lt::values(w);
  for (int r = 0; r < 2; ++r)
    for (int j = 0; j < 2; ++j) {
      gb[j] += g[r * 2 + j];
      for (int p = 0; p < 3; ++p) {
        gw[p * 2 + j] += xv[r * 3 + p] * g[r * 2 + j];
        gx[r * 3 + p] += g[r * 2 + j] * wv[p * 2 + j];
      }
    }
  lt::expect_near(w.grad(), gw);
  lt::expect_near(x.grad(), gx);
  lt::expect_near(bias.grad(), gb);
}

TEST(Autograd, CrossEntropyGradientIsSoftmaxMinusOneHot) {
  Tensor logits = leaf({2, 3}, {1, 2, 3, 0, 0, 0});
  Tensor labels = lt::i64({2}, {2, 1});
  Tensor loss;
  {
    lamina::GradRecording rec;
    loss = ops::mean(ops::sparse_categorical_crossentropy(logits, labels));
  }
  lamina::backward(loss);
  const float z = std::exp(1.f) + std::exp(2.f) + std::exp(3.f);
  lt::expect_near(logits.grad(), {std::exp(1.f) / z / 2, std::exp(2.f) / z / 2, (std::exp(3.f) / z - 1) / 2,
                                  1 / 6.f, (1 / 3.f - 1) / 2, 1 / 6.f});
}

TEST(Autograd, BackwardAccumulatesIntoLeaves) {
  Tensor a = leaf({2}, {1, -2});
  for (int i = 0; i < 2; ++i) {
    Tensor loss;
    {
      lamina::GradRecording rec;
      loss = ops::sum(ops::multiply(a, ops::scalar(3)));
    }
    lamina::backward(loss);
  }
  lt::expect_near(a.grad(), {6, 6});  // 3 + 3: gradients add up until cleared
  a.set_grad(Tensor());
  EXPECT_FALSE(a.grad().defined());
  // The same graph can be walked twice too.
  Tensor loss;
  {
    lamina::GradRecording rec;
    loss = ops::sum(ops::square(a));
  }
  lamina::backward(loss);
  lamina::backward(loss);
  lt::expect_near(a.grad(), {4, -8});  // 2 * 2a
}

TEST(Autograd, GradientsForIntermediateLeavesGradUntouched) {
  Tensor a = leaf({3}, {1, 2, 3});
  Tensor b = leaf({3}, {2, 2, 2});
  Tensor unused = leaf({3}, {0, 0, 0});
  Tensor h, loss;
  {
    lamina::GradRecording rec;
    h = ops::multiply(a, b);
    loss = ops::sum(ops::square(h));  // dL/dh = 2h, dL/da = 2h * b
  }
  std::vector<Tensor> g = lamina::gradients(loss, {h, a, unused});
  ASSERT_EQ(g.size(), 3u);
  lt::expect_near(g[0], {4, 8, 12});
  lt::expect_near(g[1], {8, 16, 24});
  EXPECT_FALSE(g[2].defined());  // does not influence the loss
  EXPECT_FALSE(a.grad().defined());
  EXPECT_FALSE(b.grad().defined());
}

TEST(Autograd, ExplicitGradOutput) {
  Tensor a = leaf({2}, {1, 2});
  Tensor y;
  {
    lamina::GradRecording rec;
    y = ops::multiply(a, a);
  }
  lamina::backward(y, lt::f32({2}, {1, 10}));
  lt::expect_near(a.grad(), {2, 40});
  lt::expect_throw_msg<std::invalid_argument>([&] { lamina::backward(y); }, "(2,)");
  EXPECT_THROW(lamina::backward(y, ops::ones({3})), std::invalid_argument);
  EXPECT_THROW(lamina::backward(Tensor()), std::invalid_argument);
}

TEST(Autograd, NothingRecordedOutsideScopeOrUnderNoGrad) {
  Tensor a = leaf({2}, {1, 2});
  Tensor plain = lt::f32({2}, {3, 4});
  EXPECT_FALSE(lamina::is_recording());
  Tensor out = ops::multiply(a, plain);
  EXPECT_EQ(out.grad_fn(), nullptr);
  EXPECT_FALSE(out.requires_grad());
  EXPECT_TRUE(out.is_leaf());
  {
    lamina::GradRecording rec;
    EXPECT_TRUE(lamina::is_recording());
    Tensor no_input_needs = ops::multiply(plain, plain);
    EXPECT_EQ(no_input_needs.grad_fn(), nullptr);
    Tensor rec_out = ops::matmul(ops::reshape(a, {1, 2}), ops::reshape(plain, {2, 1}));
    ASSERT_NE(rec_out.grad_fn(), nullptr);
    EXPECT_STREQ(rec_out.grad_fn()->name, "matmul");
    EXPECT_TRUE(rec_out.requires_grad());
    {
      lamina::NoGrad ng;
      EXPECT_FALSE(lamina::is_recording());
      Tensor inside = ops::multiply(a, plain);
      EXPECT_EQ(inside.grad_fn(), nullptr);
      EXPECT_FALSE(inside.requires_grad());
    }
    EXPECT_TRUE(lamina::is_recording());  // NoGrad restores the enclosing scope
    Tensor d = ops::multiply(a, plain).detach();
    EXPECT_EQ(d.grad_fn(), nullptr);
  }
  EXPECT_FALSE(lamina::is_recording());
}
