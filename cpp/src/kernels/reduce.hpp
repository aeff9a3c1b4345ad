#pragma once
// Internal: reductions along the middle axis of (outer, n, inner) (reduce.cpp).
// Kernels are raw compute on contiguous buffers: no autodiff, no argument checks (ops do both).
#include <cstdint>

namespace lamina {
namespace kernels {

// ------------------------------------------------------------------ reductions (reduce.cpp)
// x viewed as (outer, n, inner) -> y (outer, inner).
enum class Reduce { Sum, Max, Min };
void reduce(Reduce kind, const float* x, float* y, int64_t outer, int64_t n, int64_t inner);
// Integer sum / max / min (exact, single-threaded).
template <class T>
void reduce_int(Reduce kind, const T* x, T* y, int64_t outer, int64_t n, int64_t inner);
// Index of the first max (or min) along n, written as int32.
template <class T>
void arg_reduce(bool is_max, const T* x, int32_t* y, int64_t outer, int64_t n, int64_t inner);

}  // namespace kernels
}  // namespace lamina
