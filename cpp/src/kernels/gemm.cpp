// Float32 GEMM: the packed AVX2/FMA kernel (gemm_packed.cpp) where the CPU has it, else Eigen, and
// Eigen for products with very few rows. Small products run single-threaded: on two cores, forking
// threads for a 64^3 product halves its speed. The epilogue runs in the packed kernel's tile writes;
// after Eigen, apply_epilogue passes over C while it is still in cache.
#include <omp.h>

#include <Eigen/Core>

#include <algorithm>

#include "gemm.hpp"
#include "parallel.hpp"

namespace lamina {
namespace kernels {
namespace {

using RowMat = Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
using MapC = Eigen::Map<const RowMat, Eigen::Aligned16>;
using MapConst = Eigen::Map<const RowMat>;
using Map = Eigen::Map<RowMat>;

// Fewer rows than this (a matrix-vector product, batch-1 inference) go to Eigen: packing B would
// cost as much as the product.
constexpr int64_t kPackedMinRows = 8;

// Multiply-adds below which a GEMM stays on one thread.
constexpr int64_t kGemmGrain = int64_t(1) << 21;
// A product with very few rows reads B once and is bound by memory bandwidth, which two cores
// double: above this many multiply-adds the threads take a column block each (batch-1 Dense).
constexpr int64_t kFewRowsGrain = int64_t(1) << 17;

using StridedConst = Eigen::Map<const RowMat, 0, Eigen::OuterStride<>>;
using Strided = Eigen::Map<RowMat, 0, Eigen::OuterStride<>>;

template <class A, class B, class C>
void run(const A& a, const B& b, C& c, float beta) {
  if (beta == 0.f)
    c.noalias() = a * b;
  else if (beta == 1.f)
    c.noalias() += a * b;
  else {
    c *= beta;
    c.noalias() += a * b;
  }
}

// C (m x n) = epilogue(A (m x k) @ B (k x n) + beta C) for m < kPackedMinRows, columns split across
// threads (each applies the epilogue to its block). Returns false when it is not worth threads.
bool few_rows_threaded(int64_t m, int64_t n, int64_t k, const float* a, const float* b, float* c, float beta,
                       const Epilogue& epilogue) {
  const int nt = threads_for(m * n * k, kFewRowsGrain);
  if (nt < 2 || n < 32 * nt) return false;
  const int64_t blocks = (n + 15) / 16;  // column blocks of 16 (64 bytes)
#pragma omp parallel num_threads(nt)
  {
    const int tid = omp_get_thread_num(), team = omp_get_num_threads();
    const int64_t j0 = std::min(n, blocks * tid / team * 16), j1 = std::min(n, blocks * (tid + 1) / team * 16);
    if (j1 > j0) {
      MapConst A(a, m, k);
      StridedConst B(b + j0, k, j1 - j0, Eigen::OuterStride<>(n));
      Strided C(c + j0, m, j1 - j0, Eigen::OuterStride<>(n));
      run(A, B, C, beta);
      if (!epilogue.empty()) apply_epilogue(epilogue.from_column(j0), c + j0, m, j1 - j0, n, false);
    }
  }
  return true;
}

}  // namespace

void gemm(bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k, const float* a,
          const float* b, float* c, float beta, bool threaded, const Epilogue& epilogue) {
  Map C(c, m, n);
  if (m == 0 || n == 0) return;
  if (k == 0) {
    if (beta == 0.f) C.setZero(); else C *= beta;
    apply_epilogue(epilogue, c, m, n, n, threaded);
    return;
  }
  if (m >= kPackedMinRows && gemm_packed(trans_a, trans_b, m, n, k, a, b, c, beta, threaded, epilogue)) return;
  if (m < kPackedMinRows && threaded && !trans_a && !trans_b && few_rows_threaded(m, n, k, a, b, c, beta, epilogue))
    return;
  if (threaded) Eigen::setNbThreads(threads_for(m * n * k, kGemmGrain));
  // Stored shapes: A is (m x k) or (k x m) when transposed; B is (k x n) or (n x k).
  MapConst A(a, trans_a ? k : m, trans_a ? m : k);
  MapConst B(b, trans_b ? n : k, trans_b ? k : n);
  if (!trans_a && !trans_b) run(A, B, C, beta);
  else if (trans_a && !trans_b) run(A.transpose(), B, C, beta);
  else if (!trans_a && trans_b) run(A, B.transpose(), C, beta);
  else run(A.transpose(), B.transpose(), C, beta);
  apply_epilogue(epilogue, c, m, n, n, threaded);
}

}  // namespace kernels
}  // namespace lamina
