#pragma once
// Internal: vectorised transcendental functions (unary.cpp).
// Kernels are raw compute on contiguous buffers: no autodiff, no argument checks (ops do both).
#include <cstdint>

namespace lamina {
namespace kernels {

// ------------------------------------------------------------------ vectorised math (unary.cpp)
void vexp(const float* x, float* y, int64_t n);
void vlog(const float* x, float* y, int64_t n);
void vtanh(const float* x, float* y, int64_t n);
void vsigmoid(const float* x, float* y, int64_t n);

}  // namespace kernels
}  // namespace lamina
