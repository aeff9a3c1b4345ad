// im2col / col2im for NHWC images and 2-D pooling windows.
#include <algorithm>
#include <cstring>
#include <limits>

#include "kernels.hpp"

namespace lamina {
namespace kernels {

void im2col(const float* x, const ConvGeometry& g, float* cols, int64_t oh_begin, int64_t oh_end) {
  const int64_t row_len = g.kh * g.kw * g.c;
  if (oh_end < 0) oh_end = g.oh;
  const int64_t c = g.c;
  for (int64_t oh = oh_begin; oh < oh_end; ++oh)
    for (int64_t ow = 0; ow < g.ow; ++ow) {
      float* row = cols + ((oh - oh_begin) * g.ow + ow) * row_len;
      for (int64_t i = 0; i < g.kh; ++i) {
        const int64_t ih = oh * g.sh - g.pad_top + i * g.dh;
        for (int64_t j = 0; j < g.kw; ++j) {
          const int64_t iw = ow * g.sw - g.pad_left + j * g.dw;
          float* dst = row + (i * g.kw + j) * c;
          if (ih < 0 || ih >= g.h || iw < 0 || iw >= g.w) {
            for (int64_t k = 0; k < c; ++k) dst[k] = 0.f;
          } else {
            const float* src = x + (ih * g.w + iw) * c;
            if (c >= 16)
              std::memcpy(dst, src, sizeof(float) * c);
            else  // a few channels (RGB): a plain loop beats a memcpy call
              for (int64_t k = 0; k < c; ++k) dst[k] = src[k];
          }
        }
      }
    }
}

void col2im(const float* cols, const ConvGeometry& g, float* dx) {
  const int64_t row_len = g.kh * g.kw * g.c;
  std::memset(dx, 0, sizeof(float) * g.h * g.w * g.c);
  for (int64_t oh = 0; oh < g.oh; ++oh)
    for (int64_t ow = 0; ow < g.ow; ++ow) {
      const float* row = cols + (oh * g.ow + ow) * row_len;
      for (int64_t i = 0; i < g.kh; ++i) {
        const int64_t ih = oh * g.sh - g.pad_top + i * g.dh;
        if (ih < 0 || ih >= g.h) continue;
        for (int64_t j = 0; j < g.kw; ++j) {
          const int64_t iw = ow * g.sw - g.pad_left + j * g.dw;
          if (iw < 0 || iw >= g.w) continue;
          const float* src = row + (i * g.kw + j) * g.c;
          float* dst = dx + (ih * g.w + iw) * g.c;
          for (int64_t c = 0; c < g.c; ++c) dst[c] += src[c];
        }
      }
    }
}

void max_pool(const float* x, const ConvGeometry& g, float* y, int32_t* argmax) {
  for (int64_t oh = 0; oh < g.oh; ++oh)
    for (int64_t ow = 0; ow < g.ow; ++ow) {
      float* out = y + (oh * g.ow + ow) * g.c;
      int32_t* arg = argmax ? argmax + (oh * g.ow + ow) * g.c : nullptr;
      std::fill(out, out + g.c, -std::numeric_limits<float>::infinity());
      if (arg) std::fill(arg, arg + g.c, -1);
      for (int64_t i = 0; i < g.kh; ++i) {
        const int64_t ih = oh * g.sh - g.pad_top + i;
        if (ih < 0 || ih >= g.h) continue;
        for (int64_t j = 0; j < g.kw; ++j) {
          const int64_t iw = ow * g.sw - g.pad_left + j;
          if (iw < 0 || iw >= g.w) continue;
          const float* src = x + (ih * g.w + iw) * g.c;
          const int32_t pos = static_cast<int32_t>(ih * g.w + iw);
          for (int64_t c = 0; c < g.c; ++c)
            if (src[c] > out[c] || (arg && arg[c] < 0)) {
              out[c] = src[c];
              if (arg) arg[c] = pos;
            }
        }
      }
    }
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

namespace {
// Number of input positions inside the window at (oh, ow) (padding excluded, as Keras counts).
int64_t window_count(const ConvGeometry& g, int64_t oh, int64_t ow) {
  int64_t h0 = std::max<int64_t>(oh * g.sh - g.pad_top, 0), h1 = std::min(oh * g.sh - g.pad_top + g.kh, g.h);
  int64_t w0 = std::max<int64_t>(ow * g.sw - g.pad_left, 0), w1 = std::min(ow * g.sw - g.pad_left + g.kw, g.w);
  return std::max<int64_t>(h1 - h0, 0) * std::max<int64_t>(w1 - w0, 0);
}
}  // namespace

void avg_pool(const float* x, const ConvGeometry& g, float* y) {
  for (int64_t oh = 0; oh < g.oh; ++oh)
    for (int64_t ow = 0; ow < g.ow; ++ow) {
      float* out = y + (oh * g.ow + ow) * g.c;
      std::fill(out, out + g.c, 0.f);
      for (int64_t i = 0; i < g.kh; ++i) {
        const int64_t ih = oh * g.sh - g.pad_top + i;
        if (ih < 0 || ih >= g.h) continue;
        for (int64_t j = 0; j < g.kw; ++j) {
          const int64_t iw = ow * g.sw - g.pad_left + j;
          if (iw < 0 || iw >= g.w) continue;
          const float* src = x + (ih * g.w + iw) * g.c;
          for (int64_t c = 0; c < g.c; ++c) out[c] += src[c];
        }
      }
      const float inv = 1.f / static_cast<float>(std::max<int64_t>(window_count(g, oh, ow), 1));
      for (int64_t c = 0; c < g.c; ++c) out[c] *= inv;
    }
}

void avg_pool_backward(const float* gy, const ConvGeometry& g, float* dx) {
  std::memset(dx, 0, sizeof(float) * g.h * g.w * g.c);
  for (int64_t oh = 0; oh < g.oh; ++oh)
    for (int64_t ow = 0; ow < g.ow; ++ow) {
      const float* src = gy + (oh * g.ow + ow) * g.c;
      const float inv = 1.f / static_cast<float>(std::max<int64_t>(window_count(g, oh, ow), 1));
      for (int64_t i = 0; i < g.kh; ++i) {
        const int64_t ih = oh * g.sh - g.pad_top + i;
        if (ih < 0 || ih >= g.h) continue;
        for (int64_t j = 0; j < g.kw; ++j) {
          const int64_t iw = ow * g.sw - g.pad_left + j;
          if (iw < 0 || iw >= g.w) continue;
          float* dst = dx + (ih * g.w + iw) * g.c;
          for (int64_t c = 0; c < g.c; ++c) dst[c] += src[c] * inv;
        }
      }
    }
}

}  // namespace kernels
}  // namespace lamina
