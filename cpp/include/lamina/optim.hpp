#pragma once
// Optimizers: fused, in-place parameter updates over whole lists of tensors, with Keras 3's formulas.
//
// Each *_update function updates every parameter of the list (and its slot tensors) in one call:
// one fused loop per tensor does gradient clipping, decoupled weight decay and the update, split
// across threads when the total size is large. The Python optimizers (lamina.optimizers) call
// these functions once per training step; the classes at the end wrap them for C++ users.
//
//   std::vector<lamina::Tensor> params = {w, b}, grads = {dw, db}, m = {zw, zb}, v = {zw2, zb2}, none;
//   lamina::optim::adam_update(params, grads, m, v, none, /*lr=*/1e-3f, 0.9f, 0.999f, 1e-7f, /*step=*/1);
//
// Common rules:
// - All tensors are float32 (other dtypes throw lamina::TypeError). grads[i] and every slot tensor
//   [i] must have the shape of params[i], and every list the length of params (an optional slot list
//   may be empty when its feature is off): otherwise std::invalid_argument naming the function,
//   e.g. "[adam_update] grads[1] has shape (3,), expected (2, 3) (the shape of params[1])".
//   A tensor listed twice in params throws as well. Nothing is written when a check fails.
// - Parameters and slots are written in place. Each is first given private storage
//   (Tensor::unshare) when other tensors or NumPy arrays share it, so those keep their values.
// - `weight_decay` (0 = off) is decoupled, as Keras 3 applies it to every optimizer:
//   p <- p - p * weight_decay * lr, before the update.
// - `clip` transforms the gradients first (Keras's clipvalue / clipnorm / global_clipnorm).
//   The gradient tensors themselves are never modified.
#include <cstdint>
#include <memory>
#include <unordered_map>
#include <vector>

#include "lamina/export.hpp"
#include "lamina/tensor.hpp"

namespace lamina {
namespace optim {

// Gradient clipping applied before an update (at most one kind, as in Keras).
struct GradClip {
  enum class Kind : uint8_t {
    None,        // gradients used as they are
    Value,       // g <- clamp(g, -threshold, threshold), elementwise       (Keras clipvalue)
    Norm,        // g <- g * threshold / max(||g||, threshold), per tensor  (Keras clipnorm)
    GlobalNorm,  // every g <- g * threshold / max(global_norm, threshold)  (Keras global_clipnorm;
                 //   a non-finite global norm makes every gradient NaN, as in Keras)
  };
  Kind kind = Kind::None;
  float threshold = 0.f;  // must be > 0 unless kind is None (else std::invalid_argument)

