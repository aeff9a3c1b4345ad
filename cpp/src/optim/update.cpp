// The fused updates of optim.hpp: check everything first (nothing is written when a check fails),
// give parameters and slots private storage, work out the clip scales, then one kernel call.
#include <cmath>
#include <limits>
#include <stdexcept>
#include <string>

#include "kernels/optim.hpp"
#include "lamina/optim.hpp"
#include "optim_check.hpp"

namespace lamina {
namespace optim {
namespace {

using detail::tag;

// The gradient scales and prelude for `clip`, over already checked gradients.
void plan_clip(const GradClip& clip, const std::vector<Tensor>& grads, float lr, float weight_decay,
               std::vector<float>& scales, kernels::UpdatePrelude& pre) {
  const float inf = std::numeric_limits<float>::infinity();
  pre = {-inf, inf, weight_decay * lr};
  scales.assign(grads.size(), 1.f);
  if (clip.kind == GradClip::Kind::Value) {
    pre.clip_lo = -clip.threshold;
    pre.clip_hi = clip.threshold;
    return;
  }
  if (clip.kind == GradClip::Kind::None) return;
  std::vector<const float*> data;
  std::vector<int64_t> sizes;
  for (const Tensor& g : grads) {
    data.push_back(g.data<float>());
    sizes.push_back(g.numel());
  }
  std::vector<double> sq;
  kernels::sum_squares(data, sizes, sq);
  const double c = clip.threshold;
  if (clip.kind == GradClip::Kind::Norm) {
    for (size_t i = 0; i < sq.size(); ++i) {
      double n = std::sqrt(sq[i]);
      // Keras: g * c / max(norm, c); a NaN norm gives NaN, as there.
      scales[i] = std::isnan(n) ? std::numeric_limits<float>::quiet_NaN() : static_cast<float>(c / std::max(n, c));
    }
  } else {
    double total = 0.0;
    for (double s : sq) total += s;
    double gn = std::sqrt(total);
    // Keras: c * min(1/gn, 1/c) + (gn - gn): NaN for an infinite or NaN norm.
    float s = std::isfinite(gn) ? static_cast<float>(c * std::min(1.0 / gn, 1.0 / c))
                                : std::numeric_limits<float>::quiet_NaN();
    scales.assign(grads.size(), s);
  }
}

// Unshares params and the given slot lists, then gathers the raw buffers.
std::vector<kernels::ParamBuffers> gather(std::vector<Tensor>& params, const std::vector<Tensor>& grads,
                                          std::vector<std::vector<Tensor>*> slots,
                                          const std::vector<float>& scales) {
  std::vector<kernels::ParamBuffers> b(params.size());
  for (size_t i = 0; i < params.size(); ++i) {
    params[i].unshare();
    b[i].param = params[i].data<float>();
    b[i].grad = grads[i].data<float>();
    for (size_t k = 0; k < 3; ++k) {
      b[i].slot[k] = nullptr;
      if (k < slots.size() && slots[k] != nullptr) {
        Tensor& s = (*slots[k])[i];
        s.unshare();
        b[i].slot[k] = s.data<float>();
      }
    }
    b[i].n = params[i].numel();
    b[i].grad_scale = scales[i];
  }
  return b;
}

}  // namespace

void sgd_update(std::vector<Tensor>& params, const std::vector<Tensor>& grads,
                std::vector<Tensor>& momenta, float lr, float momentum, bool nesterov,
                float weight_decay, const GradClip& clip) {
  const char* op = "sgd_update";
  detail::check_params(op, params, grads);
  bool use_m = momentum != 0.f;
  detail::check_slots(op, "momenta", momenta, params, use_m);
  detail::check_clip(op, clip);
  std::vector<float> scales;
  kernels::UpdatePrelude pre;
  plan_clip(clip, grads, lr, weight_decay, scales, pre);
  auto b = gather(params, grads, {use_m ? &momenta : nullptr}, scales);
  kernels::sgd_step(b, pre, lr, momentum, nesterov);
}

void adam_update(std::vector<Tensor>& params, const std::vector<Tensor>& grads, std::vector<Tensor>& m,
                 std::vector<Tensor>& v, std::vector<Tensor>& vhat_max, float lr, float beta1,
                 float beta2, float eps, int64_t step, float weight_decay, bool amsgrad,
                 const GradClip& clip) {
  const char* op = "adam_update";
  detail::check_params(op, params, grads);
  detail::check_slots(op, "m", m, params, true);
  detail::check_slots(op, "v", v, params, true);
  detail::check_slots(op, "vhat_max", vhat_max, params, amsgrad);
  detail::check_clip(op, clip);
  if (step < 1) throw std::invalid_argument(tag(op) + "step must be >= 1 (the 1-based update count), got " + std::to_string(step));
  // Bias correction, as Keras: alpha = lr * sqrt(1 - beta2^t) / (1 - beta1^t).
  const double t = static_cast<double>(step);
  const float alpha = static_cast<float>(double(lr) * std::sqrt(1.0 - std::pow(double(beta2), t)) /
                                         (1.0 - std::pow(double(beta1), t)));
  std::vector<float> scales;
  kernels::UpdatePrelude pre;
  plan_clip(clip, grads, lr, weight_decay, scales, pre);
  auto b = gather(params, grads, {&m, &v, amsgrad ? &vhat_max : nullptr}, scales);
  kernels::adam_step(b, pre, alpha, beta1, beta2, eps, amsgrad);
}

void rmsprop_update(std::vector<Tensor>& params, const std::vector<Tensor>& grads,
                    std::vector<Tensor>& velocities, std::vector<Tensor>& momenta,
                    std::vector<Tensor>& average_grads, float lr, float rho, float momentum, float eps,
                    bool centered, float weight_decay, const GradClip& clip) {
  const char* op = "rmsprop_update";
  detail::check_params(op, params, grads);
  bool use_m = momentum > 0.f;
  detail::check_slots(op, "velocities", velocities, params, true);
  detail::check_slots(op, "momenta", momenta, params, use_m);
  detail::check_slots(op, "average_grads", average_grads, params, centered);
  detail::check_clip(op, clip);
  std::vector<float> scales;
  kernels::UpdatePrelude pre;
  plan_clip(clip, grads, lr, weight_decay, scales, pre);
  auto b = gather(params, grads, {&velocities, use_m ? &momenta : nullptr, centered ? &average_grads : nullptr},
                  scales);
  kernels::rmsprop_step(b, pre, lr, rho, use_m ? momentum : 0.f, eps);
}

void adagrad_update(std::vector<Tensor>& params, const std::vector<Tensor>& grads,
                    std::vector<Tensor>& accumulators, float lr, float eps, float weight_decay,
                    const GradClip& clip) {
  const char* op = "adagrad_update";
  detail::check_params(op, params, grads);
  detail::check_slots(op, "accumulators", accumulators, params, true);
  detail::check_clip(op, clip);
  std::vector<float> scales;
  kernels::UpdatePrelude pre;
  plan_clip(clip, grads, lr, weight_decay, scales, pre);
  auto b = gather(params, grads, {&accumulators}, scales);
  kernels::adagrad_step(b, pre, lr, eps);
}

}  // namespace optim
}  // namespace lamina
