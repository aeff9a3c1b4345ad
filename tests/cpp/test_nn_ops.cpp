// conv, pooling and the fused dense op, checked against hand-computed values.
#include <cmath>

#include "test_util.hpp"

using namespace lamina;

TEST(NnOps, Conv2dValidAgainstHandComputedSums) {
  // One 3x3 single-channel image, a 2x2 kernel of ones: each output is the sum of a 2x2 window.
  Tensor x = lt::f32({1, 3, 3, 1}, {1, 2, 3, 4, 5, 6, 7, 8, 9});
  Tensor k = ops::ones({2, 2, 1, 1});
  Tensor b = lt::f32({1}, {0.5f});
  lt::expect_near(ops::conv(x, k, b), {12.5f, 16.5f, 24.5f, 28.5f});
  EXPECT_EQ(ops::conv(x, k).shape(), (Shape{1, 2, 2, 1}));
}

TEST(NnOps, Conv2dSamePaddingStridesAndRelu) {
  Tensor x = lt::f32({1, 3, 3, 1}, {1, 2, 3, 4, 5, 6, 7, 8, 9});
  Tensor k = ops::ones({3, 3, 1, 1});
  // "same" with stride 2 on 3x3: output 2x2, one row/column of padding on each side; each 3x3
  // window centred on a corner holds that corner's 2x2 block.
  Tensor y = ops::conv(x, k, Tensor(), {2, 2}, "same");
  lt::expect_near(y, {12.f, 16.f, 24.f, 28.f});
  Tensor r = ops::conv(x, ops::negative(k), lt::f32({1}, {1.f}), {1, 1}, "same", {1, 1}, ops::Activation::Relu);
  EXPECT_EQ(r.shape(), (Shape{1, 3, 3, 1}));
  for (float v : lt::values(r)) EXPECT_GE(v, 0.f);
}

TEST(NnOps, Conv2dGradientsOfASum) {
  Tensor x = lt::f32({1, 3, 3, 1}, {1, 2, 3, 4, 5, 6, 7, 8, 9});
  Tensor k = ops::ones({2, 2, 1, 1});
  k.set_requires_grad(true);
  x.set_requires_grad(true);
  Tensor loss;
  {
    GradRecording rec;
    loss = ops::sum(ops::conv(x, k));
  }
  auto g = gradients(loss, {x, k});
  lt::expect_near(g[0], {1, 2, 1, 2, 4, 2, 1, 2, 1});  // how many windows cover each pixel
  lt::expect_near(g[1], {12, 16, 24, 28});               // sum of the pixels each tap sees
}

TEST(NnOps, Conv2dRejectsBadShapes) {
  lt::expect_throw_msg<std::invalid_argument>([] { ops::conv(ops::ones({3, 3, 1}), ops::ones({2, 2, 1, 1})); },
                                              "[conv] expected a 4-D NHWC input, got shape (3, 3, 1)");
  lt::expect_throw_msg<std::invalid_argument>([] { ops::conv(ops::ones({1, 2, 2, 1}), ops::ones({3, 3, 1, 1})); },
                                              "[conv] window 3x3 is larger than the input");
  lt::expect_throw_msg<std::invalid_argument>([] { ops::conv(ops::ones({1, 4, 4, 2}), ops::ones({3, 3, 1, 1})); },
                                              "[conv] expected a kernel of shape (kh, kw, 2, filters)");
}

TEST(NnOps, MaxAndAveragePooling) {
  Tensor x = lt::f32({1, 2, 4, 1}, {1, 5, 2, 0, 3, 4, 8, 6});
  lt::expect_near(ops::max_pool(x, {2, 2}, {2, 2}), {5, 8});
  lt::expect_near(ops::average_pool(x, {2, 2}, {2, 2}), {3.25f, 4.f});
  // "same" average pooling does not count the padding: the last window holds 2 of 3 columns.
  lt::expect_near(ops::average_pool(lt::f32({1, 1, 3, 1}, {1, 2, 4}), {1, 2}, {1, 2}, "same"), {1.5f, 4.f});
  x.set_requires_grad(true);
  Tensor loss;
  {
    GradRecording rec;
    loss = ops::sum(ops::max_pool(x, {2, 2}, {2, 2}));
  }
  backward(loss);
  lt::expect_near(x.grad(), {0, 1, 0, 0, 0, 0, 1, 0});  // the gradient goes to each window's maximum
}

TEST(NnOps, DenseFusesBiasAndRelu) {
  Tensor x = lt::f32({2, 2}, {1, 2, -1, -2});
  Tensor k = lt::f32({2, 3}, {1, 0, -1, 0, 1, 1});
  Tensor b = lt::f32({3}, {0.5f, 0.f, -0.5f});
  lt::expect_near(ops::dense(x, k, b), {1.5f, 2.f, 0.5f, -0.5f, -2.f, -1.5f});
  lt::expect_near(ops::dense(x, k, b, ops::Activation::Relu), {1.5f, 2.f, 0.5f, 0.f, 0.f, 0.f});
  lt::expect_throw_msg<std::invalid_argument>([&] { ops::dense(x, ops::ones({3, 3})); }, "[dense]");
}

