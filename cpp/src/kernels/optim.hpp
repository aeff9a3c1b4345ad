#pragma once
// Internal: the fused optimizer loops (optim.cpp). Raw buffers only; the checks, unsharing and the
// hyperparameter arithmetic (bias correction, clip scales) happen in cpp/src/optim/.
#include <cstdint>
#include <vector>

namespace lamina {
namespace kernels {

// One parameter's buffers for a fused update. Unused slots are null.
struct ParamBuffers {
  float* param;
  const float* grad;
  float* slot[3];
  int64_t n;
  float grad_scale;  // the gradient is multiplied by this first (norm clipping; 1 otherwise)
};

// Applied to every gradient element and parameter before the update itself:
//   g <- clamp(g * grad_scale, clip_lo, clip_hi);  p <- p - p * decay
struct UpdatePrelude {
  float clip_lo;  // -inf when not clipping by value
  float clip_hi;  // +inf when not clipping by value
  float decay;    // weight_decay * lr, 0 when off
};

// out[i] = sum of squares of tensor i (double accumulation; deterministic for any thread count).
void sum_squares(const std::vector<const float*>& data, const std::vector<int64_t>& sizes,
                 std::vector<double>& out);

// y = clamp(x * scale, lo, hi) over n elements.
void scale_clamp(const float* x, float* y, int64_t n, float scale, float lo, float hi);

// slot[0] = momentum buffer (null when momentum == 0).
void sgd_step(const std::vector<ParamBuffers>& b, const UpdatePrelude& pre, float lr, float momentum,
              bool nesterov);
// slot[0] = m, slot[1] = v, slot[2] = vhat (amsgrad only). alpha is the bias-corrected step size.
void adam_step(const std::vector<ParamBuffers>& b, const UpdatePrelude& pre, float alpha, float beta1,
               float beta2, float eps, bool amsgrad);
// slot[0] = velocity, slot[1] = momentum (null when momentum == 0), slot[2] = average gradient
// (null unless centered).
void rmsprop_step(const std::vector<ParamBuffers>& b, const UpdatePrelude& pre, float lr, float rho,
                  float momentum, float eps);
// slot[0] = accumulator.
void adagrad_step(const std::vector<ParamBuffers>& b, const UpdatePrelude& pre, float lr, float eps);

}  // namespace kernels
}  // namespace lamina
