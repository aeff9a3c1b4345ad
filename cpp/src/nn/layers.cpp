// nn::Dense, Conv2D, pooling, Flatten, Reshape, Activation, Dropout: thin compositions of lamina::ops (the ops the
// Python layers call).
#include <stdexcept>
#include <string>

#include "lamina/nn.hpp"
#include "lamina/ops.hpp"
#include "nn/nn_util.hpp"

namespace lamina {
namespace nn {

namespace {

std::string np_style(const Shape& s) {  // Keras's pooling message prints a NumPy array: [None 5 5 1]
  std::string out = "[";
  for (size_t i = 0; i < s.size(); ++i) {
    if (i) out += " ";
    out += s[i] < 0 ? "None" : std::to_string(s[i]);
  }
  return out + "]";
}

std::string pair_str(Size2 v) { return "(" + std::to_string(v.h) + ", " + std::to_string(v.w) + ")"; }

void check_rank(const std::string& layer, const Shape& s, size_t ndim, bool exact) {
  if (exact ? s.size() != ndim : s.size() < ndim)
    throw std::invalid_argument("Input 0 of layer \"" + layer + "\" is incompatible with the layer: expected " +
                                (exact ? "ndim=" : "min_ndim=") + std::to_string(ndim) + ", found ndim=" +
                                std::to_string(s.size()) + ". Full shape received: " +
                                detail::shape_none_str(s));
}

}  // namespace

// ------------------------------------------------------------------------------------------ Dense

Dense::Dense(int64_t units, const std::string& activation, bool use_bias, int64_t seed, const std::string& name)
    : Layer("dense", name), units_(units), activation_(ops::activation_from_name(activation)),
      use_bias_(use_bias), seed_(seed) {
  if (units <= 0)
    throw std::invalid_argument(
        "Received an invalid value for `units`, expected a positive integer. Received: units=" +
        std::to_string(units));
}

Shape Dense::output_shape(const Shape& input_shape) const {
  check_rank(name(), input_shape, 2, false);
  const int64_t in = input_shape.back();
  if (in < 0)
    throw std::invalid_argument("The last dimension of the inputs to a Dense layer should be defined. Found None. "
                                "Full input shape received: " + detail::shape_none_str(input_shape));
  if (built() && in != weights_[0].size(0))
    throw std::invalid_argument("Input 0 of layer \"" + name() +
                                "\" is incompatible with the layer: expected axis -1 of input shape to have value " +
                                std::to_string(weights_[0].size(0)) + ", but received input with shape " +
                                detail::shape_none_str(input_shape));
  Shape out = input_shape;
  out.back() = units_;
  return out;
}

void Dense::build_weights(const Shape& input_shape) {
  const int64_t in = input_shape.back();
  add_weight(ops::variance_scaling({in, units_}, 1.0, "fan_avg", "uniform", seed_));  // glorot_uniform
  if (use_bias_) add_weight(ops::zeros({units_}));
}

Tensor Dense::kernel() const { return built() ? weights_[0] : Tensor(); }
Tensor Dense::bias() const { return built() && use_bias_ ? weights_[1] : Tensor(); }

Tensor Dense::call(const Tensor& x, bool) { return ops::dense(x, weights_[0], bias(), activation_); }

// ----------------------------------------------------------------------------------------- Conv2D

Conv2D::Conv2D(int64_t filters, Size2 kernel_size, Size2 strides, const std::string& padding,
               const std::string& activation, bool use_bias, int64_t seed, const std::string& name)
    : Layer("conv2d", name), filters_(filters), kernel_size_(detail::check_pair(kernel_size, "kernel_size")),
      strides_(detail::check_pair(strides, "strides")), padding_(detail::check_padding(padding)),
      activation_(ops::activation_from_name(activation)), use_bias_(use_bias), seed_(seed) {
  if (filters <= 0)
    throw std::invalid_argument(
        "Invalid value for argument `filters`. Expected a strictly positive value. Received filters=" +
        std::to_string(filters) + ".");
}

Shape Conv2D::output_shape(const Shape& s) const {
  check_rank(name(), s, 4, true);
  if (s[3] < 0)
    throw std::invalid_argument("The channel dimension of the inputs should be defined. The input_shape received is " +
                                detail::shape_none_str(s) +
                                ", where axis -1 (0-based) is the channel dimension, which found to be `None`.");
  if (built() && s[3] != weights_[0].size(2))
    throw std::invalid_argument("Input 0 of layer \"" + name() +
                                "\" is incompatible with the layer: expected axis -1 of input shape to have value " +
                                std::to_string(weights_[0].size(2)) + ", but received input with shape " +
                                detail::shape_none_str(s));
  const int64_t oh = detail::spatial_out(s[1], kernel_size_.h, strides_.h, padding_);
  const int64_t ow = detail::spatial_out(s[2], kernel_size_.w, strides_.w, padding_);
  if (oh == 0 || ow == 0)
    throw std::invalid_argument("Computed output size would be zero or negative. Received `inputs shape=" +
                                detail::shape_none_str(s) + "`, `kernel shape=(" + std::to_string(kernel_size_.h) +
                                ", " + std::to_string(kernel_size_.w) + ", " + std::to_string(s[3]) + ", " +
                                std::to_string(filters_) + ")`, `dilation_rate=[1 1]`, `strides=" +
                                pair_str(strides_) + "`, `padding=" + padding_ + "`.");
  return {s[0], oh, ow, filters_};
}

void Conv2D::build_weights(const Shape& s) {
  add_weight(ops::variance_scaling({kernel_size_.h, kernel_size_.w, s[3], filters_}, 1.0, "fan_avg", "uniform",
                                    seed_));  // glorot_uniform
  if (use_bias_) add_weight(ops::zeros({filters_}));
}

Tensor Conv2D::kernel() const { return built() ? weights_[0] : Tensor(); }
Tensor Conv2D::bias() const { return built() && use_bias_ ? weights_[1] : Tensor(); }

Tensor Conv2D::call(const Tensor& x, bool) {
  return ops::conv(x, weights_[0], bias(), {strides_.h, strides_.w}, padding_, {1, 1}, activation_);
}

// ---------------------------------------------------------------------------------------- pooling

Pooling2D::Pooling2D(bool is_max, Size2 pool_size, Size2 strides, const std::string& padding,
                     const std::string& default_name, const std::string& name)
    : Layer(default_name, name), is_max_(is_max), pool_size_(detail::check_pair(pool_size, "pool_size")),
      strides_(strides.h == 0 && strides.w == 0 ? pool_size_ : detail::check_pair(strides, "strides")),
      padding_(detail::check_padding(padding)) {
  mark_built();
}

Shape Pooling2D::output_shape(const Shape& s) const {
  check_rank(name(), s, 4, true);
  const int64_t oh = detail::spatial_out(s[1], pool_size_.h, strides_.h, padding_);
  const int64_t ow = detail::spatial_out(s[2], pool_size_.w, strides_.w, padding_);
  if (oh == 0 || ow == 0)
    throw std::invalid_argument("Computed output size would be zero or negative. Received: `inputs.shape=" +
                                np_style(s) + "`, `pool_size=[" + std::to_string(pool_size_.h) + " " +
                                std::to_string(pool_size_.w) + "]`, `strides=" + pair_str(strides_) +
                                "`, `padding=" + padding_ + "`.");
  return {s[0], oh, ow, s[3]};
}

Tensor Pooling2D::call(const Tensor& x, bool) {
  const std::vector<int64_t> pool{pool_size_.h, pool_size_.w}, strides{strides_.h, strides_.w};
  return is_max_ ? ops::max_pool(x, pool, strides, padding_) : ops::average_pool(x, pool, strides, padding_);
}

MaxPooling2D::MaxPooling2D(Size2 pool_size, Size2 strides, const std::string& padding, const std::string& name)
    : Pooling2D(true, pool_size, strides, padding, "max_pooling2d", name) {}

AveragePooling2D::AveragePooling2D(Size2 pool_size, Size2 strides, const std::string& padding,
                                   const std::string& name)
    : Pooling2D(false, pool_size, strides, padding, "average_pooling2d", name) {}

GlobalPooling2D::GlobalPooling2D(bool is_max, bool keepdims, const std::string& default_name,
                                 const std::string& name)
    : Layer(default_name, name), is_max_(is_max), keepdims_(keepdims) {
  mark_built();
}

Shape GlobalPooling2D::output_shape(const Shape& s) const {
  check_rank(name(), s, 4, true);
  return keepdims_ ? Shape{s[0], 1, 1, s[3]} : Shape{s[0], s[3]};
}

Tensor GlobalPooling2D::call(const Tensor& x, bool) {
  return is_max_ ? ops::max(x, {1, 2}, keepdims_) : ops::mean(x, {1, 2}, keepdims_);
}

GlobalMaxPooling2D::GlobalMaxPooling2D(bool keepdims, const std::string& name)
    : GlobalPooling2D(true, keepdims, "global_max_pooling2d", name) {}

GlobalAveragePooling2D::GlobalAveragePooling2D(bool keepdims, const std::string& name)
    : GlobalPooling2D(false, keepdims, "global_average_pooling2d", name) {}

// ---------------------------------------------------------------------------------------- Flatten

Flatten::Flatten(const std::string& name) : Layer("flatten", name) { mark_built(); }

Shape Flatten::output_shape(const Shape& s) const {
  check_rank(name(), s, 1, false);
  int64_t n = 1;
  for (size_t i = 1; i < s.size(); ++i) n = (n < 0 || s[i] < 0) ? -1 : n * s[i];
  return {s[0], n};
}

Tensor Flatten::call(const Tensor& x, bool) { return ops::reshape(x, {x.size(0), -1}); }

// ---------------------------------------------------------------------------------------- Reshape

Reshape::Reshape(Shape target_shape, const std::string& name) : Layer("reshape", name), target_shape_(std::move(target_shape)) {
  int64_t unknown = 0;
  for (int64_t d : target_shape_) {
    if (d == -1)
      ++unknown;
    else if (d < 0)
      throw std::invalid_argument("Reshape: the entries of `target_shape` must be non-negative or -1. Received: "
                                  "target_shape=" + shape_str(target_shape_));
  }
  if (unknown > 1)
    throw std::invalid_argument("There must be at most one unknown dimension (-1) in `target_shape`. Received: "
                                "target_shape=" + shape_str(target_shape_) + ".");
  mark_built();
}

Shape Reshape::output_shape(const Shape& s) const {
  check_rank(name(), s, 1, false);
  const Shape rest(s.begin() + 1, s.end());
  int64_t known_in = 1, known = 1, unknown_at = -1;
  for (int64_t d : rest) known_in = (known_in < 0 || d < 0) ? -1 : known_in * d;
  for (size_t i = 0; i < target_shape_.size(); ++i) {
    if (target_shape_[i] == -1)
      unknown_at = static_cast<int64_t>(i);
    else
      known *= target_shape_[i];
  }
  Shape out{s[0]};
  out.insert(out.end(), target_shape_.begin(), target_shape_.end());
  if (known_in < 0) return out;  // an unknown input dimension: -1 stays unknown
  if (unknown_at < 0) {
    if (known_in != known)
      throw std::invalid_argument("The total size of the tensor must be unchanged. Received: input_shape=" +
                                  detail::shape_none_str(rest) + ", target_shape=" + shape_str(target_shape_));
    return out;
  }
  if (known == 0 || known_in % known)
    throw std::invalid_argument(
        "The total size of the tensor must be unchanged, however, the input size cannot by divided by the "
        "specified dimensions in target_shape. Received: input_shape=" +
        detail::shape_none_str(rest) + ", target_shape=" + shape_str(target_shape_));
  out[1 + unknown_at] = known_in / known;
  return out;
}

Tensor Reshape::call(const Tensor& x, bool) { return ops::reshape(x, output_shape(x.shape())); }

// ------------------------------------------------------------------------------------- Activation

Activation::Activation(const std::string& activation, const std::string& name)
    : Layer("activation", name), activation_(ops::activation_from_name(activation)) {
  mark_built();
}

Tensor Activation::call(const Tensor& x, bool) { return ops::activation(x, activation_); }

// ---------------------------------------------------------------------------------------- Dropout

Dropout::Dropout(double rate, int64_t seed, const std::string& name) : Layer("dropout", name), rate_(rate), seed_(seed) {
  if (!(rate >= 0.0 && rate <= 1.0))
    throw std::invalid_argument(
        "Invalid value received for argument `rate`. Expected a float value between 0 and 1. Received: rate=" +
        std::to_string(rate));
  mark_built();
}

Tensor Dropout::call(const Tensor& x, bool training) {
  if (!training || rate_ == 0.0) return x;
  if (rate_ == 1.0) return ops::multiply(x, ops::scalar(0.0));
  // A seeded Dropout draws the same masks call after call (as the Python layer).
  const int64_t seed = seed_ < 0 ? -1 : (seed_ * 1000003 + (++seed_calls_)) % (int64_t(1) << 31);
  Tensor keep = ops::greater_equal(ops::random_uniform(x.shape(), 0.0, 1.0, seed), ops::scalar(rate_));
  return ops::multiply(x, ops::multiply(ops::cast(keep, DType::Float32), ops::scalar(1.0 / (1.0 - rate_))));
}

}  // namespace nn
}  // namespace lamina
