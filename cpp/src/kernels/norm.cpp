// Per-channel statistics and normalisation of data seen as (outer, channels, inner) (batch
// normalisation), and per-row normalisation of (rows, n) data (layer normalisation).
#include "norm.hpp"

#include <omp.h>

#include <algorithm>
#include <cmath>
#include <utility>
#include <vector>

#include "parallel.hpp"

namespace lamina {
namespace kernels {
namespace {

// Calls body(c, i) for every element i of rows [lo, hi), channel by channel within a row, so each
// channel's values arrive in row order whatever the channel axis (the sums below then do not
// depend on it). The last-axis case is a plain (rows, channels) loop the compiler vectorises.
template <class Body>
inline void visit_rows(const ChannelView& v, int64_t lo, int64_t hi, Body body) {
  const int64_t C = v.channels, I = v.inner;
  if (I == 1) {
    for (int64_t r = lo; r < hi; ++r)
      for (int64_t c = 0; c < C; ++c) body(c, r * C + c);
    return;
  }
  for (int64_t r = lo; r < hi;) {
    const int64_t o = r / I, i0 = r % I, i1 = std::min(I, i0 + (hi - r));
    for (int64_t c = 0; c < C; ++c) {
      const int64_t base = (o * C + c) * I;
      for (int64_t i = i0; i < i1; ++i) body(c, base + i);
    }
    r += i1 - i0;
  }
}

// Runs body(lo, hi, tid) on an equal share of `rows` rows of n values per thread (one thread below
// the work threshold) and returns the thread count, so reductions can keep a partial per thread.
template <class Body>
int parallel_row_range(int64_t rows, int64_t n, Body body) {
  const int nt = threads_for(rows * n);
#pragma omp parallel num_threads(nt) if (nt > 1)
  {
    const int tid = omp_get_thread_num(), nth = omp_get_num_threads();
    body(rows * tid / nth, rows * (tid + 1) / nth, tid);
  }
  return nt;
}

template <class Body>
int parallel_rows(const ChannelView& v, Body body) {
  return parallel_row_range(v.rows(), v.channels, body);
}

// Two per-channel sums over the rows, in double: terms(c, i) gives element i's two terms (channel c).
// One partial per thread, added in thread order, so a result does not depend on timing. Channels
// last: one accumulator per channel, the loop over channels vectorised (the order of the terms is
// the row order). Otherwise each channel's run of `inner` values is summed in four lanes, so the
// adds do not wait on each other.
template <class Terms>
void channel_sum_pair(const ChannelView& v, double* out_s, double* out_q, Terms terms) {
  const int64_t C = v.channels, I = v.inner;
  const int nt = threads_for(v.size());
  std::vector<double> s(static_cast<size_t>(nt) * C, 0.0), q(static_cast<size_t>(nt) * C, 0.0);
  parallel_rows(v, [&](int64_t lo, int64_t hi, int tid) {
    double* ps = s.data() + static_cast<size_t>(tid) * C;
    double* pq = q.data() + static_cast<size_t>(tid) * C;
    if (I == 1) {
      visit_rows(v, lo, hi, [&](int64_t c, int64_t i) {
        const auto [a, b] = terms(c, i);
        ps[c] += a;
        pq[c] += b;
      });
      return;
    }
    for (int64_t r = lo; r < hi;) {
      const int64_t o = r / I, i0 = r % I, i1 = std::min(I, i0 + (hi - r));
      for (int64_t c = 0; c < C; ++c) {
        const int64_t base = (o * C + c) * I;
        double a[4] = {0, 0, 0, 0}, b[4] = {0, 0, 0, 0};
        int64_t i = i0;
        for (; i + 4 <= i1; i += 4)
          for (int k = 0; k < 4; ++k) {
            const auto [ta, tb] = terms(c, base + i + k);
            a[k] += ta;
            b[k] += tb;
          }
        for (; i < i1; ++i) {
          const auto [ta, tb] = terms(c, base + i);
          a[0] += ta;
          b[0] += tb;
        }
        ps[c] += (a[0] + a[1]) + (a[2] + a[3]);
        pq[c] += (b[0] + b[1]) + (b[2] + b[3]);
      }
      r += i1 - i0;
    }
  });
  for (int64_t c = 0; c < C; ++c) {
    double a = 0.0, b = 0.0;
    for (int t = 0; t < nt; ++t) {
      a += s[static_cast<size_t>(t) * C + c];
      b += q[static_cast<size_t>(t) * C + c];
    }
    out_s[c] = a;
    out_q[c] = b;
  }
}

}  // namespace

void channel_moments(const float* x, ChannelView v, float* mean, float* var) {
  // Shifted by the first row (channel c's first value is x[c * inner]) for accuracy: values far from
  // 0 would cancel in E[x^2] - E[x]^2.
  const int64_t C = v.channels, I = v.inner;
  std::vector<double> s(static_cast<size_t>(C)), q(static_cast<size_t>(C));
  channel_sum_pair(v, s.data(), q.data(), [&](int64_t c, int64_t i) {
    const double d = static_cast<double>(x[i]) - x[c * I];
    return std::pair<double, double>{d, d * d};
  });
  const double rows = static_cast<double>(v.rows());
  for (int64_t c = 0; c < C; ++c) {
    const double m = s[c] / rows, var_c = q[c] / rows - m * m;
    mean[c] = static_cast<float>(m + x[c * I]);
    var[c] = static_cast<float>(var_c < 0.0 ? 0.0 : var_c);  // rounding can go below 0; NaN (an inf input) stays
  }
}

void normalize_channels(const float* x, ChannelView v, const float* mean, const float* scale, const float* offset,
                        float* y) {
  const std::vector<float> zeros(static_cast<size_t>(v.channels), 0.f);
  const float* m = mean ? mean : zeros.data();
  const float* o = offset ? offset : zeros.data();
  parallel_rows(v, [&](int64_t lo, int64_t hi, int) {
    visit_rows(v, lo, hi, [&](int64_t c, int64_t i) { y[i] = (x[i] - m[c]) * scale[c] + o[c]; });
  });
}

void channel_sums(const float* g, const float* x, ChannelView v, const float* mean, float* sum_g, float* sum_gx) {
  const size_t C = static_cast<size_t>(v.channels);
  std::vector<double> s(C), q(C);
  channel_sum_pair(v, s.data(), q.data(), [&](int64_t c, int64_t i) {
    return std::pair<double, double>{g[i], static_cast<double>(g[i]) * (x[i] - mean[c])};
  });
  for (size_t c = 0; c < C; ++c) {
    sum_g[c] = static_cast<float>(s[c]);
    sum_gx[c] = static_cast<float>(q[c]);
  }
}

void channel_affine2(const float* g, const float* x, ChannelView v, const float* a, const float* b, const float* d,
                     float* out) {
  parallel_rows(v, [&](int64_t lo, int64_t hi, int) {
    visit_rows(v, lo, hi, [&](int64_t c, int64_t i) { out[i] = a[c] * g[i] + b[c] * x[i] + d[c]; });
  });
}

void layer_norm_forward(const float* x, int64_t rows, int64_t n, const float* gamma, const float* beta, float eps,
                        float* y, float* mean, float* invstd) {
  parallel_row_range(rows, n, [&](int64_t lo, int64_t hi, int) {
    for (int64_t r = lo; r < hi; ++r) {
      const float* xr = x + r * n;
      // in double, shifted by the row's first value (values far from 0 would cancel)
      double s = 0.0, q = 0.0;
      for (int64_t j = 0; j < n; ++j) {
        const double d = static_cast<double>(xr[j]) - xr[0];
        s += d;
        q += d * d;
      }
      const double m = s / n, v = q / n - m * m;
      const float mu = static_cast<float>(m + xr[0]);
      const float is = 1.f / std::sqrt(static_cast<float>(v < 0.0 ? 0.0 : v) + eps);
      mean[r] = mu;
      invstd[r] = is;
      float* yr = y + r * n;
      for (int64_t j = 0; j < n; ++j)
        yr[j] = (xr[j] - mu) * is * (gamma ? gamma[j] : 1.f) + (beta ? beta[j] : 0.f);
    }
  });
}

void layer_norm_backward(const float* g, const float* x, int64_t rows, int64_t n, const float* gamma,
                         const float* mean, const float* invstd, float* dx, float* dgamma, float* dbeta) {
  const int nt = threads_for(rows * n);
  // dgamma / dbeta: column sums over the rows, one double partial per thread, added in thread order
  std::vector<double> pg(dgamma ? static_cast<size_t>(nt) * n : 0, 0.0), pb(dbeta ? static_cast<size_t>(nt) * n : 0, 0.0);
  parallel_row_range(rows, n, [&](int64_t lo, int64_t hi, int tid) {
    double* sg = dgamma ? pg.data() + static_cast<size_t>(tid) * n : nullptr;
    double* sb = dbeta ? pb.data() + static_cast<size_t>(tid) * n : nullptr;
    for (int64_t r = lo; r < hi; ++r) {
      const float *gr = g + r * n, *xr = x + r * n;
      const float mu = mean[r], is = invstd[r];
      double sh = 0.0, shx = 0.0;
      for (int64_t j = 0; j < n; ++j) {
        const float xhat = (xr[j] - mu) * is, h = gr[j] * (gamma ? gamma[j] : 1.f);
        sh += h;
        shx += static_cast<double>(h) * xhat;
        if (sg) sg[j] += static_cast<double>(gr[j]) * xhat;
        if (sb) sb[j] += gr[j];
      }
      if (!dx) continue;
      const float mh = static_cast<float>(sh / n), mhx = static_cast<float>(shx / n);
      float* dr = dx + r * n;
      for (int64_t j = 0; j < n; ++j) {
        const float xhat = (xr[j] - mu) * is, h = gr[j] * (gamma ? gamma[j] : 1.f);
        dr[j] = is * (h - mh - xhat * mhx);
      }
    }
  });
  for (int64_t j = 0; j < n; ++j) {
    double a = 0.0, b = 0.0;
    for (int t = 0; t < nt; ++t) {
      if (dgamma) a += pg[static_cast<size_t>(t) * n + j];
      if (dbeta) b += pb[static_cast<size_t>(t) * n + j];
    }
    if (dgamma) dgamma[j] = static_cast<float>(a);
    if (dbeta) dbeta[j] = static_cast<float>(b);
  }
}

}  // namespace kernels
}  // namespace lamina
