// W2 / W3 building blocks and full training steps (bench/WORKLOADS.md), through lamina's C++ API.
//
//   bench_nn [--threads=N] [google benchmark flags]
//
// Threads: 2 by default (the workloads' rule); LAMINA_NUM_THREADS=N or --threads=N changes it.
// Counters are rates over wall time: "GFLOP=98.5/s" reads 98.5 GFLOP/s, "samples=1.2k/s" 1200
// samples (images / rows) per second.
//
// FLOP counts (multiply-add = 2, bias / relu / pooling / loss not counted):
// - conv forward: 2 N OH OW F KH KW C. forward+backward adds the kernel gradient (1x forward)
//   and the input gradient (1x forward) except for the first W3 layer (250x250x3), whose input
//   needs no gradient in a training step (as in WORKLOADS.md's W3 count).
// - dense forward: 2 m k n; forward+backward adds the kernel gradient only (the W2 shapes are the
//   first Dense, whose input needs no gradient): 4 m k n.
// - W2 step: 3.21 MFLOP/sample; W3 step: 1.115 GFLOP/sample (WORKLOADS.md).
#include <benchmark/benchmark.h>

#include "bench_main.hpp"

#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <iostream>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include <lamina/lamina.hpp>

namespace {

using lamina::Tensor;
namespace ops = lamina::ops;
namespace nn = lamina::nn;

constexpr int kWarmup = 3;

// Integer labels uniform in 0..9 (int64), fixed seed.
Tensor make_labels(int64_t n) {
  std::mt19937_64 rng(0);
  std::vector<int64_t> y(static_cast<size_t>(n));
  for (auto& v : y) v = static_cast<int64_t>(rng() % 10);
  return ops::from_data(y.data(), {n}, lamina::DType::Int64);
}

void zero_grads(std::vector<Tensor>& ts) { lamina::optim::Optimizer::zero_grad(ts); }

// ---------------------------------------------------------------- conv
// args: batch, H, W, C, K (square kernel), stride, F
struct ConvArgs {
  int64_t n, h, w, c, k, s, f, oh, ow;
  explicit ConvArgs(const benchmark::State& st)
      : n(st.range(0)), h(st.range(1)), w(st.range(2)), c(st.range(3)), k(st.range(4)), s(st.range(5)),
        f(st.range(6)), oh((h - k) / s + 1), ow((w - k) / s + 1) {}
  double fwd_flops() const { return 2.0 * n * oh * ow * f * k * k * c; }
};

void BM_conv_fwd(benchmark::State& state) {
  ConvArgs a(state);
  Tensor x = ops::random_uniform({a.n, a.h, a.w, a.c}, 0.0, 1.0, /*seed=*/0);
  Tensor kernel = ops::random_uniform({a.k, a.k, a.c, a.f}, -0.1, 0.1, /*seed=*/1);
  Tensor bias = ops::random_uniform({a.f}, -0.1, 0.1, /*seed=*/2);
  auto run = [&] { return ops::conv(x, kernel, bias, {a.s, a.s}, "valid", {1, 1}, ops::Activation::Relu); };
  for (int i = 0; i < kWarmup; ++i) benchmark::DoNotOptimize(run());
  for (auto _ : state) {
    Tensor y = run();
    benchmark::DoNotOptimize(y.raw_data());
    benchmark::ClobberMemory();
  }
  state.counters["GFLOP"] = benchmark::Counter(a.fwd_flops() * 1e-9, benchmark::Counter::kIsIterationInvariantRate);
  state.counters["samples"] = benchmark::Counter(static_cast<double>(a.n), benchmark::Counter::kIsIterationInvariantRate);
}

void BM_conv_fwd_bwd(benchmark::State& state) {
  ConvArgs a(state);
  const bool input_grad = a.c != 3;  // the first W3 layer's input (the images) needs no gradient
  Tensor x = ops::random_uniform({a.n, a.h, a.w, a.c}, 0.0, 1.0, /*seed=*/0);
  Tensor kernel = ops::random_uniform({a.k, a.k, a.c, a.f}, -0.1, 0.1, /*seed=*/1);
  Tensor bias = ops::random_uniform({a.f}, -0.1, 0.1, /*seed=*/2);
  kernel.set_requires_grad(true);
  bias.set_requires_grad(true);
  std::vector<Tensor> leaves = {kernel, bias};
  if (input_grad) {
    x.set_requires_grad(true);
    leaves.push_back(x);
  }
  auto run = [&] {
    Tensor loss;
    {
      lamina::GradRecording rec;
      loss = ops::sum(ops::conv(x, kernel, bias, {a.s, a.s}, "valid", {1, 1}, ops::Activation::Relu));
    }
    lamina::backward(loss);
    zero_grads(leaves);
  };
  for (int i = 0; i < kWarmup; ++i) run();
  for (auto _ : state) {
    run();
    benchmark::ClobberMemory();
  }
  const double flops = a.fwd_flops() * (input_grad ? 3.0 : 2.0);
  state.counters["GFLOP"] = benchmark::Counter(flops * 1e-9, benchmark::Counter::kIsIterationInvariantRate);
  state.counters["samples"] = benchmark::Counter(static_cast<double>(a.n), benchmark::Counter::kIsIterationInvariantRate);
}

// ---------------------------------------------------------------- max_pool
// args: batch, H, W, C, pool (stride = pool), backward (0/1)
void BM_max_pool(benchmark::State& state) {
  const int64_t n = state.range(0), h = state.range(1), w = state.range(2), c = state.range(3), p = state.range(4);
  const bool bwd = state.range(5) != 0;
  Tensor x = ops::random_uniform({n, h, w, c}, 0.0, 1.0, /*seed=*/0);
  std::vector<Tensor> leaves;
  if (bwd) {
    x.set_requires_grad(true);
    leaves.push_back(x);
  }
  auto run = [&] {
    if (!bwd) {
      Tensor y = ops::max_pool(x, {p, p}, {p, p});
      benchmark::DoNotOptimize(y.raw_data());
      return;
    }
    Tensor loss;
    {
      lamina::GradRecording rec;
      loss = ops::sum(ops::max_pool(x, {p, p}, {p, p}));
    }
    lamina::backward(loss);
    zero_grads(leaves);
  };
  for (int i = 0; i < 10; ++i) run();
  for (auto _ : state) {
    run();
    benchmark::ClobberMemory();
  }
  // Input bytes read per call (float32), as a bandwidth figure.
  state.counters["in_GB"] = benchmark::Counter(4.0 * n * h * w * c * 1e-9, benchmark::Counter::kIsIterationInvariantRate);
  state.counters["samples"] = benchmark::Counter(static_cast<double>(n), benchmark::Counter::kIsIterationInvariantRate);
}

// ---------------------------------------------------------------- dense
// args: m, k, n, backward (0/1). The fused op with bias and relu (W2's first layer).
void BM_dense(benchmark::State& state) {
  const int64_t m = state.range(0), k = state.range(1), n = state.range(2);
  const bool bwd = state.range(3) != 0;
  Tensor x = ops::random_uniform({m, k}, 0.0, 1.0, /*seed=*/0);
  Tensor kernel = ops::random_uniform({k, n}, -0.05, 0.05, /*seed=*/1);
  Tensor bias = ops::random_uniform({n}, -0.05, 0.05, /*seed=*/2);
  std::vector<Tensor> leaves;
  if (bwd) {
    kernel.set_requires_grad(true);
    bias.set_requires_grad(true);
    leaves = {kernel, bias};
  }
  auto run = [&] {
    if (!bwd) {
      Tensor y = ops::dense(x, kernel, bias, ops::Activation::Relu);
      benchmark::DoNotOptimize(y.raw_data());
      return;
    }
    Tensor loss;
    {
      lamina::GradRecording rec;
      loss = ops::sum(ops::dense(x, kernel, bias, ops::Activation::Relu));
    }
    lamina::backward(loss);
    zero_grads(leaves);
  };
  for (int i = 0; i < 10; ++i) run();
  for (auto _ : state) {
    run();
    benchmark::ClobberMemory();
  }
  const double flops = 2.0 * m * k * n * (bwd ? 2.0 : 1.0);
  state.counters["GFLOP"] = benchmark::Counter(flops * 1e-9, benchmark::Counter::kIsIterationInvariantRate);
  state.counters["samples"] = benchmark::Counter(static_cast<double>(m), benchmark::Counter::kIsIterationInvariantRate);
}

// ---------------------------------------------------------------- full training steps
// One full step: forward + mean sparse softmax CE + backward + Adam update, gradients cleared.
void train_loop(benchmark::State& state, nn::Sequential& model, const Tensor& x, const Tensor& y,
                int warmup, double flops_per_sample) {
  model.build(x.shape());
  std::vector<Tensor> params = model.trainable_weights();
  lamina::optim::Adam opt(1e-3f, 0.9f, 0.999f, 1e-7f);
  auto step = [&] {
    Tensor loss;
    {
      lamina::GradRecording rec;
      loss = ops::mean(ops::sparse_categorical_crossentropy(model.forward(x, /*training=*/true), y));
    }
    lamina::backward(loss);
    opt.step(params);
    lamina::optim::Optimizer::zero_grad(params);
    return loss;
  };
  for (int i = 0; i < warmup; ++i) step();
  for (auto _ : state) {
    Tensor loss = step();
    benchmark::DoNotOptimize(loss.raw_data());
    benchmark::ClobberMemory();
  }
  const double b = static_cast<double>(x.shape()[0]);
  state.counters["samples"] = benchmark::Counter(b, benchmark::Counter::kIsIterationInvariantRate);
  state.counters["GFLOP"] = benchmark::Counter(b * flops_per_sample * 1e-9, benchmark::Counter::kIsIterationInvariantRate);
}

void BM_mlp_train(benchmark::State& state) {
  const int64_t b = state.range(0);
  nn::Sequential model;
  model.add(std::make_shared<nn::Dense>(512, "relu", true, /*seed=*/0));
  model.add(std::make_shared<nn::Dense>(512, "relu", true, /*seed=*/1));
  model.add(std::make_shared<nn::Dense>(10, "linear", true, /*seed=*/2));
  Tensor x = ops::random_uniform({b, 784}, 0.0, 1.0, /*seed=*/0);
  Tensor y = make_labels(b);
  train_loop(state, model, x, y, /*warmup=*/10, 3.21e6);
}

void BM_cnn_train(benchmark::State& state) {
  const int64_t b = state.range(0);
  nn::Sequential model;
  model.add(std::make_shared<nn::Conv2D>(32, 5, 2, "valid", "relu", true, /*seed=*/0));
  model.add(std::make_shared<nn::Conv2D>(32, 3, 1, "valid", "relu", true, /*seed=*/1));
  model.add(std::make_shared<nn::MaxPooling2D>(3));
  model.add(std::make_shared<nn::Conv2D>(32, 3, 1, "valid", "relu", true, /*seed=*/2));
  model.add(std::make_shared<nn::Conv2D>(32, 3, 1, "valid", "relu", true, /*seed=*/3));
  model.add(std::make_shared<nn::MaxPooling2D>(3));
  model.add(std::make_shared<nn::Conv2D>(32, 3, 1, "valid", "relu", true, /*seed=*/4));
  model.add(std::make_shared<nn::Conv2D>(32, 3, 1, "valid", "relu", true, /*seed=*/5));
  model.add(std::make_shared<nn::MaxPooling2D>(2));
  model.add(std::make_shared<nn::GlobalMaxPooling2D>());
  model.add(std::make_shared<nn::Dense>(10, "linear", true, /*seed=*/6));
  Tensor x = ops::random_uniform({b, 250, 250, 3}, 0.0, 1.0, /*seed=*/0);
  Tensor y = make_labels(b);
  train_loop(state, model, x, y, /*warmup=*/3, 1.115e9);
}

void register_all() {
  // W3 conv layers at batch 16: {N, H, W, C, K, stride, F}.
  const std::vector<std::vector<int64_t>> convs = {
      {16, 250, 250, 3, 5, 2, 32}, {16, 123, 123, 32, 3, 1, 32}, {16, 40, 40, 32, 3, 1, 32},
      {16, 38, 38, 32, 3, 1, 32},  {16, 12, 12, 32, 3, 1, 32},   {16, 10, 10, 32, 3, 1, 32}};
  const std::vector<std::string> conv_names = {"N", "H", "W", "C", "K", "s", "F"};
  for (const auto& c : convs)
    benchmark::RegisterBenchmark("W3/conv_fwd", BM_conv_fwd)
        ->Args(c)->ArgNames(conv_names)->UseRealTime()->Unit(benchmark::kMillisecond);
  for (const auto& c : convs)
    benchmark::RegisterBenchmark("W3/conv_fwd_bwd", BM_conv_fwd_bwd)
        ->Args(c)->ArgNames(conv_names)->UseRealTime()->Unit(benchmark::kMillisecond);

  // W3 pooling layers at batch 16: {N, H, W, C, pool}.
  const std::vector<std::vector<int64_t>> pools = {
      {16, 121, 121, 32, 3}, {16, 36, 36, 32, 3}, {16, 8, 8, 32, 2}};
  for (int bwd = 0; bwd <= 1; ++bwd)
    for (auto p : pools) {
      p.push_back(bwd);
      benchmark::RegisterBenchmark(bwd ? "W3/max_pool_fwd_bwd" : "W3/max_pool_fwd", BM_max_pool)
          ->Args(p)->ArgNames({"N", "H", "W", "C", "p", "bwd"})->UseRealTime()->Unit(benchmark::kMicrosecond);
    }

  // W2 first Dense (fused bias + relu): (m x 784) @ (784 x 512).
  for (int bwd = 0; bwd <= 1; ++bwd)
    for (int64_t m : {32, 256})
      benchmark::RegisterBenchmark(bwd ? "W2/dense_fwd_bwd" : "W2/dense_fwd", BM_dense)
          ->Args({m, 784, 512, bwd})->ArgNames({"m", "k", "n", "bwd"})->UseRealTime()->Unit(benchmark::kMicrosecond);

  // Full training steps.
  for (int64_t b : {32, 256})
    benchmark::RegisterBenchmark("W2/mlp_train", BM_mlp_train)
        ->Arg(b)->ArgName("b")->UseRealTime()->Unit(benchmark::kMicrosecond);
  // ~0.1-0.5 s per step: at least 1 s of steps so the figure is not one sample.
  benchmark::RegisterBenchmark("W3/cnn_train", BM_cnn_train)
      ->Arg(16)->ArgName("b")->UseRealTime()->Unit(benchmark::kMillisecond)->MinTime(1.0);
}

}  // namespace

int main(int argc, char** argv) { return lamina_bench::run(argc, argv, "bench_nn", register_all); }
