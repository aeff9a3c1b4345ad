// The Dense op: one GEMM with the bias and the fusable part of the activation applied in its tile
// writes (fused_activation.hpp decides which part), the rest by ops::activation after it.
#include "fused_activation.hpp"
#include "kernels/gemm.hpp"
#include "op_util.hpp"

namespace lamina {
namespace ops {
using namespace detail;

Tensor dense(const Tensor& x, const Tensor& kernel, const Tensor& bias, Activation activation) {
  const char* op = "dense";
  require_float(x, op);
  require_float(kernel, op);
  if (x.dim() < 1 || kernel.dim() != 2 || x.shape().back() != kernel.shape()[0])
    throw std::invalid_argument(tag(op) + "expected inputs (..., " +
                                (kernel.dim() == 2 ? std::to_string(kernel.shape()[0]) : std::string("in")) +
                                ") and a kernel (in, units), got shapes " + shape_str(x.shape()) + " and " +
                                shape_str(kernel.shape()));
  // rows = product of the leading axes (not numel / in, which is 0 / 0 when in == 0: the output
  // then still has rows, each equal to the bias)
  const int64_t in = kernel.shape()[0], units = kernel.shape()[1];
  const int64_t rows = shape_numel(Shape(x.shape().begin(), x.shape().end() - 1));
  if (bias.defined()) {
    require_float(bias, op);
    if (bias.dim() != 1 || bias.shape()[0] != units)
      throw std::invalid_argument(tag(op) + "expected a bias of shape (" + std::to_string(units) + ",), got " +
                                  shape_str(bias.shape()));
  }
  const SplitActivation act = split_activation(activation);
  Shape out_shape = x.shape();
  out_shape.back() = units;
  Tensor y = Tensor::empty(out_shape, DType::Float32);
  kernels::gemm(false, false, rows, units, in, x.data<float>(), kernel.data<float>(), y.data<float>(), 0.f, true,
                {bias.defined() ? bias.data<float>() : nullptr, act.fused});
  if (recording({&x, &kernel, &bias})) {
    Tensor yd = act.fused == kernels::EpilogueActivation::None ? Tensor() : y.detach();
    // g' = g * fused'(y); dx = g' K^T; dK = x^T g'; dbias = sum over rows of g'
    record(y, op, {x, kernel, bias}, [=](const Tensor& g_in, const std::vector<bool>& need) {
      const Tensor g = fused_activation_grad(g_in, yd, act.fused);
      Tensor dx, dk, db;
      if (need[0]) {
        dx = Tensor::empty(x.shape(), DType::Float32);
        kernels::gemm(false, true, rows, in, units, g.data<float>(), kernel.data<float>(), dx.data<float>());
      }
      if (need[1]) {
        dk = Tensor::empty(kernel.shape(), DType::Float32);
        kernels::gemm(true, false, in, units, rows, x.data<float>(), g.data<float>(), dk.data<float>());
      }
      if (need[2]) db = sum(g.view({rows, units}), {0});
      return std::vector<Tensor>{dx, dk, db};
    });
  }
  return ops::activation(y, act.after);
}

}  // namespace ops
}  // namespace lamina
