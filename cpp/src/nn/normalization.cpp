// nn::BatchNormalization and nn::LayerNormalization: weights and Keras's input checks; the
// computation is one op each (ops::batch_norm, ops::layer_normalization), the ops
// python/lamina/layers/normalization.py calls too.
#include <algorithm>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

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
  // A frozen layer runs in inference mode, so fine-tuning never moves its statistics (Keras's rule).
  return ops::batch_norm(x, gamma(), beta(), moving_mean(), moving_variance(), built_axis_, momentum_, epsilon_,
                         training && trainable());
}

LayerNormalization::LayerNormalization(std::vector<int64_t> axis, double epsilon, bool center, bool scale,
                                       const std::string& name)
    : Layer("layer_normalization", name), axis_(std::move(axis)), epsilon_(epsilon), center_(center), scale_(scale) {
  if (!(epsilon > 0.0))
    throw std::invalid_argument("Argument `epsilon` must be positive. Received: epsilon=" + std::to_string(epsilon));
}

namespace {
// The axes in [0, rank), sorted: the order of gamma's and beta's dimensions, as Keras builds them.
// Throws Keras's message for an axis out of range.
std::vector<int64_t> sorted_axes(const std::vector<int64_t>& axis, const Shape& s) {
  const int64_t rank = static_cast<int64_t>(s.size());
  std::vector<int64_t> axes;
  for (int64_t a : axis) {
    if (a >= rank || a < -rank)
      throw std::invalid_argument("Axis " + std::to_string(a) + " is out of bounds for input shape " +
                                  detail::shape_none_str(s) + ".");
    axes.push_back(a < 0 ? a + rank : a);
  }
  std::sort(axes.begin(), axes.end());
  return axes;
}
}  // namespace

Shape LayerNormalization::output_shape(const Shape& s) const {
  Shape params;
  for (int64_t a : sorted_axes(axis_, s)) params.push_back(s[a]);
  if (built() && params != param_shape_)
    throw std::invalid_argument("Input 0 of layer \"" + name() + "\" is incompatible with the layer: expected the "
                                "normalised axes to have shape " + detail::shape_none_str(param_shape_) +
                                ", but received input with shape " + detail::shape_none_str(s));
  return s;
}

void LayerNormalization::build_weights(const Shape& s) {
  for (int64_t a : sorted_axes(axis_, s)) {
    if (s[a] < 0)
      throw std::invalid_argument("Axis " + std::to_string(a) + " of the input of layer \"" + name() +
                                  "\" should have a defined dimension, received shape " + detail::shape_none_str(s));
    param_shape_.push_back(s[a]);
  }
  if (scale_) add_weight(ops::ones(param_shape_));
  if (center_) add_weight(ops::zeros(param_shape_));
}

Tensor LayerNormalization::gamma() const { return built() && scale_ ? weights_[0] : Tensor(); }
Tensor LayerNormalization::beta() const { return built() && center_ ? weights_[scale_ ? 1 : 0] : Tensor(); }

Tensor LayerNormalization::call(const Tensor& x, bool training) {
  return ops::layer_normalization(x, gamma(), beta(), axis_, epsilon_);
}

}  // namespace nn
}  // namespace lamina