  static GradClip none() { return {}; }
  static GradClip by_value(float v) { return {Kind::Value, v}; }
  static GradClip by_norm(float c) { return {Kind::Norm, c}; }
  static GradClip by_global_norm(float c) { return {Kind::GlobalNorm, c}; }
};

// ------------------------------------------------------------------ fused updates (all in place)

// SGD (keras.optimizers.SGD). `momenta` may be empty when momentum == 0.
//   momentum == 0:  p <- p - lr * g
//   otherwise:      m <- momentum * m - lr * g;  p <- p + m
//   nesterov:       m <- momentum * m - lr * g;  p <- p + momentum * m - lr * g
LAMINA_API void sgd_update(std::vector<Tensor>& params, const std::vector<Tensor>& grads,
                           std::vector<Tensor>& momenta, float lr, float momentum = 0.f,
                           bool nesterov = false, float weight_decay = 0.f,
                           const GradClip& clip = GradClip());

// Adam / AdamW (keras.optimizers.Adam, AdamW = Adam with weight_decay). `step` is the 1-based
// number of this update (Keras: iterations + 1; < 1 throws). `vhat_max` is used only with
// amsgrad (then required), and may be empty otherwise.
//   alpha = lr * sqrt(1 - beta2^step) / (1 - beta1^step)
//   m <- m + (g - m) * (1 - beta1);   v <- v + (g^2 - v) * (1 - beta2)
//   amsgrad: vhat <- max(vhat, v), and vhat replaces v below
//   p <- p - alpha * m / (sqrt(v) + eps)
LAMINA_API void adam_update(std::vector<Tensor>& params, const std::vector<Tensor>& grads,
                            std::vector<Tensor>& m, std::vector<Tensor>& v,
                            std::vector<Tensor>& vhat_max, float lr, float beta1 = 0.9f,
                            float beta2 = 0.999f, float eps = 1e-7f, int64_t step = 1,
                            float weight_decay = 0.f, bool amsgrad = false,
                            const GradClip& clip = GradClip());

// RMSprop (keras.optimizers.RMSprop). `momenta` is required when momentum > 0 (may be empty
// otherwise), `average_grads` when centered.
//   v <- rho * v + (1 - rho) * g^2
//   centered: a <- rho * a + (1 - rho) * g;  d = v - a^2 + eps;   else d = v + eps
//   inc = lr * g / sqrt(d)
//   momentum > 0: mom <- momentum * mom + inc;  p <- p - mom;     else p <- p - inc
LAMINA_API void rmsprop_update(std::vector<Tensor>& params, const std::vector<Tensor>& grads,
                               std::vector<Tensor>& velocities, std::vector<Tensor>& momenta,
                               std::vector<Tensor>& average_grads, float lr, float rho = 0.9f,
                               float momentum = 0.f, float eps = 1e-7f, bool centered = false,
                               float weight_decay = 0.f, const GradClip& clip = GradClip());

// Adagrad (keras.optimizers.Adagrad). Accumulators start at initial_accumulator_value (Keras: 0.1).
//   acc <- acc + g^2;  p <- p - lr * g / sqrt(acc + eps)
LAMINA_API void adagrad_update(std::vector<Tensor>& params, const std::vector<Tensor>& grads,
                               std::vector<Tensor>& accumulators, float lr, float eps = 1e-7f,
                               float weight_decay = 0.f, const GradClip& clip = GradClip());

// ------------------------------------------------------------------ gradient clipping helpers
// They return new tensors and leave their inputs untouched. Undefined entries (no gradient) are
// passed through as undefined and ignored by the norms. Thresholds must be > 0.

// Elementwise clamp to [-clip_value, clip_value].
LAMINA_API std::vector<Tensor> clip_by_value(const std::vector<Tensor>& grads, float clip_value);
// sqrt of the sum of squares of every element of every tensor (accumulated in double).
LAMINA_API double global_norm(const std::vector<Tensor>& grads);
// g * clip_norm / max(||g||, clip_norm) for one tensor.
LAMINA_API Tensor clip_by_norm(const Tensor& grad, float clip_norm);
// The same for each tensor separately (Keras clipnorm).
LAMINA_API std::vector<Tensor> clip_by_norm(const std::vector<Tensor>& grads, float clip_norm);
// Every tensor scaled by clip_norm / max(global_norm, clip_norm) (Keras global_clipnorm).
LAMINA_API std::vector<Tensor> clip_by_global_norm(const std::vector<Tensor>& grads, float clip_norm);

// ------------------------------------------------------------------ optimizer classes (C++ users)
//
//   lamina::optim::Adam opt(/*learning_rate=*/1e-3f);
//   for (...) {
//     { lamina::GradRecording rec; loss = ...; }
//     lamina::backward(loss);
//     opt.step(params);        // reads each param's .grad(), updates params and slots
//     opt.zero_grad(params);
//   }
//
// An optimizer keeps its slot tensors (momenta, velocities, ...) per parameter, keyed by the
// parameter's identity: the list passed to step() may change between calls (parameters added,
// removed, reordered) and slots always stay with their own parameter. A parameter that is gone
// (destroyed) loses its slots at the next step. step() skips parameters without a gradient or that
// do not require one (frozen). The hyperparameters are public fields: change them between steps.
class LAMINA_API Optimizer {
 public:
  explicit Optimizer(float learning_rate, float weight_decay = 0.f);
  virtual ~Optimizer();
  Optimizer(const Optimizer&) = delete;
  Optimizer& operator=(const Optimizer&) = delete;

