#pragma once
// lamina::nn: Keras-like layers for C++ users. They only compose lamina::ops (the same ops the
// Python layers call; tests/cpp/test_nn.cpp and the C++/Python parity test in
// tests/test_cpp_package.py keep both in step) and mirror the Python layers in names and options.
//
//   using namespace lamina;
//   nn::Sequential model;
//   model.add(std::make_shared<nn::Conv2D>(32, 3, 1, "valid", "relu"));
//   model.add(std::make_shared<nn::GlobalMaxPooling2D>());
//   model.add(std::make_shared<nn::Dense>(10));
//   Tensor y = model.forward(x);          // builds every layer from x's shape on the first call
//   std::cout << model.summary();
//
//   std::vector<Tensor> params = model.trainable_weights();   // requires_grad set
//   optim::Adam opt(1e-3f);
//   { GradRecording rec; loss = ...model.forward(x, /*training=*/true)...; }
//   backward(loss); opt.step(params); optim::Optimizer::zero_grad(params);
//
// Layers with several inputs (Add, Concatenate, ...) take a list: `Tensor s = add({a, b});`.
// There is no functional Model class in C++: call the layers one after another.
//
// Shapes: images are NHWC (channels last). In shapes passed to build() / output_shape() a
// dimension of -1 is unknown (None); summary() prints the batch as None.
// Weights: kernels glorot_uniform (uniform in +-sqrt(6 / (fan_in + fan_out)); for Conv2D
// fan_in = kh * kw * in_channels, fan_out = kh * kw * filters), biases zero. A layer's `seed` >= 0
// makes its initial weights (and Dropout's masks) reproducible; -1 draws from the global generator.
// Trainable and non-trainable weights as in Keras: BatchNormalization's moving statistics are
// non-trainable, and set_trainable(false) freezes a layer (its weights stop requiring gradients and
// move to non_trainable_weights(); a frozen BatchNormalization runs in inference mode).
// Activations by name: "linear" (or ""), "relu", "sigmoid", "tanh", "softmax", "gelu" (exact, as
// keras.activations.gelu), "elu", "selu", "leaky_relu" (slope 0.2), "silu" / "swish", "softplus".
// Names: automatic, Keras style ("dense", "dense_1", ...) unless one is given, from
// lamina::unique_name (runtime.hpp), the counters the Python layers use too.
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
#include "lamina/ops.hpp"
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

  // All weights, trainable ones first, each group in creation order (Keras's order: kernel, bias;
  // gamma, beta, moving_mean, moving_variance). Empty before build. The tensors are the layer's
  // own: optimizers and set_weights() update them in place.
  virtual std::vector<Tensor> weights() const;
  // The weights an optimizer should update (requires_grad set); empty for a frozen layer.
  virtual std::vector<Tensor> trainable_weights() const;
  // The others: BatchNormalization's moving statistics, and every weight of a frozen layer.
  virtual std::vector<Tensor> non_trainable_weights() const;
  // Copies `values` into weights() (same count, order, shapes; float32). Throws
  // std::invalid_argument, before changing anything, when they do not match or the layer is not
  // built.
  virtual void set_weights(const std::vector<Tensor>& values);
  // Keras's `trainable`: false freezes every weight of the layer (and of the layers inside it).
  bool trainable() const { return trainable_.load(std::memory_order_acquire); }
  virtual void set_trainable(bool trainable);
  // Number of weight values. A layer with weights that is not built yet throws.
  virtual int64_t count_params() const;

  // Runs the layer on x, building it from x's shape on the first call. `training` only changes
  // Dropout and BatchNormalization.
  virtual Tensor forward(const Tensor& x, bool training = false);
  Tensor operator()(const Tensor& x, bool training = false) { return forward(x, training); }

 protected:
  // Creates the weights for the shape with add_weight (called once, under the build lock).
  // Default: no weights.
  virtual void build_weights(const Shape& input_shape) {}
  // Registers a weight created by build_weights (in creation order) and returns it; a trainable
  // one gets requires_grad while the layer is trainable.
  Tensor add_weight(Tensor value, bool trainable = true);
  // The computation (the layer is built).
  virtual Tensor call(const Tensor& x, bool training) = 0;
  // Layers without weights call this from their constructor (built at once, as in Keras).
  void mark_built() { built_.store(true, std::memory_order_release); }
  void mark_unbuilt() { built_.store(false, std::memory_order_release); }

  std::vector<Tensor> weights_;  // creation order

 private:
  std::vector<bool> weight_trainable_;  // declared trainable (moving statistics are not)
  std::string name_;
  std::atomic<bool> built_{false};
  std::atomic<bool> trainable_{true};
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
  ops::Activation activation_;
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
  std::string padding_;
  ops::Activation activation_;
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

