// The lamina._core extension module. Bindings only convert arguments, attach docstrings and
// release the GIL; all logic lives in liblamina.
#include "bindings.hpp"
#include "lamina/error.hpp"

PYBIND11_MODULE(_core, m) {
  m.doc() = "lamina's compiled core (liblamina): tensors, ops, autodiff";
  pybind11::register_exception<lamina::TypeError>(m, "TypeError", PyExc_TypeError);
  lamina::bindings::init_tensor(m);
  lamina::bindings::init_autograd(m);
  lamina::bindings::init_ops(m);
  lamina::bindings::init_optim(m);
}
