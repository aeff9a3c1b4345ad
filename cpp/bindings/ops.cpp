// Bindings for ops.hpp: one line per op, GIL released while it computes.
#include <optional>
#include <tuple>

#include "bindings.hpp"
#include "lamina/ops.hpp"

namespace py = pybind11;

namespace lamina {
namespace bindings {

void init_ops(py::module_& m) {
  using namespace ops;
  const auto nogil = py::call_guard<py::gil_scoped_release>();
  auto dt = [](const std::string& name) { return dtype_from_name(name); };

  // creation
  m.def("zeros", [dt](const Shape& s, const std::string& d) { return zeros(s, dt(d)); }, py::arg("shape"), py::arg("dtype") = "float32");
  m.def("ones", [dt](const Shape& s, const std::string& d) { return ones(s, dt(d)); }, py::arg("shape"), py::arg("dtype") = "float32");
  m.def("full", [dt](const Shape& s, double v, const std::string& d) { return full(s, v, dt(d)); }, py::arg("shape"), py::arg("value"), py::arg("dtype") = "float32");
  m.def("scalar", [dt](double v, const std::string& d) { return scalar(v, dt(d)); }, py::arg("value"), py::arg("dtype") = "float32");
  m.def("arange", [dt](double a, double b, double s, const std::string& d) { return arange(a, b, s, dt(d)); });
  m.def("random_uniform", &random_uniform, py::arg("shape"), py::arg("minval") = 0.0, py::arg("maxval") = 1.0, py::arg("seed") = -1, nogil);
  m.def("random_normal", &random_normal, py::arg("shape"), py::arg("mean") = 0.0, py::arg("stddev") = 1.0, py::arg("seed") = -1, nogil);
  m.def("cast", [dt](const Tensor& x, const std::string& d) { DType t = dt(d); py::gil_scoped_release r; return cast(x, t); });

  // elementwise
  m.def("add", &add, nogil);
  m.def("subtract", &subtract, nogil);
  m.def("multiply", &multiply, nogil);
  m.def("divide", &divide, nogil);
  m.def("power", &power, nogil);
  m.def("maximum", &maximum, nogil);
  m.def("minimum", &minimum, nogil);
  m.def("equal", &equal, nogil);
  m.def("not_equal", &not_equal, nogil);
  m.def("less", &less, nogil);
  m.def("less_equal", &less_equal, nogil);
  m.def("greater", &greater, nogil);
  m.def("greater_equal", &greater_equal, nogil);
  m.def("logical_and", &logical_and, nogil);
  m.def("logical_or", &logical_or, nogil);
  m.def("logical_not", &logical_not, nogil);
  m.def("where", &where, nogil);
  m.def("negative", &negative, nogil);
  m.def("abs", &ops::abs, nogil);
  m.def("square", &square, nogil);
  m.def("sign", &sign, nogil);
  m.def("exp", &ops::exp, nogil);
  m.def("log", &ops::log, nogil);
  m.def("sqrt", &ops::sqrt, nogil);
  m.def("clip", &clip, nogil);

  // activations
  m.def("relu", &relu, nogil);
  m.def("sigmoid", &sigmoid, nogil);
  m.def("tanh", &ops::tanh, nogil);
  m.def("silu", &silu, nogil);
  m.def("gelu", &gelu, nogil);
  m.def("elu", &elu, nogil);
  m.def("selu", &selu, nogil);
  m.def("leaky_relu", &leaky_relu, nogil);
  m.def("softplus", &softplus, nogil);
  m.def("softmax", &softmax, nogil);
  m.def("log_softmax", &log_softmax, nogil);

  // reductions
  m.def("sum", &sum, nogil);
  m.def("mean", &mean, nogil);
  m.def("max", &ops::max, nogil);
  m.def("min", &ops::min, nogil);
  m.def("argmax", &argmax, nogil);
  m.def("argmin", &argmin, nogil);

  // dense, convolution and pooling (the activation by its keras.activations name)
  m.def("dense", [](const Tensor& x, const Tensor& k, std::optional<Tensor> b, const std::string& a) {
          return dense(x, k, b ? *b : Tensor(), activation_from_name(a));
        }, py::arg("x"), py::arg("kernel"), py::arg("bias") = py::none(), py::arg("activation") = "linear", nogil);
  m.def("conv", [](const Tensor& x, const Tensor& k, std::optional<Tensor> b, const std::vector<int64_t>& s,
                   const std::string& p, const std::vector<int64_t>& d, const std::string& a) {
          return conv(x, k, b ? *b : Tensor(), s, p, d, activation_from_name(a));
        }, py::arg("x"), py::arg("kernel"), py::arg("bias") = py::none(), py::arg("strides") = std::vector<int64_t>{1, 1},
        py::arg("padding") = "valid", py::arg("dilation") = std::vector<int64_t>{1, 1},
        py::arg("activation") = "linear", nogil);
  m.def("max_pool", &max_pool, nogil);
  m.def("average_pool", &average_pool, nogil);

  // normalisation: returns (y, batch_mean, batch_variance)
  m.def("batch_norm", [](const Tensor& x, std::optional<Tensor> gamma, std::optional<Tensor> beta, double eps) {
          Tensor mean, var;
          Tensor y = batch_norm(x, gamma ? *gamma : Tensor(), beta ? *beta : Tensor(), eps, &mean, &var);
          return std::make_tuple(y, mean, var);
        }, py::arg("x"), py::arg("gamma"), py::arg("beta"), py::arg("epsilon"), nogil);

  // linear algebra and shapes
  m.def("matmul", &matmul, nogil);
  m.def("reshape", &reshape, nogil);
  m.def("transpose", &transpose, nogil);
  m.def("broadcast_to", &broadcast_to, nogil);
  m.def("concatenate", &concatenate, nogil);
  m.def("slice", &slice, nogil);
  m.def("take", &take, nogil);
  m.def("sum_to", &sum_to, nogil);

  // losses
  m.def("sparse_softmax_cross_entropy", &sparse_softmax_cross_entropy, nogil);
}

}  // namespace bindings
}  // namespace lamina
