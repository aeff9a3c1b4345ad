// The C++ half of the parity test (tests/test_cpp_parity.py): builds, with lamina::nn, the same
// model the test builds with the Python layers, takes its weights, input and loss weights from a
// file the test wrote, and writes back what the test compares with the Python model: the inference
// output, the training output, the gradients of sum(output * c) with respect to the input and every
// trainable weight, and the weights after the training pass (BatchNormalization's moving statistics).
//
//   parity IN OUT
//
// File format (both ways): records of [u32 name length][name][u32 ndim][i64 dims...][f32 values],
// little-endian, until the end of the file.
#include <cstdint>
#include <fstream>
#include <iostream>
#include <map>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include <lamina/lamina.hpp>

using lamina::Tensor;
namespace nn = lamina::nn;
namespace ops = lamina::ops;

namespace {

std::map<std::string, Tensor> read_tensors(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw std::runtime_error("cannot open " + path);
  std::map<std::string, Tensor> out;
  uint32_t len = 0;
  while (in.read(reinterpret_cast<char*>(&len), sizeof len)) {
    std::string name(len, '\0');
    uint32_t ndim = 0;
    in.read(&name[0], len);
    in.read(reinterpret_cast<char*>(&ndim), sizeof ndim);
    lamina::Shape shape(ndim);
    in.read(reinterpret_cast<char*>(shape.data()), static_cast<std::streamsize>(ndim * sizeof(int64_t)));
    std::vector<float> values(static_cast<size_t>(lamina::shape_numel(shape)));
    in.read(reinterpret_cast<char*>(values.data()), static_cast<std::streamsize>(values.size() * sizeof(float)));
    if (!in) throw std::runtime_error("truncated record " + name + " in " + path);
    out[name] = ops::from_data(values.data(), shape, lamina::DType::Float32);
  }
  return out;
}

void write_tensors(const std::string& path, const std::vector<std::pair<std::string, Tensor>>& tensors) {
  std::ofstream out(path, std::ios::binary);
  for (const auto& [name, t] : tensors) {
    const Tensor c = t.clone();  // contiguous float32 values
    const uint32_t len = static_cast<uint32_t>(name.size()), ndim = static_cast<uint32_t>(c.dim());
    out.write(reinterpret_cast<const char*>(&len), sizeof len);
    out.write(name.data(), len);
    out.write(reinterpret_cast<const char*>(&ndim), sizeof ndim);
    out.write(reinterpret_cast<const char*>(c.shape().data()), static_cast<std::streamsize>(ndim * sizeof(int64_t)));
    out.write(reinterpret_cast<const char*>(c.data<float>()), static_cast<std::streamsize>(c.nbytes()));
  }
  if (!out) throw std::runtime_error("cannot write " + path);
}

// The model of tests/test_cpp_parity.py, layer for layer (the same names).
struct ParityModel {
  std::shared_ptr<nn::Conv2D> conv_a = std::make_shared<nn::Conv2D>(6, 3, 1, "same", "relu", true, -1, "conv_a");
  std::shared_ptr<nn::BatchNormalization> bn_a = std::make_shared<nn::BatchNormalization>(-1, 0.9, 1e-3, true, true, "bn_a");
  std::shared_ptr<nn::Conv2D> conv_b =
      std::make_shared<nn::Conv2D>(6, nn::Size2(1, 1), 1, "valid", "tanh", true, -1, "conv_b");
  nn::Add add{"add"};
  nn::Subtract subtract{"subtract"};
  nn::Multiply multiply{"multiply"};
  nn::Average average{"average"};
  nn::Maximum maximum{"maximum"};
  nn::Minimum minimum{"minimum"};
  nn::Concatenate cat{-1, "cat"};
  nn::MaxPooling2D pool_max{2, 0, "valid", "pool_max"};
  nn::AveragePooling2D pool_avg{2, 1, "same", "pool_avg"};
  std::shared_ptr<nn::BatchNormalization> bn_c =
      std::make_shared<nn::BatchNormalization>(1, 0.8, 1e-2, /*center=*/false, true, "bn_c");
  nn::GlobalAveragePooling2D gap{false, "gap"};
  nn::GlobalMaxPooling2D gmp{false, "gmp"};
  nn::Concatenate cat_g{-1, "cat_g"};
  nn::Sequential head{{std::make_shared<nn::Reshape>(lamina::Shape{8, 9}, "reshape"),
                       std::make_shared<nn::Flatten>("flatten"),
                       std::make_shared<nn::Dense>(16, "gelu", true, -1, "head_d1"),
                       std::make_shared<nn::Dense>(5, "linear", true, -1, "head_d2"),
                       std::make_shared<nn::Activation>("softmax", "softmax")},
                      "head"};

  Tensor forward(const Tensor& x, bool training) {
    Tensor a = bn_a->forward(conv_a->forward(x, training), training);
    Tensor b = conv_b->forward(x, training);
    Tensor m = cat({add({a, b}), subtract({a, b}), multiply({a, b}), average({a, b}), maximum({a, b}),
                    minimum({a, b})});
    Tensor q = bn_c->forward(pool_avg.forward(pool_max.forward(m)), training);
    return head.forward(cat_g({gap.forward(q), gmp.forward(q)}), training);
  }

  // Layers with weights, by name (the head's too).
  std::vector<std::pair<std::string, nn::Layer*>> weighted() {
    std::vector<std::pair<std::string, nn::Layer*>> out{
        {"conv_a", conv_a.get()}, {"bn_a", bn_a.get()}, {"conv_b", conv_b.get()}, {"bn_c", bn_c.get()}};
    for (const auto& layer : head.layers())
      if (!layer->weights().empty()) out.emplace_back(layer->name(), layer.get());
    return out;
  }
};

}  // namespace

int main(int argc, char** argv) {
  if (argc != 3) {
    std::cerr << "usage: parity IN OUT\n";
    return 2;
  }
  try {
    std::map<std::string, Tensor> in = read_tensors(argv[1]);
    ParityModel model;
    const Tensor x = in.at("x"), c = in.at("c");
    {
      lamina::NoGrad no_grad;
      model.forward(x, false);  // builds every layer from x's shape
    }
    for (auto& [name, layer] : model.weighted()) {
      std::vector<Tensor> values;
      for (size_t i = 0; i < layer->weights().size(); ++i) values.push_back(in.at(name + "/" + std::to_string(i)));
      layer->set_weights(values);
    }
    std::vector<std::pair<std::string, Tensor>> out;
    {
      lamina::NoGrad no_grad;
      out.emplace_back("y_infer", model.forward(x, false));
    }
    Tensor xv = x.clone();
    xv.set_requires_grad(true);
    Tensor y, loss;
    {
      lamina::GradRecording rec;
      y = model.forward(xv, true);
      loss = ops::sum(ops::multiply(y, c));
    }
    lamina::backward(loss);
    out.emplace_back("y_train", y);
    out.emplace_back("grad/x", xv.grad());
    for (auto& [name, layer] : model.weighted()) {
      const std::vector<Tensor> trainable = layer->trainable_weights(), all = layer->weights();
      for (size_t i = 0; i < trainable.size(); ++i) out.emplace_back("grad/" + name + "/" + std::to_string(i), trainable[i].grad());
      for (size_t i = 0; i < all.size(); ++i) out.emplace_back("after/" + name + "/" + std::to_string(i), all[i]);
    }
    write_tensors(argv[2], out);
    std::cout << "parameters " << model.head.count_params() << " in the head, wrote " << out.size() << " tensors\n";
  } catch (const std::exception& e) {
    std::cerr << "error: " << e.what() << "\n";
    return 1;
  }
  return 0;
}