TEST(NnOps, BatchNormNormalisesEachChannel) {
  // Two channels over four rows: channel 0 = 1, 2, 3, 4 (mean 2.5, variance 1.25); channel 1 constant.
  // momentum 0: the moving statistics become the batch's.
  Tensor x = lt::f32({4, 2}, {1, 7, 2, 7, 3, 7, 4, 7});
  Tensor mean = ops::zeros({2}), var = ops::ones({2});
  Tensor y = ops::batch_norm(x, Tensor(), lt::f32({2}, {0.f, 1.f}), mean, var, -1, 0.0, 1e-3, true);
  lt::expect_near(mean, {2.5f, 7.f});
  lt::expect_near(var, {1.25f, 0.f});
  const float s = 1.f / std::sqrt(1.25f + 1e-3f);
  lt::expect_near(y, {-1.5f * s, 1.f, -0.5f * s, 1.f, 0.5f * s, 1.f, 1.5f * s, 1.f}, 1e-5f);
  // inference with those statistics gives the same values
  lt::expect_near(ops::batch_norm(x, Tensor(), lt::f32({2}, {0.f, 1.f}), mean, var), lt::values(y), 1e-6f);
  lt::expect_throw_msg<std::invalid_argument>(
      [] { ops::batch_norm(ops::ones({0, 3}), Tensor(), Tensor(), ops::zeros({3}), ops::ones({3}), -1, 0.9, 1e-3, true); },
      "[batch_norm]");
  lt::expect_throw_msg<std::invalid_argument>(
      [] { ops::batch_normalization(ops::ones({2, 3}), ops::zeros({2}), ops::ones({3}), 1); }, "[batch_normalization]");
}

// Large products from inside a caller's own OpenMP parallel region (nested regions get one thread):
// each thread's results (its own input) equal those computed afterwards outside any region,
// gradients (the transposed GEMMs) too. Inside first, so no buffer recycled from the reference
// run can hide rows left unwritten.
TEST(NnOps, DenseInsideCallersOpenMPRegion) {
  Tensor x0 = ops::random_normal({300, 200}, 0.0, 1.0, 1), k0 = ops::random_normal({200, 130}, 0.0, 1.0, 2);
  struct Result {
    std::vector<float> y, gx, gk;
  };
  auto run = [&](int t) {
    Tensor x = ops::multiply(x0, ops::scalar(1.0 + t)), k = k0.clone();
    x.set_requires_grad(true);
    k.set_requires_grad(true);
    Tensor out;
    {
      GradRecording rec;
      out = ops::sum(ops::square(ops::dense(x, k)));
    }
    std::vector<Tensor> g = gradients(out, {x, k});
    return Result{{static_cast<float>(out.item())}, lt::values(g[0]), lt::values(g[1])};
  };
  std::vector<Result> inside(4);
#pragma omp parallel for num_threads(4)
  for (int t = 0; t < 4; ++t) inside[t] = run(t);
  for (int t = 0; t < 4; ++t) {
    const Result ref = run(t);
    EXPECT_EQ(inside[t].y, ref.y) << "thread " << t;
    EXPECT_EQ(inside[t].gx, ref.gx) << "thread " << t;
    EXPECT_EQ(inside[t].gk, ref.gk) << "thread " << t;
  }
}

TEST(NnOps, VarianceScalingFollowsKerasFansAndSeeds) {
  EXPECT_EQ(ops::compute_fans({3, 3, 4, 8}), (std::pair<int64_t, int64_t>{36, 72}));
  Tensor w = ops::variance_scaling({3, 3, 4, 8}, 1.0, "fan_avg", "uniform", 5);  // glorot_uniform
  const float limit = std::sqrt(6.f / 108.f);
  for (float v : lt::values(w)) EXPECT_TRUE(v >= -limit && v < limit);
  EXPECT_EQ(lt::values(w), lt::values(ops::variance_scaling({3, 3, 4, 8}, 1.0, "fan_avg", "uniform", 5)));
  nn::Dense dense(8, "linear", true, /*seed=*/5);
  dense.build({-1, 36});
  EXPECT_EQ(lt::values(dense.kernel()), lt::values(ops::variance_scaling({36, 8}, 1.0, "fan_avg", "uniform", 5)));
  for (float v : lt::values(ops::truncated_normal({1000}, 1.0, 0.5, 3))) EXPECT_TRUE(v >= 0.f && v <= 2.f);
  lt::expect_throw_msg<std::invalid_argument>([] { ops::variance_scaling({2}, 1.0, "fan_max", "uniform"); },
                                              "[variance_scaling] Invalid `mode`");
}
