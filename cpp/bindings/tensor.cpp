// Bindings for tensor.hpp and runtime.hpp.
#include <pybind11/numpy.h>

#include "bindings.hpp"
#include "lamina/ops.hpp"
#include "lamina/runtime.hpp"
#include "lamina/tensor.hpp"

namespace py = pybind11;

namespace lamina {
namespace bindings {
namespace {

py::dtype numpy_dtype(DType dt) {
  switch (dt) {
    case DType::Float32: return py::dtype::of<float>();
    case DType::Int32: return py::dtype::of<int32_t>();
    case DType::Int64: return py::dtype::of<int64_t>();
    case DType::Bool: return py::dtype::of<bool>();
  }
  return py::dtype::of<float>();
}

// A read-only NumPy view of the tensor's storage; the array keeps the storage alive.
py::array as_numpy(const Tensor& t) {
  auto* owner = new std::shared_ptr<Storage>(t.storage());
  py::capsule base(owner, [](void* p) { delete static_cast<std::shared_ptr<Storage>*>(p); });
  std::vector<py::ssize_t> shape(t.shape().begin(), t.shape().end());
  std::vector<py::ssize_t> strides(shape.size());
  py::ssize_t acc = static_cast<py::ssize_t>(dtype_size(t.dtype()));
  for (int64_t d = static_cast<int64_t>(shape.size()) - 1; d >= 0; --d) {
    strides[d] = acc;
    acc *= shape[d];
  }
  py::array a(numpy_dtype(t.dtype()), shape, strides, t.raw_data(), base);
  py::detail::array_proxy(a.ptr())->flags &= ~py::detail::npy_api::NPY_ARRAY_WRITEABLE_;
  return a;
}

template <class T>
Tensor from_numpy(py::array_t<T, py::array::c_style | py::array::forcecast> a, DType dt) {
  Shape shape(a.shape(), a.shape() + a.ndim());
  const void* data = a.data();
  py::gil_scoped_release release;
  return ops::from_data(data, shape, dt);
}

}  // namespace

void init_tensor(py::module_& m) {
  py::class_<Tensor>(m, "Tensor", "An n-dimensional array in lamina's compiled core.")
      .def_property_readonly("shape", [](const Tensor& t) {
        py::tuple s(t.dim());
        for (int64_t i = 0; i < t.dim(); ++i) s[i] = t.shape()[i];
        return s;
      }, "The shape, as a tuple of ints.")
      .def_property_readonly("dtype", [](const Tensor& t) { return dtype_name(t.dtype()); },
                             "The dtype name: 'float32', 'int32', 'int64' or 'bool'.")
      .def_property_readonly("ndim", &Tensor::dim)
      .def_property_readonly("size", &Tensor::numel)
      .def_property_readonly("_id", [](const Tensor& t) { return reinterpret_cast<uintptr_t>(t.id()); })
      .def_property_readonly("_is_leaf", &Tensor::is_leaf)
      .def_property_readonly("_requires_grad", &Tensor::requires_grad)
      .def("_set_requires_grad", &Tensor::set_requires_grad)
      .def_property_readonly("_grad", [](const Tensor& t) -> py::object {
        Tensor g = t.grad();
        return g.defined() ? py::cast(g) : py::none();
      })
      .def("_set_grad", [](Tensor& t, py::object g) {
        t.set_grad(g.is_none() ? Tensor() : g.cast<Tensor>());
      })
      .def("_assign", &Tensor::assign, py::call_guard<py::gil_scoped_release>())
      .def("_unshare", &Tensor::unshare, py::call_guard<py::gil_scoped_release>())
      .def("_detach", &Tensor::detach)
      .def("_clone", &Tensor::clone, py::call_guard<py::gil_scoped_release>())
      .def("_item", &Tensor::item)
      .def("_numpy_view", &as_numpy, "A read-only NumPy view sharing this tensor's memory.");

  m.def("from_numpy_float32", [](py::array_t<float, py::array::c_style | py::array::forcecast> a) {
    return from_numpy<float>(a, DType::Float32);
  });
  m.def("from_numpy_int32", [](py::array_t<int32_t, py::array::c_style | py::array::forcecast> a) {
    return from_numpy<int32_t>(a, DType::Int32);
  });
  m.def("from_numpy_int64", [](py::array_t<int64_t, py::array::c_style | py::array::forcecast> a) {
    return from_numpy<int64_t>(a, DType::Int64);
  });
  m.def("from_numpy_bool", [](py::array_t<bool, py::array::c_style | py::array::forcecast> a) {
    return from_numpy<bool>(a, DType::Bool);
  });

  m.def("set_num_threads", &set_num_threads, py::arg("n"));
  m.def("get_num_threads", &get_num_threads);
  m.def("set_random_seed", &set_random_seed, py::arg("seed"));
  m.def("unique_name", &unique_name, py::arg("prefix"));
  m.def("reset_unique_names", &reset_unique_names);
  m.def("empty_cache", &empty_cache);
  m.def("cached_bytes", &cached_bytes);
  m.def("allocated_bytes", &allocated_bytes);
}

}  // namespace bindings
}  // namespace lamina
