// Softmax, log-softmax and fused softmax cross-entropy, all numerically stable (max subtracted).
#include <algorithm>
#include <cmath>
#include <limits>
#include <vector>

#include "elementwise.hpp"
#include "softmax.hpp"
#include "parallel.hpp"

namespace lamina {
namespace kernels {

// The shift m is the row's maximum, NaN-propagating: a NaN or a +inf in a row makes the whole row
// NaN (x - m is NaN at the +inf), as torch and NumPy's exp(x - max) / sum give. Only a row whose
// maximum is -inf (all -inf, or empty) is not shifted: its exp sums to 0 and the row is NaN too.

void softmax(const float* x, float* y, int64_t outer, int64_t n, int64_t inner, bool log) {
  const int nt = threads_for(outer * n * inner, int64_t(1) << 13);
#pragma omp parallel for num_threads(nt) schedule(static) if (nt > 1 && outer > 1)
  for (int64_t o = 0; o < outer; ++o) {
    for (int64_t i = 0; i < inner; ++i) {
      const float* px = x + o * n * inner + i;
      float* py = y + o * n * inner + i;
      float m = -std::numeric_limits<float>::infinity();
      for (int64_t j = 0; j < n; ++j) m = max_nan(m, px[j * inner]);
      if (m == -std::numeric_limits<float>::infinity()) m = 0.f;  // all -inf: see the note above
      float s = 0.f;
      for (int64_t j = 0; j < n; ++j) {
        float e = std::exp(px[j * inner] - m);
        s += e;
        if (!log) py[j * inner] = e;
      }
      if (log) {
        float ls = std::log(s) + m;
        for (int64_t j = 0; j < n; ++j) py[j * inner] = px[j * inner] - ls;
      } else {
        float inv = 1.f / s;
        for (int64_t j = 0; j < n; ++j) py[j * inner] *= inv;
      }
    }
  }
}

void softmax_backward(const float* y, const float* g, float* dx, int64_t outer, int64_t n,
                      int64_t inner, bool log) {
  const int nt = threads_for(outer * n * inner, int64_t(1) << 13);
#pragma omp parallel for num_threads(nt) schedule(static) if (nt > 1 && outer > 1)
  for (int64_t o = 0; o < outer; ++o) {
    for (int64_t i = 0; i < inner; ++i) {
      const int64_t base = o * n * inner + i;
      float s = 0.f;
      if (log) {
        for (int64_t j = 0; j < n; ++j) s += g[base + j * inner];
        for (int64_t j = 0; j < n; ++j)
          dx[base + j * inner] = g[base + j * inner] - std::exp(y[base + j * inner]) * s;
      } else {
        for (int64_t j = 0; j < n; ++j) s += g[base + j * inner] * y[base + j * inner];
        for (int64_t j = 0; j < n; ++j)
          dx[base + j * inner] = y[base + j * inner] * (g[base + j * inner] - s);
      }
    }
  }
}

void softmax_xent(const float* logits, const int64_t* labels, float* loss, float* probs,
                  int64_t rows, int64_t classes) {
  const int nt = threads_for(rows * classes, int64_t(1) << 13);
#pragma omp parallel for num_threads(nt) schedule(static) if (nt > 1)
  for (int64_t r = 0; r < rows; ++r) {
    const float* z = logits + r * classes;
    float* p = probs + r * classes;
    float m = -std::numeric_limits<float>::infinity();
    for (int64_t j = 0; j < classes; ++j) m = max_nan(m, z[j]);
    if (m == -std::numeric_limits<float>::infinity()) m = 0.f;  // all -inf: see the note above
    float s = 0.f;
    for (int64_t j = 0; j < classes; ++j) {
      p[j] = std::exp(z[j] - m);
      s += p[j];
    }
    float inv = 1.f / s;
    for (int64_t j = 0; j < classes; ++j) p[j] *= inv;
    loss[r] = std::log(s) + m - z[labels[r]];
  }
}

}  // namespace kernels
}  // namespace lamina
