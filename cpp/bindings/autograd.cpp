// Bindings for autograd.hpp.
#include <memory>
#include <optional>

#include "bindings.hpp"
#include "lamina/autograd.hpp"

namespace py = pybind11;

namespace lamina {
namespace bindings {
namespace {

// A Python context manager around a C++ RAII scope.
template <class Scope>
struct PyScope {
  std::unique_ptr<Scope> scope;
  void enter() { scope = std::make_unique<Scope>(); }
  void exit(py::args) { scope.reset(); }
};

}  // namespace

void init_autograd(py::module_& m) {
  using Rec = PyScope<GradRecording>;
  py::class_<Rec>(m, "GradRecording", "Records ops for autodiff while entered (this thread).")
      .def(py::init<>())
      .def("__enter__", &Rec::enter)
      .def("__exit__", &Rec::exit);
  using NG = PyScope<NoGrad>;
  py::class_<NG>(m, "NoGrad", "Stops recording while entered (this thread).")
      .def(py::init<>())
      .def("__enter__", &NG::enter)
      .def("__exit__", &NG::exit);
  m.def("is_recording", &is_recording);
  m.def("backward", [](const Tensor& output, std::optional<Tensor> g) {
        py::gil_scoped_release release;
        backward(output, g ? *g : Tensor());
      }, py::arg("output"), py::arg("grad_output") = py::none());
  m.def("release_graph", &release_graph, py::arg("output"), py::call_guard<py::gil_scoped_release>());
  m.def("gradients", [](const Tensor& output, const std::vector<Tensor>& wrt, std::optional<Tensor> g,
                        bool release) {
        std::vector<Tensor> r;
        {
          py::gil_scoped_release no_gil;
          r = gradients(output, wrt, g ? *g : Tensor(), release);
        }
        py::list out;
        for (const Tensor& t : r) out.append(t.defined() ? py::cast(t) : py::none());
        return out;
      }, py::arg("output"), py::arg("wrt"), py::arg("grad_output") = py::none(), py::arg("release") = false);
}

}  // namespace bindings
}  // namespace lamina
