#pragma once
// Internal helpers shared by the ops: argument checks with messages that name the op, dtype rules.
#include <string>
#include <vector>

#include "lamina/ops.hpp"

namespace lamina {
namespace ops {
namespace detail {

inline std::string tag(const char* op) { return std::string("[") + op + "] "; }

// Axis in [-rank, rank) -> [0, rank); otherwise std::out_of_range naming the op and the shape.
inline int64_t norm_axis(int64_t axis, int64_t rank, const char* op, const Shape& shape) {
  if (axis < -rank || axis >= rank)
    throw std::out_of_range(tag(op) + "axis " + std::to_string(axis) +
                            " is out of bounds for a tensor of shape " + shape_str(shape));
  return axis < 0 ? axis + rank : axis;
}

// True when `t` is the only handle to its values (no other tensor, view or NumPy array shares its
// storage): a backward may then overwrite the gradient it was handed (see BackwardFn).
inline bool sole_owner(const Tensor& t) { return t.impl().use_count() == 1 && t.storage().use_count() == 1; }

inline void check_defined(const Tensor& x, const char* op) {
  if (!x.defined()) throw std::invalid_argument(tag(op) + "got an undefined tensor");
}

// The float32 view of x: x itself, or a float32 copy of an int/bool tensor.
inline Tensor as_float(const Tensor& x, const char* op) {
  check_defined(x, op);
  return x.dtype() == DType::Float32 ? x : cast(x, DType::Float32);
}

inline void require_float(const Tensor& x, const char* op) {
  check_defined(x, op);
  if (x.dtype() != DType::Float32)
    throw TypeError(tag(op) + "expected a float32 tensor, got " + dtype_name(x.dtype()));
}

// Calls f(T{}) with T the C++ type of dtype dt.
template <class F>
void dispatch(DType dt, F f) {
  switch (dt) {
    case DType::Float32: f(float{}); break;
    case DType::Int32: f(int32_t{}); break;
    case DType::Int64: f(int64_t{}); break;
    case DType::Bool: f(bool{}); break;
  }
}

// Output of `op` over inputs -> record only when needed. Keeps call sites short.
inline bool recording(std::initializer_list<const Tensor*> ins) {
  return should_record(std::vector<const Tensor*>(ins));
}

}  // namespace detail
}  // namespace ops
}  // namespace lamina
