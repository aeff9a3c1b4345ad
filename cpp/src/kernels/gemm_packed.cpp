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
// the same order whatever the thread count (results do not depend on it). The epilogue (bias,
// relu) runs in the tile writes of the last slice of k, on the finished sums.
#include <omp.h>

#include <algorithm>

#include "gemm.hpp"
#include "gemm_blocks.hpp"
#include "parallel.hpp"

namespace lamina {
namespace kernels {

#ifdef LAMINA_HAVE_PACKED_GEMM
namespace {
using namespace gemm_blocks;

constexpr int64_t KC_MAX = 384;     // depth of a slice: an A panel (9 KB) and a B panel (24 KB) fit L1
constexpr int64_t MC_MAX = 144;     // rows of A per block: 144 x 384 floats (216 KB) stay in L2
constexpr int64_t kGrain = int64_t(1) << 21;  // multiply-adds below which one thread does it all
constexpr int64_t kPackBMinRows = 96;         // fewer rows of C: B (not transposed) is read in place
constexpr int64_t kSplitColumnsBelowRows = 96;  // fewer rows of C: threads split the columns, not the rows

thread_local Buffer tl_a_buffer;  // each thread's packed A block
thread_local Buffer tl_b_buffer;  // the calling thread's packed B slice (shared with its team)
thread_local Buffer tl_edge_buffer;  // a thread's packed last partial B panel when B is read in place

}  // namespace
#endif

bool gemm_packed(bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k, const float* a, const float* b,
                 float* c, float beta, bool threaded, const Epilogue& epilogue) {
#ifdef LAMINA_HAVE_PACKED_GEMM
  if (m <= 0 || n <= 0 || k <= 0) return false;
  const int64_t lda = trans_a ? m : k, ldb = trans_b ? k : n;
  const int nt = threaded ? threads_for(m * n * k, kGrain) : 1;
  // Few rows (a training batch): the threads split the columns instead, each computing
  // C[:, its panels] on its own (no shared packing, no barrier), so each reads only its part of B.
  const bool split_n = nt > 1 && m < kSplitColumnsBelowRows;
  // Row blocks: at most MC_MAX rows, sized in whole panels; when the threads split the rows, a
  // multiple of the thread count.
  int64_t blocks = (m + MC_MAX - 1) / MC_MAX;
  if (!split_n) blocks = ((blocks + nt - 1) / nt) * nt;
  int64_t mc = (m + blocks - 1) / blocks;
  mc = ((mc + MR - 1) / MR) * MR;
  blocks = (m + mc - 1) / mc;
  // Slices of k of equal depth (no short last slice).
  const int64_t slices = (k + KC_MAX - 1) / KC_MAX, kc_max = (k + slices - 1) / slices;
  const int64_t n_panels = (n + NR - 1) / NR, n_full = n / NR;
  // B in place: not transposed, few rows of C; only a last partial panel is packed (per thread).
  const bool b_in_place = !trans_b && m < kPackBMinRows;
  // Panel jp of a slice lives at bp + jp * NR * kc_max whatever the slice's depth: splitting columns,
  // a thread may pack its next slice while another still reads its own panels of this one.
  float* bp = b_in_place ? nullptr : tl_b_buffer.get(static_cast<size_t>(n_panels * NR * kc_max));

  // Splitting rows, thread `tid` of `team` packs every team-th B panel (then all wait) and takes
  // every team-th row block; splitting columns, it packs and uses its own range of B panels. One
  // thread runs without an OpenMP region (a GEMM per convolution chunk is small).
  auto worker = [&](int tid, int team) {  // team: the threads OpenMP really gave (1 when nested)
    float* ap = tl_a_buffer.get(static_cast<size_t>(mc * kc_max + 8));  // +8: pack_a's overlapping stores
    float* edge = b_in_place && n_full < n_panels ? tl_edge_buffer.get(static_cast<size_t>(NR * kc_max)) : nullptr;
    alignas(64) float acc[MR * NR];
    const bool by_columns = split_n && team > 1;
    const int64_t jp_begin = by_columns ? n_panels * tid / team : 0;
    const int64_t jp_end = by_columns ? n_panels * (tid + 1) / team : n_panels;
    const int64_t blk_first = by_columns ? 0 : tid, blk_step = by_columns ? 1 : team;
    for (int64_t p0 = 0; p0 < k; p0 += kc_max) {
      const int64_t kc = std::min(kc_max, k - p0);
      const float beta_slice = p0 == 0 ? beta : 1.f;
      const Epilogue slice_epilogue = p0 + kc >= k ? epilogue : Epilogue{};
      if (!b_in_place) {
        if (by_columns) {
          for (int64_t jp = jp_begin; jp < jp_end; ++jp) pack_b_panel(trans_b, b, ldb, n, p0, kc, jp * NR, bp + jp * NR * kc_max);
        } else {
          for (int64_t jp = tid; jp < n_panels; jp += team) pack_b_panel(trans_b, b, ldb, n, p0, kc, jp * NR, bp + jp * NR * kc_max);
          if (team > 1) {
#pragma omp barrier
          }  // the B slice is packed
        }
      } else if (edge && jp_end == n_panels) {
        pack_b_panel(false, b, ldb, n, p0, kc, n_full * NR, edge);
      }
      for (int64_t blk = blk_first; blk < blocks; blk += blk_step) {
        const int64_t i0 = blk * mc, rows = std::min(mc, m - i0);
        pack_a(trans_a, a, lda, i0, rows, p0, kc, ap);
        for (int64_t jp = jp_begin; jp < jp_end; ++jp) {
          const int64_t j0 = jp * NR, cols = std::min(NR, n - j0);
          const float* bpanel;
          int64_t bstride = NR;
          if (!b_in_place) {
            bpanel = bp + jp * NR * kc_max;
          } else if (jp < n_full) {
            bpanel = b + p0 * ldb + j0;
            bstride = ldb;
          } else {
            bpanel = edge;
          }
          for (int64_t ir = 0; ir < rows; ir += MR)
            micro_kernel(kc, ap + ir * kc, bpanel, bstride, c + (i0 + ir) * n + j0, n, std::min(MR, rows - ir), cols,
                         beta_slice, acc, slice_epilogue.from_column(j0));
        }
      }
      if (team > 1 && !by_columns && p0 + kc < k) {
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
  (void)trans_a, (void)trans_b, (void)m, (void)n, (void)k, (void)a, (void)b, (void)c, (void)beta, (void)threaded, (void)epilogue;
  return false;
#endif
}

}  // namespace kernels
}  // namespace lamina
