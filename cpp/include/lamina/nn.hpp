#pragma once
// lamina::nn: Keras-like layers for C++ users. They only compose lamina::ops (the same ops the
// Python layers call; tests/cpp/test_nn.cpp keeps both in step) and mirror the Python layers in
// names and options.
//
//   using namespace lamina;
//   nn::Sequential model;
//   model.add(std::make_shared<nn::Conv2D>(32, 3, 1, "valid", "relu"));
//   model.add(std::make_shared<nn::GlobalMaxPooling2D>());
//   model.add(std::make_shared<nn::Dense>(10));
//   Tensor y = model.forward(x);          // builds every layer from x's shape on the first call
//   std::cout << model.summary();
//
//   std::vector<Tensor> params = model.weights();   // trainable, requires_grad set
//   optim::Adam opt(1e-3f);
//   { GradRecording rec; loss = ...model.forward(x, /*training=*/true)...; }
//   backward(loss); opt.step(params); optim::Optimizer::zero_grad(params);
//
// Shapes: images are NHWC (channels last). In shapes passed to build() / output_shape() a
// dimension of -1 is unknown (None); summary() prints the batch as None.
// Weights: kernels glorot_uniform (uniform in +-sqrt(6 / (fan_in + fan_out)); for Conv2D
// fan_in = kh * kw * in_channels, fan_out = kh * kw * filters), biases zero. A layer's `seed` >= 0
// makes its initial weights (and Dropout's masks) reproducible; -1 draws from the global generator.
// Names: automatic, Keras style ("dense", "dense_1", ...) unless one is given.
// Errors: bad options or incompatible inputs throw std::invalid_argument with Keras's wording.
// Threads: a built layer / model may run forward() from several threads at once (use NoGrad in
// each, or separate GradRecording scopes); building happens once, under a lock.
#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "lamina/export.hpp"
#include "lamina/tensor.hpp"

namespace lamina {
namespace nn {

// A pair of positive ints (kernel size, strides, pool size): from one int (used twice) or two.
struct Size2 {
  int64_t h, w;
  Size2(int64_t v) : h(v), w(v) {}  // NOLINT: implicit on purpose (Conv2D(32, 3))
  Size2(int64_t h_, int64_t w_) : h(h_), w(w_) {}
};

// Base class of every layer.
class LAMINA_API Layer {
 public:
  // `name` empty: an automatic name from `default_name` ("dense", "dense_1", ...).
  Layer(const std::string& default_name, const std::string& name);
  virtual ~Layer();
  Layer(const Layer&) = delete;
  Layer& operator=(const Layer&) = delete;

  const std::string& name() const { return name_; }
  // The Keras class name ("Dense", "Conv2D", ...), shown by Sequential::summary().
  virtual std::string class_name() const = 0;
  bool built() const { return built_.load(std::memory_order_acquire); }

  // Creates the weights for inputs of `input_shape` (batch may be -1); a no-op once built.
  // Thread-safe: concurrent first calls build once.
  virtual void build(const Shape& input_shape);
  // The shape forward() returns for inputs of `input_shape` (-1 stays -1). Throws
  // std::invalid_argument for inputs the layer cannot take.
  virtual Shape output_shape(const Shape& input_shape) const = 0;

  // Trainable weights (requires_grad set), in Keras's order (kernel, bias). Empty before build.
  virtual std::vector<Tensor> weights() const { return weights_; }
  // Number of weight values. A layer with weights that is not built yet throws.
  virtual int64_t count_params() const;

  // Runs the layer on x, building it from x's shape on the first call. `training` only changes
  // Dropout.
  virtual Tensor forward(const Tensor& x, bool training = false);
  Tensor operator()(const Tensor& x, bool training = false) { return forward(x, training); }

 protected:
  // Creates weights_ for the shape (called once, under the build lock). Default: no weights.
  virtual void build_weights(const Shape& input_shape) {}
  // The computation (the layer is built).
  virtual Tensor call(const Tensor& x, bool training) = 0;
  // Layers without weights call this from their constructor (built at once, as in Keras).
  void mark_built() { built_.store(true, std::memory_order_release); }
  void mark_unbuilt() { built_.store(false, std::memory_order_release); }

  std::vector<Tensor> weights_;

 private:
  std::string name_;
  std::atomic<bool> built_{false};
  std::mutex build_mutex_;
};

// Densely connected layer: activation(x @ kernel + bias), kernel (in, units). Takes (..., in).
// activation: "linear" (or ""), "relu" (fused into the GEMM), "sigmoid", "tanh", "softmax".
class LAMINA_API Dense : public Layer {
 public:
  explicit Dense(int64_t units, const std::string& activation = "linear", bool use_bias = true,
                 int64_t seed = -1, const std::string& name = "");
  std::string class_name() const override { return "Dense"; }
  Shape output_shape(const Shape& input_shape) const override;
  int64_t units() const { return units_; }
  // Defined once built (bias undefined when use_bias is false).
  Tensor kernel() const;
  Tensor bias() const;

