#pragma once
// Internal: per-channel statistics and normalisation (norm.cpp), for batch normalisation on any
// axis, and per-row normalisation for layer normalisation.
// Kernels are raw compute on contiguous buffers: no autodiff, no argument checks (ops do both).
#include <cstdint>

namespace lamina {
namespace kernels {

// A contiguous tensor seen as (outer, channels, inner) around its channel axis: inner = 1 when the
// channels are the last axis (NHWC), outer = 1 when they are the first. Its "rows" are the
// outer * inner positions that hold one value of every channel, taken in row-major order.
struct ChannelView {
  int64_t outer, channels, inner;
  int64_t rows() const { return outer * inner; }
  int64_t size() const { return outer * channels * inner; }
};

// Per-channel mean and biased variance over the rows (rows > 0).
void channel_moments(const float* x, ChannelView v, float* mean, float* var);
// y = (x - mean[c]) * scale[c] + offset[c]; mean / offset may be null (0).
void normalize_channels(const float* x, ChannelView v, const float* mean, const float* scale, const float* offset,
                        float* y);
// sum_g[c] = sum over rows of g, sum_gx[c] = sum over rows of g * (x - mean[c]).
void channel_sums(const float* g, const float* x, ChannelView v, const float* mean, float* sum_g, float* sum_gx);
// out = a[c] * g + b[c] * x + d[c] (batch normalisation's input gradient, its constants folded).
void channel_affine2(const float* g, const float* x, ChannelView v, const float* a, const float* b, const float* d,
                     float* out);

// Layer normalisation of x seen as (rows, n): per row, y = (x - mean) * invstd * gamma[j] + beta[j]
// with invstd = 1 / sqrt(biased variance + eps); gamma / beta may be null (1 / 0). Writes each
// row's mean and invstd (for the backward).
void layer_norm_forward(const float* x, int64_t rows, int64_t n, const float* gamma, const float* beta, float eps,
                        float* y, float* mean, float* invstd);
// Its backward for the upstream gradient g: with xhat = (x - mean) invstd and h = g gamma,
// dx = invstd (h - mean_j(h) - xhat mean_j(h xhat)); dgamma[j] = sum_r g xhat; dbeta[j] = sum_r g.
// Any of dx / dgamma / dbeta may be null (not needed).
void layer_norm_backward(const float* g, const float* x, int64_t rows, int64_t n, const float* gamma,
                         const float* mean, const float* invstd, float* dx, float* dgamma, float* dbeta);

}  // namespace kernels
}  // namespace lamina
