// Broadcast plans and strided gather/scatter copies (transpose, slicing, broadcast_to).
#include <cstring>

#include "strided.hpp"

namespace lamina {
namespace kernels {

std::vector<int64_t> contiguous_strides(const Shape& shape) {
  std::vector<int64_t> s(shape.size());
  int64_t acc = 1;
  for (int64_t d = static_cast<int64_t>(shape.size()) - 1; d >= 0; --d) {
    s[d] = acc;
    acc *= shape[d];
  }
  return s;
}

BroadcastPlan plan_broadcast(const Shape& out, const std::vector<Shape>& inputs) {
  const size_t r = out.size();
  const size_t k = inputs.size();
  // Per input strides aligned to the output's axes (0 where the input is broadcast).
  std::vector<std::vector<int64_t>> st(k, std::vector<int64_t>(r, 0));
  for (size_t j = 0; j < k; ++j) {
    const Shape& s = inputs[j];
    auto cs = contiguous_strides(s);
    size_t lead = r - s.size();
    for (size_t d = 0; d < s.size(); ++d) st[j][lead + d] = (s[d] == 1) ? 0 : cs[d];
  }
  BroadcastPlan p;
  p.numel = shape_numel(out);
  p.strides.assign(k, {});
  // Merge axis d into the previous merged axis when, for every input, stride[d-1] == stride[d] * dim[d].
  for (size_t d = 0; d < r; ++d) {
    if (out[d] == 1) continue;  // size-1 axes do not move any offset
    bool merge = !p.dims.empty();
    if (merge) {
      for (size_t j = 0; j < k; ++j)
        if (p.strides[j].back() != st[j][d] * out[d]) { merge = false; break; }
    }
    if (merge) {
      p.dims.back() *= out[d];
      for (size_t j = 0; j < k; ++j) p.strides[j].back() = st[j][d];
    } else {
      p.dims.push_back(out[d]);
      for (size_t j = 0; j < k; ++j) p.strides[j].push_back(st[j][d]);
    }
  }
  if (p.dims.empty()) {
    p.dims.push_back(1);
    for (size_t j = 0; j < k; ++j) p.strides[j].push_back(0);
  }
  return p;
}

namespace {

template <class T>
void gather_impl(const T* src, int64_t offset, const BroadcastPlan& p, T* dst) {
  for_each_run(p, [&](int64_t oo, const int64_t* off, int64_t n, const int64_t* st) {
    const T* s = src + offset + off[0];
    T* d = dst + oo;
    const int64_t step = st[0];
    if (step == 1)
      std::memcpy(d, s, sizeof(T) * n);
    else
      for (int64_t i = 0; i < n; ++i) d[i] = s[i * step];
  });
}

// A plan over `out` whose one input walks `strides` (already per output axis).
BroadcastPlan plan_strided(const Shape& out, const std::vector<int64_t>& strides) {
  BroadcastPlan p;
  p.numel = shape_numel(out);
  p.strides.assign(1, {});
  for (size_t d = 0; d < out.size(); ++d) {
    if (out[d] == 1) continue;
    if (!p.dims.empty() && p.strides[0].back() == strides[d] * out[d]) {
      p.dims.back() *= out[d];
      p.strides[0].back() = strides[d];
    } else {
      p.dims.push_back(out[d]);
      p.strides[0].push_back(strides[d]);
    }
  }
  if (p.dims.empty()) {
    p.dims.push_back(1);
    p.strides[0].push_back(0);
  }
  return p;
}

}  // namespace

void gather_strided(const void* src, int64_t offset, const Shape& out,
                    const std::vector<int64_t>& strides, void* dst, size_t elem_size) {
  BroadcastPlan p = plan_strided(out, strides);
  switch (elem_size) {
    case 1: gather_impl(static_cast<const uint8_t*>(src), offset, p, static_cast<uint8_t*>(dst)); break;
    case 4: gather_impl(static_cast<const uint32_t*>(src), offset, p, static_cast<uint32_t*>(dst)); break;
    default: gather_impl(static_cast<const uint64_t*>(src), offset, p, static_cast<uint64_t*>(dst)); break;
  }
}

void scatter_add_strided(const float* src, const Shape& shape, float* dst, int64_t offset,
                         const std::vector<int64_t>& strides) {
  BroadcastPlan p = plan_strided(shape, strides);
  for_each_run(p, [&](int64_t oo, const int64_t* off, int64_t n, const int64_t* st) {
    float* d = dst + offset + off[0];
    const float* s = src + oo;
    for (int64_t i = 0; i < n; ++i) d[i * st[0]] += s[i];
  });
}

}  // namespace kernels
}  // namespace lamina
