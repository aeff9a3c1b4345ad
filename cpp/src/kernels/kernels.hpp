#pragma once
// Internal: raw compute on contiguous buffers. Kernels know nothing about autodiff or argument
// checking (ops do both). Eigen is used only here; OpenMP mostly here (a few loops in cpp/src/ops,
// conv, dense and normalization, are still to move down: issue 13).
#include <omp.h>

#include <cstdint>
#include <vector>

#include "lamina/tensor.hpp"
#include "parallel.hpp"

namespace lamina {
namespace kernels {

// ------------------------------------------------------------------ GEMM (gemm.cpp)
// C (m x n) = op(A) @ op(B) + beta * C, row-major, op = transpose when the flag is set.
// A is (m x k) or, transposed, stored (k x m); B is (k x n) or stored (n x k).
// threaded=false keeps it on the calling thread (for GEMMs issued from inside a parallel loop).
void gemm(bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k, const float* a,
          const float* b, float* c, float beta = 0.f, bool threaded = true);

// gemm() with packed panels and an AVX2/FMA micro-kernel (gemm_packed.cpp); returns false
// (nothing done) where the CPU lacks AVX2/FMA. gemm() uses it for all but very few rows.
bool gemm_packed(bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k, const float* a, const float* b,
                 float* c, float beta, bool threaded);


// ------------------------------------------------------------------ NaN-propagating comparisons
// As NumPy's maximum / minimum and torch: a NaN operand gives NaN, so a NaN in any kernel that
// compares (reductions, pooling, relu, epilogues) reaches the output. On ties `acc` is kept.
// A NaN in `acc` stays (v > NaN is false); a NaN in v is taken.
template <class T>
inline T max_nan(T acc, T v) { return (v > acc || v != v) ? v : acc; }
template <class T>
inline T min_nan(T acc, T v) { return (v < acc || v != v) ? v : acc; }
// relu keeping NaN (and -0.0, as torch.relu): the same as _mm256_max_ps(0, v), which returns its
// second operand when either is NaN.
inline float relu_nan(float v) { return v < 0.f ? 0.f : v; }
// relu's gradient from its output y, as torch's threshold_backward: the gradient passes where
// y > 0 or y is NaN (a NaN is not silently turned into a zero gradient).
inline float relu_grad(float g, float y) { return y <= 0.f ? 0.f : g; }

// ------------------------------------------------------------------ elementwise maps
// y[i] = f(x[i]) over n elements, in parallel above the work threshold.
template <class TI, class TO, class F>
void map1(const TI* x, TO* y, int64_t n, F f) {
  int nt = threads_for(n);
#pragma omp parallel for num_threads(nt) schedule(static) if (nt > 1)
  for (int64_t i = 0; i < n; ++i) y[i] = f(x[i]);
}

// y[i] = f(a[i], b[i]) over n elements (same shapes).
template <class TA, class TB, class TO, class F>
void map2(const TA* a, const TB* b, TO* y, int64_t n, F f) {
  int nt = threads_for(n);
#pragma omp parallel for num_threads(nt) schedule(static) if (nt > 1)
  for (int64_t i = 0; i < n; ++i) y[i] = f(a[i], b[i]);
}

// y[i] = f(a[i], b[i], c[i]) over n elements (same shapes).
template <class TA, class TB, class TC, class TO, class F>
void map3(const TA* a, const TB* b, const TC* c, TO* y, int64_t n, F f) {
  int nt = threads_for(n);
#pragma omp parallel for num_threads(nt) schedule(static) if (nt > 1)
  for (int64_t i = 0; i < n; ++i) y[i] = f(a[i], b[i], c[i]);
}

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

// ------------------------------------------------------------------ reductions (reduce.cpp)
// x viewed as (outer, n, inner) -> y (outer, inner).
enum class Reduce { Sum, Max, Min };
void reduce(Reduce kind, const float* x, float* y, int64_t outer, int64_t n, int64_t inner);
// Integer sum / max / min (exact, single-threaded).
template <class T>
void reduce_int(Reduce kind, const T* x, T* y, int64_t outer, int64_t n, int64_t inner);
// Index of the first max (or min) along n, written as int32.
template <class T>
void arg_reduce(bool is_max, const T* x, int32_t* y, int64_t outer, int64_t n, int64_t inner);

// ------------------------------------------------------------------ vectorised math (unary.cpp)
void vexp(const float* x, float* y, int64_t n);
void vlog(const float* x, float* y, int64_t n);
void vtanh(const float* x, float* y, int64_t n);
void vsigmoid(const float* x, float* y, int64_t n);

// ------------------------------------------------------------------ softmax family (softmax.cpp)
// Along the middle axis of (outer, n, inner).
void softmax(const float* x, float* y, int64_t outer, int64_t n, int64_t inner, bool log);
// Backward: dx = y * (g - sum(g * y)) (softmax), dx = g - exp(y) * sum(g) (log_softmax, y = output).
void softmax_backward(const float* y, const float* g, float* dx, int64_t outer, int64_t n,
                      int64_t inner, bool log);
// rows x classes logits, labels as int64 -> per-row loss; probs (softmax) kept for backward.
void softmax_xent(const float* logits, const int64_t* labels, float* loss, float* probs,
                  int64_t rows, int64_t classes);

// ------------------------------------------------------------------ convolution and pooling (conv.cpp)
// One NHWC image's window geometry (pooling uses kh/kw as the pool size and no dilation).
struct ConvGeometry {
  int64_t h, w, c;            // input
  int64_t kh, kw;             // window
  int64_t sh, sw, dh = 1, dw = 1;
  int64_t pad_top, pad_left;  // "same" padding; 0 for "valid"
  int64_t oh, ow;             // output
};
// cols (oh*ow, kh*kw*c) from one image (h, w, c); out-of-image taps are 0. With a range, only the
// output positions (oh * ow + ow) [pos_begin, pos_end) are written, from the start of `cols`.
void im2col(const float* x, const ConvGeometry& g, float* cols, int64_t pos_begin = 0, int64_t pos_end = -1);
// dx (h, w, c) += each column entry of the positions [pos_begin, pos_end) (cols holds their rows
// from its start) at its image position. The caller zeroes dx first.
void col2im(const float* cols, const ConvGeometry& g, float* dx, int64_t pos_begin = 0, int64_t pos_end = -1);

// ------------------------------------------------------------------ convolution GEMM (conv_gemm.cpp)
// A convolution kernel (K x F, K = kh * kw * c) packed once for conv_gemm (empty where the CPU
// lacks AVX2/FMA).
class PackedFilters {
 public:
  PackedFilters(const float* kernel, int64_t k, int64_t f);
  ~PackedFilters();
  PackedFilters(const PackedFilters&) = delete;
  PackedFilters& operator=(const PackedFilters&) = delete;
  int64_t k, f;
  float* data = nullptr;

