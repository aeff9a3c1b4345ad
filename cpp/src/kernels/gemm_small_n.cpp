// C = A @ B for row-major A (m x k) and B (k x n) with n a multiple of 8 up to 64: the shape of a
// convolution's GEMM (n = filters). Eigen's kernel is slow for so few columns; this one keeps a
// 6 x 16 block of C in 12 AVX2 registers and streams A and B once per block (FMA-bound).
#include <cstring>
#include <vector>

#include "kernels.hpp"

#if defined(__AVX2__) && defined(__FMA__)
#include <immintrin.h>
#define LAMINA_HAVE_SMALL_N_GEMM 1
#endif

namespace lamina {
namespace kernels {

#ifdef LAMINA_HAVE_SMALL_N_GEMM
namespace {

// A block of up to 6 rows of A packed k-major (ap[p * 6 + r]) so that the kernel's broadcasts
// read consecutive floats.
inline void pack_rows(const float* a, int64_t rows, int64_t k, float* ap) {
  for (int64_t p = 0; p < k; ++p)
    for (int64_t r = 0; r < 6; ++r) ap[p * 6 + r] = r < rows ? a[r * k + p] : 0.f;
}

// 6 x 16 block of C from the packed rows, at columns [j, j + 16) of B and C.
inline void block_6x16(const float* ap, const float* b, int64_t ldb, float* c, int64_t ldc, int64_t k, int64_t rows) {
  __m256 c00 = _mm256_setzero_ps(), c01 = c00, c10 = c00, c11 = c00, c20 = c00, c21 = c00, c30 = c00, c31 = c00,
         c40 = c00, c41 = c00, c50 = c00, c51 = c00;
  for (int64_t p = 0; p < k; ++p) {
    const __m256 b0 = _mm256_loadu_ps(b + p * ldb);
    const __m256 b1 = _mm256_loadu_ps(b + p * ldb + 8);
    const float* a = ap + p * 6;
    __m256 av = _mm256_broadcast_ss(a);
    c00 = _mm256_fmadd_ps(av, b0, c00);
    c01 = _mm256_fmadd_ps(av, b1, c01);
    av = _mm256_broadcast_ss(a + 1);
    c10 = _mm256_fmadd_ps(av, b0, c10);
    c11 = _mm256_fmadd_ps(av, b1, c11);
    av = _mm256_broadcast_ss(a + 2);
    c20 = _mm256_fmadd_ps(av, b0, c20);
    c21 = _mm256_fmadd_ps(av, b1, c21);
    av = _mm256_broadcast_ss(a + 3);
    c30 = _mm256_fmadd_ps(av, b0, c30);
    c31 = _mm256_fmadd_ps(av, b1, c31);
    av = _mm256_broadcast_ss(a + 4);
    c40 = _mm256_fmadd_ps(av, b0, c40);
    c41 = _mm256_fmadd_ps(av, b1, c41);
    av = _mm256_broadcast_ss(a + 5);
    c50 = _mm256_fmadd_ps(av, b0, c50);
    c51 = _mm256_fmadd_ps(av, b1, c51);
  }
  const __m256 acc[6][2] = {{c00, c01}, {c10, c11}, {c20, c21}, {c30, c31}, {c40, c41}, {c50, c51}};
  for (int64_t r = 0; r < rows; ++r) {
    _mm256_storeu_ps(c + r * ldc, acc[r][0]);
    _mm256_storeu_ps(c + r * ldc + 8, acc[r][1]);
  }
}

// 6 x 8 block (the last 8 columns when n % 16 == 8).
inline void block_6x8(const float* ap, const float* b, int64_t ldb, float* c, int64_t ldc, int64_t k, int64_t rows) {
  __m256 acc[6];
  for (int r = 0; r < 6; ++r) acc[r] = _mm256_setzero_ps();
  for (int64_t p = 0; p < k; ++p) {
    const __m256 b0 = _mm256_loadu_ps(b + p * ldb);
    for (int r = 0; r < 6; ++r) acc[r] = _mm256_fmadd_ps(_mm256_broadcast_ss(ap + p * 6 + r), b0, acc[r]);
  }
  for (int64_t r = 0; r < rows; ++r) _mm256_storeu_ps(c + r * ldc, acc[r]);
}

void rows_any(int64_t rows, const float* a, const float* b, float* c, int64_t n, int64_t k, float* ap) {
  pack_rows(a, rows, k, ap);
  int64_t j = 0;
  for (; j + 16 <= n; j += 16) block_6x16(ap, b + j, n, c + j, n, k, rows);
  if (j < n) block_6x8(ap, b + j, n, c + j, n, k, rows);
}

}  // namespace
#endif

bool gemm_small_n(int64_t m, int64_t n, int64_t k, const float* a, const float* b, float* c, bool threaded) {
#ifdef LAMINA_HAVE_SMALL_N_GEMM
  if (n % 8 != 0 || n > 64 || n == 0 || k == 0) return false;
  const int64_t blocks = (m + 5) / 6;
  const int nt = threaded ? threads_for(m * n * k, int64_t(1) << 21) : 1;
#pragma omp parallel num_threads(nt) if (nt > 1)
  {
    std::vector<float> packed(static_cast<size_t>(k) * 6);
#pragma omp for schedule(static)
    for (int64_t blk = 0; blk < blocks; ++blk) {
      const int64_t i = blk * 6;
      const int64_t rows = m - i < 6 ? m - i : 6;
      rows_any(rows, a + i * k, b, c + i * n, n, k, packed.data());
    }
  }
  return true;
#else
  (void)m, (void)n, (void)k, (void)a, (void)b, (void)c, (void)threaded;
  return false;
#endif
}

}  // namespace kernels
}  // namespace lamina
