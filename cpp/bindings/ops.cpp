// Bindings for ops.hpp: one line per op (the unary ops: one per table row), GIL released while it
// computes.
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
  m.def("truncated_normal", &truncated_normal, py::arg("shape"), py::arg("mean") = 0.0, py::arg("stddev") = 1.0, py::arg("seed") = -1, nogil);
  m.def("variance_scaling", &variance_scaling, py::arg("shape"), py::arg("scale"), py::arg("mode"), py::arg("distribution"), py::arg("seed") = -1, nogil);
  m.def("compute_fans", &compute_fans, py::arg("shape"));
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
  m.def("clip", &clip, nogil);

  // unary ops and activations: one per row of lamina/unary_ops.def, and `unary_ops`, the list of
  // (name, ((param, default),)) that lamina.ops exports them from
  py::list unary_ops;
#define LAMINA_UNARY(name, dtypes, forward, derivative)   \
  m.def(#name, &ops::name, py::arg("x"), nogil); \
  unary_ops.append(py::make_tuple(#name, py::tuple()));
#define LAMINA_UNARY_P(name, type, param, default_value, dtypes, forward, derivative)     \
  m.def(#name, &ops::name, py::arg("x"), py::arg(#param) = default_value, nogil);         \
  unary_ops.append(py::make_tuple(#name, py::make_tuple(py::make_tuple(#param, default_value))));
#include "lamina/unary_ops.def"
  m.attr("unary_ops") = unary_ops;
  m.def("softmax", &softmax, nogil);
  m.def("log_softmax", &log_softmax, nogil);
  // keras.activations by name (Activation): the names in order, and activation(x, name)
  m.def("activation_names", &activation_names);
  m.def("activation", [](const Tensor& x, const std::string& name) {
          Activation a = activation_from_name(name);
          py::gil_scoped_release release;
          return activation(x, a);
        }, py::arg("x"), py::arg("name"));

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

  // normalisation (None: an undefined tensor, no offset / scale / gamma / beta)
  m.def("batch_normalization", [](const Tensor& x, const Tensor& mean, const Tensor& variance, int64_t axis,
                                  std::optional<Tensor> offset, std::optional<Tensor> scale, double epsilon) {
          return batch_normalization(x, mean, variance, axis, offset.value_or(Tensor()), scale.value_or(Tensor()),
                                     epsilon);
        }, py::arg("x"), py::arg("mean"), py::arg("variance"), py::arg("axis"), py::arg("offset") = py::none(),
        py::arg("scale") = py::none(), py::arg("epsilon") = 1e-3, nogil);
  m.def("batch_norm", [](const Tensor& x, std::optional<Tensor> gamma, std::optional<Tensor> beta, const Tensor& mm,
                         const Tensor& mv, int64_t axis, double momentum, double epsilon, bool training) {
          return batch_norm(x, gamma.value_or(Tensor()), beta.value_or(Tensor()), mm, mv, axis, momentum, epsilon,
                            training);
        }, py::arg("x"), py::arg("gamma"), py::arg("beta"), py::arg("moving_mean"), py::arg("moving_variance"),
        py::arg("axis") = -1, py::arg("momentum") = 0.99, py::arg("epsilon") = 1e-3, py::arg("training") = false,
        nogil);

  m.def("layer_normalization", [](const Tensor& x, std::optional<Tensor> gamma, std::optional<Tensor> beta,
                                  const std::vector<int64_t>& axis, double epsilon) {
          return layer_normalization(x, gamma.value_or(Tensor()), beta.value_or(Tensor()), axis, epsilon);
        }, py::arg("x"), py::arg("gamma") = py::none(), py::arg("beta") = py::none(),
        py::arg("axis") = std::vector<int64_t>{-1}, py::arg("epsilon") = 1e-7, nogil);

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
  m.def("sparse_categorical_crossentropy", &sparse_categorical_crossentropy, nogil);
}

}  // namespace bindings
}  // namespace lamina
