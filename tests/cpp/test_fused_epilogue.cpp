// The GEMM epilogue (bias + relu in the tile writes) gives the same bits as the unfused ops run one
// after the other, on sizes that reach every GEMM path (Eigen for few rows, the column split, the
// packed kernel with B read in place or packed, several k slices, edge tiles) and every convolution
// path (1x1 direct, the packed convolution GEMM, im2col + GEMM for deep windows), NaN included.
#include <cmath>
#include <cstring>

#include "test_util.hpp"

using namespace lamina;

namespace {

// Same shape and the same bits (a NaN must stay a NaN, with its payload).
void expect_same_bits(const Tensor& got, const Tensor& want, const std::string& what) {
  ASSERT_EQ(got.shape(), want.shape()) << what;
  const std::vector<float> a = lt::values(got), b = lt::values(want);
  size_t differing = 0, first = 0;
  for (size_t i = 0; i < a.size(); ++i)
    if (std::memcmp(&a[i], &b[i], sizeof(float)) != 0 && differing++ == 0) first = i;
  EXPECT_EQ(differing, 0u) << what << ": first at flat index " << first << ": " << a[first] << " vs " << b[first];
}

// Normal values with NaN in one row (a sample) of x.
Tensor with_nan_row(const Shape& shape, int64_t row, int64_t seed) {
  Tensor x = ops::random_normal(shape, 0.0, 1.0, seed).clone();
  float* p = x.data<float>();
  const int64_t cols = shape.back();
  if (row * cols < x.numel()) p[row * cols] = NAN;
  return x;
}

bool has_nan(const Tensor& t) {
  for (float v : lt::values(t))
    if (v != v) return true;
  return false;
}

}  // namespace

TEST(FusedEpilogue, DenseEqualsMatmulAddReluBitForBit) {
  struct Case { int64_t m, k, n; };
  // m < 8: Eigen (7 x 301 x 333 splits its columns across threads); 8 <= m < 96: B read in place;
  // m >= 96: B packed; k > 384: several slices; n not a multiple of 16: edge tiles.
  for (Case c : {Case{5, 13, 37}, Case{7, 301, 333}, Case{33, 129, 47}, Case{61, 777, 203}, Case{97, 401, 75},
                 Case{301, 1000, 129}}) {
    const std::string what = std::to_string(c.m) + "x" + std::to_string(c.k) + "x" + std::to_string(c.n);
    Tensor x = with_nan_row({c.m, c.k}, c.m / 2, 1);
    Tensor k = ops::random_normal({c.k, c.n}, 0.0, 0.1, 2);
    Tensor b = ops::random_normal({c.n}, 0.0, 1.0, 3);
    Tensor linear = ops::add(ops::matmul(x, k), b);
    expect_same_bits(ops::dense(x, k, b), linear, what + " linear");
    expect_same_bits(ops::dense(x, k, Tensor()), ops::matmul(x, k), what + " no bias");
    Tensor fused = ops::dense(x, k, b, ops::Activation::Relu);
    expect_same_bits(fused, ops::relu(linear), what + " relu");
    EXPECT_TRUE(has_nan(fused)) << what;  // the NaN row stays NaN through the relu
    // every other activation runs after the GEMM: the same as applying it to the linear result
    for (const std::string& name : ops::activation_names()) {
      const ops::Activation a = ops::activation_from_name(name);
      expect_same_bits(ops::dense(x, k, b, a), ops::activation(linear, a), what + " " + name);
    }
  }
}

TEST(FusedEpilogue, DenseReluGradientsEqualTheUnfusedOps) {
  for (int64_t m : {5, 33, 97}) {
    Tensor x = ops::random_normal({m, 45}, 0.0, 1.0, 4), k = ops::random_normal({45, 19}, 0.0, 0.2, 5);
    Tensor b = ops::random_normal({19}, 0.0, 1.0, 6);
    Tensor g = ops::random_normal({m, 19}, 0.0, 1.0, 7);
    std::vector<Tensor> grads[2];
    for (int fused = 0; fused < 2; ++fused) {
      Tensor xv = x.clone(), kv = k.clone(), bv = b.clone();
      for (Tensor* t : {&xv, &kv, &bv}) t->set_requires_grad(true);
      Tensor y;
      {
        GradRecording rec;
        y = fused ? ops::dense(xv, kv, bv, ops::Activation::Relu) : ops::relu(ops::add(ops::matmul(xv, kv), bv));
      }
      backward(y, g);
      grads[fused] = {xv.grad(), kv.grad(), bv.grad()};
    }
    expect_same_bits(grads[1][0], grads[0][0], "dx");
    expect_same_bits(grads[1][1], grads[0][1], "dkernel");
    lt::expect_near(grads[1][2], lt::values(grads[0][2]), 1e-5f);  // a sum over rows, in another order
  }
}

TEST(FusedEpilogue, ConvEqualsConvAddReluBitForBit) {
  struct Case { int64_t h, w, c, kh, kw, f, s; const char* padding; };
  // 1x1 stride 1 (direct GEMM); 3x3 (packed convolution GEMM, border panels with "same");
  // 3x3 over 130 channels (K = 1170: im2col + GEMM, a last chunk of 5 positions on Eigen);
  // 101 output positions so that a chunk of 96 leaves 5.
  for (Case c : {Case{11, 9, 3, 1, 1, 21, 1, "valid"}, Case{9, 7, 5, 3, 3, 19, 1, "same"},
                 Case{12, 11, 4, 3, 2, 17, 2, "valid"}, Case{103, 3, 130, 3, 1, 7, 1, "valid"}}) {
    const std::string what = std::to_string(c.h) + "x" + std::to_string(c.w) + "x" + std::to_string(c.c) + " k" +
                             std::to_string(c.kh) + "x" + std::to_string(c.kw) + " " + c.padding;
    Tensor x = with_nan_row({2, c.h, c.w, c.c}, 4, 8);
    Tensor k = ops::random_normal({c.kh, c.kw, c.c, c.f}, 0.0, 0.2, 9);
    Tensor b = ops::random_normal({c.f}, 0.0, 1.0, 10);
    const std::vector<int64_t> s{c.s, c.s};
    Tensor linear = ops::add(ops::conv(x, k, Tensor(), s, c.padding), b);
    expect_same_bits(ops::conv(x, k, b, s, c.padding), linear, what + " linear");
    Tensor fused = ops::conv(x, k, b, s, c.padding, {1, 1}, ops::Activation::Relu);
    expect_same_bits(fused, ops::relu(linear), what + " relu");
    EXPECT_TRUE(has_nan(fused)) << what;
    for (ops::Activation a : {ops::Activation::Tanh, ops::Activation::Softmax, ops::Activation::LeakyRelu})
      expect_same_bits(ops::conv(x, k, b, s, c.padding, {1, 1}, a), ops::activation(linear, a), what);
  }
}
