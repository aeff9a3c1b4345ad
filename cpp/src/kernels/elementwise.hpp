#pragma once
// Internal: NaN-propagating comparisons and elementwise maps, in parallel above the work threshold.
// Kernels are raw compute on contiguous buffers: no autodiff, no argument checks (ops do both).
#include <cmath>
#include <cstdint>
#include <type_traits>

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
// Integers (ops::relu keeps int dtypes) give max(v, 0).
template <class T>
inline T relu_nan(T v) { return v < T(0) ? T(0) : v; }
// relu's gradient from its output y, as torch's threshold_backward: the gradient passes where
// y > 0 or y is NaN (a NaN is not silently turned into a zero gradient).
inline float relu_grad(float g, float y) { return y <= 0.f ? 0.f : g; }

// ------------------------------------------------------------------ integer-safe arithmetic
// f(x, y) with integers wrapping around in two's complement, as NumPy's int32/int64 arithmetic
// does (computed on the unsigned type: signed overflow is undefined behaviour in C++). Floats and
// bools go straight to f (for bools, the int result converts to bool: + is or, * is and).
template <class T, class F>
inline T wrapping(T x, T y, F f) {
  if constexpr (std::is_integral_v<T> && !std::is_same_v<T, bool>) {
    using U = std::make_unsigned_t<T>;
    return static_cast<T>(f(static_cast<U>(x), static_cast<U>(y)));
  } else {
    return static_cast<T>(f(x, y));
  }
}
template <class T>
inline T wrapping_multiply(T x, T y) {
  return wrapping(x, y, [](auto p, auto q) { return p * q; });
}
// -x, wrapping as NumPy does (-INT_MIN == INT_MIN); floats flip the sign bit (-(0.0) == -0.0,
// which 0 - x would lose).
template <class T>
inline T wrapping_negate(T v) {
  if constexpr (std::is_floating_point_v<T>) return -v;
  else return wrapping(T(0), v, [](auto x, auto y) { return x - y; });
}
// |v| as NumPy: abs(-0.0) == 0.0, abs(INT_MIN) == INT_MIN, a bool is itself.
template <class T>
inline T absolute(T v) {
  if constexpr (std::is_floating_point_v<T>) return std::fabs(v);
  else return v < T(0) ? wrapping_negate(v) : v;
}
// -1, 0 or 1 in v's type; NaN stays NaN (NumPy).
template <class T>
inline T sign(T v) { return v != v ? v : static_cast<T>((T(0) < v) - (v < T(0))); }

// ------------------------------------------------------------------ elementwise maps
// Each thread calls its own copy of f: f's captures (an activation's parameter) are then locals
// that no store to y can alias, so the loop vectorises (through the shared closure, a float
// capture is reloaded after every float store: leaky_relu ran ~70x slower than relu).

// y[i] = f(x[i]) over n elements, in parallel above the work threshold.
template <class TI, class TO, class F>
void map1(const TI* x, TO* y, int64_t n, F f) {
  int nt = threads_for(n);
#pragma omp parallel num_threads(nt) if (nt > 1)
  {
    const F fl = f;
#pragma omp for schedule(static)
    for (int64_t i = 0; i < n; ++i) y[i] = fl(x[i]);
  }
}

// y[i] = f(a[i], b[i]) over n elements (same shapes).
template <class TA, class TB, class TO, class F>
void map2(const TA* a, const TB* b, TO* y, int64_t n, F f) {
  int nt = threads_for(n);
#pragma omp parallel num_threads(nt) if (nt > 1)
  {
    const F fl = f;
#pragma omp for schedule(static)
    for (int64_t i = 0; i < n; ++i) y[i] = fl(a[i], b[i]);
  }
}

// y[i] = f(a[i], b[i], c[i]) over n elements (same shapes).
template <class TA, class TB, class TC, class TO, class F>
void map3(const TA* a, const TB* b, const TC* c, TO* y, int64_t n, F f) {
  int nt = threads_for(n);
#pragma omp parallel num_threads(nt) if (nt > 1)
  {
    const F fl = f;
#pragma omp for schedule(static)
    for (int64_t i = 0; i < n; ++i) y[i] = fl(a[i], b[i], c[i]);
  }
}

}  // namespace kernels
}  // namespace lamina