 private:
  size_t bytes_ = 0;
};
// out (rows x F, rows = pos_end - pos_begin) = im2col(image)[pos_begin, pos_end) @ kernel for one
// NHWC image, then + bias (F, optional) and relu when asked, on the calling thread, packing the
// windows straight from the image (no column buffer). Returns false (nothing done) where it does
// not apply: no AVX2/FMA, or K too deep.
bool conv_gemm(const float* image, const ConvGeometry& g, int64_t pos_begin, int64_t pos_end,
               const PackedFilters& filters, float* out, const float* bias = nullptr, bool relu = false);
// y (oh, ow, c); argmax (optional) records the flat input position (ih*w + iw) of each maximum.
void max_pool(const float* x, const ConvGeometry& g, float* y, int32_t* argmax);
void max_pool_backward(const float* gy, const int32_t* argmax, const ConvGeometry& g, float* dx);
// Average over the window positions inside the image (padding not counted).
void avg_pool(const float* x, const ConvGeometry& g, float* y);
void avg_pool_backward(const float* gy, const ConvGeometry& g, float* dx);

// ------------------------------------------------------------------ batch normalisation (norm.cpp)
// x viewed as (rows, channels): per-channel mean and biased variance.
void channel_moments(const float* x, int64_t rows, int64_t channels, float* mean, float* var);
// y = x * scale[c] + shift[c].
void normalize_channels(const float* x, int64_t rows, int64_t channels, const float* scale, const float* shift,
                        float* y);
// sum_g[c] = sum_r g, sum_gx[c] = sum_r g * (x - mean[c]).
void channel_sums(const float* g, const float* x, int64_t rows, int64_t channels, const float* mean,
                  float* sum_g, float* sum_gx);

}  // namespace kernels
}  // namespace lamina
