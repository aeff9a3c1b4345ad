// Float32 GEMM: the packed AVX2/FMA kernel (gemm_packed.cpp) where the CPU has it, else Eigen, and
// Eigen for products with very few rows. Small products run single-threaded: on two cores, forking
// threads for a 64^3 product halves its speed.
#include <Eigen/Core>

#include "kernels.hpp"

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

template <class A, class B>
void run(const A& a, const B& b, Map& c, float beta) {
  if (beta == 0.f)
    c.noalias() = a * b;
  else if (beta == 1.f)
    c.noalias() += a * b;
  else {
    c *= beta;
    c.noalias() += a * b;
  }
}

}  // namespace

void gemm(bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k, const float* a,
          const float* b, float* c, float beta, bool threaded) {
  Map C(c, m, n);
  if (m == 0 || n == 0) return;
  if (k == 0) {
    if (beta == 0.f) C.setZero(); else C *= beta;
    return;
  }
  if (m >= kPackedMinRows && gemm_packed(trans_a, trans_b, m, n, k, a, b, c, beta, threaded)) return;
  if (threaded) Eigen::setNbThreads(threads_for(m * n * k, kGemmGrain));
  // Stored shapes: A is (m x k) or (k x m) when transposed; B is (k x n) or (n x k).
  MapConst A(a, trans_a ? k : m, trans_a ? m : k);
  MapConst B(b, trans_b ? n : k, trans_b ? k : n);
  if (!trans_a && !trans_b) run(A, B, C, beta);
  else if (trans_a && !trans_b) run(A.transpose(), B, C, beta);
  else if (!trans_a && trans_b) run(A, B.transpose(), C, beta);
  else run(A.transpose(), B.transpose(), C, beta);
}

}  // namespace kernels
}  // namespace lamina
