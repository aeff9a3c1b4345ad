// Op numerics against hand-computed values, and the errors that name the op.
#include <cmath>
#include <stdexcept>

#include "test_util.hpp"

using lamina::DType;
using lamina::Tensor;
namespace ops = lamina::ops;

namespace {

// C = A @ B by the textbook triple loop, for `batch` stacked (m x k) @ (k x n) products.
std::vector<float> naive_matmul(const std::vector<float>& a, const std::vector<float>& b, int64_t batch,
                                int64_t m, int64_t k, int64_t n) {
  std::vector<float> c(batch * m * n, 0.f);
  for (int64_t s = 0; s < batch; ++s)
    for (int64_t i = 0; i < m; ++i)
      for (int64_t j = 0; j < n; ++j) {
        double acc = 0;
        for (int64_t p = 0; p < k; ++p) acc += double(a[s * m * k + i * k + p]) * b[s * k * n + p * n + j];
        c[s * m * n + i * n + j] = static_cast<float>(acc);
      }
  return c;
}

}  // namespace

TEST(Ops, AddBroadcastsRowAndColumn) {
  Tensor a = lt::f32({2, 3}, {1, 2, 3, 4, 5, 6});
  Tensor row = lt::f32({3}, {10, 20, 30});
  Tensor col = lt::f32({2, 1}, {100, 200});
  lt::expect_near(ops::add(a, row), {11, 22, 33, 14, 25, 36});
  Tensor outer = ops::add(col, row);  // (2,1) + (3,) -> (2,3)
  EXPECT_EQ(outer.shape(), (lamina::Shape{2, 3}));
  lt::expect_near(outer, {110, 120, 130, 210, 220, 230});
  lt::expect_near(a + ops::scalar(1), {2, 3, 4, 5, 6, 7});
  // int + int stays int; int + float promotes to float32
  EXPECT_EQ(ops::add(ops::ones({2}, DType::Int32), ops::ones({2}, DType::Int32)).dtype(), DType::Int32);
  EXPECT_EQ(ops::add(ops::ones({2}, DType::Int64), ops::ones({2})).dtype(), DType::Float32);
  lt::expect_throw_msg<std::invalid_argument>([&] { ops::add(a, ops::zeros({4})); }, "[add]");
  lt::expect_throw_msg<std::invalid_argument>([&] { ops::add(a, ops::zeros({4})); }, "(2, 3)");
}

TEST(Ops, Matmul2DAgainstNaiveLoop) {
  const int64_t m = 7, k = 13, n = 5;
  Tensor a = ops::random_uniform({m, k}, -1, 1, 1);
  Tensor b = ops::random_uniform({k, n}, -1, 1, 2);
  Tensor c = ops::matmul(a, b);
  EXPECT_EQ(c.shape(), (lamina::Shape{m, n}));
  lt::expect_near(c, naive_matmul(lt::values(a), lt::values(b), 1, m, k, n), 1e-4f);
  // Hand-computed 2x2.
  lt::expect_near(ops::matmul(lt::f32({2, 2}, {1, 2, 3, 4}), lt::f32({2, 2}, {5, 6, 7, 8})), {19, 22, 43, 50});
}

TEST(Ops, MatmulLargeEnoughToGoParallel) {
  const int64_t m = 160, k = 150, n = 140;  // above the single-thread grain
  Tensor a = ops::random_uniform({m, k}, -1, 1, 3);
  Tensor b = ops::random_uniform({k, n}, -1, 1, 4);
  lt::expect_near(ops::matmul(a, b), naive_matmul(lt::values(a), lt::values(b), 1, m, k, n), 1e-3f);
}

TEST(Ops, MatmulBatchedAndBroadcast) {
  const int64_t s = 3, m = 4, k = 6, n = 5;
  Tensor a = ops::random_uniform({s, m, k}, -1, 1, 5);
  Tensor b = ops::random_uniform({s, k, n}, -1, 1, 6);
  Tensor c = ops::matmul(a, b);
  EXPECT_EQ(c.shape(), (lamina::Shape{s, m, n}));
  lt::expect_near(c, naive_matmul(lt::values(a), lt::values(b), s, m, k, n), 1e-4f);
  // (s, m, k) @ (k, n): one b for every batch entry.
  Tensor b2 = ops::random_uniform({k, n}, -1, 1, 7);
  std::vector<float> b2s;
  for (int64_t i = 0; i < s; ++i) for (float v : lt::values(b2)) b2s.push_back(v);
  lt::expect_near(ops::matmul(a, b2), naive_matmul(lt::values(a), b2s, s, m, k, n), 1e-4f);
  // 1-D operands: the added axis is removed.
  EXPECT_EQ(ops::matmul(ops::ones({k}), b2).shape(), (lamina::Shape{n}));
  EXPECT_EQ(ops::matmul(b2, ops::ones({n})).shape(), (lamina::Shape{k}));
}

