// Fused optimizer updates (optim.hpp): a few steps of each against values worked out by hand with
// Keras 3's formulas, clipping helpers, the optimizer classes, and errors on bad input.
#include <cmath>
#include <vector>

#include "test_util.hpp"

using lamina::Tensor;
using lamina::optim::GradClip;
using TL = std::vector<Tensor>;

namespace {

TL one(const Tensor& t) { return TL{t}; }

}  // namespace

TEST(OptimSgd, PlainMomentumNesterov) {
  // plain: p = 1 - 0.1 * 2 = 0.8, then 0.8 - 0.1 * 2 = 0.6
  TL p = one(lt::f32({1}, {1.f})), g = one(lt::f32({1}, {2.f})), none;
  lamina::optim::sgd_update(p, g, none, 0.1f);
  lamina::optim::sgd_update(p, g, none, 0.1f);
  lt::expect_near(p[0], {0.6f});

  // momentum 0.5: m = -0.2, p = 0.8; m = -0.1 - 0.2 = -0.3, p = 0.5
  TL q = one(lt::f32({1}, {1.f})), m = one(lt::f32({1}, {0.f}));
  lamina::optim::sgd_update(q, g, m, 0.1f, 0.5f);
  lamina::optim::sgd_update(q, g, m, 0.1f, 0.5f);
  lt::expect_near(q[0], {0.5f});
  lt::expect_near(m[0], {-0.3f});

  // nesterov: m = -0.2, p = 1 + 0.5 * -0.2 - 0.2 = 0.7; m = -0.3, p = 0.7 - 0.15 - 0.2 = 0.35
  TL r = one(lt::f32({1}, {1.f})), mr = one(lt::f32({1}, {0.f}));
  lamina::optim::sgd_update(r, g, mr, 0.1f, 0.5f, true);
  lamina::optim::sgd_update(r, g, mr, 0.1f, 0.5f, true);
  lt::expect_near(r[0], {0.35f});
}

TEST(OptimSgd, WeightDecayIsDecoupledAndFirst) {
  // p = 2 - 2 * 0.5 * 0.1 = 1.9, then 1.9 - 0.1 * 1 = 1.8
  TL p = one(lt::f32({1}, {2.f})), g = one(lt::f32({1}, {1.f})), none;
  lamina::optim::sgd_update(p, g, none, 0.1f, 0.f, false, 0.5f);
  lt::expect_near(p[0], {1.8f});
}

TEST(OptimAdam, TwoStepsAndAmsgrad) {
  const float lr = 0.1f, b1 = 0.9f, b2 = 0.999f, eps = 1e-7f;
  TL p = one(lt::f32({2}, {1.f, -1.f})), m = one(lt::f32({2}, {0.f, 0.f})), v = one(lt::f32({2}, {0.f, 0.f}));
  TL vh = one(lt::f32({2}, {0.f, 0.f}));
  std::vector<std::vector<float>> gs = {{0.5f, -2.f}, {0.1f, 1.f}};
  double P[2] = {1, -1}, M[2] = {0, 0}, V[2] = {0, 0}, H[2] = {0, 0};
  for (int t = 1; t <= 2; ++t) {
    TL g = one(lt::f32({2}, gs[t - 1]));
    lamina::optim::adam_update(p, g, m, v, vh, lr, b1, b2, eps, t, 0.f, true);
    double alpha = lr * std::sqrt(1 - std::pow(b2, t)) / (1 - std::pow(b1, t));
    for (int i = 0; i < 2; ++i) {
      M[i] += (gs[t - 1][i] - M[i]) * (1 - b1);
      V[i] += (gs[t - 1][i] * gs[t - 1][i] - V[i]) * (1 - b2);
      H[i] = std::max(H[i], V[i]);
      P[i] -= alpha * M[i] / (std::sqrt(H[i]) + eps);
    }
  }
  lt::expect_near(p[0], {float(P[0]), float(P[1])});
  lt::expect_near(m[0], {float(M[0]), float(M[1])});
  lt::expect_near(vh[0], {float(H[0]), float(H[1])});
  // step 1 of Adam moves each weight by about lr * sign(g)
  TL q = one(lt::f32({1}, {0.f})), m1 = one(lt::f32({1}, {0.f})), v1 = one(lt::f32({1}, {0.f})), none;
  TL g = one(lt::f32({1}, {3.f}));
  lamina::optim::adam_update(q, g, m1, v1, none, 0.01f);
  lt::expect_near(q[0], {-0.01f});
}

