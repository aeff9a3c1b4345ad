#pragma once
// Internal: 2-D max and average pooling, NHWC (pool.cpp).
// Kernels are raw compute on contiguous buffers: no autodiff, no argument checks (ops do both).
#include <cstdint>

#include "conv.hpp"  // ConvGeometry

namespace lamina {
namespace kernels {

// ------------------------------------------------------------------ pooling (pool.cpp)
// n NHWC images x (n, h, w, c) -> y (n, oh, ow, c), in parallel over images above the work
// threshold; the backward writes all of dx (n, h, w, c). argmax (optional) records the flat
// position in its image (ih*w + iw) of each maximum.
void max_pool(const float* x, int64_t n, const ConvGeometry& g, float* y, int32_t* argmax);
void max_pool_backward(const float* gy, const int32_t* argmax, int64_t n, const ConvGeometry& g, float* dx);
// Average over the window positions inside the image (padding not counted).
void avg_pool(const float* x, int64_t n, const ConvGeometry& g, float* y);
void avg_pool_backward(const float* gy, int64_t n, const ConvGeometry& g, float* dx);

}  // namespace kernels
}  // namespace lamina