// Max / mean over height and width: (N, H, W, C) -> (N, C), or (N, 1, 1, C) with keepdims.
class LAMINA_API GlobalPooling2D : public Layer {
 public:
  Shape output_shape(const Shape& input_shape) const override;

 protected:
  GlobalPooling2D(bool is_max, bool keepdims, const std::string& default_name, const std::string& name);
  Tensor call(const Tensor& x, bool training) override;

 private:
  bool is_max_, keepdims_;
};

class LAMINA_API GlobalMaxPooling2D : public GlobalPooling2D {
 public:
  explicit GlobalMaxPooling2D(bool keepdims = false, const std::string& name = "");
  std::string class_name() const override { return "GlobalMaxPooling2D"; }
};

class LAMINA_API GlobalAveragePooling2D : public GlobalPooling2D {
 public:
  explicit GlobalAveragePooling2D(bool keepdims = false, const std::string& name = "");
  std::string class_name() const override { return "GlobalAveragePooling2D"; }
};

// Normalises over every axis but `axis` (the channels; -1 = last) with ops::batch_norm: with
// training=true and the layer trainable, the batch's mean and (biased) variance, and the moving
// statistics follow moving = moving * momentum + batch * (1 - momentum); otherwise (inference, or a
// frozen layer) the moving statistics. y = gamma * (x - mean) / sqrt(variance + epsilon) + beta. Weights: gamma
// (scale=true), beta (center=true), then the non-trainable moving_mean (zeros) and
// moving_variance (ones), each (channels,). epsilon must be positive.
class LAMINA_API BatchNormalization : public Layer {
 public:
  explicit BatchNormalization(int64_t axis = -1, double momentum = 0.99, double epsilon = 1e-3, bool center = true,
                              bool scale = true, const std::string& name = "");
  std::string class_name() const override { return "BatchNormalization"; }
  Shape output_shape(const Shape& input_shape) const override;
  // Defined once built (gamma / beta undefined without scale / center).
  Tensor gamma() const;
  Tensor beta() const;
  Tensor moving_mean() const;
  Tensor moving_variance() const;

 protected:
  void build_weights(const Shape& input_shape) override;
  Tensor call(const Tensor& x, bool training) override;

 private:
  int64_t axis_;
  double momentum_, epsilon_;
  bool center_, scale_;
  int64_t built_axis_ = -1;  // axis_ made non-negative by build
  int64_t built_rank_ = -1;
};

// Normalises each sample over `axis` (one or more axes; -1 = last) with ops::layer_normalization:
// y = gamma * (x - mean) / sqrt(variance + epsilon) + beta, the statistics of that sample. Weights:
// gamma (scale=true, ones), beta (center=true, zeros), each of the input's shape at the axes.
// epsilon must be positive.
class LAMINA_API LayerNormalization : public Layer {
 public:
  explicit LayerNormalization(std::vector<int64_t> axis = {-1}, double epsilon = 1e-3, bool center = true,
                              bool scale = true, const std::string& name = "");
  std::string class_name() const override { return "LayerNormalization"; }
  Shape output_shape(const Shape& input_shape) const override;
  // Defined once built (undefined without scale / center).
  Tensor gamma() const;
  Tensor beta() const;

 protected:
  void build_weights(const Shape& input_shape) override;
  Tensor call(const Tensor& x, bool training) override;

 private:
  std::vector<int64_t> axis_;
  double epsilon_;
  bool center_, scale_;
  Shape param_shape_;  // the input's shape at the axes (set by build)
};

// activation(x) for an activation name (see the top of this file).
class LAMINA_API Activation : public Layer {
 public:
  explicit Activation(const std::string& activation, const std::string& name = "");
  std::string class_name() const override { return "Activation"; }
  Shape output_shape(const Shape& input_shape) const override { return input_shape; }