TEST(OptimRmsprop, PlainCenteredMomentum) {
  // plain: v = 0.1 * 4 = 0.4, p = 1 - 0.01 * 2 / sqrt(0.4 + 1e-7)
  TL p = one(lt::f32({1}, {1.f})), g = one(lt::f32({1}, {2.f})), v = one(lt::f32({1}, {0.f})), none1, none2;
  lamina::optim::rmsprop_update(p, g, v, none1, none2, 0.01f);
  lt::expect_near(p[0], {float(1 - 0.02 / std::sqrt(0.4 + 1e-7))});
  // centered + momentum 0.5: v = 0.4, a = 0.2, d = 0.4 - 0.04 + eps; mom = inc
  TL q = one(lt::f32({1}, {1.f})), vq = one(lt::f32({1}, {0.f})), mom = one(lt::f32({1}, {0.f}));
  TL avg = one(lt::f32({1}, {0.f}));
  lamina::optim::rmsprop_update(q, g, vq, mom, avg, 0.01f, 0.9f, 0.5f, 1e-7f, true);
  double inc = 0.02 / std::sqrt(0.36 + 1e-7);
  lt::expect_near(q[0], {float(1 - inc)});
  lamina::optim::rmsprop_update(q, g, vq, mom, avg, 0.01f, 0.9f, 0.5f, 1e-7f, true);
  double v2 = 0.9 * 0.4 + 0.4, a2 = 0.9 * 0.2 + 0.2;
  double inc2 = 0.02 / std::sqrt(v2 - a2 * a2 + 1e-7);
  lt::expect_near(q[0], {float(1 - inc - (0.5 * inc + inc2))});
}

TEST(OptimAdagrad, Steps) {
  // acc = 0.1 + 4 = 4.1, p = 1 - 0.1 * 2 / sqrt(4.1 + 1e-7); acc = 8.1, ...
  TL p = one(lt::f32({1}, {1.f})), g = one(lt::f32({1}, {2.f})), acc = one(lt::f32({1}, {0.1f}));
  lamina::optim::adagrad_update(p, g, acc, 0.1f);
  lamina::optim::adagrad_update(p, g, acc, 0.1f);
  lt::expect_near(p[0], {float(1 - 0.2 / std::sqrt(4.1 + 1e-7) - 0.2 / std::sqrt(8.1 + 1e-7))});
  lt::expect_near(acc[0], {8.1f});
}

TEST(OptimClip, FusedClipMatchesHelpers) {
  TL g = {lt::f32({2}, {3.f, 4.f}), lt::f32({1}, {12.f})};  // norms 5 and 12, global 13
  EXPECT_NEAR(lamina::optim::global_norm(g), 13.0, 1e-9);
  lt::expect_near(lamina::optim::clip_by_norm(g[0], 1.f), {0.6f, 0.8f});
  lt::expect_near(lamina::optim::clip_by_norm(g, 10.f)[1], {10.f});
  lt::expect_near(lamina::optim::clip_by_norm(g, 10.f)[0], {3.f, 4.f});  // under the limit: unchanged
  lt::expect_near(lamina::optim::clip_by_global_norm(g, 1.3f)[1], {1.2f});
  lt::expect_near(lamina::optim::clip_by_value(g, 3.5f)[0], {3.f, 3.5f});
  lt::expect_near(g[1], {12.f});  // inputs untouched

  struct Case {
    GradClip clip;
    TL expected_grads;
  };
  std::vector<Case> cases = {{GradClip::by_value(3.5f), lamina::optim::clip_by_value(g, 3.5f)},
                             {GradClip::by_norm(1.f), lamina::optim::clip_by_norm(g, 1.f)},
                             {GradClip::by_global_norm(1.3f), lamina::optim::clip_by_global_norm(g, 1.3f)}};
  for (const Case& c : cases) {
    TL p = {lt::f32({2}, {0.f, 0.f}), lt::f32({1}, {0.f})}, none;
    lamina::optim::sgd_update(p, g, none, 1.f, 0.f, false, 0.f, c.clip);
    for (size_t i = 0; i < 2; ++i) {
      std::vector<float> want = lt::values(c.expected_grads[i]);
      for (float& w : want) w = -w;
      lt::expect_near(p[i], want);
    }
    lt::expect_near(g[0], {3.f, 4.f});  // the fused clip does not write the gradients
  }
}

