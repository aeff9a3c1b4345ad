#pragma once
// pybind11 glue shared by the binding files: one init function per header area.
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

namespace lamina {
namespace bindings {

void init_tensor(pybind11::module_& m);
void init_autograd(pybind11::module_& m);
void init_ops(pybind11::module_& m);
void init_optim(pybind11::module_& m);

}  // namespace bindings
}  // namespace lamina