 protected:
  Tensor call(const Tensor& x, bool training) override;

 private:
  ops::Activation activation_;
};

// (N, ...) -> (N, *target_shape); one entry of target_shape may be -1 (inferred). The size must
// not change.
class LAMINA_API Reshape : public Layer {
 public:
  explicit Reshape(Shape target_shape, const std::string& name = "");
  std::string class_name() const override { return "Reshape"; }
  Shape output_shape(const Shape& input_shape) const override;

 protected:
  Tensor call(const Tensor& x, bool training) override;

 private:
  Shape target_shape_;
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

// Base of the layers that merge a list of tensors: call them on a list, `add({a, b})`. The
// elementwise ones broadcast their inputs (dimensions equal, or one of them 1); calling a merge
// layer on a single tensor (or adding one to a Sequential) throws std::invalid_argument.
class LAMINA_API Merge : public Layer {
 public:
  Tensor forward(const std::vector<Tensor>& xs, bool training = false);
  Tensor operator()(const std::vector<Tensor>& xs, bool training = false) { return forward(xs, training); }
  virtual Shape output_shape(const std::vector<Shape>& input_shapes) const;
  // A single shape is not a list: throws.
  Shape output_shape(const Shape& input_shape) const override;
  Tensor forward(const Tensor& x, bool training = false) override;

 protected:
  Merge(size_t min_inputs, size_t max_inputs, const std::string& default_name, const std::string& name);
  Tensor call(const Tensor& x, bool training) override;
  // The computation on the checked list.
  virtual Tensor merge(const std::vector<Tensor>& xs) const = 0;
  void check_count(size_t n) const;

 private:
  size_t min_inputs_, max_inputs_;
};

// Sum of the inputs (one or more).
class LAMINA_API Add : public Merge {
 public:
  explicit Add(const std::string& name = "");
  std::string class_name() const override { return "Add"; }

 protected:
  Tensor merge(const std::vector<Tensor>& xs) const override;
};

// First input minus the second (exactly two).
class LAMINA_API Subtract : public Merge {
 public:
  explicit Subtract(const std::string& name = "");
  std::string class_name() const override { return "Subtract"; }

 protected:
  Tensor merge(const std::vector<Tensor>& xs) const override;
};

// Elementwise product of the inputs.
class LAMINA_API Multiply : public Merge {
 public:
  explicit Multiply(const std::string& name = "");
  std::string class_name() const override { return "Multiply"; }

 protected:
  Tensor merge(const std::vector<Tensor>& xs) const override;
};

// Elementwise mean of the inputs.
class LAMINA_API Average : public Merge {
 public:
  explicit Average(const std::string& name = "");
  std::string class_name() const override { return "Average"; }

 protected:
  Tensor merge(const std::vector<Tensor>& xs) const override;
};

// Elementwise maximum of the inputs.
class LAMINA_API Maximum : public Merge {
 public:
  explicit Maximum(const std::string& name = "");
  std::string class_name() const override { return "Maximum"; }

 protected:
  Tensor merge(const std::vector<Tensor>& xs) const override;
};

// Elementwise minimum of the inputs.
class LAMINA_API Minimum : public Merge {
 public:
  explicit Minimum(const std::string& name = "");
  std::string class_name() const override { return "Minimum"; }

 protected:
  Tensor merge(const std::vector<Tensor>& xs) const override;
};

// Joins the inputs along `axis` (-1: the last); every other dimension must match.
class LAMINA_API Concatenate : public Merge {
 public:
  explicit Concatenate(int64_t axis = -1, const std::string& name = "");
  std::string class_name() const override { return "Concatenate"; }
  using Merge::output_shape;
  Shape output_shape(const std::vector<Shape>& input_shapes) const override;

 protected:
  Tensor merge(const std::vector<Tensor>& xs) const override;

 private:
  int64_t axis_;
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
  // Each layer's weights in turn (weights() in each layer's order).
  std::vector<Tensor> weights() const override;
  std::vector<Tensor> trainable_weights() const override;
  std::vector<Tensor> non_trainable_weights() const override;
  // Sets every layer's trainable flag too (as Keras does for a model).
  void set_trainable(bool trainable) override;
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