TEST(Ops, MatmulErrorsNameTheOp) {
  lt::expect_throw_msg<std::invalid_argument>([] { ops::matmul(ops::zeros({2, 3}), ops::zeros({4, 2})); },
                                              "[matmul]");
  lt::expect_throw_msg<std::invalid_argument>([] { ops::matmul(ops::zeros({2, 3}), ops::zeros({4, 2})); },
                                              "(2, 3) and (4, 2)");
  lt::expect_throw_msg<std::invalid_argument>([] { ops::matmul(ops::scalar(1), ops::zeros({2})); }, "[matmul]");
  lt::expect_throw_msg<std::invalid_argument>(
      [] { ops::matmul(ops::zeros({2, 2, 3}), ops::zeros({3, 3, 4})); }, "[matmul]");
}

TEST(Ops, SoftmaxRowsSumToOne) {
  Tensor x = lt::f32({2, 3}, {1, 2, 3, 1000, 1000, 1000});  // the second row must not overflow
  Tensor y = ops::softmax(x);
  const float e1 = std::exp(1.f), e2 = std::exp(2.f), e3 = std::exp(3.f), z = e1 + e2 + e3;
  lt::expect_near(y, {e1 / z, e2 / z, e3 / z, 1 / 3.f, 1 / 3.f, 1 / 3.f});
  lt::expect_near(ops::sum(y, {1}), {1, 1});
  lt::expect_near(ops::sum(ops::softmax(x, 0), {0}), {1, 1, 1});  // along axis 0 too
  lt::expect_throw_msg<std::out_of_range>([&] { ops::softmax(x, 2); }, "[softmax]");
}

TEST(Ops, ReductionsWithAxesAndKeepdims) {
  Tensor x = lt::f32({2, 3}, {1, 2, 3, 4, 5, 6});
  EXPECT_FLOAT_EQ(ops::sum(x).item(), 21);
  EXPECT_EQ(ops::sum(x).dim(), 0);
  lt::expect_near(ops::sum(x, {0}), {5, 7, 9});
  Tensor k = ops::sum(x, {1}, true);
  EXPECT_EQ(k.shape(), (lamina::Shape{2, 1}));
  lt::expect_near(k, {6, 15});
  lt::expect_near(ops::mean(x, {-1}), {2, 5});
  lt::expect_near(ops::max(x, {0}), {4, 5, 6});
  lt::expect_near(ops::min(x, {1}), {1, 4});
  EXPECT_EQ(ops::mean(x, {0, 1}, true).shape(), (lamina::Shape{1, 1}));
  Tensor xi = ops::cast(x, DType::Int64);
  EXPECT_EQ(ops::sum(xi).dtype(), DType::Int64);
  EXPECT_EQ(ops::sum(xi).item(), 21);
  lt::expect_throw_msg<std::invalid_argument>([&] { ops::sum(x, {1, -1}); }, "[sum]");
  lt::expect_throw_msg<std::out_of_range>([&] { ops::mean(x, {2}); }, "[mean]");
  lt::expect_throw_msg<std::invalid_argument>([] { ops::max(ops::zeros({0, 3}), {0}); }, "[max]");
}

TEST(Ops, Transpose) {
  Tensor x = lt::f32({2, 3}, {1, 2, 3, 4, 5, 6});
  Tensor t = ops::transpose(x);
  EXPECT_EQ(t.shape(), (lamina::Shape{3, 2}));
  lt::expect_near(t, {1, 4, 2, 5, 3, 6});
  Tensor y = ops::arange(0, 24).view({2, 3, 4});
  Tensor p = ops::transpose(y, {1, 2, 0});  // p[i][j][l] = y[l][i][j]
  EXPECT_EQ(p.shape(), (lamina::Shape{3, 4, 2}));
  EXPECT_FLOAT_EQ(p.data<float>()[(1 * 4 + 2) * 2 + 1], y.data<float>()[1 * 12 + 1 * 4 + 2]);
  lt::expect_throw_msg<std::invalid_argument>([&] { ops::transpose(x, {0, 0}); }, "[transpose]");
  lt::expect_throw_msg<std::out_of_range>([&] { ops::transpose(x, {0, 2}); }, "[transpose]");
}

