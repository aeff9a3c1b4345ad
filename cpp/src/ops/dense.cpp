// The fused Dense op: one GEMM with the bias and a relu applied while the output is in cache.
#include "kernels/elementwise.hpp"
#include "kernels/gemm.hpp"
#include "op_util.hpp"
#include "parallel.hpp"

namespace lamina {
namespace ops {
using namespace detail;

Tensor dense(const Tensor& x, const Tensor& kernel, const Tensor& bias, const std::string& activation) {
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
  if (activation != "linear" && activation != "relu")
    throw std::invalid_argument(tag(op) + "fused activation must be \"linear\" or \"relu\", got \"" + activation + "\"");
  const bool relu = activation == "relu";
  Shape out_shape = x.shape();
  out_shape.back() = units;
  Tensor y = Tensor::empty(out_shape, DType::Float32);
  float* yp = y.data<float>();
  kernels::gemm(false, false, rows, units, in, x.data<float>(), kernel.data<float>(), yp);
  if (bias.defined() || relu) {
    const float* bp = bias.defined() ? bias.data<float>() : nullptr;
    const int nt = threads_for(rows * units);
#pragma omp parallel for num_threads(nt) schedule(static) if (nt > 1)
    for (int64_t r = 0; r < rows; ++r) {
      float* row = yp + r * units;
      if (bp) for (int64_t j = 0; j < units; ++j) row[j] += bp[j];
      if (relu) for (int64_t j = 0; j < units; ++j) row[j] = kernels::relu_nan(row[j]);
    }
  }
  if (recording({&x, &kernel, &bias})) {
    Tensor yd = y.detach();
    // g' = g * (y > 0 or NaN) for relu; dx = g' K^T; dK = x^T g'; dbias = sum over rows of g'
    record(y, op, {x, kernel, bias}, [=](const Tensor& g_in, const std::vector<bool>& need) {
      Tensor g = g_in;
      if (relu) {
        g = Tensor::empty(g_in.shape(), DType::Float32);
        kernels::map2(g_in.data<float>(), yd.data<float>(), g.data<float>(), g.numel(),
                      [](float gv, float v) { return kernels::relu_grad(gv, v); });
      }
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
  return y;
}

}  // namespace ops
}  // namespace lamina
