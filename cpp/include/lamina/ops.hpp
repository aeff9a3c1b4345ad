#pragma once
// lamina::ops: every tensor operation. Names match lamina.ops in Python (Keras 3 names).
//
// Conventions:
// - Float ops compute in float32; int inputs are cast to float32 where an op needs a float.
// - Binary elementwise ops broadcast as NumPy does; an incompatible pair throws
//   std::invalid_argument naming the op and both shapes.
// - Axes may be negative (counted from the end); an axis out of range throws std::out_of_range.
// - Unsupported dtypes throw lamina::TypeError.
// - Every float32 op records its backward while recording is on (autograd.hpp).
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "lamina/autograd.hpp"
#include "lamina/tensor.hpp"

namespace lamina {
namespace ops {

// ---------------------------------------------------------------- creation (creation.cpp)
LAMINA_API Tensor zeros(const Shape& shape, DType dtype = DType::Float32);
LAMINA_API Tensor ones(const Shape& shape, DType dtype = DType::Float32);
// An integer fill that the dtype cannot hold (NaN, inf, out of range) throws std::invalid_argument.
LAMINA_API Tensor full(const Shape& shape, double value, DType dtype = DType::Float32);
// A 0-d tensor holding `value`.
LAMINA_API Tensor scalar(double value, DType dtype = DType::Float32);
// Copies numel(shape) elements of `dtype` from `data`.
LAMINA_API Tensor from_data(const void* data, const Shape& shape, DType dtype);
// [start, stop) in steps of `step`. Step 0, a NaN length or an infinite one throws
// std::invalid_argument (as NumPy).
LAMINA_API Tensor arange(double start, double stop, double step = 1.0, DType dtype = DType::Float32);
// Seeded random tensors. seed < 0 draws a seed from the global generator (runtime.hpp).
LAMINA_API Tensor random_uniform(const Shape& shape, double minval = 0.0, double maxval = 1.0,
                                 int64_t seed = -1);
LAMINA_API Tensor random_normal(const Shape& shape, double mean = 0.0, double stddev = 1.0,
                                int64_t seed = -1);
// Weight initializers (initializers.cpp), as Keras's, for the C++ and the Python layers alike.
// (fan_in, fan_out) of a weight shape: () -> (1, 1), (n) -> (n, n), (in, out), and for a
// convolution kernel (..., in, out) both times the product of the leading (spatial) dimensions.
LAMINA_API std::pair<int64_t, int64_t> compute_fans(const Shape& shape);
// Normal values; those more than two standard deviations from the mean are drawn again
// (keras.random.truncated_normal). seed as random_normal's.
LAMINA_API Tensor truncated_normal(const Shape& shape, double mean = 0.0, double stddev = 1.0, int64_t seed = -1);
// keras.initializers.VarianceScaling: variance scale / max(1, fan), fan by `mode` ("fan_in",
// "fan_out", "fan_avg"); `distribution` "truncated_normal" (or "normal"), "untruncated_normal" or
// "uniform" (in +-sqrt(3 * variance)). glorot_uniform = (1, "fan_avg", "uniform"), he_normal =
// (2, "fan_in", "truncated_normal"), ... Other values throw std::invalid_argument.
LAMINA_API Tensor variance_scaling(const Shape& shape, double scale, const std::string& mode,
                                   const std::string& distribution, int64_t seed = -1);
// Converts to another dtype (float -> int truncates toward zero, NaN, inf and out-of-range values
// give the integer's minimum as NumPy on x86-64; to bool: x != 0).
LAMINA_API Tensor cast(const Tensor& x, DType dtype);

// ---------------------------------------------------------------- elementwise (elementwise.cpp)
// Result dtype: float32 if either input is float32, else the wider int (bool with an int counts
// as int32); bool with bool stays bool (Keras): add is a logical or, multiply a logical and,
// subtract throws TypeError. Integers wrap around on overflow, as in NumPy. divide and power
// always return float32.
LAMINA_API Tensor add(const Tensor& a, const Tensor& b);
LAMINA_API Tensor subtract(const Tensor& a, const Tensor& b);
LAMINA_API Tensor multiply(const Tensor& a, const Tensor& b);
LAMINA_API Tensor divide(const Tensor& a, const Tensor& b);
LAMINA_API Tensor power(const Tensor& a, const Tensor& b);
LAMINA_API Tensor maximum(const Tensor& a, const Tensor& b);
LAMINA_API Tensor minimum(const Tensor& a, const Tensor& b);
// Comparisons return bool tensors (no gradient).
LAMINA_API Tensor equal(const Tensor& a, const Tensor& b);
LAMINA_API Tensor not_equal(const Tensor& a, const Tensor& b);
LAMINA_API Tensor less(const Tensor& a, const Tensor& b);
LAMINA_API Tensor less_equal(const Tensor& a, const Tensor& b);
LAMINA_API Tensor greater(const Tensor& a, const Tensor& b);
LAMINA_API Tensor greater_equal(const Tensor& a, const Tensor& b);
LAMINA_API Tensor logical_and(const Tensor& a, const Tensor& b);
LAMINA_API Tensor logical_or(const Tensor& a, const Tensor& b);
LAMINA_API Tensor logical_not(const Tensor& x);
// where(condition, x, y): x where condition is true, else y; all three broadcast together.
LAMINA_API Tensor where(const Tensor& condition, const Tensor& x, const Tensor& y);

// ---------------------------------------------------------------- unary ops and activations (unary.cpp)
// One function per LAMINA_UNARY row of lamina/unary_ops.def, which gives each one's formula,
// gradient and dtype rule: `Tensor name(const Tensor& x)`, or `Tensor name(const Tensor& x,
// type param = default)` for a row with a parameter (gelu's approximate, elu's alpha, leaky_relu's
// negative_slope). Float rows cast int and bool inputs to float32.
// clip(x, lo, hi): gradient 1 inside [lo, hi], 0 outside; lo > hi throws std::invalid_argument.
// Integer tensors keep their dtype (bounds beyond the type's range clamp to it).
LAMINA_API Tensor clip(const Tensor& x, double lo, double hi);
#define LAMINA_UNARY(name, dtypes, forward, derivative) LAMINA_API Tensor name(const Tensor& x);
#define LAMINA_UNARY_P(name, type, param, default_value, dtypes, forward, derivative) \
  LAMINA_API Tensor name(const Tensor& x, type param = default_value);
#include "lamina/unary_ops.def"

// softmax / log_softmax along `axis` (activation.cpp); float32 in and out.
LAMINA_API Tensor softmax(const Tensor& x, int64_t axis = -1);
LAMINA_API Tensor log_softmax(const Tensor& x, int64_t axis = -1);

// The activations of keras.activations by name (the LAMINA_ACTIVATION rows of unary_ops.def): the
// one list the C++ layers, the dense / conv ops and Python's keras.activations read.
enum class Activation {
#define LAMINA_ACTIVATION(id, name, call) id,
#include "lamina/unary_ops.def"
};
// "linear" or "" -> Linear, "swish" -> Silu; an unknown name throws std::invalid_argument
// ("Could not interpret activation function identifier: ...", as Keras).
LAMINA_API Activation activation_from_name(const std::string& name);
LAMINA_API const char* activation_name(Activation a);
// Every accepted name (aliases included), in a fixed order.
LAMINA_API std::vector<std::string> activation_names();
// keras.activations.<name>(x) with its defaults: gelu exact, elu alpha 1, leaky_relu slope 0.2,
// softmax on the last axis; Linear returns x itself.
LAMINA_API Tensor activation(const Tensor& x, Activation a);

// ---------------------------------------------------------------- reductions (reduction.cpp)
// `axes` empty = all axes. Repeated axes throw std::invalid_argument.
// sum of int tensors stays int (int64 for int64, int32 otherwise); mean returns float32.
LAMINA_API Tensor sum(const Tensor& x, const std::vector<int64_t>& axes = {}, bool keepdims = false);
LAMINA_API Tensor mean(const Tensor& x, const std::vector<int64_t>& axes = {}, bool keepdims = false);
// max/min: the gradient is shared equally among tied maxima. An empty reduction throws.
LAMINA_API Tensor max(const Tensor& x, const std::vector<int64_t>& axes = {}, bool keepdims = false);
LAMINA_API Tensor min(const Tensor& x, const std::vector<int64_t>& axes = {}, bool keepdims = false);
// Index (int32) of the first maximum / minimum along one axis. An empty axis throws.
LAMINA_API Tensor argmax(const Tensor& x, int64_t axis, bool keepdims = false);
LAMINA_API Tensor argmin(const Tensor& x, int64_t axis, bool keepdims = false);

// ---------------------------------------------------------------- linear algebra (linalg.cpp)
// NumPy matmul: 1-D operands are promoted (and the added axis removed), leading (batch) axes
// broadcast. (m, k) @ (k, n) runs one GEMM; small products stay single-threaded.
LAMINA_API Tensor matmul(const Tensor& a, const Tensor& b);

// ---------------------------------------------------------------- dense (dense.cpp)
// The Dense layer's op: activation(x (..., in) @ kernel (in, units) + bias (units,)), any activation
// of the list above. One GEMM with the bias (and relu) applied in its tile writes; an activation the
// GEMM epilogue does not run (all but relu) is applied after it as ops::activation. bias may be
// undefined.
LAMINA_API Tensor dense(const Tensor& x, const Tensor& kernel, const Tensor& bias = Tensor(),
                        Activation activation = Activation::Linear);

// ---------------------------------------------------------------- convolution and pooling (conv.cpp)
// 2-D convolution of NHWC images: x (N, H, W, C), kernel (KH, KW, C, F) (Keras's layout), optional
// bias (F,), strides and dilation (2 positive ints), padding "valid" or "same" (TensorFlow's rule:
// output ceil(H / stride), extra padding at the bottom/right), any activation (as dense: bias and
// relu in the convolution GEMM's tile writes, the others after). Returns (N, OH, OW, F). A window
// larger than a "valid" input throws std::invalid_argument.
LAMINA_API Tensor conv(const Tensor& x, const Tensor& kernel, const Tensor& bias = Tensor(),
                       const std::vector<int64_t>& strides = {1, 1}, const std::string& padding = "valid",
                       const std::vector<int64_t>& dilation = {1, 1}, Activation activation = Activation::Linear);
// 2-D pooling of NHWC images over pool_size windows moved by strides; "same" padding is ignored by
// the max and not counted by the average (as in Keras).
LAMINA_API Tensor max_pool(const Tensor& x, const std::vector<int64_t>& pool_size,
                           const std::vector<int64_t>& strides, const std::string& padding = "valid");
LAMINA_API Tensor average_pool(const Tensor& x, const std::vector<int64_t>& pool_size,
                               const std::vector<int64_t>& strides, const std::string& padding = "valid");

// ---------------------------------------------------------------- normalisation (normalization.cpp)
// Keras's ops.batch_normalization: normalises x along `axis` (negative counts from the end) with
// given statistics, y = (x - mean) * scale / sqrt(variance + epsilon) + offset, each of mean,
// variance, offset, scale a vector of length x.shape[axis] broadcast along that axis; offset and
// scale may be undefined (0 and 1). Gradients flow to all five. Throws std::invalid_argument for
// vectors of another shape or a non-positive epsilon, std::out_of_range for a bad axis.
LAMINA_API Tensor batch_normalization(const Tensor& x, const Tensor& mean, const Tensor& variance, int64_t axis,
                                      const Tensor& offset = Tensor(), const Tensor& scale = Tensor(),
                                      double epsilon = 1e-3);
// The BatchNormalization layer's computation, for the C++ and the Python layer alike. With
// training = true: the batch's mean and biased variance over every axis but `axis`, gradients to x,
// gamma and beta through them, and the moving statistics updated in place (copy-on-write: tensors
// that share their storage keep the old values) as Keras does,
//   moving = moving * momentum + batch * (1 - momentum);
// an empty batch throws. With training = false: batch_normalization(x, moving_mean,
// moving_variance, axis, beta, gamma, epsilon). gamma / beta may be undefined (1 / 0); the four
// vectors have x.shape[axis] entries.
LAMINA_API Tensor batch_norm(const Tensor& x, const Tensor& gamma, const Tensor& beta, const Tensor& moving_mean,
                             const Tensor& moving_variance, int64_t axis = -1, double momentum = 0.99,
                             double epsilon = 1e-3, bool training = false);

// Keras's ops.layer_normalization: each sample normalised over `axis` (one or more axes, negative
// counting from the end), y = (x - mean) / sqrt(variance + epsilon) * gamma + beta with the mean and
// biased variance over those axes; gamma / beta (the shape of x at the axes, in axis order) may be
// undefined (1 / 0). Gradients to x, gamma and beta. Bad axes throw std::out_of_range (repeated:
// std::invalid_argument), other shapes or a non-positive epsilon std::invalid_argument.
LAMINA_API Tensor layer_normalization(const Tensor& x, const Tensor& gamma = Tensor(), const Tensor& beta = Tensor(),
                                      const std::vector<int64_t>& axis = {-1}, double epsilon = 1e-7);

// ---------------------------------------------------------------- shape (shape.cpp)
// reshape: one dimension may be -1 (inferred).
LAMINA_API Tensor reshape(const Tensor& x, const Shape& shape);
// transpose: `perm` empty reverses the axes.
LAMINA_API Tensor transpose(const Tensor& x, const std::vector<int64_t>& perm = {});
LAMINA_API Tensor broadcast_to(const Tensor& x, const Shape& shape);
LAMINA_API Tensor concatenate(const std::vector<Tensor>& xs, int64_t axis = 0);
// Basic strided slicing on every axis: start/stop/step per axis, already normalised by the caller
// to 0 <= start, stop <= dim for step > 0 (NumPy's rules for negative steps: -1 <= stop < dim).
// The result keeps every axis (size max(0, ceil((stop - start) / step))).
LAMINA_API Tensor slice(const Tensor& x, const std::vector<int64_t>& start,
                        const std::vector<int64_t>& stop, const std::vector<int64_t>& step);
// take(x, indices, axis): x's entries at integer `indices` (int32/int64, negatives count from the
// end) along `axis`; out of range throws std::out_of_range. Gradient scatters back (adds repeats).
LAMINA_API Tensor take(const Tensor& x, const Tensor& indices, int64_t axis);

// Sums `x` down to `shape` (the reverse of broadcasting): used by backward passes.
LAMINA_API Tensor sum_to(const Tensor& x, const Shape& shape);
// The shape two shapes broadcast to; incompatible shapes throw std::invalid_argument naming `op`.
LAMINA_API Shape broadcast_shapes(const Shape& a, const Shape& b, const char* op);

// ---------------------------------------------------------------- losses (loss.cpp)
// Sparse categorical cross-entropy from logits (softmax and cross-entropy fused), Keras's
// sparse_categorical_crossentropy with from_logits=True: logits (..., C) float32, labels (...)
// int32/int64 in [0, C) (else std::out_of_range). Returns the per-sample loss, shape (...).
// Backward: (softmax(logits) - onehot(labels)) * grad.
LAMINA_API Tensor sparse_categorical_crossentropy(const Tensor& logits, const Tensor& labels);

}  // namespace ops

// Operators on tensors (same as the ops above).
LAMINA_API Tensor operator+(const Tensor& a, const Tensor& b);
LAMINA_API Tensor operator-(const Tensor& a, const Tensor& b);
LAMINA_API Tensor operator*(const Tensor& a, const Tensor& b);
LAMINA_API Tensor operator/(const Tensor& a, const Tensor& b);
LAMINA_API Tensor operator-(const Tensor& x);

}  // namespace lamina