TEST(Ops, Concatenate) {
  Tensor a = lt::f32({2, 2}, {1, 2, 3, 4});
  Tensor b = lt::f32({2, 1}, {9, 8});
  Tensor c = ops::concatenate({a, b}, 1);
  EXPECT_EQ(c.shape(), (lamina::Shape{2, 3}));
  lt::expect_near(c, {1, 2, 9, 3, 4, 8});
  lt::expect_near(ops::concatenate({a, a}, 0), {1, 2, 3, 4, 1, 2, 3, 4});
  lt::expect_throw_msg<std::invalid_argument>([&] { ops::concatenate({a, b}, 0); }, "[concatenate]");
  lt::expect_throw_msg<std::out_of_range>([&] { ops::concatenate({a, b}, 2); }, "[concatenate]");
}

TEST(Ops, Slice) {
  Tensor x = ops::arange(0, 12).view({3, 4});
  Tensor s = ops::slice(x, {1, 0}, {3, 4}, {1, 2});  // x[1:3, ::2]
  EXPECT_EQ(s.shape(), (lamina::Shape{2, 2}));
  lt::expect_near(s, {4, 6, 8, 10});
  Tensor r = ops::slice(x, {2, 3}, {-1, -1}, {-1, -3});  // x[::-1, ::-3]
  EXPECT_EQ(r.shape(), (lamina::Shape{3, 2}));
  lt::expect_near(r, {11, 8, 7, 4, 3, 0});
  EXPECT_EQ(ops::slice(x, {2, 0}, {1, 4}, {1, 1}).numel(), 0);  // empty range keeps the axis
  lt::expect_throw_msg<std::out_of_range>([&] { ops::slice(x, {0, 0}, {5, 4}, {1, 1}); }, "[slice]");
  lt::expect_throw_msg<std::invalid_argument>([&] { ops::slice(x, {0, 0}, {3, 4}, {0, 1}); }, "[slice]");
}

TEST(Ops, Take) {
  Tensor x = ops::arange(0, 6).view({2, 3});
  Tensor t = ops::take(x, lt::i64({3}, {2, 0, -1}), 1);
  EXPECT_EQ(t.shape(), (lamina::Shape{2, 3}));
  lt::expect_near(t, {2, 0, 2, 5, 3, 5});
  Tensor rows = ops::take(x, lt::i64({2, 1}, {1, 0}), 0);  // index shape is spliced in
  EXPECT_EQ(rows.shape(), (lamina::Shape{2, 1, 3}));
  lt::expect_near(rows, {3, 4, 5, 0, 1, 2});
  lt::expect_throw_msg<std::out_of_range>([&] { ops::take(x, lt::i64({1}, {3}), 1); }, "[take]");
  EXPECT_THROW(ops::take(x, lt::f32({1}, {0}), 1), lamina::TypeError);
}

TEST(Ops, Argmax) {
  Tensor x = lt::f32({2, 3}, {1, 9, 9, 7, 2, 3});
  Tensor a = ops::argmax(x, 1);
  EXPECT_EQ(a.dtype(), DType::Int32);
  EXPECT_EQ(a.shape(), (lamina::Shape{2}));
  EXPECT_EQ(a.data<int32_t>()[0], 1);  // first of tied maxima
  EXPECT_EQ(a.data<int32_t>()[1], 0);
  Tensor a0 = ops::argmax(x, 0, true);
  EXPECT_EQ(a0.shape(), (lamina::Shape{1, 3}));
  EXPECT_EQ(a0.data<int32_t>()[0], 1);
  EXPECT_EQ(a0.data<int32_t>()[1], 0);
  lt::expect_throw_msg<std::out_of_range>([&] { ops::argmax(x, -3); }, "[argmax]");
}

TEST(Ops, SparseCategoricalCrossentropy) {
  Tensor logits = lt::f32({2, 3}, {1, 2, 3, 0, 0, 0});
  Tensor labels = lt::i64({2}, {2, 1});
  Tensor loss = ops::sparse_categorical_crossentropy(logits, labels);
  EXPECT_EQ(loss.shape(), (lamina::Shape{2}));
  const float lse = std::log(std::exp(1.f) + std::exp(2.f) + std::exp(3.f));
  lt::expect_near(loss, {lse - 3.f, std::log(3.f)});
  Tensor labels32 = ops::cast(labels, DType::Int32);
  lt::expect_near(ops::sparse_categorical_crossentropy(logits, labels32), lt::values(loss));
  lt::expect_throw_msg<std::out_of_range>(
      [&] { ops::sparse_categorical_crossentropy(logits, lt::i64({2}, {0, 3})); },
      "[sparse_categorical_crossentropy]");
  lt::expect_throw_msg<std::invalid_argument>(
      [&] { ops::sparse_categorical_crossentropy(logits, lt::i64({3}, {0, 1, 2})); },
      "[sparse_categorical_crossentropy]");
  EXPECT_THROW(ops::sparse_categorical_crossentropy(logits, lt::f32({2}, {0, 1})), lamina::TypeError);
}

