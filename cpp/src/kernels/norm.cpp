// Per-channel statistics and normalisation of (rows, channels) data: batch normalisation.
#include <omp.h>

#include <cmath>
#include <vector>

#include "norm.hpp"
#include "parallel.hpp"

namespace lamina {
namespace kernels {

void channel_moments(const float* x, int64_t rows, int64_t channels, float* mean, float* var) {
  const int nt = threads_for(rows * channels);
  std::vector<double> sum(static_cast<size_t>(nt) * channels, 0.0), sq(static_cast<size_t>(nt) * channels, 0.0);
#pragma omp parallel num_threads(nt) if (nt > 1)
  {
    const int tid = omp_get_thread_num(), nth = omp_get_num_threads();
    const int64_t lo = rows * tid / nth, hi = rows * (tid + 1) / nth;
    double* s = sum.data() + static_cast<size_t>(tid) * channels;
    double* q = sq.data() + static_cast<size_t>(tid) * channels;
    // Shifted by the first row for accuracy (values far from 0 would cancel in E[x^2] - E[x]^2).
    for (int64_t r = lo; r < hi; ++r) {
      const float* row = x + r * channels;
      for (int64_t c = 0; c < channels; ++c) {
        const double d = static_cast<double>(row[c]) - x[c];
        s[c] += d;
        q[c] += d * d;
      }
    }
  }
  for (int64_t c = 0; c < channels; ++c) {
    double s = 0.0, q = 0.0;
    for (int t = 0; t < nt; ++t) {
      s += sum[static_cast<size_t>(t) * channels + c];
      q += sq[static_cast<size_t>(t) * channels + c];
    }
    const double m = rows ? s / rows : 0.0;
    mean[c] = static_cast<float>(m + x[c]);
    const double v = rows ? q / rows - m * m : 0.0;
    var[c] = static_cast<float>(v > 0.0 ? v : 0.0);
  }
}

void normalize_channels(const float* x, int64_t rows, int64_t channels, const float* scale, const float* shift,
                        float* y) {
  const int nt = threads_for(rows * channels);
#pragma omp parallel for num_threads(nt) schedule(static) if (nt > 1)
  for (int64_t r = 0; r < rows; ++r) {
    const float* in = x + r * channels;
    float* out = y + r * channels;
    for (int64_t c = 0; c < channels; ++c) out[c] = in[c] * scale[c] + shift[c];
  }
}

void channel_sums(const float* g, const float* x, int64_t rows, int64_t channels, const float* mean,
                  float* sum_g, float* sum_gx) {
  const int nt = threads_for(rows * channels);
  std::vector<double> a(static_cast<size_t>(nt) * channels, 0.0), b(static_cast<size_t>(nt) * channels, 0.0);
#pragma omp parallel num_threads(nt) if (nt > 1)
  {
    const int tid = omp_get_thread_num(), nth = omp_get_num_threads();
    const int64_t lo = rows * tid / nth, hi = rows * (tid + 1) / nth;
    double* pa = a.data() + static_cast<size_t>(tid) * channels;
    double* pb = b.data() + static_cast<size_t>(tid) * channels;
    for (int64_t r = lo; r < hi; ++r) {
      const float* gr = g + r * channels;
      const float* xr = x + r * channels;
      for (int64_t c = 0; c < channels; ++c) {
        pa[c] += gr[c];
        pb[c] += static_cast<double>(gr[c]) * (xr[c] - mean[c]);
      }
    }
  }
  for (int64_t c = 0; c < channels; ++c) {
    double s = 0.0, q = 0.0;
    for (int t = 0; t < nt; ++t) {
      s += a[static_cast<size_t>(t) * channels + c];
      q += b[static_cast<size_t>(t) * channels + c];
    }
    sum_g[c] = static_cast<float>(s);
    sum_gx[c] = static_cast<float>(q);
  }
}

}  // namespace kernels
}  // namespace lamina
