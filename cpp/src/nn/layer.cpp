// nn::Layer and the helpers shared by the layers.
#include <mutex>
#include <sstream>
#include <stdexcept>

#include "lamina/nn.hpp"
#include "lamina/ops.hpp"
#include "lamina/runtime.hpp"
#include "nn/nn_util.hpp"

namespace lamina {
namespace nn {
namespace detail {

std::string check_padding(const std::string& padding) {
  if (padding != "valid" && padding != "same")
    throw std::invalid_argument(
        "The `padding` argument must be a list/tuple or one of {'valid', 'same'}. Received: " + padding);
  return padding;
}

Size2 check_pair(Size2 v, const char* what) {
  if (v.h <= 0 || v.w <= 0)
    throw std::invalid_argument(std::string("The `") + what +
                                "` argument must be a tuple of 2 positive integers. Received: (" +
                                std::to_string(v.h) + ", " + std::to_string(v.w) + ")");
  return v;
}

std::string shape_none_str(const Shape& shape) {
  std::ostringstream os;
  os << "(";
  for (size_t i = 0; i < shape.size(); ++i) {
    if (i) os << ", ";
    if (shape[i] < 0)
      os << "None";
    else
      os << shape[i];
  }
  if (shape.size() == 1) os << ",";
  os << ")";
  return os.str();
}

int64_t spatial_out(int64_t size, int64_t window, int64_t stride, const std::string& padding) {
  if (size < 0) return -1;
  if (padding == "same") return (size + stride - 1) / stride;
  const int64_t d = size - window;
  return d < 0 ? 0 : d / stride + 1;  // 0: the window does not fit (callers throw)
}

}  // namespace detail

Layer::Layer(const std::string& default_name, const std::string& name)
    : name_(name.empty() ? unique_name(default_name) : name) {}

Layer::~Layer() = default;

void Layer::build(const Shape& input_shape) {
  if (built()) return;
  std::lock_guard<std::mutex> lock(build_mutex_);
  if (built()) return;
  output_shape(input_shape);  // throws for inputs the layer cannot take
  build_weights(input_shape);
  mark_built();
}

Tensor Layer::add_weight(Tensor value, bool trainable) {
  value.set_requires_grad(trainable && this->trainable());
  weights_.push_back(value);
  weight_trainable_.push_back(trainable);
  return value;
}

std::vector<Tensor> Layer::trainable_weights() const {
  std::vector<Tensor> out;
  if (!trainable()) return out;
  for (size_t i = 0; i < weights_.size(); ++i)
    if (weight_trainable_[i]) out.push_back(weights_[i]);
  return out;
}

std::vector<Tensor> Layer::non_trainable_weights() const {
  std::vector<Tensor> out;
  for (size_t i = 0; i < weights_.size(); ++i)
    if (!trainable() || !weight_trainable_[i]) out.push_back(weights_[i]);
  return out;
}

std::vector<Tensor> Layer::weights() const {
  std::vector<Tensor> out = trainable_weights(), rest = non_trainable_weights();
  out.insert(out.end(), rest.begin(), rest.end());
  return out;
}

void Layer::set_trainable(bool trainable) {
  trainable_.store(trainable, std::memory_order_release);
  for (size_t i = 0; i < weights_.size(); ++i)
    if (weight_trainable_[i]) weights_[i].set_requires_grad(trainable);
}

void Layer::set_weights(const std::vector<Tensor>& values) {
  if (!built())
    throw std::invalid_argument("You called `set_weights(weights)` on layer '" + name_ +
                                "', but the layer isn't built yet.");
  const std::vector<Tensor> params = weights();
  if (params.size() != values.size())
    throw std::invalid_argument("You called `set_weights(weights)` on layer '" + name_ +
                                "' with a weight list of length " + std::to_string(values.size()) +
                                ", but the layer was expecting " + std::to_string(params.size()) + " weights.");
  for (size_t i = 0; i < params.size(); ++i) {
    if (!values[i].defined())
      throw std::invalid_argument("You called `set_weights(weights)` on layer '" + name_ +
                                  "' with an undefined tensor at position " + std::to_string(i) + ".");
    if (values[i].shape() != params[i].shape())
      throw std::invalid_argument("Layer " + name_ + " weight shape " + shape_str(params[i].shape()) +
                                  " is not compatible with provided weight shape " + shape_str(values[i].shape()) +
                                  ".");
  }
  for (size_t i = 0; i < params.size(); ++i) {
    Tensor p = params[i];
    p.unshare();  // results computed earlier keep their values
    p.assign(values[i].dtype() == DType::Float32 ? values[i] : ops::cast(values[i], DType::Float32));
  }
}

int64_t Layer::count_params() const {
  if (!built())
    throw std::invalid_argument("You tried to call `count_params` on layer '" + name_ +
                                "', but the layer isn't built. You can build it manually via: "
                                "`layer.build(batch_input_shape)`.");
  int64_t n = 0;
  for (const Tensor& w : weights()) n += w.numel();
  return n;
}

Tensor Layer::forward(const Tensor& x, bool training) {
  if (!x.defined()) throw std::invalid_argument("Layer '" + name_ + "' received an undefined tensor.");
  if (!built()) build(x.shape());
  output_shape(x.shape());  // Keras's message for incompatible inputs
  return call(x, training);
}

}  // namespace nn
}  // namespace lamina
