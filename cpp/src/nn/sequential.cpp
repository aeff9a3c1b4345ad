// nn::Sequential: a stack of layers, built from the first input's shape, with a Keras-style summary.
#include <algorithm>
#include <cstdio>
#include <sstream>
#include <stdexcept>

#include "lamina/nn.hpp"
#include "nn/nn_util.hpp"

namespace lamina {
namespace nn {

namespace {

std::string with_commas(int64_t n) {
  std::string s = std::to_string(n), out;
  const int lead = static_cast<int>(s.size()) % 3;
  for (size_t i = 0; i < s.size(); ++i) {
    if (i && (static_cast<int>(i) - lead) % 3 == 0) out += ',';
    out += s[i];
  }
  return out;
}

std::string bytes_str(int64_t params) {  // float32 weights, as Keras prints them
  double b = static_cast<double>(params) * 4.0;
  const char* units[] = {"B", "KB", "MB", "GB"};
  int u = 0;
  while (b >= 1024.0 && u < 3) {
    b /= 1024.0;
    ++u;
  }
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.2f %s", b, units[u]);
  return buf;
}

std::string pad(const std::string& s, size_t width, bool right) {
  if (s.size() >= width) return s;
  return right ? std::string(width - s.size(), ' ') + s : s + std::string(width - s.size(), ' ');
}

}  // namespace

Sequential::Sequential(std::vector<std::shared_ptr<Layer>> layers, const std::string& name)
    : Layer("sequential", name) {
  for (auto& layer : layers) add(std::move(layer));
}

void Sequential::add(std::shared_ptr<Layer> layer) {
  if (!layer)
    throw std::invalid_argument("Only instances of `keras.Layer` can be added to a Sequential model. Received: None");
  for (const auto& l : layers_)
    if (l->name() == layer->name())
      throw std::invalid_argument("All layers added to a Sequential model should have unique names. Name \"" +
                                  layer->name() + "\" is already the name of a layer in this model. Update the "
                                  "`name` argument to pass a unique name.");
  std::lock_guard<std::mutex> lock(model_mutex_);
  layers_.push_back(std::move(layer));
  mark_unbuilt();
}

void Sequential::build(const Shape& input_shape) {
  if (built()) return;
  std::lock_guard<std::mutex> lock(model_mutex_);
  if (built()) return;
  Shape s = input_shape;
  if (!s.empty()) s[0] = -1;
  const Shape in = s;
  for (const auto& layer : layers_) {
    layer->build(s);
    s = layer->output_shape(s);
  }
  input_shape_ = in;
  mark_built();
}

Shape Sequential::output_shape(const Shape& input_shape) const {
  Shape s = input_shape;
  for (const auto& layer : layers_) s = layer->output_shape(s);
  return s;
}

std::vector<Tensor> Sequential::weights() const {
  std::vector<Tensor> all;
  for (const auto& layer : layers_) {
    std::vector<Tensor> w = layer->weights();
    all.insert(all.end(), w.begin(), w.end());
  }
  return all;
}

std::vector<Tensor> Sequential::trainable_weights() const {
  std::vector<Tensor> all;
  if (!trainable()) return all;
  for (const auto& layer : layers_) {
    std::vector<Tensor> w = layer->trainable_weights();
    all.insert(all.end(), w.begin(), w.end());
  }
  return all;
}

std::vector<Tensor> Sequential::non_trainable_weights() const {
  if (!trainable()) return weights();
  std::vector<Tensor> all;
  for (const auto& layer : layers_) {
    std::vector<Tensor> w = layer->non_trainable_weights();
    all.insert(all.end(), w.begin(), w.end());
  }
  return all;
}

void Sequential::set_trainable(bool trainable) {
  Layer::set_trainable(trainable);
  for (const auto& layer : layers_) layer->set_trainable(trainable);
}

int64_t Sequential::count_params() const {
  if (!built())
    throw std::invalid_argument("You tried to call `count_params` on layer '" + name() +
                                "', but the layer isn't built. You can build it manually via: "
                                "`layer.build(batch_input_shape)`.");
  int64_t n = 0;
  for (const auto& layer : layers_) n += layer->count_params();
  return n;
}

Tensor Sequential::forward(const Tensor& x, bool training) {
  if (!x.defined()) throw std::invalid_argument("Layer '" + name() + "' received an undefined tensor.");
  if (!built()) build(x.shape());
  return call(x, training);
}

Tensor Sequential::call(const Tensor& x, bool training) {
  Tensor y = x;
  for (const auto& layer : layers_) y = layer->forward(y, training);
  return y;
}

std::string Sequential::summary() const {
  if (!built())
    throw std::invalid_argument("This model has not yet been built. Build the model first by calling `build()` or "
                                "by calling the model on a batch of data.");
  struct Row {
    std::string name, shape, params;
  };
  std::vector<Row> rows;
  Shape s = input_shape_;
  int64_t total = 0, n_trainable = 0;
  for (const Tensor& w : trainable_weights()) n_trainable += w.numel();
  for (const auto& layer : layers_) {
    s = layer->output_shape(s);
    const int64_t n = layer->count_params();
    total += n;
    rows.push_back({layer->name() + " (" + layer->class_name() + ")", detail::shape_none_str(s), with_commas(n)});
  }
  size_t w0 = 31, w1 = 22, w2 = 13;
  for (const Row& r : rows) {
    w0 = std::max(w0, r.name.size());
    w1 = std::max(w1, r.shape.size());
    w2 = std::max(w2, r.params.size());
  }
  const std::string rule = "+" + std::string(w0 + 2, '-') + "+" + std::string(w1 + 2, '-') + "+" +
                           std::string(w2 + 2, '-') + "+\n";
  std::ostringstream os;
  os << "Model: \"" << name() << "\"\n" << rule;
  os << "| " << pad("Layer (type)", w0, false) << " | " << pad("Output Shape", w1, false) << " | "
     << pad("Param #", w2, true) << " |\n"
     << rule;
  for (const Row& r : rows)
    os << "| " << pad(r.name, w0, false) << " | " << pad(r.shape, w1, false) << " | " << pad(r.params, w2, true)
       << " |\n";
  os << rule;
  os << " Total params: " << with_commas(total) << " (" << bytes_str(total) << ")\n";
  os << " Trainable params: " << with_commas(n_trainable) << " (" << bytes_str(n_trainable) << ")\n";
  os << " Non-trainable params: " << with_commas(total - n_trainable) << " (" << bytes_str(total - n_trainable) << ")\n";
  return os.str();
}

}  // namespace nn
}  // namespace lamina
