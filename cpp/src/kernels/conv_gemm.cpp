// The convolution's GEMM without an im2col buffer: each 6-row panel of the column matrix (6 output
// positions, their windows as rows) is packed straight from the NHWC image. A window row of kw
// taps is kw * c contiguous floats of the image; when that run holds at least 8 floats and the 6
// windows lie inside the image, 8 columns of the panel come from one 8 x 8 register transpose of
// 6 loads (a run that is not a multiple of 8 ends with an overlapping vector). Other panels
// (padding at the borders, runs under 8 floats) go through a 6-row im2col in L1. The filters are
// packed once per call.
#include <algorithm>

#include "allocator.hpp"
#include "gemm_blocks.hpp"
#include "conv.hpp"

namespace lamina {
namespace kernels {

#ifdef LAMINA_HAVE_PACKED_GEMM
namespace {
using namespace gemm_blocks;

// Deepest window (K) taken in one pass: a B panel of 16 x 1152 floats (72 KB) still streams well
// from L2. Deeper kernels use im2col + gemm.
constexpr int64_t kMaxDepth = 1152;

thread_local Buffer tl_panel;    // the 6-row A panel being packed
thread_local Buffer tl_scratch;  // 6 im2col rows for border / few-channel panels

// True when the windows of positions [pos, pos + MR) all lie inside the image (no padding taps).
bool panel_inside(const ConvGeometry& g, int64_t pos) {
  for (int64_t r = 0; r < MR; ++r) {
    const int64_t oh = (pos + r) / g.ow, ow = (pos + r) % g.ow;
    const int64_t ih0 = oh * g.sh - g.pad_top, iw0 = ow * g.sw - g.pad_left;
    if (ih0 < 0 || ih0 + (g.kh - 1) * g.dh >= g.h || iw0 < 0 || iw0 + g.kw > g.w) return false;
  }
  return true;
}

// panel[p * MR + r] = column entry p of position pos + r (rows past `rows` are zero).
void pack_windows(const float* image, const ConvGeometry& g, int64_t pos, int64_t rows, float* scratch, float* panel) {
  const int64_t run = g.kw * g.c, K = g.kh * run;
  if (rows == MR && g.dw == 1 && run >= 8 && panel_inside(g, pos)) {
    const float* base[MR];
    for (int64_t r = 0; r < MR; ++r) {
      const int64_t oh = (pos + r) / g.ow, ow = (pos + r) % g.ow;
      base[r] = image + ((oh * g.sh - g.pad_top) * g.w + ow * g.sw - g.pad_left) * g.c;
    }
    __m256 t[8];
    for (int64_t i = 0; i < g.kh; ++i) {
      const int64_t row_offset = i * g.dh * g.w * g.c;
      for (int64_t q0 = 0; q0 < run; q0 += 8) {
        const int64_t q = std::min(q0, run - 8);  // a last partial vector overlaps the one before
        for (int r = 0; r < MR; ++r) t[r] = _mm256_loadu_ps(base[r] + row_offset + q);
        t[6] = t[7] = _mm256_setzero_ps();
        transpose8(t);
        float* dst = panel + (i * run + q) * MR;
        for (int c = 0; c < 8; ++c) _mm256_storeu_ps(dst + c * MR, t[c]);  // overlapping: see pack_a
      }
    }
    return;
  }
  im2col(image, g, scratch, pos, pos + rows);
  pack_a(false, scratch, K, 0, rows, 0, K, panel);
}

}  // namespace
#endif

PackedFilters::PackedFilters(const float* kernel, int64_t k_, int64_t f_) : k(k_), f(f_) {
#ifdef LAMINA_HAVE_PACKED_GEMM
  if (k > kMaxDepth || k <= 0 || f <= 0) return;
  const int64_t panels = (f + NR - 1) / NR;
  bytes_ = static_cast<size_t>(panels * NR * k) * sizeof(float);
  data = static_cast<float*>(allocator::allocate(bytes_));  // a cache hit from the second call on
  for (int64_t jp = 0; jp < panels; ++jp) pack_b_panel(false, kernel, f, f, 0, k, jp * NR, data + jp * NR * k);
#else
  (void)kernel;
#endif
}

PackedFilters::~PackedFilters() { allocator::release(data, bytes_); }

bool conv_gemm(const float* image, const ConvGeometry& g, int64_t pos_begin, int64_t pos_end,
               const PackedFilters& filters, float* out, const Epilogue& epilogue) {
#ifdef LAMINA_HAVE_PACKED_GEMM
  const int64_t K = g.kh * g.kw * g.c, F = filters.f;
  if (!filters.data || filters.k != K) return false;
  float* panel = tl_panel.get(static_cast<size_t>(MR * K + 8));  // +8: the overlapping stores
  float* scratch = tl_scratch.get(static_cast<size_t>(MR * K));
  alignas(64) float acc[MR * NR];
  for (int64_t pos = pos_begin; pos < pos_end; pos += MR) {
    const int64_t rows = std::min(MR, pos_end - pos);
    pack_windows(image, g, pos, rows, scratch, panel);
    for (int64_t j0 = 0; j0 < F; j0 += NR)
      micro_kernel(K, panel, filters.data + j0 * K, NR, out + (pos - pos_begin) * F + j0, F, rows, std::min(NR, F - j0),
                   0.f, acc, epilogue.from_column(j0));
  }
  return true;
#else
  (void)image, (void)g, (void)pos_begin, (void)pos_end, (void)filters, (void)out, (void)epilogue;
  return false;
#endif
}

}  // namespace kernels
}  // namespace lamina
