// Gradient clipping helpers (Keras's clipvalue / clipnorm / global_clipnorm) returning new tensors.
// The fused updates do the same transforms inside their loop instead of materialising new tensors.
#include <algorithm>
#include <cmath>
#include <limits>

#include "kernels/optim.hpp"
#include "lamina/optim.hpp"
#include "optim_check.hpp"

namespace lamina {
namespace optim {
namespace {

// Checks the defined entries of grads (float32).
void check_grads(const char* op, const std::vector<Tensor>& grads) {
  for (size_t i = 0; i < grads.size(); ++i)
    if (grads[i].defined()) detail::check_float(op, "grads", i, grads[i]);
}

Tensor scaled(const Tensor& g, float scale, float lo, float hi) {
  Tensor out = Tensor::empty(g.shape(), DType::Float32);
  kernels::scale_clamp(g.data<float>(), out.data<float>(), g.numel(), scale, lo, hi);
  return out;
}

std::vector<double> squares(const std::vector<Tensor>& grads) {
  std::vector<const float*> data;
  std::vector<int64_t> sizes;
  for (const Tensor& g : grads) {
    data.push_back(g.defined() ? g.data<float>() : nullptr);
    sizes.push_back(g.defined() ? g.numel() : 0);
  }
  std::vector<double> sq;
  kernels::sum_squares(data, sizes, sq);
  return sq;
}

constexpr float kInf = std::numeric_limits<float>::infinity();

}  // namespace

std::vector<Tensor> clip_by_value(const std::vector<Tensor>& grads, float clip_value) {
  const char* op = "clip_by_value";
  detail::check_threshold(op, "clip_value", clip_value);
  check_grads(op, grads);
  std::vector<Tensor> out(grads.size());
  for (size_t i = 0; i < grads.size(); ++i)
    if (grads[i].defined()) out[i] = scaled(grads[i], 1.f, -clip_value, clip_value);
  return out;
}

double global_norm(const std::vector<Tensor>& grads) {
  check_grads("global_norm", grads);
  double total = 0.0;
  for (double s : squares(grads)) total += s;
  return std::sqrt(total);
}

Tensor clip_by_norm(const Tensor& grad, float clip_norm) {
  return clip_by_norm(std::vector<Tensor>{grad}, clip_norm)[0];
}

std::vector<Tensor> clip_by_norm(const std::vector<Tensor>& grads, float clip_norm) {
  const char* op = "clip_by_norm";
  detail::check_threshold(op, "clip_norm", clip_norm);
  check_grads(op, grads);
  std::vector<double> sq = squares(grads);
  std::vector<Tensor> out(grads.size());
  for (size_t i = 0; i < grads.size(); ++i) {
    if (!grads[i].defined()) continue;
    double n = std::sqrt(sq[i]);
    float s = std::isnan(n) ? std::numeric_limits<float>::quiet_NaN()
                            : static_cast<float>(clip_norm / std::max(n, double(clip_norm)));
    out[i] = scaled(grads[i], s, -kInf, kInf);
  }
  return out;
}

std::vector<Tensor> clip_by_global_norm(const std::vector<Tensor>& grads, float clip_norm) {
  const char* op = "clip_by_global_norm";
  detail::check_threshold(op, "clip_norm", clip_norm);
  check_grads(op, grads);
  double gn = global_norm(grads);
  float s = std::isfinite(gn) ? static_cast<float>(clip_norm * std::min(1.0 / gn, 1.0 / clip_norm))
                              : std::numeric_limits<float>::quiet_NaN();
  std::vector<Tensor> out(grads.size());
  for (size_t i = 0; i < grads.size(); ++i)
    if (grads[i].defined()) out[i] = scaled(grads[i], s, -kInf, kInf);
  return out;
}

}  // namespace optim
}  // namespace lamina
