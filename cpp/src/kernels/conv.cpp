// im2col / col2im for NHWC images and 2-D pooling windows.
#include <algorithm>
#include <cstring>
#include <limits>

#include "kernels.hpp"

#ifdef __AVX2__
#include <immintrin.h>
#endif

namespace lamina {
namespace kernels {

namespace {

// dst[0, n) = src[0, n) for the short runs of im2col / col2im (a library memcpy call costs more).
inline void copy_run(float* dst, const float* src, int64_t n) {
  int64_t i = 0;
#ifdef __AVX2__
  if (n >= 8) {  // whole vectors, then one last vector ending at n (overlapping: same values)
    for (; i + 8 <= n; i += 8) _mm256_storeu_ps(dst + i, _mm256_loadu_ps(src + i));
    if (i < n) _mm256_storeu_ps(dst + n - 8, _mm256_loadu_ps(src + n - 8));
    return;
  }
#endif
  for (; i < n; ++i) dst[i] = src[i];
}

// dst[0, n) += src[0, n).
inline void add_run(float* dst, const float* src, int64_t n) {
  int64_t i = 0;
#ifdef __AVX2__
  for (; i + 8 <= n; i += 8) _mm256_storeu_ps(dst + i, _mm256_add_ps(_mm256_loadu_ps(dst + i), _mm256_loadu_ps(src + i)));
#endif
  for (; i < n; ++i) dst[i] += src[i];
}

}  // namespace

// A window row (kw taps of c channels) is one contiguous run of kw * c floats of the NHWC image
// when it lies inside the image and the dilation is 1: one copy per (position, window row).
void im2col(const float* x, const ConvGeometry& g, float* cols, int64_t pos_begin, int64_t pos_end) {
  const int64_t c = g.c, run = g.kw * c, row_len = g.kh * run;
  if (pos_end < 0) pos_end = g.oh * g.ow;
  for (int64_t pos = pos_begin; pos < pos_end; ++pos) {
    const int64_t oh = pos / g.ow, ow = pos % g.ow;
      float* row = cols + (pos - pos_begin) * row_len;
      const int64_t iw0 = ow * g.sw - g.pad_left;
      const bool inside_w = g.dw == 1 && iw0 >= 0 && iw0 + g.kw <= g.w;
      for (int64_t i = 0; i < g.kh; ++i) {
        const int64_t ih = oh * g.sh - g.pad_top + i * g.dh;
        float* dst = row + i * run;
        if (ih < 0 || ih >= g.h) {
          std::fill(dst, dst + run, 0.f);
        } else if (inside_w) {
          copy_run(dst, x + (ih * g.w + iw0) * c, run);
        } else {
          for (int64_t j = 0; j < g.kw; ++j) {
            const int64_t iw = iw0 + j * g.dw;
            if (iw < 0 || iw >= g.w)
              std::fill(dst + j * c, dst + (j + 1) * c, 0.f);
            else
              copy_run(dst + j * c, x + (ih * g.w + iw) * c, c);
          }
        }
      }
    }
}

void col2im(const float* cols, const ConvGeometry& g, float* dx, int64_t pos_begin, int64_t pos_end) {
  const int64_t c = g.c, run = g.kw * c, row_len = g.kh * run;
  if (pos_end < 0) pos_end = g.oh * g.ow;
  for (int64_t pos = pos_begin; pos < pos_end; ++pos) {
    const int64_t oh = pos / g.ow, ow = pos % g.ow;
      const float* row = cols + (pos - pos_begin) * row_len;
      const int64_t iw0 = ow * g.sw - g.pad_left;
      const bool inside_w = g.dw == 1 && iw0 >= 0 && iw0 + g.kw <= g.w;
      for (int64_t i = 0; i < g.kh; ++i) {
        const int64_t ih = oh * g.sh - g.pad_top + i * g.dh;
        if (ih < 0 || ih >= g.h) continue;
        if (inside_w) {
          add_run(dx + (ih * g.w + iw0) * c, row + i * run, run);
          continue;
        }
        for (int64_t j = 0; j < g.kw; ++j) {
          const int64_t iw = iw0 + j * g.dw;
          if (iw < 0 || iw >= g.w) continue;
          add_run(dx + (ih * g.w + iw) * c, row + (i * g.kw + j) * c, c);
        }
      }
    }
}

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
void max_pool_impl(const float* x, const ConvGeometry& g, float* y, int32_t* argmax) {
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
}  // namespace

void max_pool(const float* x, const ConvGeometry& g, float* y, int32_t* argmax) {
  if (argmax)
    max_pool_impl<true>(x, g, y, argmax);
  else
    max_pool_impl<false>(x, g, y, nullptr);
}

void max_pool_backward(const float* gy, const int32_t* argmax, const ConvGeometry& g, float* dx) {
  std::memset(dx, 0, sizeof(float) * g.h * g.w * g.c);
  const int64_t n = g.oh * g.ow;
  for (int64_t p = 0; p < n; ++p)
    for (int64_t c = 0; c < g.c; ++c) {
      int32_t a = argmax[p * g.c + c];
      if (a >= 0) dx[a * g.c + c] += gy[p * g.c + c];
    }
}

// The average counts the window positions inside the image only (padding excluded, as Keras).
void avg_pool(const float* x, const ConvGeometry& g, float* y) {
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

void avg_pool_backward(const float* gy, const ConvGeometry& g, float* dx) {
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

}  // namespace kernels
}  // namespace lamina
