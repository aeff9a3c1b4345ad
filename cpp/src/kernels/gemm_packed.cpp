// Float32 GEMM with packed panels and an AVX2/FMA micro-kernel (the BLIS / GotoBLAS scheme):
//
//   for each KC-deep slice of k:        pack op(B)[slice, :] into 16-column panels (shared)
//     for each MC-row block of C:       pack op(A)[block, slice] into 6-row panels (per thread)
//       for each 16-column panel:       the B panel stays in L1
//         for each 6-row panel:         C[6 x 16] (+)= A panel @ B panel in 12 registers
//
// Packing absorbs the transposes, so the backward's A^T @ B and A @ B^T run as fast as A @ B
// (both packers transpose 8 x 8 tiles in registers). With few rows (a training batch), B is used
// too few times to be worth packing: the micro-kernel then reads op(B) = B in place.
// Row blocks are sized so that every thread gets the same number; each element of C is summed in
// the same order whatever the thread count (results do not depend on it).
#include <algorithm>
#include <cstring>
#include <vector>

#include "kernels.hpp"

#if defined(__AVX2__) && defined(__FMA__)
#include <immintrin.h>
#define LAMINA_HAVE_PACKED_GEMM 1
#endif

namespace lamina {
namespace kernels {

#ifdef LAMINA_HAVE_PACKED_GEMM
namespace {

constexpr int64_t MR = 6, NR = 16;  // register block: 6 x 16 floats of C in 12 ymm registers
constexpr int64_t KC_MAX = 384;     // depth of a slice: an A panel (9 KB) and a B panel (24 KB) fit L1
constexpr int64_t MC_MAX = 144;     // rows of A per block: 144 x 384 floats (216 KB) stay in L2
constexpr int64_t kGrain = int64_t(1) << 21;  // multiply-adds below which one thread does it all
constexpr int64_t kPackBMinRows = 96;         // fewer rows of C: B (not transposed) is read in place

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

// A 64-byte aligned float buffer that only grows (one per thread, reused across calls).
struct Buffer {
  float* data = nullptr;
  size_t size = 0;
  float* get(size_t n) {
    if (n > size) {
      std::free(data);
      size = n + n / 4;
      data = static_cast<float*>(std::aligned_alloc(64, ((size * sizeof(float) + 63) / 64) * 64));
    }
    return data;
  }
  ~Buffer() { std::free(data); }
};

// op(A)[i0 : i0 + rows, p0 : p0 + kc] as MR-row panels, k-major: panel[p * MR + r]; rows past the
// end are zero. A is (m x k) with row stride lda, or transposed: stored (k x m).
void pack_a(bool trans, const float* a, int64_t lda, int64_t i0, int64_t rows, int64_t p0, int64_t kc, float* out) {
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
void pack_b_panel(bool trans, const float* b, int64_t ldb, int64_t n, int64_t p0, int64_t kc, int64_t j0, float* panel) {
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

// write_tile below, for edge tiles.
inline void write_tile(const float* acc, float* c, int64_t ldc, int64_t rows, int64_t cols, float beta);

// The C tile at c (rows x cols, row stride ldc) = beta * C + A panel @ B panel over kc; row p of the
// B panel is bp[p * ldb .. + 16] (ldb = NR when packed). A full 6 x 16 tile is written straight
// from the registers; an edge tile goes through `scratch` (6 x 16 floats, 32-byte aligned).
inline void micro_kernel(int64_t kc, const float* ap, const float* bp, int64_t ldb, float* c, int64_t ldc,
                         int64_t rows, int64_t cols, float beta, float* scratch) {
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
  for (int64_t p = 0; p < kc; ++p) LAMINA_GEMM_STEP(p)
#undef LAMINA_GEMM_STEP
  const __m256 acc[6][2] = {{c00, c01}, {c10, c11}, {c20, c21}, {c30, c31}, {c40, c41}, {c50, c51}};
  if (rows == MR && cols == NR) {
    const __m256 vb = _mm256_set1_ps(beta);
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
      _mm256_storeu_ps(cr, lo);
      _mm256_storeu_ps(cr + 8, hi);
    }
    return;
  }
  for (int r = 0; r < 6; ++r) {
    _mm256_store_ps(scratch + r * NR, acc[r][0]);
    _mm256_store_ps(scratch + r * NR + 8, acc[r][1]);
  }
  write_tile(scratch, c, ldc, rows, cols, beta);
}

// C tile (rows x cols, row stride ldc) = beta * C + acc (row stride NR); beta 0 never reads C.
inline void write_tile(const float* acc, float* c, int64_t ldc, int64_t rows, int64_t cols, float beta) {
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t j = 0; j < cols; ++j) {
      float* cv = c + r * ldc + j;
      *cv = beta == 0.f ? acc[r * NR + j] : beta * *cv + acc[r * NR + j];
    }
}

thread_local Buffer tl_a_buffer;  // each thread's packed A block
thread_local Buffer tl_b_buffer;  // the calling thread's packed B slice (shared with its team)
thread_local Buffer tl_edge_buffer;  // a thread's packed last partial B panel when B is read in place

}  // namespace
#endif

bool gemm_packed(bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k, const float* a, const float* b,
                 float* c, float beta, bool threaded) {
#ifdef LAMINA_HAVE_PACKED_GEMM
  if (m <= 0 || n <= 0 || k <= 0) return false;
  const int64_t lda = trans_a ? m : k, ldb = trans_b ? k : n;
  const int nt = threaded ? threads_for(m * n * k, kGrain) : 1;
  // Row blocks: a multiple of the thread count, each at most MC_MAX rows, sized in whole panels.
  int64_t blocks = (m + MC_MAX - 1) / MC_MAX;
  blocks = ((blocks + nt - 1) / nt) * nt;
  int64_t mc = (m + blocks - 1) / blocks;
  mc = ((mc + MR - 1) / MR) * MR;
  blocks = (m + mc - 1) / mc;
  // Slices of k of equal depth (no short last slice).
  const int64_t slices = (k + KC_MAX - 1) / KC_MAX, kc_max = (k + slices - 1) / slices;
  const int64_t n_panels = (n + NR - 1) / NR, n_full = n / NR;
  // B in place: not transposed, few rows of C; only a last partial panel is packed (per thread).
  const bool b_in_place = !trans_b && m < kPackBMinRows;
  float* bp = b_in_place ? nullptr : tl_b_buffer.get(static_cast<size_t>(n_panels * NR * kc_max));

  // Thread `tid` of `nt` takes every nt-th B panel to pack and every nt-th row block (static
  // schedule); one thread runs without an OpenMP region (a GEMM per convolution chunk is small).
  auto worker = [&](int tid, int team) {  // team: the threads OpenMP really gave (1 when nested)
    float* ap = tl_a_buffer.get(static_cast<size_t>(mc * kc_max + 8));  // +8: pack_a's overlapping stores
    float* edge = b_in_place && n_full < n_panels ? tl_edge_buffer.get(static_cast<size_t>(NR * kc_max)) : nullptr;
    alignas(64) float acc[MR * NR];
    for (int64_t p0 = 0; p0 < k; p0 += kc_max) {
      const int64_t kc = std::min(kc_max, k - p0);
      const float beta_slice = p0 == 0 ? beta : 1.f;
      if (!b_in_place) {
        for (int64_t jp = tid; jp < n_panels; jp += team) pack_b_panel(trans_b, b, ldb, n, p0, kc, jp * NR, bp + jp * NR * kc);
        if (team > 1) {
#pragma omp barrier
        }  // the B slice is packed
      } else if (edge) {
        pack_b_panel(false, b, ldb, n, p0, kc, n_full * NR, edge);
      }
      for (int64_t blk = tid; blk < blocks; blk += team) {
        const int64_t i0 = blk * mc, rows = std::min(mc, m - i0);
        pack_a(trans_a, a, lda, i0, rows, p0, kc, ap);
        for (int64_t jp = 0; jp < n_panels; ++jp) {
          const int64_t j0 = jp * NR, cols = std::min(NR, n - j0);
          const float* bpanel;
          int64_t bstride = NR;
          if (!b_in_place) {
            bpanel = bp + jp * NR * kc;
          } else if (jp < n_full) {
            bpanel = b + p0 * ldb + j0;
            bstride = ldb;
          } else {
            bpanel = edge;
          }
          for (int64_t ir = 0; ir < rows; ir += MR)
            micro_kernel(kc, ap + ir * kc, bpanel, bstride, c + (i0 + ir) * n + j0, n, std::min(MR, rows - ir), cols,
                         beta_slice, acc);
        }
      }
      if (team > 1 && p0 + kc < k) {
#pragma omp barrier
      }  // nobody repacks B while another thread still reads it
    }
  };
  if (nt == 1) {
    worker(0, 1);
  } else {
#pragma omp parallel num_threads(nt)
    worker(omp_get_thread_num(), omp_get_num_threads());
  }
  return true;
#else
  (void)trans_a, (void)trans_b, (void)m, (void)n, (void)k, (void)a, (void)b, (void)c, (void)beta, (void)threaded;
  return false;
#endif
}

}  // namespace kernels
}  // namespace lamina
