// The convolution's forward and backward passes over a batch of NHWC images: the work split across
// threads, chunk by chunk, on top of the convolution GEMM (conv_gemm.cpp), im2col / col2im
// (conv.cpp) and the matrix GEMM.
#include <omp.h>

#include <algorithm>
#include <cstring>
#include <vector>

#include "conv.hpp"
#include "gemm.hpp"
#include "parallel.hpp"

namespace lamina {
namespace kernels {

namespace {

// Multiply-adds below which a convolution runs on one thread.
constexpr int64_t kConvGrain = int64_t(1) << 21;
// Output positions per chunk in the forward pass (its output block is still in cache for the
// epilogue; an im2col fallback chunk of 96 x 288 floats is 108 KB, in L2 while the GEMM reads it),
// and per im2col chunk in the backward (the dK GEMM sums over the chunk's positions: deeper is
// better).
constexpr int64_t kChunkForward = 96;
constexpr int64_t kChunkBackward = 256;

// A 1x1 window with stride 1: the column matrix is the image itself (no im2col).
bool is_direct(const ConvGeometry& g) { return g.kh == 1 && g.kw == 1 && g.sh == 1 && g.sw == 1; }

// Runs body(n, thread_id, threaded) for each image, in parallel over images when the work is large
// enough; `threaded` tells the body whether its GEMMs may fork threads themselves.
template <class Body>
void for_each_image(int64_t n_images, int64_t work, Body body) {
  int nt = threads_for(work, kConvGrain);
  if (n_images < 2 || nt < 2) {
    for (int64_t n = 0; n < n_images; ++n) body(n, 0, true);
    return;
  }
  if (nt > n_images) nt = static_cast<int>(n_images);
#pragma omp parallel for num_threads(nt) schedule(static)
  for (int64_t n = 0; n < n_images; ++n) body(n, omp_get_thread_num(), false);
}

}  // namespace

void conv_forward(const float* x, int64_t n_images, const ConvGeometry& g, const float* kernel, int64_t f,
                  const Epilogue& epilogue, float* y) {
  const int64_t K = g.kh * g.kw * g.c, P = g.oh * g.ow;
  const bool direct = is_direct(g);
  // Work items: whole images, or, when there are fewer images than threads (batch-1 inference),
  // ranges of output positions of each image; each item runs the convolution GEMM (im2col + GEMM
  // where that does not apply) with the epilogue in its tile writes, chunk by chunk, on one thread.
  const int nt = threads_for(n_images * P * K * f, kConvGrain);
  const int64_t parts = (nt > 1 && n_images < nt) ? std::min<int64_t>(P, (nt + n_images - 1) / n_images) : 1;
  const int64_t items = n_images * parts;
  std::vector<std::vector<float>> cols(direct ? 0 : nt);
  const PackedFilters filters(kernel, direct ? 0 : K, f);  // shared by every chunk
#pragma omp parallel for num_threads(nt) schedule(static) if (nt > 1)
  for (int64_t item = 0; item < items; ++item) {
    const int64_t n = item / parts, part = item % parts;
    const int64_t first = P * part / parts, last = P * (part + 1) / parts;
    const float* image = x + n * g.h * g.w * g.c;
    for (int64_t p0 = first; p0 < last; p0 += kChunkForward) {
      const int64_t rows = std::min(kChunkForward, last - p0);
      float* out = y + (n * P + p0) * f;
      if (direct) {  // 1x1, stride 1: output positions are input positions
        gemm(false, false, rows, f, K, image + p0 * g.c, kernel, out, 0.f, /*threaded=*/nt == 1, epilogue);
      } else if (!conv_gemm(image, g, p0, p0 + rows, filters, out, epilogue)) {
        auto& buf = cols[omp_get_thread_num()];
        buf.resize(kChunkForward * K);
        im2col(image, g, buf.data(), p0, p0 + rows);
        gemm(false, false, rows, f, K, buf.data(), kernel, out, 0.f, /*threaded=*/nt == 1, epilogue);
      }
    }
  }
}

void conv_backward(const float* x, int64_t n_images, const ConvGeometry& g, const float* kernel, int64_t f,
                   const float* gy, float* dx, float* dkernel) {
  const int64_t K = g.kh * g.kw * g.c, F = f, P = g.oh * g.ow;
  const bool direct = is_direct(g);
  const int threads = get_num_threads();
  std::vector<std::vector<float>> dk_local(dkernel ? threads : 0);
  std::vector<std::vector<float>> col_buf(threads), dcol_buf(threads);
  // dx of a stride-1 convolution is itself a convolution: dy padded by (window - 1 - padding) with
  // the kernel flipped in space and its channel axes swapped. conv_gemm runs it without a column
  // buffer; other convolutions scatter dcols = dy @ K^T back with col2im.
  const bool transposed = dx && !direct && g.sh == 1 && g.sw == 1 && g.dh == 1 && g.dw == 1;
  ConvGeometry gt;
  std::vector<float> flipped;
  if (transposed) {
    gt.h = g.oh, gt.w = g.ow, gt.c = F, gt.kh = g.kh, gt.kw = g.kw, gt.sh = gt.sw = 1;
    gt.pad_top = g.kh - 1 - g.pad_top, gt.pad_left = g.kw - 1 - g.pad_left, gt.oh = g.h, gt.ow = g.w;
    flipped.resize(K * F);  // (kh, kw, F, C): flipped[i, j, f, c] = kernel[kh-1-i, kw-1-j, c, f]
    for (int64_t i = 0; i < g.kh; ++i)
      for (int64_t j = 0; j < g.kw; ++j)
        for (int64_t c = 0; c < g.c; ++c)
          for (int64_t o = 0; o < F; ++o)
            flipped[((i * g.kw + j) * F + o) * g.c + c] = kernel[(((g.kh - 1 - i) * g.kw + (g.kw - 1 - j)) * g.c + c) * F + o];
  }
  const PackedFilters flipped_filters(flipped.data(), transposed ? g.kh * g.kw * F : 0, g.c);
  // (no packed filters: no AVX2/FMA, or a window too deep for conv_gemm; col2im then)
  const bool dx_by_conv = transposed && flipped_filters.data != nullptr;
  // dx of image n by the transposed convolution; split across threads when the images are not.
  auto dx_transposed = [&](const float* gn, float* dxn, bool threaded) {
    const int64_t positions = g.h * g.w;
    const int parts = threaded ? threads_for(positions * g.kh * g.kw * F * g.c, kConvGrain) : 1;
#pragma omp parallel for num_threads(parts) schedule(static) if (parts > 1)
    for (int part = 0; part < parts; ++part) {
      const int64_t begin = positions * part / parts, end = positions * (part + 1) / parts;
      conv_gemm(gn, gt, begin, end, flipped_filters, dxn + begin * g.c);
    }
  };
  // Per image, in chunks of positions: dK += cols^T @ dy, dcols = dy @ K^T summed into dx.
  for_each_image(n_images, 2 * n_images * P * K * F, [&](int64_t n, int tid, bool threaded) {
    const float* gn = gy + n * P * F;
    const float* image = x + n * g.h * g.w * g.c;
    float* dxn = dx ? dx + n * g.h * g.w * g.c : nullptr;
    if (dxn && dx_by_conv) {
      dx_transposed(gn, dxn, threaded);
      dxn = nullptr;
    }
    if (dxn && !direct) std::memset(dxn, 0, sizeof(float) * g.h * g.w * g.c);
    if (dkernel && dk_local[tid].empty()) dk_local[tid].assign(K * F, 0.f);
    for (int64_t p0 = 0; p0 < P; p0 += kChunkBackward) {
      const int64_t rows = std::min(kChunkBackward, P - p0);
      const float* gc = gn + p0 * F;
      if (dkernel) {
        const float* c = image + p0 * g.c;
        if (!direct) {
          col_buf[tid].resize(kChunkBackward * K);
          im2col(image, g, col_buf[tid].data(), p0, p0 + rows);
          c = col_buf[tid].data();
        }
        gemm(true, false, K, F, rows, c, gc, dk_local[tid].data(), 1.f, threaded);
      }
      if (dxn) {
        if (direct) {
          gemm(false, true, rows, K, F, gc, kernel, dxn + p0 * g.c, 0.f, threaded);
        } else {
          dcol_buf[tid].resize(kChunkBackward * K);
          gemm(false, true, rows, K, F, gc, kernel, dcol_buf[tid].data(), 0.f, threaded);
          col2im(dcol_buf[tid].data(), g, dxn, p0, p0 + rows);
        }
      }
    }
  });
  if (dkernel) {  // the threads' partial sums, in thread order
    std::fill(dkernel, dkernel + K * F, 0.f);
    for (auto& acc : dk_local)
      if (!acc.empty())
        for (int64_t i = 0; i < K * F; ++i) dkernel[i] += acc[i];
  }
}

}  // namespace kernels
}  // namespace lamina
