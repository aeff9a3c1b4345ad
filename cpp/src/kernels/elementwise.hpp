#pragma once
// Internal: NaN-propagating comparisons and elementwise maps, in parallel above the work threshold.
// Kernels are raw compute on contiguous buffers: no autodiff, no argument checks (ops do both).
#include <cstdint>

#include "parallel.hpp"

namespace lamina {
namespace kernels {

// ------------------------------------------------------------------ NaN-propagating comparisons
// As NumPy's maximum / minimum and torch: a NaN operand gives NaN, so a NaN in any kernel that
// compares (reductions, pooling, relu, epilogues) reaches the output. On ties `acc` is kept.
// A NaN in `acc` stays (v > NaN is false); a NaN in v is taken.
template <class T>
inline T max_nan(T acc, T v) { return (v > acc || v != v) ? v : acc; }
template <class T>
inline T min_nan(T acc, T v) { return (v < acc || v != v) ? v : acc; }
// relu keeping NaN (and -0.0, as torch.relu): the same as _mm256_max_ps(0, v), which returns its
// second operand when either is NaN.
inline float relu_nan(float v) { return v < 0.f ? 0.f : v; }
// relu's gradient from its output y, as torch's threshold_backward: the gradient passes where
// y > 0 or y is NaN (a NaN is not silently turned into a zero gradient).
inline float relu_grad(float g, float y) { return y <= 0.f ? 0.f : g; }

// ------------------------------------------------------------------ elementwise maps
// y[i] = f(x[i]) over n elements, in parallel above the work threshold.
template <class TI, class TO, class F>
void map1(const TI* x, TO* y, int64_t n, F f) {
  int nt = threads_for(n);
#pragma omp parallel for num_threads(nt) schedule(static) if (nt > 1)
  for (int64_t i = 0; i < n; ++i) y[i] = f(x[i]);
}

// y[i] = f(a[i], b[i]) over n elements (same shapes).
template <class TA, class TB, class TO, class F>
void map2(const TA* a, const TB* b, TO* y, int64_t n, F f) {
  int nt = threads_for(n);
#pragma omp parallel for num_threads(nt) schedule(static) if (nt > 1)
  for (int64_t i = 0; i < n; ++i) y[i] = f(a[i], b[i]);
}

// y[i] = f(a[i], b[i], c[i]) over n elements (same shapes).
template <class TA, class TB, class TC, class TO, class F>
void map3(const TA* a, const TB* b, const TC* c, TO* y, int64_t n, F f) {
  int nt = threads_for(n);
#pragma omp parallel for num_threads(nt) schedule(static) if (nt > 1)
  for (int64_t i = 0; i < n; ++i) y[i] = f(a[i], b[i], c[i]);
}

}  // namespace kernels
}  // namespace lamina
