// im2col / col2im for NHWC images.
#include <algorithm>
#include <cstring>
#include <limits>

#include "conv.hpp"

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

}  // namespace kernels
}  // namespace lamina