TEST(OptimUpdate, LargeTensorsThreadedSameAsSmall) {
  // 100k elements (threaded chunks) against the same values updated in 1-element tensors' formula.
  const int64_t n = 100000;
  std::vector<float> pv(n), gv(n);
  for (int64_t i = 0; i < n; ++i) {
    pv[i] = std::sin(0.001f * i);
    gv[i] = std::cos(0.003f * i);
  }
  TL p = one(lt::f32({n}, pv)), g = one(lt::f32({n}, gv)), m = one(lamina::ops::zeros({n}));
  TL v = one(lamina::ops::zeros({n})), none;
  lamina::optim::adam_update(p, g, m, v, none, 0.01f, 0.9f, 0.999f, 1e-7f, 1, 0.1f);
  std::vector<float> got = lt::values(p[0]);
  for (int64_t i = 0; i < n; i += 997) {
    double w = pv[i] - pv[i] * 0.1 * 0.01;
    double mm = 0.1 * gv[i], vv = 0.001 * gv[i] * gv[i];
    double alpha = 0.01 * std::sqrt(1 - 0.999) / (1 - 0.9);
    EXPECT_NEAR(got[i], w - alpha * mm / (std::sqrt(vv) + 1e-7), 1e-5) << i;
  }
}

TEST(OptimUpdate, UnsharesParamsBeforeWriting) {
  Tensor w = lt::f32({2, 2}, {1.f, 2.f, 3.f, 4.f});
  Tensor view = w.view({4});  // shares w's storage
  TL p = one(w), g = one(lamina::ops::ones({2, 2})), none;
  lamina::optim::sgd_update(p, g, none, 1.f);
  lt::expect_near(w, {0.f, 1.f, 2.f, 3.f});     // the param handle sees the update
  lt::expect_near(view, {1.f, 2.f, 3.f, 4.f});  // the earlier view keeps its values
}

TEST(OptimErrors, BadInputThrowsAndWritesNothing) {
  TL p = {lt::f32({2}, {1.f, 2.f}), lt::f32({3}, {1.f, 2.f, 3.f})};
  TL g = {lt::f32({2}, {1.f, 1.f}), lt::f32({2}, {1.f, 1.f})};
  TL m = {lamina::ops::zeros({2}), lamina::ops::zeros({3})}, v = m, none;
  lt::expect_throw_msg<std::invalid_argument>(
      [&] { lamina::optim::adam_update(p, g, m, v, none, 0.1f); },
      "[adam_update] grads[1] has shape (2,), expected (3,)");
  lt::expect_near(p[0], {1.f, 2.f});  // nothing written
  TL g2 = {g[0]};
  lt::expect_throw_msg<std::invalid_argument>([&] { lamina::optim::sgd_update(p, g2, none, 0.1f); },
                                              "[sgd_update] got 2 params but 1 grads");
  TL g3 = {g[0], lt::f32({3}, {1.f, 1.f, 1.f})};
  lt::expect_throw_msg<std::invalid_argument>([&] { lamina::optim::sgd_update(p, g3, none, 0.1f, 0.9f); },
                                              "[sgd_update] got 2 params but 0 momenta");
  lt::expect_throw_msg<std::invalid_argument>(
      [&] { lamina::optim::adam_update(p, g3, m, v, none, 0.1f, 0.9f, 0.999f, 1e-7f, 1, 0.f, true); },
      "[adam_update] got 2 params but 0 vhat_max");
  lt::expect_throw_msg<std::invalid_argument>(
      [&] { lamina::optim::adam_update(p, g3, m, v, none, 0.1f, 0.9f, 0.999f, 1e-7f, 0); }, "step must be >= 1");
  TL ints = {lt::i64({2}, {1, 2})}, gi = {g[0]};
  lt::expect_throw_msg<lamina::TypeError>([&] { lamina::optim::sgd_update(ints, gi, none, 0.1f); },
                                          "[sgd_update] params[0] has dtype int64");
  TL undefined = {Tensor()};
  lt::expect_throw_msg<std::invalid_argument>(
      [&] { lamina::optim::adagrad_update(undefined, gi, none, 0.1f); }, "[adagrad_update] params[0] is undefined");
  TL twice = {p[0], p[0]}, gg = {g[0], g[0]};
  lt::expect_throw_msg<std::invalid_argument>([&] { lamina::optim::sgd_update(twice, gg, none, 0.1f); },
                                              "params[1] is listed more than once");
  lt::expect_throw_msg<std::invalid_argument>(
      [&] { lamina::optim::sgd_update(p, g3, none, 0.1f, 0.f, false, 0.f, GradClip::by_norm(-1.f)); },
      "clip norm must be > 0");
  lt::expect_throw_msg<std::invalid_argument>([&] { lamina::optim::clip_by_value(g, 0.f); }, "[clip_by_value]");
}

