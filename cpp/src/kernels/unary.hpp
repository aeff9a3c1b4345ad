#pragma once
// Internal: vectorised transcendental functions (unary.cpp) and the scalar formulas of the
// activations that lamina/unary_ops.def names.
// Kernels are raw compute on contiguous buffers: no autodiff, no argument checks (ops do both).
#include <cmath>
#include <cstdint>

namespace lamina {
namespace kernels {

// ------------------------------------------------------------------ vectorised math (unary.cpp)
void vexp(const float* x, float* y, int64_t n);
void vlog(const float* x, float* y, int64_t n);
void vtanh(const float* x, float* y, int64_t n);
void vsigmoid(const float* x, float* y, int64_t n);
// silu: y = x * sigmoid(x); its backward dx = g (s + x s (1 - s)), s = vsigmoid(x) recomputed
// (bit for bit the forward's) instead of kept from the forward.
void vsilu(const float* x, float* y, int64_t n);
void vsilu_grad(const float* g, const float* x, float* dx, int64_t n);

// ------------------------------------------------------------------ scalar formulas
constexpr float kSeluAlpha = 1.6732632423543772f;
constexpr float kSeluScale = 1.0507009873554805f;
constexpr float kSqrt2OverPi = 0.7978845608028654f;

// gelu's tanh form 0.5 x (1 + tanh(u)), u = sqrt(2/pi) (x + 0.044715 x^3), and its derivative.
inline float gelu_tanh(float v) {
  return 0.5f * v * (1.f + std::tanh(kSqrt2OverPi * (v + 0.044715f * v * v * v)));
}
inline float gelu_tanh_slope(float v) {
  float u = kSqrt2OverPi * (v + 0.044715f * v * v * v);
  float t = std::tanh(u);
  float du = kSqrt2OverPi * (1.f + 3.f * 0.044715f * v * v);
  return 0.5f * (1.f + t) + 0.5f * v * (1.f - t * t) * du;
}
// gelu's exact form x Phi(x) = 0.5 x (1 + erf(x / sqrt 2)), and its derivative Phi(x) + x phi(x).
inline float gelu_erf(float v) { return 0.5f * v * (1.f + std::erf(v * 0.7071067811865476f)); }
inline float gelu_erf_slope(float v) {
  float cdf = 0.5f * (1.f + std::erf(v * 0.7071067811865476f));
  float pdf = 0.3989422804014327f * std::exp(-0.5f * v * v);
  return cdf + v * pdf;
}

}  // namespace kernels
}  // namespace lamina
