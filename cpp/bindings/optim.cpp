// Bindings for optim.hpp: the fused updates and clipping helpers over lists of tensors, GIL released.
// The clip is passed as (kind, threshold) with kind "none", "value", "norm" or "global_norm".
#include <stdexcept>
#include <string>

#include "bindings.hpp"
#include "lamina/optim.hpp"

namespace py = pybind11;

namespace lamina {
namespace bindings {
namespace {

using optim::GradClip;
using TL = std::vector<Tensor>;

GradClip to_clip(const std::string& kind, float threshold) {
  if (kind == "none") return GradClip::none();
  if (kind == "value") return GradClip::by_value(threshold);
  if (kind == "norm") return GradClip::by_norm(threshold);
  if (kind == "global_norm") return GradClip::by_global_norm(threshold);
  throw std::invalid_argument("unknown clip kind '" + kind + "' (none, value, norm, global_norm)");
}

}  // namespace

void init_optim(py::module_& m) {
  m.def("sgd_update",
        [](TL& params, const TL& grads, TL& momenta, float lr, float momentum, bool nesterov, float wd,
           const std::string& clip, float threshold) {
          GradClip c = to_clip(clip, threshold);
          py::gil_scoped_release release;
          optim::sgd_update(params, grads, momenta, lr, momentum, nesterov, wd, c);
        },
        py::arg("params"), py::arg("grads"), py::arg("momenta"), py::arg("lr"), py::arg("momentum") = 0.f,
        py::arg("nesterov") = false, py::arg("weight_decay") = 0.f, py::arg("clip") = "none",
        py::arg("clip_threshold") = 0.f, "Fused in-place SGD update of every param (Keras formulas).");
  m.def("adam_update",
        [](TL& params, const TL& grads, TL& mm, TL& v, TL& vhat, float lr, float b1, float b2, float eps,
           int64_t step, float wd, bool amsgrad, const std::string& clip, float threshold) {
          GradClip c = to_clip(clip, threshold);
          py::gil_scoped_release release;
          optim::adam_update(params, grads, mm, v, vhat, lr, b1, b2, eps, step, wd, amsgrad, c);
        },
        py::arg("params"), py::arg("grads"), py::arg("m"), py::arg("v"), py::arg("vhat_max"), py::arg("lr"),
        py::arg("beta1") = 0.9f, py::arg("beta2") = 0.999f, py::arg("eps") = 1e-7f, py::arg("step") = 1,
        py::arg("weight_decay") = 0.f, py::arg("amsgrad") = false, py::arg("clip") = "none",
        py::arg("clip_threshold") = 0.f, "Fused in-place Adam/AdamW update of every param (Keras formulas).");
  m.def("rmsprop_update",
        [](TL& params, const TL& grads, TL& vel, TL& mom, TL& avg, float lr, float rho, float momentum,
           float eps, bool centered, float wd, const std::string& clip, float threshold) {
          GradClip c = to_clip(clip, threshold);
          py::gil_scoped_release release;
          optim::rmsprop_update(params, grads, vel, mom, avg, lr, rho, momentum, eps, centered, wd, c);
        },
        py::arg("params"), py::arg("grads"), py::arg("velocities"), py::arg("momenta"),
        py::arg("average_grads"), py::arg("lr"), py::arg("rho") = 0.9f, py::arg("momentum") = 0.f,
        py::arg("eps") = 1e-7f, py::arg("centered") = false, py::arg("weight_decay") = 0.f,
        py::arg("clip") = "none", py::arg("clip_threshold") = 0.f,
        "Fused in-place RMSprop update of every param (Keras formulas).");
  m.def("adagrad_update",
        [](TL& params, const TL& grads, TL& acc, float lr, float eps, float wd, const std::string& clip,
           float threshold) {
          GradClip c = to_clip(clip, threshold);
          py::gil_scoped_release release;
          optim::adagrad_update(params, grads, acc, lr, eps, wd, c);
        },
        py::arg("params"), py::arg("grads"), py::arg("accumulators"), py::arg("lr"), py::arg("eps") = 1e-7f,
        py::arg("weight_decay") = 0.f, py::arg("clip") = "none", py::arg("clip_threshold") = 0.f,
        "Fused in-place Adagrad update of every param (Keras formulas).");

  const auto nogil = py::call_guard<py::gil_scoped_release>();
  m.def("clip_by_value", &optim::clip_by_value, py::arg("grads"), py::arg("clip_value"), nogil);
  m.def("global_norm", &optim::global_norm, py::arg("grads"), nogil);
  m.def("clip_by_norm", py::overload_cast<const TL&, float>(&optim::clip_by_norm), py::arg("grads"),
        py::arg("clip_norm"), nogil);
  m.def("clip_by_global_norm", &optim::clip_by_global_norm, py::arg("grads"), py::arg("clip_norm"), nogil);
}

}  // namespace bindings
}  // namespace lamina
