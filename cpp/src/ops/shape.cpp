// Shape ops: reshape, transpose, broadcast_to, concatenate, slicing, take, sum_to.
#include <algorithm>
#include <cstring>

#include "kernels/strided.hpp"
#include "op_util.hpp"

namespace lamina {
namespace ops {
using namespace detail;

Tensor reshape(const Tensor& x, const Shape& shape_in) {
  check_defined(x, "reshape");
  Shape shape = shape_in;
  int64_t known = 1, infer = -1;  // known: product of the given non-zero dimensions
  bool has_zero = false;
  for (size_t i = 0; i < shape.size(); ++i) {
    if (shape[i] == -1) {
      if (infer >= 0) throw std::invalid_argument("[reshape] can only infer one dimension, got shape " + shape_str(shape_in));
      infer = static_cast<int64_t>(i);
    } else if (shape[i] < 0) {
      throw std::invalid_argument("[reshape] invalid dimension in shape " + shape_str(shape_in));
    } else if (shape[i] == 0) {
      has_zero = true;
    } else if (__builtin_mul_overflow(known, shape[i], &known)) {
      throw std::invalid_argument("[reshape] cannot reshape a tensor of shape " + shape_str(x.shape()) +
                                  " into shape " + shape_str(shape_in) + ": it has too many elements");
    }
  }
  if (infer >= 0) {
    if (has_zero || x.numel() % known != 0)
      throw std::invalid_argument("[reshape] cannot reshape a tensor of shape " + shape_str(x.shape()) +
                                  " into shape " + shape_str(shape_in));
    shape[infer] = x.numel() / known;
  }
  if (shape_numel(shape) != x.numel())
    throw std::invalid_argument("[reshape] cannot reshape a tensor of shape " + shape_str(x.shape()) +
                                " (" + std::to_string(x.numel()) + " elements) into shape " + shape_str(shape_in));
  Tensor y = x.view(shape);
  if (recording({&x})) {
    Shape in_shape = x.shape();
    // d reshape = g reshaped back
    record(y, "reshape", {x}, [in_shape](const Tensor& g, const std::vector<bool>&) {
      return std::vector<Tensor>{g.view(in_shape)};
    });
  }
  return y;
}

Tensor transpose(const Tensor& x, const std::vector<int64_t>& perm_in) {
  check_defined(x, "transpose");
  const int64_t r = x.dim();
  std::vector<int64_t> perm = perm_in;
  if (perm.empty())
    for (int64_t d = r - 1; d >= 0; --d) perm.push_back(d);
  if (static_cast<int64_t>(perm.size()) != r)
    throw std::invalid_argument("[transpose] axes " + shape_str(Shape(perm_in.begin(), perm_in.end())) +
                                " do not match a tensor of shape " + shape_str(x.shape()));
  std::vector<bool> seen(r, false);
  for (auto& p : perm) {
    p = norm_axis(p, r, "transpose", x.shape());
    if (seen[p]) throw std::invalid_argument("[transpose] repeated axis in " + shape_str(Shape(perm_in.begin(), perm_in.end())));
    seen[p] = true;
  }
  auto in_strides = kernels::contiguous_strides(x.shape());
  Shape out_shape(r);
  std::vector<int64_t> strides(r);
  for (int64_t d = 0; d < r; ++d) {
    out_shape[d] = x.shape()[perm[d]];
    strides[d] = in_strides[perm[d]];
  }
  Tensor y = Tensor::empty(out_shape, x.dtype());
  kernels::gather_strided(x.raw_data(), 0, out_shape, strides, y.raw_data(), dtype_size(x.dtype()));
  if (recording({&x})) {
    std::vector<int64_t> inv(r);
    for (int64_t d = 0; d < r; ++d) inv[perm[d]] = d;
    // d transpose = g transposed by the inverse permutation
    record(y, "transpose", {x}, [inv](const Tensor& g, const std::vector<bool>&) {
      return std::vector<Tensor>{transpose(g, inv)};
    });
  }
  return y;
}

Tensor broadcast_to(const Tensor& x, const Shape& shape) {
  check_defined(x, "broadcast_to");
  bool ok = x.dim() <= static_cast<int64_t>(shape.size());
  if (ok) {
    size_t lead = shape.size() - x.shape().size();
    for (size_t d = 0; d < x.shape().size(); ++d)
      if (x.shape()[d] != 1 && x.shape()[d] != shape[lead + d]) ok = false;
  }
  if (!ok)
    throw std::invalid_argument("[broadcast_to] cannot broadcast a tensor of shape " + shape_str(x.shape()) +
                                " to shape " + shape_str(shape));
  if (x.shape() == shape) return x;
  auto in_strides = kernels::contiguous_strides(x.shape());
  std::vector<int64_t> strides(shape.size(), 0);
  size_t lead = shape.size() - x.shape().size();
  for (size_t d = 0; d < x.shape().size(); ++d) strides[lead + d] = x.shape()[d] == 1 ? 0 : in_strides[d];
  Tensor y = Tensor::empty(shape, x.dtype());
  kernels::gather_strided(x.raw_data(), 0, shape, strides, y.raw_data(), dtype_size(x.dtype()));
  if (recording({&x})) {
    Shape in_shape = x.shape();
    // d broadcast_to = g summed over the broadcast axes
    record(y, "broadcast_to", {x}, [in_shape](const Tensor& g, const std::vector<bool>&) {
      return std::vector<Tensor>{sum_to(g, in_shape)};
    });
  }
  return y;
}

Tensor sum_to(const Tensor& x, const Shape& shape) {
  if (x.shape() == shape) return x;
  const size_t r = x.shape().size();
  if (shape.size() > r)
    throw std::invalid_argument("[sum_to] cannot sum a tensor of shape " + shape_str(x.shape()) +
                                " down to shape " + shape_str(shape));
  const size_t lead = r - shape.size();
  std::vector<int64_t> axes;
  for (size_t d = 0; d < r; ++d) {
    if (d < lead) {
      axes.push_back(static_cast<int64_t>(d));
    } else if (shape[d - lead] != x.shape()[d]) {
      if (shape[d - lead] != 1)
        throw std::invalid_argument("[sum_to] cannot sum a tensor of shape " + shape_str(x.shape()) +
                                    " down to shape " + shape_str(shape));
      axes.push_back(static_cast<int64_t>(d));
    }
  }
  if (axes.empty()) return x.view(shape);
  return reshape(sum(x, axes, true), shape);
}

Tensor concatenate(const std::vector<Tensor>& xs, int64_t axis) {
  if (xs.empty()) throw std::invalid_argument("[concatenate] needs at least one tensor");
  for (const Tensor& t : xs) check_defined(t, "concatenate");
  const Shape& s0 = xs[0].shape();
  if (s0.empty()) throw std::invalid_argument("[concatenate] zero-dimensional tensors cannot be concatenated");
  const int64_t r = static_cast<int64_t>(s0.size());
  const int64_t ax = norm_axis(axis, r, "concatenate", s0);
  DType dt = xs[0].dtype();
  int64_t total = 0;
  for (const Tensor& t : xs) {
    bool ok = t.dim() == r;
    for (int64_t d = 0; ok && d < r; ++d)
      if (d != ax && t.shape()[d] != s0[d]) ok = false;
    if (!ok)
      throw std::invalid_argument("[concatenate] all input shapes must match except on axis " +
                                  std::to_string(ax) + ", got " + shape_str(s0) + " and " + shape_str(t.shape()));
    total += t.shape()[ax];
    if (t.dtype() == DType::Float32) dt = DType::Float32;
    else if (dt != DType::Float32 && t.dtype() == DType::Int64) dt = DType::Int64;
    else if (dt == DType::Bool && t.dtype() != DType::Bool) dt = t.dtype();
  }
  Shape out_shape = s0;
  out_shape[ax] = total;
  int64_t outer = 1, inner = 1;
  for (int64_t d = 0; d < ax; ++d) outer *= s0[d];
  for (int64_t d = ax + 1; d < r; ++d) inner *= s0[d];
  Tensor y = Tensor::empty(out_shape, dt);
  const size_t es = dtype_size(dt);
  auto* out = static_cast<uint8_t*>(y.raw_data());
  int64_t pos = 0;
  std::vector<int64_t> sizes;
  for (const Tensor& t : xs) {
    Tensor c = cast(t, dt);
    const int64_t chunk = t.shape()[ax] * inner;
    const auto* in = static_cast<const uint8_t*>(c.raw_data());
    for (int64_t o = 0; o < outer; ++o)
      std::memcpy(out + (o * total * inner + pos * inner) * es, in + o * chunk * es, chunk * es);
    pos += t.shape()[ax];
    sizes.push_back(t.shape()[ax]);
  }
  if (dt == DType::Float32 && should_record([&] {
        std::vector<const Tensor*> p;
        for (const Tensor& t : xs) p.push_back(&t);
        return p;
      }())) {
    // d concatenate = the slices of g that each input filled
    record(y, "concatenate", xs, [sizes, ax, out_shape](const Tensor& g, const std::vector<bool>& need) {
      std::vector<Tensor> grads;
      std::vector<int64_t> start(out_shape.size(), 0), stop(out_shape), step(out_shape.size(), 1);
      int64_t p = 0;
      for (size_t i = 0; i < sizes.size(); ++i) {
        start[ax] = p;
        stop[ax] = p + sizes[i];
        grads.push_back(need[i] ? slice(g, start, stop, step) : Tensor());
        p += sizes[i];
      }
      return grads;
    });
  }
  return y;
}

Tensor slice(const Tensor& x, const std::vector<int64_t>& start, const std::vector<int64_t>& stop,
             const std::vector<int64_t>& step) {
  check_defined(x, "slice");
  const int64_t r = x.dim();
  if (static_cast<int64_t>(start.size()) != r || static_cast<int64_t>(stop.size()) != r ||
      static_cast<int64_t>(step.size()) != r)
    throw std::invalid_argument("[slice] expected start/stop/step for each of the " + std::to_string(r) +
                                " axes of a tensor of shape " + shape_str(x.shape()));
  auto in_strides = kernels::contiguous_strides(x.shape());
  Shape out_shape(r);
  std::vector<int64_t> strides(r);
  int64_t offset = 0;
  for (int64_t d = 0; d < r; ++d) {
    const int64_t n = x.shape()[d], s = step[d];
    if (s == 0) throw std::invalid_argument("[slice] slice step cannot be zero");
    int64_t len;
    if (s > 0) {
      if (start[d] < 0 || stop[d] > n || start[d] > n)
        throw std::out_of_range("[slice] bounds out of range for axis " + std::to_string(d) + " of shape " + shape_str(x.shape()));
      len = stop[d] > start[d] ? (stop[d] - start[d] + s - 1) / s : 0;
    } else {
      if (start[d] >= n || stop[d] < -1 || start[d] < -1)
        throw std::out_of_range("[slice] bounds out of range for axis " + std::to_string(d) + " of shape " + shape_str(x.shape()));
      len = start[d] > stop[d] ? (start[d] - stop[d] + (-s) - 1) / (-s) : 0;
    }
    out_shape[d] = len;
    strides[d] = s * in_strides[d];
    if (len > 0) offset += start[d] * in_strides[d];
  }
  Tensor y = Tensor::empty(out_shape, x.dtype());
  if (y.numel() > 0)
    kernels::gather_strided(x.raw_data(), offset, out_shape, strides, y.raw_data(), dtype_size(x.dtype()));
  if (x.dtype() == DType::Float32 && recording({&x})) {
    Shape in_shape = x.shape();
    // d slice = g scattered back into zeros at the sliced positions
    record(y, "slice", {x}, [in_shape, offset, strides](const Tensor& g, const std::vector<bool>&) {
      Tensor dx = zeros(in_shape);
      if (g.numel() > 0)
        kernels::scatter_add_strided(g.data<float>(), g.shape(), dx.data<float>(), offset, strides);
      return std::vector<Tensor>{dx};
    });
  }
  return y;
}

Tensor take(const Tensor& x, const Tensor& indices, int64_t axis) {
  check_defined(x, "take");
  check_defined(indices, "take");
  if (indices.dtype() == DType::Float32 || indices.dtype() == DType::Bool)
    throw TypeError(std::string("[take] indices must be int32 or int64, got ") + dtype_name(indices.dtype()));
  if (x.dim() == 0) throw std::invalid_argument("[take] cannot index a 0-d tensor");
  const int64_t ax = norm_axis(axis, x.dim(), "take", x.shape());
  Tensor idx = cast(indices, DType::Int64);
  const int64_t n = x.shape()[ax], k = idx.numel();
  std::vector<int64_t> pos(k);
  const int64_t* ip = idx.data<int64_t>();
  for (int64_t i = 0; i < k; ++i) {
    int64_t v = ip[i] < 0 ? ip[i] + n : ip[i];
    if (v < 0 || v >= n)
      throw std::out_of_range("[take] index " + std::to_string(ip[i]) + " is out of bounds for axis " +
                              std::to_string(ax) + " with size " + std::to_string(n));
    pos[i] = v;
  }
  int64_t outer = 1, inner = 1;
  for (int64_t d = 0; d < ax; ++d) outer *= x.shape()[d];
  for (int64_t d = ax + 1; d < x.dim(); ++d) inner *= x.shape()[d];
  Shape out_shape(x.shape().begin(), x.shape().begin() + ax);
  out_shape.insert(out_shape.end(), indices.shape().begin(), indices.shape().end());
  out_shape.insert(out_shape.end(), x.shape().begin() + ax + 1, x.shape().end());
  Tensor y = Tensor::empty(out_shape, x.dtype());
  const size_t es = dtype_size(x.dtype());
  const auto* src = static_cast<const uint8_t*>(x.raw_data());
  auto* dst = static_cast<uint8_t*>(y.raw_data());
  for (int64_t o = 0; o < outer; ++o)
    for (int64_t i = 0; i < k; ++i)
      std::memcpy(dst + ((o * k + i) * inner) * es, src + ((o * n + pos[i]) * inner) * es, inner * es);
  if (x.dtype() == DType::Float32 && recording({&x})) {
    Shape in_shape = x.shape();
    // d take = g added back at the taken positions (repeats accumulate)
    record(y, "take", {x}, [in_shape, pos, outer, inner, n, k](const Tensor& g, const std::vector<bool>&) {
      Tensor dx = zeros(in_shape);
      float* d = dx.data<float>();
      const float* gp = g.data<float>();
      for (int64_t o = 0; o < outer; ++o)
        for (int64_t i = 0; i < k; ++i) {
          float* row = d + (o * n + pos[i]) * inner;
          const float* gr = gp + (o * k + i) * inner;
          for (int64_t j = 0; j < inner; ++j) row[j] += gr[j];
        }
      return std::vector<Tensor>{dx};
    });
  }
  return y;
}

}  // namespace ops
}  // namespace lamina
