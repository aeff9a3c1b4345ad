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

LAMINA_API Tensor negative(const Tensor& x);
LAMINA_API Tensor abs(const Tensor& x);
LAMINA_API Tensor square(const Tensor& x);
LAMINA_API Tensor sign(const Tensor& x);
// Float results (int inputs are cast to float32):
LAMINA_API Tensor exp(const Tensor& x);
LAMINA_API Tensor log(const Tensor& x);
LAMINA_API Tensor sqrt(const Tensor& x);
// clip(x, lo, hi): gradient 1 inside [lo, hi], 0 outside.
LAMINA_API Tensor clip(const Tensor& x, double lo, double hi);

// ---------------------------------------------------------------- activations (activation.cpp)
// All take and return float32.
LAMINA_API Tensor relu(const Tensor& x);
LAMINA_API Tensor sigmoid(const Tensor& x);
LAMINA_API Tensor tanh(const Tensor& x);
LAMINA_API Tensor silu(const Tensor& x);
// approximate=true: the tanh form (Keras's default); false: the exact erf form.
LAMINA_API Tensor gelu(const Tensor& x, bool approximate = true);
LAMINA_API Tensor elu(const Tensor& x, double alpha = 1.0);
LAMINA_API Tensor selu(const Tensor& x);
LAMINA_API Tensor leaky_relu(const Tensor& x, double negative_slope = 0.2);
LAMINA_API Tensor softplus(const Tensor& x);
LAMINA_API Tensor softmax(const Tensor& x, int64_t axis = -1);
LAMINA_API Tensor log_softmax(const Tensor& x, int64_t axis = -1);

// The activations of keras.activations by name: the one list the C++ layers, the dense / conv
// ops and Python's keras.activations read.
enum class Activation { Linear, Relu, Sigmoid, Tanh, Softmax, Gelu, Elu, Selu, Silu, Softplus, LeakyRelu };
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
// Batch normalisation over the last axis (channels-last): statistics over every other axis,
// y = gamma (x - mean) / sqrt(var + epsilon) + beta with the batch's mean and biased variance.
// gamma / beta (C,) may be undefined (1 / 0). The batch statistics are written to batch_mean /
// batch_variance when given (no gradient flows through them). An empty batch throws.
LAMINA_API Tensor batch_norm(const Tensor& x, const Tensor& gamma, const Tensor& beta, double epsilon,
                             Tensor* batch_mean = nullptr, Tensor* batch_variance = nullptr);

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
// Fused softmax cross-entropy with integer class labels: logits (..., C) float32, labels (...)
// int32/int64 in [0, C) (else std::out_of_range). Returns the per-sample loss, shape (...).
// Backward: (softmax(logits) - onehot(labels)) * grad.
LAMINA_API Tensor sparse_softmax_cross_entropy(const Tensor& logits, const Tensor& labels);

}  // namespace ops

// Operators on tensors (same as the ops above).
LAMINA_API Tensor operator+(const Tensor& a, const Tensor& b);
LAMINA_API Tensor operator-(const Tensor& a, const Tensor& b);
LAMINA_API Tensor operator*(const Tensor& a, const Tensor& b);
LAMINA_API Tensor operator/(const Tensor& a, const Tensor& b);
LAMINA_API Tensor operator-(const Tensor& x);

}  // namespace lamina
