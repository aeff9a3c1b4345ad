// Reductions over axes: sum, mean, max, min, argmax, argmin.
#include <algorithm>

#include "kernels/reduce.hpp"
#include "kernels/strided.hpp"
#include "op_util.hpp"

namespace lamina {
namespace ops {
using namespace detail;

namespace {

// Normalised, sorted, unique axes (empty input = all axes).
std::vector<int64_t> norm_axes(const std::vector<int64_t>& axes, const Tensor& x, const char* op) {
  std::vector<int64_t> r;
  if (axes.empty()) {
    for (int64_t d = 0; d < x.dim(); ++d) r.push_back(d);
    return r;
  }
  for (int64_t a : axes) r.push_back(norm_axis(a, x.dim(), op, x.shape()));
  std::sort(r.begin(), r.end());
  if (std::adjacent_find(r.begin(), r.end()) != r.end())
    throw std::invalid_argument(tag(op) + "repeated axis in " + shape_str(Shape(axes.begin(), axes.end())));
  return r;
}

Shape reduced_shape(const Shape& s, const std::vector<int64_t>& axes, bool keepdims) {
  Shape out;
  for (int64_t d = 0; d < static_cast<int64_t>(s.size()); ++d) {
    bool red = std::binary_search(axes.begin(), axes.end(), d);
    if (!red) out.push_back(s[d]);
    else if (keepdims) out.push_back(1);
  }
  return out;
}

// Reduces float x over sorted axes, one contiguous group of axes at a time (last group first).
Tensor reduce_float(kernels::Reduce kind, const Tensor& x, const std::vector<int64_t>& axes) {
  Tensor cur = x;
  Shape shape = x.shape();
  size_t i = axes.size();
  while (i > 0) {
    size_t j = i - 1;
    while (j > 0 && axes[j - 1] == axes[j] - 1) --j;  // axes[j..i) is contiguous
    int64_t a0 = axes[j], a1 = axes[i - 1];
    int64_t outer = 1, n = 1, inner = 1;
    for (int64_t d = 0; d < a0; ++d) outer *= shape[d];
    for (int64_t d = a0; d <= a1; ++d) n *= shape[d];
    for (int64_t d = a1 + 1; d < static_cast<int64_t>(shape.size()); ++d) inner *= shape[d];
    Shape next(shape.begin(), shape.begin() + a0);
    for (int64_t d = a0; d <= a1; ++d) next.push_back(1);
    next.insert(next.end(), shape.begin() + a1 + 1, shape.end());
    Tensor out = Tensor::empty(next, DType::Float32);
    kernels::reduce(kind, cur.data<float>(), out.data<float>(), outer, n, inner);
    cur = out;
    shape = next;
    i = j;
  }
  if (axes.empty()) cur = x.clone();
  return cur;  // keepdims layout
}

// Integer reduction over sorted axes, one axis per pass (last first); result in keepdims layout.
Tensor reduce_int(kernels::Reduce kind, const Tensor& x, const std::vector<int64_t>& axes) {
  DType dt = x.dtype() == DType::Int64 ? DType::Int64 : DType::Int32;
  Tensor cur = cast(x, dt);
  Shape shape = x.shape();
  for (auto it = axes.rbegin(); it != axes.rend(); ++it) {
    int64_t a = *it, outer = 1, inner = 1;
    for (int64_t d = 0; d < a; ++d) outer *= shape[d];
    for (int64_t d = a + 1; d < static_cast<int64_t>(shape.size()); ++d) inner *= shape[d];
    Shape next = shape;
    next[a] = 1;
    Tensor o = Tensor::empty(next, dt);
    if (dt == DType::Int64)
      kernels::reduce_int(kind, cur.data<int64_t>(), o.data<int64_t>(), outer, shape[a], inner);
    else
      kernels::reduce_int(kind, cur.data<int32_t>(), o.data<int32_t>(), outer, shape[a], inner);
    cur = o;
    shape = next;
  }
  return axes.empty() ? cur.clone() : cur;
}

void check_nonempty(const Tensor& x, const std::vector<int64_t>& axes, const char* op) {
  for (int64_t a : axes)
    if (x.shape()[a] == 0)
      throw std::invalid_argument(tag(op) + "zero-size reduction over axis " + std::to_string(a) +
                                  " of shape " + shape_str(x.shape()) + " has no identity");
}

Tensor minmax(const Tensor& x, const std::vector<int64_t>& axes_in, bool keepdims, bool is_max) {
  const char* op = is_max ? "max" : "min";
  check_defined(x, op);
  auto axes = norm_axes(axes_in, x, op);
  check_nonempty(x, axes, op);
  if (x.dtype() != DType::Float32) {
    Tensor r = reduce_int(is_max ? kernels::Reduce::Max : kernels::Reduce::Min, x, axes);
    return cast(r.view(reduced_shape(x.shape(), axes, keepdims)), x.dtype());
  }
  Tensor kept = reduce_float(is_max ? kernels::Reduce::Max : kernels::Reduce::Min, x, axes);
  Tensor out = kept.view(reduced_shape(x.shape(), axes, keepdims));
  if (recording({&x})) {
    Tensor m = kept.detach();
    // d max = g * (x == max) / count(x == max): ties share the gradient equally. A NaN maximum
    // "equals" the NaNs it came from (as torch.max's gradient), so they get the gradient.
    record(out, op, {x}, [x, m, axes](const Tensor& g, const std::vector<bool>&) {
      Tensor mask = Tensor::empty(x.shape(), DType::Float32);
      kernels::binary_broadcast(x.data<float>(), m.data<float>(), mask.data<float>(),
                                kernels::plan_broadcast(x.shape(), {x.shape(), m.shape()}),
                                [](float v, float mv) { return (v == mv || (v != v && mv != mv)) ? 1.f : 0.f; });
      Tensor count = sum(mask, axes, true);
      Tensor gk = g.view(m.shape());
      return std::vector<Tensor>{multiply(mask, divide(gk, count))};
    });
  }
  return out;
}

Tensor arg_impl(const Tensor& x, int64_t axis, bool keepdims, bool is_max) {
  const char* op = is_max ? "argmax" : "argmin";
  check_defined(x, op);
  if (x.dim() == 0) {  // a scalar: axis 0 or -1 only (as NumPy)
    if (axis != 0 && axis != -1)
      throw std::out_of_range(tag(op) + "axis " + std::to_string(axis) + " is out of bounds for a 0-d tensor");
    return zeros({}, DType::Int32);
  }
  int64_t ax = norm_axis(axis, x.dim(), op, x.shape());
  if (x.shape()[ax] == 0)
    throw std::invalid_argument(tag(op) + "attempt to get " + op + " of an empty sequence, shape " +
                                shape_str(x.shape()));
  int64_t outer = 1, inner = 1, n = x.shape()[ax];
  for (int64_t d = 0; d < ax; ++d) outer *= x.shape()[d];
  for (int64_t d = ax + 1; d < x.dim(); ++d) inner *= x.shape()[d];
  Tensor out = Tensor::empty(reduced_shape(x.shape(), {ax}, keepdims), DType::Int32);
  switch (x.dtype()) {
    case DType::Float32: kernels::arg_reduce(is_max, x.data<float>(), out.data<int32_t>(), outer, n, inner); break;
    case DType::Int32: kernels::arg_reduce(is_max, x.data<int32_t>(), out.data<int32_t>(), outer, n, inner); break;
    case DType::Int64: kernels::arg_reduce(is_max, x.data<int64_t>(), out.data<int32_t>(), outer, n, inner); break;
    case DType::Bool: {
      Tensor xi = cast(x, DType::Int32);
      kernels::arg_reduce(is_max, xi.data<int32_t>(), out.data<int32_t>(), outer, n, inner);
      break;
    }
  }
  return out;
}

}  // namespace

Tensor sum(const Tensor& x, const std::vector<int64_t>& axes_in, bool keepdims) {
  check_defined(x, "sum");
  auto axes = norm_axes(axes_in, x, "sum");
  Shape out_shape = reduced_shape(x.shape(), axes, keepdims);
  if (x.dtype() != DType::Float32) return reduce_int(kernels::Reduce::Sum, x, axes).view(out_shape);
  Tensor out = reduce_float(kernels::Reduce::Sum, x, axes).view(out_shape);
  if (recording({&x})) {
    Shape kept = reduced_shape(x.shape(), axes, true), in_shape = x.shape();
    // d sum = g broadcast back over the reduced axes
    record(out, "sum", {x}, [kept, in_shape](const Tensor& g, const std::vector<bool>&) {
      return std::vector<Tensor>{broadcast_to(g.view(kept), in_shape)};
    });
  }
  return out;
}

Tensor mean(const Tensor& x, const std::vector<int64_t>& axes_in, bool keepdims) {
  check_defined(x, "mean");
  auto axes = norm_axes(axes_in, x, "mean");
  int64_t count = 1;
  for (int64_t a : axes) count *= x.shape()[a];
  // Composite: sum / count (its gradient follows from sum's and divide's).
  Tensor s = sum(as_float(x, "mean"), axes, keepdims);
  return divide(s, scalar(count == 0 ? 0.0 : static_cast<double>(count)));
}

Tensor max(const Tensor& x, const std::vector<int64_t>& axes, bool keepdims) {
  return minmax(x, axes, keepdims, true);
}
Tensor min(const Tensor& x, const std::vector<int64_t>& axes, bool keepdims) {
  return minmax(x, axes, keepdims, false);
}
Tensor argmax(const Tensor& x, int64_t axis, bool keepdims) { return arg_impl(x, axis, keepdims, true); }
Tensor argmin(const Tensor& x, int64_t axis, bool keepdims) { return arg_impl(x, axis, keepdims, false); }

}  // namespace ops
}  // namespace lamina
