// 2-D max and average pooling windows over NHWC images, images in parallel.
#include <algorithm>
#include <cstring>
#include <limits>

#include "parallel.hpp"
#include "pool.hpp"

namespace lamina {
namespace kernels {

namespace {
// The window of output position (oh, ow) clipped to the image: input rows [h0, h1), columns
// [w0, w1) (empty when h1 <= h0 or w1 <= w0). Pooling loops only over these, so its cost is bounded
// by the image whatever the pool size ("same" padding with a window of 2**40 is one pass).
struct Window {
  int64_t h0, h1, w0, w1;
  int64_t count() const { return std::max<int64_t>(h1 - h0, 0) * std::max<int64_t>(w1 - w0, 0); }
};
Window window_at(const ConvGeometry& g, int64_t oh, int64_t ow) {
  const int64_t ih = oh * g.sh - g.pad_top, iw = ow * g.sw - g.pad_left;  // may lie far before 0
  return {std::max<int64_t>(ih, 0), ih + std::min(g.kh, g.h - ih), std::max<int64_t>(iw, 0),
          iw + std::min(g.kw, g.w - iw)};
}

// The running maximum of each window, branch-free so that it vectorizes over channels (a
// data-dependent branch per element mispredicts half the time); the first tap is copied. A NaN is
// taken and kept (as torch's max_pool2d: its index is the last NaN's), so NaN reaches the output.
// With kArgmax, also the flat input position (ih * w + iw) of the maximum (the first on ties).
template <bool kArgmax>
__attribute__((noinline)) void max_pool_impl(const float* x, const ConvGeometry& g, float* y, int32_t* argmax) {
  for (int64_t oh = 0; oh < g.oh; ++oh)
    for (int64_t ow = 0; ow < g.ow; ++ow) {
      float* out = y + (oh * g.ow + ow) * g.c;
      int32_t* arg = kArgmax ? argmax + (oh * g.ow + ow) * g.c : nullptr;
      std::fill(out, out + g.c, -std::numeric_limits<float>::infinity());
      if constexpr (kArgmax) std::fill(arg, arg + g.c, -1);
      const Window win = window_at(g, oh, ow);
      bool first = true;
      for (int64_t ih = win.h0; ih < win.h1; ++ih)
        for (int64_t iw = win.w0; iw < win.w1; ++iw) {
          const float* src = x + (ih * g.w + iw) * g.c;
          const int32_t pos = static_cast<int32_t>(ih * g.w + iw);
          if (first) {
            std::copy(src, src + g.c, out);
            if constexpr (kArgmax) std::fill(arg, arg + g.c, pos);
            first = false;
            continue;
          }
          for (int64_t c = 0; c < g.c; ++c) {
            const bool take = src[c] > out[c] || src[c] != src[c];
            out[c] = take ? src[c] : out[c];
            if constexpr (kArgmax) arg[c] = take ? pos : arg[c];
          }
        }
    }
}

__attribute__((noinline)) void max_pool_image_backward(const float* gy, const int32_t* argmax, const ConvGeometry& g, float* dx) {
  std::memset(dx, 0, sizeof(float) * g.h * g.w * g.c);
  const int64_t n = g.oh * g.ow;
  for (int64_t p = 0; p < n; ++p)
    for (int64_t c = 0; c < g.c; ++c) {
      int32_t a = argmax[p * g.c + c];
      if (a >= 0) dx[a * g.c + c] += gy[p * g.c + c];
    }
}

// The average counts the window positions inside the image only (padding excluded, as Keras).
__attribute__((noinline)) void avg_pool_image(const float* x, const ConvGeometry& g, float* y) {
  for (int64_t oh = 0; oh < g.oh; ++oh)
    for (int64_t ow = 0; ow < g.ow; ++ow) {
      float* out = y + (oh * g.ow + ow) * g.c;
      std::fill(out, out + g.c, 0.f);
      const Window win = window_at(g, oh, ow);
      for (int64_t ih = win.h0; ih < win.h1; ++ih)
        for (int64_t iw = win.w0; iw < win.w1; ++iw) {
          const float* src = x + (ih * g.w + iw) * g.c;
          for (int64_t c = 0; c < g.c; ++c) out[c] += src[c];
        }
      const float inv = 1.f / static_cast<float>(std::max<int64_t>(win.count(), 1));
      for (int64_t c = 0; c < g.c; ++c) out[c] *= inv;
    }
}

__attribute__((noinline)) void avg_pool_image_backward(const float* gy, const ConvGeometry& g, float* dx) {
  std::memset(dx, 0, sizeof(float) * g.h * g.w * g.c);
  for (int64_t oh = 0; oh < g.oh; ++oh)
    for (int64_t ow = 0; ow < g.ow; ++ow) {
      const float* src = gy + (oh * g.ow + ow) * g.c;
      const Window win = window_at(g, oh, ow);
      const float inv = 1.f / static_cast<float>(std::max<int64_t>(win.count(), 1));
      for (int64_t ih = win.h0; ih < win.h1; ++ih)
        for (int64_t iw = win.w0; iw < win.w1; ++iw) {
          float* dst = dx + (ih * g.w + iw) * g.c;
          for (int64_t c = 0; c < g.c; ++c) dst[c] += src[c] * inv;
        }
    }
}

// body(i) for each of n images, in parallel above the work threshold (a window's cost is bounded
// by the image: the windows are clipped to it). The per-image functions above are not inlined into
// the OpenMP region, where every variable they read comes through its shared-data struct (measured:
// inlined, max pooling of 8 x 8 and 36 x 36 images ran 10-19% slower).
template <class Body>
void for_each_image(int64_t n, const ConvGeometry& g, Body body) {
  const int nt = threads_for(n * g.oh * g.ow * g.c * std::min(g.kh, g.h) * std::min(g.kw, g.w));
#pragma omp parallel for num_threads(nt) schedule(static) if (nt > 1 && n > 1)
  for (int64_t i = 0; i < n; ++i) body(i);
}

}  // namespace

void max_pool(const float* x, int64_t n, const ConvGeometry& g, float* y, int32_t* argmax) {
  const int64_t in = g.h * g.w * g.c, out = g.oh * g.ow * g.c;
  for_each_image(n, g, [&](int64_t i) {
    if (argmax)
      max_pool_impl<true>(x + i * in, g, y + i * out, argmax + i * out);
    else
      max_pool_impl<false>(x + i * in, g, y + i * out, nullptr);
  });
}

void max_pool_backward(const float* gy, const int32_t* argmax, int64_t n, const ConvGeometry& g, float* dx) {
  const int64_t in = g.h * g.w * g.c, out = g.oh * g.ow * g.c;
  for_each_image(n, g, [&](int64_t i) { max_pool_image_backward(gy + i * out, argmax + i * out, g, dx + i * in); });
}

void avg_pool(const float* x, int64_t n, const ConvGeometry& g, float* y) {
  const int64_t in = g.h * g.w * g.c, out = g.oh * g.ow * g.c;
  for_each_image(n, g, [&](int64_t i) { avg_pool_image(x + i * in, g, y + i * out); });
}

void avg_pool_backward(const float* gy, int64_t n, const ConvGeometry& g, float* dx) {
  const int64_t in = g.h * g.w * g.c, out = g.oh * g.ow * g.c;
  for_each_image(n, g, [&](int64_t i) { avg_pool_image_backward(gy + i * out, g, dx + i * in); });
}

}  // namespace kernels
}  // namespace lamina