TEST(OptimClasses, StepReadsGradsAndKeepsSlotsPerParam) {
  Tensor a = lt::f32({2}, {1.f, 1.f}), b = lt::f32({1}, {5.f});
  a.set_requires_grad(true);
  b.set_requires_grad(true);
  lamina::optim::SGD opt(0.1f, 0.5f);
  TL params = {a, b};
  a.set_grad(lt::f32({2}, {1.f, 1.f}));  // b has no gradient: skipped
  opt.step(params);
  lt::expect_near(a, {0.9f, 0.9f});
  lt::expect_near(b, {5.f});
  EXPECT_EQ(opt.iterations(), 1);
  EXPECT_EQ(opt.num_slotted_params(), 1u);
  // reorder and add b: a keeps its momentum (-0.1), b starts from zero
  b.set_grad(lt::f32({1}, {1.f}));
  TL reordered = {b, a};
  opt.step(reordered);
  lt::expect_near(a, {0.9f - 0.15f, 0.9f - 0.15f});
  lt::expect_near(b, {4.9f});
  // frozen params are skipped
  a.set_requires_grad(false);
  opt.step(reordered);
  lt::expect_near(a, {0.75f, 0.75f});
  lamina::optim::Optimizer::zero_grad(reordered);
  EXPECT_FALSE(b.grad().defined());
  EXPECT_EQ(opt.iterations(), 3);
}

TEST(OptimClasses, AdamAdamWRmspropAdagradMatchFunctions) {
  auto run = [](lamina::optim::Optimizer& opt, auto fn) {
    Tensor w = lt::f32({3}, {0.5f, -1.f, 2.f});
    w.set_requires_grad(true);
    Tensor ref = w.clone();
    TL params = {w}, refs = {ref};
    for (int s = 0; s < 3; ++s) {
      Tensor g = lt::f32({3}, {0.3f * (s + 1), -0.2f, 1.f});
      w.set_grad(g);
      opt.step(params);
      fn(refs, TL{g}, s + 1);
    }
    lt::expect_near(w, lt::values(ref), 1e-6f);
  };
  {
    TL m = one(lamina::ops::zeros({3})), v = one(lamina::ops::zeros({3})), none;
    lamina::optim::AdamW opt(0.01f);  // weight_decay 0.004
    run(opt, [&](TL& p, const TL& g, int t) {
      lamina::optim::adam_update(p, g, m, v, none, 0.01f, 0.9f, 0.999f, 1e-7f, t, 0.004f);
    });
  }
  {
    TL vel = one(lamina::ops::zeros({3})), mom = one(lamina::ops::zeros({3})), none;
    lamina::optim::RMSprop opt(0.01f, 0.9f, 0.5f);
    run(opt, [&](TL& p, const TL& g, int) { lamina::optim::rmsprop_update(p, g, vel, mom, none, 0.01f, 0.9f, 0.5f); });
  }
  {
    TL acc = one(lamina::ops::full({3}, 0.1));
    lamina::optim::Adagrad opt(0.05f);
    opt.clip = GradClip::by_value(0.5f);
    run(opt, [&](TL& p, const TL& g, int) {
      lamina::optim::adagrad_update(p, g, acc, 0.05f, 1e-7f, 0.f, GradClip::by_value(0.5f));
    });
  }
}
