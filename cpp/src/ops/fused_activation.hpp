#pragma once
// Internal: the one place that decides which part of a Dense / Conv2D activation the GEMM epilogue
// runs (kernels/epilogue.hpp) and which runs after it as ops::activation, and the gradient of the
// fused part. ops::dense and ops::conv call these; the C++ and Python layers pass their activation
// to those ops and decide nothing themselves.
#include "kernels/epilogue.hpp"
#include "lamina/ops.hpp"
#include "op_util.hpp"

namespace lamina {
namespace ops {
namespace detail {

struct SplitActivation {
  kernels::EpilogueActivation fused;  // applied in the GEMM's tile writes
  Activation after;                   // applied to the result by ops::activation (Linear: nothing)
};

// relu is a max in registers; the others cost a transcendental per element (or a row reduction,
// softmax) and run as their own ops after the GEMM.
inline SplitActivation split_activation(Activation a) {
  if (a == Activation::Relu) return {kernels::EpilogueActivation::Relu, Activation::Linear};
  return {kernels::EpilogueActivation::None, a};
}

// gy * fused'(y) with y the epilogue's output: what reaches the GEMM's backward (gy itself when
// nothing was fused). Written over gy when the pass handed over its only handle (no new buffer
// the size of the layer's output in the backward).
inline Tensor fused_activation_grad(const Tensor& gy, const Tensor& y, kernels::EpilogueActivation fused) {
  if (fused == kernels::EpilogueActivation::None) return gy;
  Tensor g = sole_owner(gy) ? gy : Tensor::empty(gy.shape(), DType::Float32);
  kernels::epilogue_backward(fused, gy.data<float>(), y.data<float>(), g.data<float>(), g.numel());
  return g;
}

}  // namespace detail
}  // namespace ops
}  // namespace lamina
