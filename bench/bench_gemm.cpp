// W1 GEMM (bench/WORKLOADS.md): C = A @ B, row-major float32, through lamina::ops::matmul.
//
//   bench_gemm [--threads=N] [google benchmark flags]
//
// Threads: 2 by default (the workloads' rule); LAMINA_NUM_THREADS=N or --threads=N changes it.
// The GFLOP counter is a rate: "GFLOP=98.5/s" reads 98.5 GFLOP/s (2 m n k flops per call, wall time).
#include <benchmark/benchmark.h>

#include "bench_main.hpp"

#include <cstdlib>
#include <cstring>
#include <iostream>
#include <string>
#include <vector>

#include <lamina/lamina.hpp>

namespace {

void BM_matmul(benchmark::State& state) {
  const int64_t m = state.range(0), k = state.range(1), n = state.range(2);
  lamina::Tensor a = lamina::ops::random_uniform({m, k}, 0.0, 1.0, /*seed=*/0);
  lamina::Tensor b = lamina::ops::random_uniform({k, n}, 0.0, 1.0, /*seed=*/1);
  for (int i = 0; i < 3; ++i) benchmark::DoNotOptimize(lamina::ops::matmul(a, b));  // warm-up
  for (auto _ : state) {
    lamina::Tensor c = lamina::ops::matmul(a, b);
    benchmark::DoNotOptimize(c.raw_data());
    benchmark::ClobberMemory();
  }
  state.counters["GFLOP"] = benchmark::Counter(2.0 * m * n * k * 1e-9, benchmark::Counter::kIsIterationInvariantRate);
}

void register_all() {
  // W1 gemm_square: n = k = m; W1 gemm_skinny: (32 x 784) @ (784 x 512).
  for (int64_t s : {64, 256, 1024, 2048})
    benchmark::RegisterBenchmark("W1/gemm_square", BM_matmul)->Args({s, s, s})->ArgNames({"m", "k", "n"})->UseRealTime();
  benchmark::RegisterBenchmark("W1/gemm_skinny", BM_matmul)->Args({32, 784, 512})->ArgNames({"m", "k", "n"})->UseRealTime();
}

}  // namespace

int main(int argc, char** argv) { return lamina_bench::run(argc, argv, "bench_gemm", register_all); }
