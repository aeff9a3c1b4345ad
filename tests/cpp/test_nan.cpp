// NaN propagation through the ops whose kernels compare (as NumPy and torch: a NaN input gives a NaN
// output), through the C++ API, and pooling windows clipped to the input (cost bounded by the image).
#include <chrono>
#include <cmath>
#include <limits>

#include "test_util.hpp"

using namespace lamina;

namespace {
const float kNaN = std::numeric_limits<float>::quiet_NaN();
const float kInf = std::numeric_limits<float>::infinity();

std::vector<bool> nan_mask(const Tensor& t) {
  std::vector<bool> m;
  for (float v : lt::values(t)) m.push_back(std::isnan(v));
  return m;
}
}  // namespace

TEST(Nan, ReluMaxMinMaximumKeepNaN) {
  Tensor x = lt::f32({3}, {kNaN, -1.f, 2.f});
  EXPECT_EQ(nan_mask(ops::relu(x)), (std::vector<bool>{true, false, false}));  // was [0, 0, 2]
  EXPECT_TRUE(std::isnan(lt::values(ops::max(x))[0]));                         // was 2
  EXPECT_TRUE(std::isnan(lt::values(ops::min(x))[0]));
  EXPECT_TRUE(std::isnan(lt::values(ops::max(lt::f32({1}, {kNaN})))[0]));     // was -inf
  Tensor y = lt::f32({3}, {1.f, kNaN, 0.f});
  EXPECT_EQ(nan_mask(ops::maximum(x, y)), (std::vector<bool>{true, true, false}));
  EXPECT_EQ(nan_mask(ops::minimum(y, x)), (std::vector<bool>{true, true, false}));
}

TEST(Nan, MaxPoolTakesANaNAtAnyTap) {
  for (int tap = 0; tap < 4; ++tap) {
    std::vector<float> v = {1.f, 2.f, 3.f, 4.f};
    v[tap] = kNaN;
    Tensor y = ops::max_pool(lt::f32({1, 2, 2, 1}, v), {2, 2}, {2, 2});
    EXPECT_TRUE(std::isnan(lt::values(y)[0])) << "NaN at tap " << tap;
  }
}

TEST(Nan, FusedConvAndDenseReluKeepNaN) {
  // 8x8 image, 3x3 "valid" windows: 36 positions (6 full 6-row panels of the packed GEMM) and
  // 16 filters (one full 16-column panel): the AVX2 tile write with bias and relu.
  std::vector<float> img(8 * 8 * 2, 0.5f);
  img[(4 * 8 + 4) * 2] = kNaN;
  Tensor x = lt::f32({1, 8, 8, 2}, img);
  Tensor k = ops::negative(ops::ones({3, 3, 2, 16}));  // every finite output < 0: relu gives 0
  Tensor y = ops::conv(x, k, ops::zeros({16}), {1, 1}, "valid", {1, 1}, ops::Activation::Relu);
  std::vector<float> out = lt::values(y);
  int nans = 0;
  for (int64_t p = 0; p < 36; ++p) {
    const int64_t oh = p / 6, ow = p % 6;
    const bool covers = oh <= 4 && 4 <= oh + 2 && ow <= 4 && 4 <= ow + 2;
    for (int64_t f = 0; f < 16; ++f) {
      const float v = out[p * 16 + f];
      if (covers) {
        EXPECT_TRUE(std::isnan(v)) << "position " << p;
        ++nans;
      } else {
        EXPECT_EQ(v, 0.f) << "position " << p;
      }
    }
  }
  EXPECT_EQ(nans, 9 * 16);
  std::vector<float> rows(12 * 4, -1.f);
  rows[5 * 4 + 2] = kNaN;
  Tensor d = ops::dense(lt::f32({12, 4}, rows), ops::ones({4, 16}), ops::zeros({16}), ops::Activation::Relu);
  std::vector<float> dv = lt::values(d);
  for (int64_t r = 0; r < 12; ++r)
    for (int64_t j = 0; j < 16; ++j) EXPECT_EQ(std::isnan(dv[r * 16 + j]), r == 5) << r << ", " << j;
}

TEST(Nan, SoftmaxOfARowWithInfIsNaN) {
  // NumPy's exp(x - max) / sum and torch.softmax: +inf - inf is NaN, so the whole row is NaN
  Tensor y = ops::softmax(lt::f32({2, 3}, {kInf, 1.f, 2.f, 0.f, 0.f, 0.f}));
  EXPECT_EQ(nan_mask(y), (std::vector<bool>{true, true, true, false, false, false}));
}

TEST(Nan, SamePoolingWithAHugeWindowCostsOnePassOverTheImage) {
  // pool 2**40, "same": every window is the whole (clipped) image; it took time linear in the window
  Tensor x = ops::random_uniform({1, 4, 5, 3}, -1.0, 1.0, 7);
  const int64_t huge = int64_t(1) << 40;
  const auto start = std::chrono::steady_clock::now();
  Tensor m = ops::max_pool(x, {huge, huge}, {1, 1}, "same");
  Tensor a = ops::average_pool(x, {huge, huge}, {1, 1}, "same");
  EXPECT_LT(std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count(), 10.0);
  ASSERT_EQ(m.shape(), (Shape{1, 4, 5, 3}));
  lt::expect_near(ops::reshape(m, {20, 3}), lt::values(ops::broadcast_to(ops::max(x, {1, 2}), {20, 3})));
  lt::expect_near(ops::reshape(a, {20, 3}), lt::values(ops::broadcast_to(ops::mean(x, {1, 2}), {20, 3})));
}
