#pragma once
// Internal: per-channel statistics and normalisation (norm.cpp).
// Kernels are raw compute on contiguous buffers: no autodiff, no argument checks (ops do both).
#include <cstdint>

namespace lamina {
namespace kernels {

// ------------------------------------------------------------------ batch normalisation (norm.cpp)
// x viewed as (rows, channels): per-channel mean and biased variance.
void channel_moments(const float* x, int64_t rows, int64_t channels, float* mean, float* var);
// y = x * scale[c] + shift[c].
void normalize_channels(const float* x, int64_t rows, int64_t channels, const float* scale, const float* shift,
                        float* y);
// sum_g[c] = sum_r g, sum_gx[c] = sum_r g * (x - mean[c]).
void channel_sums(const float* g, const float* x, int64_t rows, int64_t channels, const float* mean,
                  float* sum_g, float* sum_gx);

}  // namespace kernels
}  // namespace lamina