 protected:
  void build_weights(const Shape& input_shape) override;
  Tensor call(const Tensor& x, bool training) override;

 private:
  int64_t units_;
  std::string activation_;
  bool use_bias_;
  int64_t seed_;
};

// 2-D convolution of NHWC images, kernel (kh, kw, in_channels, filters). padding "valid" or
// "same"; activation as Dense's.
class LAMINA_API Conv2D : public Layer {
 public:
  Conv2D(int64_t filters, Size2 kernel_size, Size2 strides = 1, const std::string& padding = "valid",
         const std::string& activation = "linear", bool use_bias = true, int64_t seed = -1,
         const std::string& name = "");
  std::string class_name() const override { return "Conv2D"; }
  Shape output_shape(const Shape& input_shape) const override;
  Tensor kernel() const;
  Tensor bias() const;

 protected:
  void build_weights(const Shape& input_shape) override;
  Tensor call(const Tensor& x, bool training) override;

 private:
  int64_t filters_;
  Size2 kernel_size_, strides_;
  std::string padding_, activation_;
  bool use_bias_;
  int64_t seed_;
};

// 2-D max / average pooling of NHWC images. strides 0 (the default) = pool_size.
class LAMINA_API Pooling2D : public Layer {
 public:
  Shape output_shape(const Shape& input_shape) const override;

 protected:
  Pooling2D(bool is_max, Size2 pool_size, Size2 strides, const std::string& padding,
            const std::string& default_name, const std::string& name);
  Tensor call(const Tensor& x, bool training) override;

 private:
  bool is_max_;
  Size2 pool_size_, strides_;
  std::string padding_;
};

class LAMINA_API MaxPooling2D : public Pooling2D {
 public:
  explicit MaxPooling2D(Size2 pool_size = 2, Size2 strides = 0, const std::string& padding = "valid",
                        const std::string& name = "");
  std::string class_name() const override { return "MaxPooling2D"; }
};

class LAMINA_API AveragePooling2D : public Pooling2D {
 public:
  explicit AveragePooling2D(Size2 pool_size = 2, Size2 strides = 0, const std::string& padding = "valid",
                            const std::string& name = "");
  std::string class_name() const override { return "AveragePooling2D"; }
};

// Max over height and width: (N, H, W, C) -> (N, C), or (N, 1, 1, C) with keepdims.
class LAMINA_API GlobalMaxPooling2D : public Layer {
 public:
  explicit GlobalMaxPooling2D(bool keepdims = false, const std::string& name = "");
  std::string class_name() const override { return "GlobalMaxPooling2D"; }
  Shape output_shape(const Shape& input_shape) const override;

 protected:
  Tensor call(const Tensor& x, bool training) override;

 private:
  bool keepdims_;
};

// (N, d1, d2, ...) -> (N, d1 * d2 * ...).
class LAMINA_API Flatten : public Layer {
 public:
  explicit Flatten(const std::string& name = "");
  std::string class_name() const override { return "Flatten"; }
  Shape output_shape(const Shape& input_shape) const override;

 protected:
  Tensor call(const Tensor& x, bool training) override;
};

// While training, sets a `rate` fraction of the inputs to 0 and scales the rest by 1 / (1 - rate);
// the identity in inference. rate must lie in [0, 1].
class LAMINA_API Dropout : public Layer {
 public:
  explicit Dropout(double rate, int64_t seed = -1, const std::string& name = "");
  std::string class_name() const override { return "Dropout"; }
  Shape output_shape(const Shape& input_shape) const override { return input_shape; }
  double rate() const { return rate_; }

 protected:
  Tensor call(const Tensor& x, bool training) override;

 private:
  double rate_;
  int64_t seed_;
  std::atomic<int64_t> seed_calls_{0};
};

// A stack of layers, each fed the previous one's output. Builds every layer on the first forward()
// (or build()). Adding a layer after that marks the model unbuilt until the next forward / build.
class LAMINA_API Sequential : public Layer {
 public:
  explicit Sequential(std::vector<std::shared_ptr<Layer>> layers = {}, const std::string& name = "");
  std::string class_name() const override { return "Sequential"; }

  // Throws std::invalid_argument for a null layer or one whose name is already in the model.
  void add(std::shared_ptr<Layer> layer);
  const std::vector<std::shared_ptr<Layer>>& layers() const { return layers_; }

  void build(const Shape& input_shape) override;
  Shape output_shape(const Shape& input_shape) const override;
  std::vector<Tensor> weights() const override;
  int64_t count_params() const override;
  Tensor forward(const Tensor& x, bool training = false) override;

  // Keras-style table (plain ASCII): each layer's name (type), output shape with the batch as
  // None, and parameter count, then the totals. Throws when the model is not built.
  std::string summary() const;

 protected:
  Tensor call(const Tensor& x, bool training) override;

 private:
  std::vector<std::shared_ptr<Layer>> layers_;
  Shape input_shape_;  // set by build (batch -1)
  std::mutex model_mutex_;
};

}  // namespace nn
}  // namespace lamina
