// nn::BatchNormalization: the batch-statistics op (ops::batch_norm) while training, the moving
// statistics in inference or when frozen, exactly as python/lamina/layers/normalization.py.
#include <mutex>
#include <stdexcept>
#include <string>
#include <vector>

#include "lamina/autograd.hpp"
#include "lamina/nn.hpp"
#include "lamina/ops.hpp"
#include "nn/nn_util.hpp"

namespace lamina {
namespace nn {

BatchNormalization::BatchNormalization(int64_t axis, double momentum, double epsilon, bool center, bool scale,
                                       const std::string& name)
    : Layer("batch_normalization", name), axis_(axis), momentum_(momentum), epsilon_(epsilon), center_(center),
      scale_(scale) {
  if (!(epsilon > 0.0))
    throw std::invalid_argument("Argument `epsilon` must be positive. Received: epsilon=" + std::to_string(epsilon));
}

Shape BatchNormalization::output_shape(const Shape& s) const {
  const int64_t rank = static_cast<int64_t>(s.size());
  if (axis_ < -rank || axis_ >= rank)
    throw std::invalid_argument("Axis " + std::to_string(axis_) + " is out of bounds for input of rank " +
                                std::to_string(rank) + " (shape " + detail::shape_none_str(s) + ")");
  const int64_t axis = axis_ < 0 ? axis_ + rank : axis_;
  if (s[axis] < 0)
    throw std::invalid_argument("Axis " + std::to_string(axis_) +
                                " of input tensor should have a defined dimension but the layer received an input "
                                "with shape " + detail::shape_none_str(s) + ".");
  if (built()) {
    const int64_t channels = weights_.back().size(0);
    if (rank != built_rank_ || s[axis] != channels)
      throw std::invalid_argument("Input 0 of layer \"" + name() + "\" is incompatible with the layer: expected ndim=" +
                                  std::to_string(built_rank_) + " and axis " + std::to_string(built_axis_) +
                                  " of input shape to have value " + std::to_string(channels) +
                                  ", but received input with shape " + detail::shape_none_str(s));
  }
  return s;
}

void BatchNormalization::build_weights(const Shape& s) {
  const int64_t rank = static_cast<int64_t>(s.size());
  built_rank_ = rank;
  built_axis_ = axis_ < 0 ? axis_ + rank : axis_;
  const int64_t c = s[built_axis_];
  if (scale_) add_weight(ops::ones({c}));
  if (center_) add_weight(ops::zeros({c}));
  add_weight(ops::zeros({c}), /*trainable=*/false);
  add_weight(ops::ones({c}), /*trainable=*/false);
}

Tensor BatchNormalization::gamma() const { return built() && scale_ ? weights_[0] : Tensor(); }
Tensor BatchNormalization::beta() const { return built() && center_ ? weights_[scale_ ? 1 : 0] : Tensor(); }
Tensor BatchNormalization::moving_mean() const { return built() ? weights_[weights_.size() - 2] : Tensor(); }
Tensor BatchNormalization::moving_variance() const { return built() ? weights_.back() : Tensor(); }

Tensor BatchNormalization::call(const Tensor& x, bool training) {
  const int64_t rank = x.dim(), axis = built_axis_;
  const Tensor g = gamma(), b = beta(), mm = moving_mean(), mv = moving_variance();
  if (training && trainable()) {
    // ops::batch_norm normalises the last axis: move the channel axis there and back.
    std::vector<int64_t> perm, inverse(rank);
    for (int64_t d = 0; d < rank; ++d)
      if (d != axis) perm.push_back(d);
    perm.push_back(axis);
    for (int64_t d = 0; d < rank; ++d) inverse[perm[d]] = d;
    const bool last = axis == rank - 1;
    Tensor mean, variance;
    Tensor y = ops::batch_norm(last ? x : ops::transpose(x, perm), g, b, epsilon_, &mean, &variance);
    {
      NoGrad no_grad;
      std::lock_guard<std::mutex> lock(update_mutex_);
      const Tensor m = ops::scalar(momentum_), rest = ops::scalar(1.0 - momentum_);
      Tensor new_mean = ops::add(ops::multiply(mm, m), ops::multiply(mean, rest));
      Tensor new_variance = ops::add(ops::multiply(mv, m), ops::multiply(variance, rest));
      Tensor mm_w = mm, mv_w = mv;
      mm_w.unshare();  // results computed earlier from the statistics keep their values
      mv_w.unshare();
      mm_w.assign(new_mean);
      mv_w.assign(new_variance);
    }
    return last ? y : ops::transpose(y, inverse);
  }
  // inference: (x - moving_mean) * gamma / sqrt(moving_variance + epsilon) + beta on the axis
  Shape bshape(rank, 1);
  bshape[axis] = -1;
  Tensor inv = ops::divide(ops::scalar(1.0), ops::sqrt(ops::add(mv, ops::scalar(epsilon_))));
  Tensor scale = g.defined() ? ops::multiply(inv, g) : inv;
  Tensor y = ops::multiply(ops::subtract(x, ops::reshape(mm, bshape)), ops::reshape(scale, bshape));
  return b.defined() ? ops::add(y, ops::reshape(b, bshape)) : y;
}

}  // namespace nn
}  // namespace lamina