  // One update of every param that has a gradient, then iterations() += 1 (also when no param had
  // a gradient, as the step was requested).
  void step(std::vector<Tensor>& params);
  // Clears the gradients of the params (they are undefined until the next backward()).
  static void zero_grad(std::vector<Tensor>& params);

  // Number of steps applied so far.
  int64_t iterations() const { return iterations_; }
  void set_iterations(int64_t n) { iterations_ = n; }
  // Number of parameters that currently have slots.
  size_t num_slotted_params() const { return slots_.size(); }

  float learning_rate;
  float weight_decay;  // decoupled (see above); 0 = off
  GradClip clip;

 protected:
  // Number of slot tensors per parameter (for the current hyperparameters; slots are created when
  // first needed, so turning momentum on later works) and the value they start at.
  virtual int num_slots() const = 0;
  virtual float slot_initial_value(int /*slot*/) const { return 0.f; }
  // Applies the update; slots[k][i] is slot k of params[i].
  virtual void update(std::vector<Tensor>& params, const std::vector<Tensor>& grads,
                      std::vector<std::vector<Tensor>>& slots) = 0;

 private:
  struct Entry {
    std::weak_ptr<TensorImpl> owner;
    std::vector<Tensor> slots;
  };
  std::unordered_map<const TensorImpl*, Entry> slots_;
  int64_t iterations_ = 0;
};

class LAMINA_API SGD : public Optimizer {
 public:
  explicit SGD(float learning_rate = 0.01f, float momentum = 0.f, bool nesterov = false,
               float weight_decay = 0.f);
  float momentum;
  bool nesterov;

 protected:
  int num_slots() const override { return momentum != 0.f ? 1 : 0; }
  void update(std::vector<Tensor>& params, const std::vector<Tensor>& grads,
              std::vector<std::vector<Tensor>>& slots) override;
};

class LAMINA_API Adam : public Optimizer {
 public:
  explicit Adam(float learning_rate = 0.001f, float beta_1 = 0.9f, float beta_2 = 0.999f,
                float epsilon = 1e-7f, bool amsgrad = false, float weight_decay = 0.f);
  float beta_1, beta_2, epsilon;
  bool amsgrad;

 protected:
  int num_slots() const override { return amsgrad ? 3 : 2; }
  void update(std::vector<Tensor>& params, const std::vector<Tensor>& grads,
              std::vector<std::vector<Tensor>>& slots) override;
};

// Adam with decoupled weight decay (Keras's default 0.004), arguments in Keras's order.
class LAMINA_API AdamW : public Adam {
 public:
  explicit AdamW(float learning_rate = 0.001f, float weight_decay = 0.004f, float beta_1 = 0.9f,
                 float beta_2 = 0.999f, float epsilon = 1e-7f, bool amsgrad = false);
};

class LAMINA_API RMSprop : public Optimizer {
 public:
  explicit RMSprop(float learning_rate = 0.001f, float rho = 0.9f, float momentum = 0.f,
                   float epsilon = 1e-7f, bool centered = false, float weight_decay = 0.f);
  float rho, momentum, epsilon;
  bool centered;

 protected:
  int num_slots() const override { return centered ? 3 : momentum > 0.f ? 2 : 1; }
  void update(std::vector<Tensor>& params, const std::vector<Tensor>& grads,
              std::vector<std::vector<Tensor>>& slots) override;
};

class LAMINA_API Adagrad : public Optimizer {
 public:
  explicit Adagrad(float learning_rate = 0.001f, float initial_accumulator_value = 0.1f,
                   float epsilon = 1e-7f, float weight_decay = 0.f);
  float initial_accumulator_value, epsilon;

 protected:
  int num_slots() const override { return 1; }
  float slot_initial_value(int) const override { return initial_accumulator_value; }
  void update(std::vector<Tensor>& params, const std::vector<Tensor>& grads,
              std::vector<std::vector<Tensor>>& slots) override;
};

}  // namespace optim
}  // namespace lamina
