#pragma once
// Internal: broadcasting iteration and strided copies (strided.cpp).
// Kernels are raw compute on contiguous buffers: no autodiff, no argument checks (ops do both).
#include <omp.h>

#include <cstdint>
#include <vector>

#include "lamina/tensor.hpp"
#include "parallel.hpp"

namespace lamina {
namespace kernels {

// ------------------------------------------------------------------ broadcasting (strided.cpp)
// An iteration plan over an output shape for K inputs that broadcast to it. Adjacent axes that are
// contiguous for every input are merged, so the innermost run is as long as possible.
struct BroadcastPlan {
  std::vector<int64_t> dims;                  // merged output dims (at least one)
  std::vector<std::vector<int64_t>> strides;  // per input, element stride per merged dim (0 = broadcast)
  int64_t numel = 0;
};
BroadcastPlan plan_broadcast(const Shape& out, const std::vector<Shape>& inputs);

// Calls run(out_offset, in_offsets, len, in_inner_strides) for every innermost run of the plan.
// Runs are split between threads when the output is large.
template <class Run>
void for_each_run(const BroadcastPlan& p, Run run) {
  const int64_t r = static_cast<int64_t>(p.dims.size());
  const size_t k = p.strides.size();
  const int64_t inner = p.dims[r - 1];
  if (p.numel == 0 || inner == 0) return;
  const int64_t runs = p.numel / inner;
  std::vector<int64_t> inner_strides(k);
  for (size_t j = 0; j < k; ++j) inner_strides[j] = p.strides[j][r - 1];
  int nt = threads_for(p.numel);
  if (runs < nt) nt = 1;
#pragma omp parallel num_threads(nt) if (nt > 1)
  {
    int tid = omp_get_thread_num(), nth = omp_get_num_threads();
    int64_t lo = runs * tid / nth, hi = runs * (tid + 1) / nth;
    std::vector<int64_t> offs(k);
    for (int64_t q = lo; q < hi; ++q) {
      int64_t rem = q;
      for (size_t j = 0; j < k; ++j) offs[j] = 0;
      for (int64_t d = r - 2; d >= 0; --d) {
        int64_t idx = rem % p.dims[d];
        rem /= p.dims[d];
        for (size_t j = 0; j < k; ++j) offs[j] += idx * p.strides[j][d];
      }
      run(q * inner, offs.data(), inner, inner_strides.data());
    }
  }
}

// Binary op with broadcasting: o = f(a, b).
template <class TA, class TB, class TO, class F>
void binary_broadcast(const TA* a, const TB* b, TO* o, const BroadcastPlan& p, F f) {
  for_each_run(p, [&](int64_t oo, const int64_t* off, int64_t n, const int64_t* st) {
    const TA* pa = a + off[0];
    const TB* pb = b + off[1];
    TO* po = o + oo;
    if (st[0] == 1 && st[1] == 1) {
      for (int64_t i = 0; i < n; ++i) po[i] = f(pa[i], pb[i]);
    } else if (st[0] == 1 && st[1] == 0) {
      const TB vb = *pb;
      for (int64_t i = 0; i < n; ++i) po[i] = f(pa[i], vb);
    } else if (st[0] == 0 && st[1] == 1) {
      const TA va = *pa;
      for (int64_t i = 0; i < n; ++i) po[i] = f(va, pb[i]);
    } else {
      for (int64_t i = 0; i < n; ++i) po[i] = f(pa[i * st[0]], pb[i * st[1]]);
    }
  });
}

// Ternary op with broadcasting: o = f(a, b, c).
template <class TA, class TB, class TC, class TO, class F>
void ternary_broadcast(const TA* a, const TB* b, const TC* c, TO* o, const BroadcastPlan& p, F f) {
  for_each_run(p, [&](int64_t oo, const int64_t* off, int64_t n, const int64_t* st) {
    const TA* pa = a + off[0];
    const TB* pb = b + off[1];
    const TC* pc = c + off[2];
    TO* po = o + oo;
    for (int64_t i = 0; i < n; ++i) po[i] = f(pa[i * st[0]], pb[i * st[1]], pc[i * st[2]]);
  });
}

// ------------------------------------------------------------------ strided copies (strided.cpp)
// dst (contiguous, shape out) = src[offset + sum_d idx_d * strides[d]]: transpose, slicing and
// broadcast_to are all this gather. Element size 1, 4 or 8 bytes.
void gather_strided(const void* src, int64_t offset, const Shape& out,
                    const std::vector<int64_t>& strides, void* dst, size_t elem_size);
// dst[offset + sum_d idx_d * strides[d]] += src (contiguous, shape `shape`); float32 only.
// The reverse of gather_strided (used by slicing's backward; destinations must not overlap).
void scatter_add_strided(const float* src, const Shape& shape, float* dst, int64_t offset,
                         const std::vector<int64_t>& strides);
// Row-major element strides of a contiguous shape.
std::vector<int64_t> contiguous_strides(const Shape& shape);

}  // namespace kernels
}  // namespace lamina
