#pragma once
// Internal: the building blocks of the packed AVX2/FMA GEMM, shared by the matrix GEMM
// (gemm_packed.cpp) and the convolution GEMM that packs its columns straight from the image
// (conv_gemm.cpp). Defines LAMINA_HAVE_PACKED_GEMM where the CPU target has AVX2 and FMA.
#include <algorithm>
#include <cstddef>
#include <cstdint>

#include "allocator.hpp"
#include "conv.hpp"
#include "epilogue.hpp"

#if defined(__AVX2__) && defined(__FMA__)
#include <immintrin.h>
#define LAMINA_HAVE_PACKED_GEMM 1
#endif

#ifdef LAMINA_HAVE_PACKED_GEMM
namespace lamina {
namespace kernels {
namespace gemm_blocks {

constexpr int64_t MR = 6, NR = 16;  // register block: 6 x 16 floats of C in 12 ymm registers

// Transposes the 8 x 8 tile in r[0..7] (rows) into columns, in place.
inline void transpose8(__m256 r[8]) {
  const __m256 t0 = _mm256_unpacklo_ps(r[0], r[1]), t1 = _mm256_unpackhi_ps(r[0], r[1]);
  const __m256 t2 = _mm256_unpacklo_ps(r[2], r[3]), t3 = _mm256_unpackhi_ps(r[2], r[3]);
  const __m256 t4 = _mm256_unpacklo_ps(r[4], r[5]), t5 = _mm256_unpackhi_ps(r[4], r[5]);
  const __m256 t6 = _mm256_unpacklo_ps(r[6], r[7]), t7 = _mm256_unpackhi_ps(r[6], r[7]);
  const __m256 u0 = _mm256_shuffle_ps(t0, t2, 0x44), u1 = _mm256_shuffle_ps(t0, t2, 0xEE);
  const __m256 u2 = _mm256_shuffle_ps(t1, t3, 0x44), u3 = _mm256_shuffle_ps(t1, t3, 0xEE);
  const __m256 u4 = _mm256_shuffle_ps(t4, t6, 0x44), u5 = _mm256_shuffle_ps(t4, t6, 0xEE);
  const __m256 u6 = _mm256_shuffle_ps(t5, t7, 0x44), u7 = _mm256_shuffle_ps(t5, t7, 0xEE);
  r[0] = _mm256_permute2f128_ps(u0, u4, 0x20);
  r[1] = _mm256_permute2f128_ps(u1, u5, 0x20);
  r[2] = _mm256_permute2f128_ps(u2, u6, 0x20);
  r[3] = _mm256_permute2f128_ps(u3, u7, 0x20);
  r[4] = _mm256_permute2f128_ps(u0, u4, 0x31);
  r[5] = _mm256_permute2f128_ps(u1, u5, 0x31);
  r[6] = _mm256_permute2f128_ps(u2, u6, 0x31);
  r[7] = _mm256_permute2f128_ps(u3, u7, 0x31);
}

// A 64-byte aligned float buffer from the caching allocator that only grows (one per thread,
// reused across calls).
struct Buffer {
  float* data = nullptr;
  size_t size = 0;
  float* get(size_t n) {
    if (n > size) {
      allocator::release(data, size * sizeof(float));
      data = nullptr;
      size = 0;
      const size_t grown = n + n / 4;
      data = static_cast<float*>(allocator::allocate(grown * sizeof(float)));  // throws bad_alloc
      size = grown;
    }
    return data;
  }
  ~Buffer() { allocator::release(data, size * sizeof(float)); }
};

// op(A)[i0 : i0 + rows, p0 : p0 + kc] as MR-row panels, k-major: panel[p * MR + r]; rows past the
// end are zero. A is (m x k) with row stride lda, or transposed: stored (k x m).
inline void pack_a(bool trans, const float* a, int64_t lda, int64_t i0, int64_t rows, int64_t p0, int64_t kc, float* out) {
  for (int64_t ir = 0; ir < rows; ir += MR) {
    const int64_t r_n = std::min(MR, rows - ir);
    float* panel = out + ir * kc;
    if (trans) {  // element (i, p) at a[p * lda + i]: the MR rows of one p are contiguous
      for (int64_t p = 0; p < kc; ++p) {
        const float* src = a + (p0 + p) * lda + i0 + ir;
        float* dst = panel + p * MR;
        for (int64_t r = 0; r < r_n; ++r) dst[r] = src[r];
        for (int64_t r = r_n; r < MR; ++r) dst[r] = 0.f;
      }
    } else {
      const float* src = a + (i0 + ir) * lda + p0;
      int64_t p = 0;
      if (r_n == MR) {  // 8 columns at a time: 6 rows (+2 unused) transposed, stored 8 wide with
                        // overlap (each store's last 2 floats are overwritten by the next one)
        __m256 t[8];
        t[6] = t[7] = _mm256_setzero_ps();
        for (; p + 8 <= kc; p += 8) {
          for (int r = 0; r < MR; ++r) t[r] = _mm256_loadu_ps(src + r * lda + p);
          transpose8(t);
          for (int q = 0; q < 8; ++q) _mm256_storeu_ps(panel + (p + q) * MR, t[q]);
          t[6] = t[7] = _mm256_setzero_ps();
        }
      }
      for (; p < kc; ++p)
        for (int64_t r = 0; r < MR; ++r) panel[p * MR + r] = r < r_n ? src[r * lda + p] : 0.f;
    }
  }
}

// op(B)[p0 : p0 + kc, j0 : j0 + NR] as one panel: panel[p * NR + c]; columns past n are zero.
// B is (k x n) with row stride ldb, or transposed: stored (n x k).
inline void pack_b_panel(bool trans, const float* b, int64_t ldb, int64_t n, int64_t p0, int64_t kc, int64_t j0, float* panel) {
  const int64_t c_n = std::min(NR, n - j0);
  if (!trans) {
    for (int64_t p = 0; p < kc; ++p) {
      const float* src = b + (p0 + p) * ldb + j0;
      float* dst = panel + p * NR;
      if (c_n == NR) {
        _mm256_store_ps(dst, _mm256_loadu_ps(src));
        _mm256_store_ps(dst + 8, _mm256_loadu_ps(src + 8));
      } else {
        for (int64_t c = 0; c < c_n; ++c) dst[c] = src[c];
        for (int64_t c = c_n; c < NR; ++c) dst[c] = 0.f;
      }
    }
  } else {  // element (p, j) at b[j * ldb + p]: transpose 8 x 8 tiles
    const float* src = b + j0 * ldb + p0;
    int64_t p = 0;
    if (c_n == NR) {
      __m256 t[8];
      for (; p + 8 <= kc; p += 8)
        for (int64_t half = 0; half < NR; half += 8) {
          for (int c = 0; c < 8; ++c) t[c] = _mm256_loadu_ps(src + (half + c) * ldb + p);
          transpose8(t);
          for (int q = 0; q < 8; ++q) _mm256_store_ps(panel + (p + q) * NR + half, t[q]);
        }
    }
    for (; p < kc; ++p)
      for (int64_t c = 0; c < NR; ++c) panel[p * NR + c] = c < c_n ? src[c * ldb + p] : 0.f;
  }
}

// C tile (rows x cols, row stride ldc) = epilogue(beta * C + acc (row stride NR)), the epilogue's
// columns starting at the tile's; beta 0 never reads C.
inline void write_tile(const float* acc, float* c, int64_t ldc, int64_t rows, int64_t cols, float beta,
                       const Epilogue& epilogue) {
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t j = 0; j < cols; ++j) {
      float* cv = c + r * ldc + j;
      *cv = epilogue_value(epilogue, beta == 0.f ? acc[r * NR + j] : beta * *cv + acc[r * NR + j], j);
    }
}

// The C tile at c (rows x cols, row stride ldc) = epilogue(beta * C + A panel @ B panel over kc),
// the epilogue's columns starting at the tile's. Row p of the B panel is bp[p * ldb .. + 16]
// (ldb = NR when packed). A full 6 x 16 tile is written straight from the registers (the epilogue
// in SIMD form, the same operations as epilogue_value); an edge tile goes through `scratch`
// (6 x 16 floats, 32-byte aligned) and write_tile.
// Never inlined: inlined, the registers its FMA loop got depended on the caller's code (measured on
// one thread: the convolution GEMM 14% slower, W2's first Dense layer forward + backward 4% slower
// once the epilogue became one argument, the broadcast operand moved to an EVEX-only register).
// Called once per 6 x 16 tile, the call costs nothing measurable.
__attribute__((noinline)) inline void micro_kernel(int64_t kc, const float* ap, const float* bp, int64_t ldb, float* c, int64_t ldc,
                         int64_t rows, int64_t cols, float beta, float* scratch, Epilogue epilogue = {}) {
  // The C tile is written after the loop: fetch its lines now (measured: ~10% on large products,
  // whose C rows are far apart).
  for (int64_t r = 0; r < rows; ++r) {
    _mm_prefetch(reinterpret_cast<const char*>(c + r * ldc), _MM_HINT_T0);
    _mm_prefetch(reinterpret_cast<const char*>(c + r * ldc + NR - 1), _MM_HINT_T0);
  }
  __m256 c00 = _mm256_setzero_ps(), c01 = c00, c10 = c00, c11 = c00, c20 = c00, c21 = c00, c30 = c00, c31 = c00,
         c40 = c00, c41 = c00, c50 = c00, c51 = c00;
#define LAMINA_GEMM_STEP(P)                                      \
  {                                                              \
    const __m256 b0 = _mm256_loadu_ps(bp + (P) * ldb);           \
    const __m256 b1 = _mm256_loadu_ps(bp + (P) * ldb + 8);       \
    const float* a = ap + (P) * MR;                              \
    __m256 av = _mm256_broadcast_ss(a);                          \
    c00 = _mm256_fmadd_ps(av, b0, c00);                          \
    c01 = _mm256_fmadd_ps(av, b1, c01);                          \
    av = _mm256_broadcast_ss(a + 1);                             \
    c10 = _mm256_fmadd_ps(av, b0, c10);                          \
    c11 = _mm256_fmadd_ps(av, b1, c11);                          \
    av = _mm256_broadcast_ss(a + 2);                             \
    c20 = _mm256_fmadd_ps(av, b0, c20);                          \
    c21 = _mm256_fmadd_ps(av, b1, c21);                          \
    av = _mm256_broadcast_ss(a + 3);                             \
    c30 = _mm256_fmadd_ps(av, b0, c30);                          \
    c31 = _mm256_fmadd_ps(av, b1, c31);                          \
    av = _mm256_broadcast_ss(a + 4);                             \
    c40 = _mm256_fmadd_ps(av, b0, c40);                          \
    c41 = _mm256_fmadd_ps(av, b1, c41);                          \
    av = _mm256_broadcast_ss(a + 5);                             \
    c50 = _mm256_fmadd_ps(av, b0, c50);                          \
    c51 = _mm256_fmadd_ps(av, b1, c51);                          \
  }
#pragma GCC unroll 4  // fewer loop instructions per FMA (measured: about 10% faster on AVX2 here)
  for (int64_t p = 0; p < kc; ++p) LAMINA_GEMM_STEP(p)
#undef LAMINA_GEMM_STEP
  const __m256 acc[6][2] = {{c00, c01}, {c10, c11}, {c20, c21}, {c30, c31}, {c40, c41}, {c50, c51}};
  if (rows == MR && cols == NR) {
    const __m256 vb = _mm256_set1_ps(beta);
    const float* bias = epilogue.bias;
    const bool relu = epilogue.activation == EpilogueActivation::Relu;
    for (int r = 0; r < 6; ++r) {
      float* cr = c + r * ldc;
      __m256 lo = acc[r][0], hi = acc[r][1];
      if (beta == 1.f) {
        lo = _mm256_add_ps(lo, _mm256_loadu_ps(cr));
        hi = _mm256_add_ps(hi, _mm256_loadu_ps(cr + 8));
      } else if (beta != 0.f) {  // beta 0 never reads C (it may hold NaN)
        lo = _mm256_fmadd_ps(vb, _mm256_loadu_ps(cr), lo);
        hi = _mm256_fmadd_ps(vb, _mm256_loadu_ps(cr + 8), hi);
      }
      if (bias) {
        lo = _mm256_add_ps(lo, _mm256_loadu_ps(bias));
        hi = _mm256_add_ps(hi, _mm256_loadu_ps(bias + 8));
      }
      if (relu) {  // max_ps returns its second operand when either is NaN: a NaN stays (relu_nan)
        lo = _mm256_max_ps(_mm256_setzero_ps(), lo);
        hi = _mm256_max_ps(_mm256_setzero_ps(), hi);
      }
      _mm256_storeu_ps(cr, lo);
      _mm256_storeu_ps(cr + 8, hi);
    }
    return;
  }
  for (int r = 0; r < 6; ++r) {
    _mm256_store_ps(scratch + r * NR, acc[r][0]);
    _mm256_store_ps(scratch + r * NR + 8, acc[r][1]);
  }
  write_tile(scratch, c, ldc, rows, cols, beta, epilogue);
}

}  // namespace gemm_blocks
}  // namespace kernels
}  // namespace lamina
#endif
