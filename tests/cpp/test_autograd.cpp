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

// A copy of x whose backward records the bytes in use when the pass reaches it (the bottom of
// whatever is built on top of it) and passes its gradient through.
namespace {
Tensor memory_probe(const Tensor& x, int64_t* at_bottom) {
  Tensor probe = x.clone();
  lamina::record(probe, "probe", {x}, [at_bottom](const Tensor& g, const std::vector<bool>&) {
    *at_bottom = lamina::allocated_bytes();
    return std::vector<Tensor>{g};
  });
  return probe;
}
}  // namespace

// run_backward drops each intermediate gradient once its node's backward has consumed it: when
// the pass reaches the bottom of a chain of N ops, the gradients of the N tensors above are gone
// (before, all N stayed alive until the pass ended). A probe node at the bottom reads the bytes
// in use at that moment.
namespace {
int64_t bytes_in_use_at_chain_bottom(bool ask_for_intermediates) {
  constexpr int64_t kNumel = 1 << 18;  // 1 MiB per float32 tensor
  constexpr int kChain = 8;
  const int64_t tensor_bytes = kNumel * 4;
  Tensor x = ops::ones({kNumel});
  x.set_requires_grad(true);
  int64_t at_bottom = -1;
  Tensor loss;
  std::vector<Tensor> chain;
  {
    lamina::GradRecording rec;
    Tensor probe = memory_probe(x, &at_bottom);
    Tensor y = probe;
    for (int i = 0; i < kChain; ++i) chain.push_back(y = ops::negative(y));
    loss = ops::sum(y);
  }
  const int64_t after_forward = lamina::allocated_bytes();
  std::vector<Tensor> wrt{x};
  if (ask_for_intermediates) wrt.insert(wrt.end(), chain.begin(), chain.end());
  std::vector<Tensor> g = lamina::gradients(loss, wrt);
  // Results are unchanged: d sum((-1)^8 x) / dx = 1; the asked-for intermediate gradients are
  // kept (d loss / d chain[i] = (-1)^(kChain - 1 - i)).
  EXPECT_EQ(lt::values(g[0]), std::vector<float>(kNumel, 1.0f));
  for (size_t i = 1; i < g.size(); ++i) {
    EXPECT_TRUE(g[i].defined());
    if (g[i].defined()) {
      EXPECT_EQ(lt::values(g[i])[0], (kChain - i) % 2 == 0 ? 1.0f : -1.0f);
    }
  }
  return (at_bottom - after_forward) / tensor_bytes;
}
}  // namespace

TEST(Autograd, BackwardFreesEachIntermediateGradientOnceConsumed) {
  // The seed gradient (loss) is tiny; at the bottom at most the gradient arriving there and the
  // one being passed on are alive: 8 consumed gradients would be 8 more tensors.
  EXPECT_LE(bytes_in_use_at_chain_bottom(false), 2);
  // Asked-for intermediates are kept until gradients() returns them.
  EXPECT_GE(bytes_in_use_at_chain_bottom(true), 8);
}

// gradients(..., release=true) frees each node with the values it saved right after its backward
// ran (torch's backward without retain_graph): at the bottom of a chain of 8 squares (each saves
// its input), the 8 saved values are gone; without release they are all still there.
namespace {
int64_t tensors_in_use_at_square_chain_bottom(bool release) {
  constexpr int64_t kNumel = 1 << 18;  // 1 MiB per float32 tensor
  Tensor x = ops::ones({kNumel});
  x.set_requires_grad(true);
  const int64_t before = lamina::allocated_bytes();
  int64_t at_bottom = -1;
  Tensor loss;
  {
    lamina::GradRecording rec;
    Tensor probe = memory_probe(x, &at_bottom);
    Tensor y = probe;
    for (int i = 0; i < 8; ++i) y = ops::square(y);
    loss = ops::sum(y);
  }
  std::vector<Tensor> g = lamina::gradients(loss, {x}, Tensor(), release);
  EXPECT_EQ(lt::values(g[0]), std::vector<float>(kNumel, 256.0f));  // d x^(2^8) / dx at 1
  EXPECT_EQ(loss.grad_fn() == nullptr, release);  // released: the graph is gone, as release_graph
  return (at_bottom - before) / (kNumel * 4);
}
}  // namespace

TEST(Autograd, GradientsWithReleaseFreeEachNodeAfterItsBackward) {
  EXPECT_GE(tensors_in_use_at_square_chain_bottom(false), 9);  // probe + 8 saved squares
  EXPECT_LE(tensors_in_use_at_square_chain_bottom(true), 3);   // probe + the gradients in flight
}

// The relu mask of a fused dense / conv backward is written over the incoming gradient when the
// pass hands over its only handle; a gradient someone else still holds (an asked-for intermediate,
// the caller's grad_output, the same gradient sent to two inputs) is never overwritten.
TEST(Autograd, FusedReluBackwardNeverOverwritesAGradientSomeoneHolds) {
  namespace ops = lamina::ops;
  Tensor x = lt::f32({2, 3}, {1, -2, 3, -4, 5, -6});
  Tensor k = lt::f32({3, 2}, {1, -1, 0.5f, 2, -1, 1});
  k.set_requires_grad(true);
  const std::vector<float> c{1, 2, 3, 4};
  Tensor y, loss;
  {
    lamina::GradRecording rec;
    y = ops::dense(x, k, Tensor(), ops::Activation::Relu);  // some outputs are 0: the mask bites
    loss = ops::sum(ops::multiply(y, lt::f32({2, 2}, c)));
  }
  // d loss / d y is c, mask or not: the asked-for gradient of y must come back unmasked.
  std::vector<Tensor> g = lamina::gradients(loss, {k, y});
  EXPECT_EQ(lt::values(g[1]), c);
  // The caller's grad_output keeps its values.
  Tensor seed = lt::f32({2, 2}, c);
  std::vector<Tensor> g2 = lamina::gradients(y, {k}, seed);
  EXPECT_EQ(lt::values(seed), c);
  EXPECT_EQ(lt::values(g2[0]), lt::values(g[0]));
  // One gradient sent to two inputs (add's backward): both relu layers see the unmasked values.
  Tensor a, b, s;
  {
    lamina::GradRecording rec;
    a = ops::dense(x, k, Tensor(), ops::Activation::Relu);
    b = ops::dense(ops::negative(x), k, Tensor(), ops::Activation::Relu);
    s = ops::sum(ops::multiply(ops::add(a, b), lt::f32({2, 2}, c)));
  }
  Tensor ga, gb, gk_sum;
  {
    Tensor la, lb;
    {
      lamina::GradRecording rec;
      la = ops::sum(ops::multiply(ops::dense(x, k, Tensor(), ops::Activation::Relu), lt::f32({2, 2}, c)));
      lb = ops::sum(ops::multiply(ops::dense(ops::negative(x), k, Tensor(), ops::Activation::Relu),
                                  lt::f32({2, 2}, c)));
    }
    ga = lamina::gradients(la, {k})[0];
    gb = lamina::gradients(lb, {k})[0];
  }
  std::vector<float> want = lt::values(ops::add(ga, gb));
  lt::expect_near(lamina::gradients(s, {k}, Tensor(), /*release=*/true)[0], want, 1e-6f);
}