// The unary table (lamina/unary_ops.def): values, the dtype rules, the recorded backward.
TEST(Ops, UnaryTableOps) {
  Tensor x = lt::f32({4}, {-2, -0.5f, 0, 3});
  lt::expect_near(ops::relu(x), {0, 0, 0, 3});
  lt::expect_near(ops::leaky_relu(x), {-0.4f, -0.1f, 0, 3});  // the default slope 0.2
  lt::expect_near(ops::leaky_relu(x, 0.5), {-1, -0.25f, 0, 3});
  lt::expect_near(ops::elu(x, 2.0), {2 * std::expm1(-2.f), 2 * std::expm1(-0.5f), 0, 3});
  lt::expect_near(ops::square(x), {4, 0.25f, 0, 9});
  lt::expect_near(ops::sign(x), {-1, -1, 0, 1});
  // gelu: the tanh form by default, the exact one on request (they differ by 4e-4 at -3)
  Tensor x3 = lt::f32({1}, {-3});
  const float exact = -3.f * 0.5f * std::erfc(3.f / std::sqrt(2.f));
  EXPECT_NEAR(ops::gelu(x3, false).item(), exact, 1e-6f);
  EXPECT_GT(std::fabs(ops::gelu(x3).item() - exact), 3e-4f);
  // dtype rules: Float rows cast ints, relu keeps them, negative of bool throws, square of bool is int32
  Tensor xi = lt::i64({3}, {-3, 0, 4});
  EXPECT_EQ(ops::sigmoid(xi).dtype(), DType::Float32);
  EXPECT_EQ(ops::relu(xi).dtype(), DType::Int64);
  EXPECT_EQ(ops::relu(xi).data<int64_t>()[0], 0);
  EXPECT_EQ(ops::relu(xi).data<int64_t>()[2], 4);
  Tensor b = ops::cast(xi, DType::Bool);
  lt::expect_throw_msg<lamina::TypeError>([&] { ops::negative(b); }, "[negative]");
  EXPECT_EQ(ops::square(b).dtype(), DType::Int32);
  EXPECT_EQ(ops::abs(b).dtype(), DType::Bool);
  lt::expect_throw_msg<std::invalid_argument>([] { ops::exp(Tensor()); }, "[exp]");
  // the backward: d tanh = 1 - tanh^2; d sign = nothing recorded
  Tensor v = lt::f32({2}, {0.5f, -1});
  v.set_requires_grad(true);
  Tensor y;
  {
    lamina::GradRecording rec;
    y = ops::sum(ops::tanh(v));
  }
  lamina::backward(y);
  const float t0 = std::tanh(0.5f), t1 = std::tanh(-1.f);
  lt::expect_near(v.grad(), {1 - t0 * t0, 1 - t1 * t1});
}

TEST(Ops, ActivationByNameFollowsTheTable) {
  const auto names = ops::activation_names();
  ASSERT_GE(names.size(), 12u);
  EXPECT_EQ(names.front(), "linear");
  for (const auto& n : names) {
    ops::Activation a = ops::activation_from_name(n);
    // every name maps to an activation whose first name maps back to it
    EXPECT_EQ(ops::activation_from_name(ops::activation_name(a)), a) << n;
  }
  EXPECT_EQ(ops::activation_from_name("swish"), ops::Activation::Silu);
  EXPECT_STREQ(ops::activation_name(ops::Activation::Silu), "silu");
  EXPECT_EQ(ops::activation_from_name(""), ops::Activation::Linear);
  lt::expect_throw_msg<std::invalid_argument>([] { ops::activation_from_name("nope"); },
                                              "Could not interpret activation function identifier: nope");
  // keras.activations' defaults: gelu exact, leaky_relu slope 0.2, softmax on the last axis
  Tensor x = lt::f32({2, 2}, {-2, 1, 0.5f, 3});
  lt::expect_near(ops::activation(x, ops::Activation::Gelu), lt::values(ops::gelu(x, false)), 0);
  lt::expect_near(ops::activation(x, ops::Activation::LeakyRelu), lt::values(ops::leaky_relu(x, 0.2)), 0);
  lt::expect_near(ops::activation(x, ops::Activation::Softmax), lt::values(ops::softmax(x, -1)), 0);
  EXPECT_EQ(ops::activation(x, ops::Activation::Linear).data<float>(), x.data<float>());
}
