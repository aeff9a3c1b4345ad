// conv2d (the packed convolution GEMM with bias and relu in its tile writes, or im2col + GEMM and
// then bias and relu) and 2-D max / average pooling, NHWC.
#include <omp.h>

#include <algorithm>
#include <cstring>
#include <vector>

#include "kernels/conv.hpp"
#include "kernels/elementwise.hpp"
#include "kernels/gemm.hpp"
#include "kernels/pool.hpp"
#include "op_util.hpp"
#include "parallel.hpp"

namespace lamina {
namespace ops {
using namespace detail;

namespace {

// Multiply-adds below which a convolution runs on one thread.
constexpr int64_t kConvGrain = int64_t(1) << 21;
// Output positions per chunk in the forward pass (its output block is still in cache for the
// epilogue; an im2col fallback chunk of 96 x 288 floats is 108 KB, in L2 while the GEMM reads it),
// and per im2col chunk in the backward (the dK GEMM sums over the chunk's positions: deeper is
// better).
constexpr int64_t kChunkForward = 96;
constexpr int64_t kChunkBackward = 256;

std::pair<int64_t, int64_t> pair_arg(const std::vector<int64_t>& v, const char* op, const char* what) {
  if (v.size() != 2 || v[0] < 1 || v[1] < 1) {
    std::string s;
    for (size_t i = 0; i < v.size(); ++i) s += (i ? ", " : "") + std::to_string(v[i]);
    throw std::invalid_argument(tag(op) + what + " must be two positive integers, got (" + s + ")");
  }
  return {v[0], v[1]};
}

kernels::ConvGeometry geometry(const char* op, const Shape& xs, int64_t kh, int64_t kw, int64_t sh,
                               int64_t sw, int64_t dh, int64_t dw, const std::string& padding) {
  kernels::ConvGeometry g;
  g.h = xs[1], g.w = xs[2], g.c = xs[3];
  g.kh = kh, g.kw = kw, g.sh = sh, g.sw = sw, g.dh = dh, g.dw = dw;
  // the dilated window (kh - 1) * dh + 1, which must not overflow (no input can hold it then)
  auto dilated = [&](int64_t k, int64_t d, const char* axis) {
    int64_t span = 0;
    if (__builtin_mul_overflow(k - 1, d, &span) || span == INT64_MAX)
      throw std::invalid_argument(tag(op) + "the " + axis + " window of size " + std::to_string(k) +
                                  " with dilation " + std::to_string(d) + " is too large for any input of shape " +
                                  shape_str(xs));
    return span + 1;
  };
  const int64_t ekh = dilated(kh, dh, "height"), ekw = dilated(kw, dw, "width");
  if (padding == "valid") {
    if (g.h < ekh || g.w < ekw)
      throw std::invalid_argument(tag(op) + "window " + std::to_string(ekh) + "x" + std::to_string(ekw) +
                                  " is larger than the input of shape " + shape_str(xs) +
                                  ": computed output size would be negative");
    g.oh = (g.h - ekh) / sh + 1;
    g.ow = (g.w - ekw) / sw + 1;
    g.pad_top = g.pad_left = 0;
  } else if (padding == "same") {
    // ceil(h / sh) and the padding (oh - 1) * sh + ekh - h, in an order that cannot overflow for
    // any window or stride (a pool of 2**62 is valid here: the kernels clip windows to the image)
    g.oh = g.h == 0 ? 0 : (g.h - 1) / sh + 1;
    g.ow = g.w == 0 ? 0 : (g.w - 1) / sw + 1;
    g.pad_top = std::max<int64_t>(ekh - (g.h - (g.oh - 1) * sh), 0) / 2;
    g.pad_left = std::max<int64_t>(ekw - (g.w - (g.ow - 1) * sw), 0) / 2;
  } else {
    throw std::invalid_argument(tag(op) + "padding must be \"valid\" or \"same\", got \"" + padding + "\"");
  }
  return g;
}

void check_nhwc(const Tensor& x, const char* op) {
  require_float(x, op);
  if (x.dim() != 4)
    throw std::invalid_argument(tag(op) + "expected a 4-D NHWC input, got shape " + shape_str(x.shape()));
}

// Runs body(n, thread_id) for each image, in parallel over images when the work is large enough;
// `threaded_gemm` tells the body whether its GEMMs may fork threads themselves.
template <class Body>
int for_each_image(int64_t n_images, int64_t work, Body body) {
  int nt = threads_for(work, kConvGrain);
  if (n_images < 2 || nt < 2) {
    for (int64_t n = 0; n < n_images; ++n) body(n, 0, true);
    return 1;
  }
  if (nt > n_images) nt = static_cast<int>(n_images);
#pragma omp parallel for num_threads(nt) schedule(static)
  for (int64_t n = 0; n < n_images; ++n) body(n, omp_get_thread_num(), false);
  return nt;
}

}  // namespace

Tensor conv2d(const Tensor& x, const Tensor& kernel, const Tensor& bias, const std::vector<int64_t>& strides,
              const std::string& padding, const std::vector<int64_t>& dilation, const std::string& activation) {
  const char* op = "conv2d";
  check_nhwc(x, op);
  require_float(kernel, op);
  if (kernel.dim() != 4 || kernel.shape()[2] != x.shape()[3])
    throw std::invalid_argument(tag(op) + "expected a kernel of shape (kh, kw, " + std::to_string(x.shape()[3]) +
                                ", filters) for an input of shape " + shape_str(x.shape()) + ", got " +
                                shape_str(kernel.shape()));
  const int64_t F = kernel.shape()[3];
  if (bias.defined()) {
    require_float(bias, op);
    if (bias.dim() != 1 || bias.shape()[0] != F)
      throw std::invalid_argument(tag(op) + "expected a bias of shape (" + std::to_string(F) + ",), got " +
                                  shape_str(bias.shape()));
  }
  if (activation != "linear" && activation != "relu")
    throw std::invalid_argument(tag(op) + "fused activation must be \"linear\" or \"relu\", got \"" + activation + "\"");
  const bool relu = activation == "relu";
  auto [sh, sw] = pair_arg(strides, op, "strides");
  auto [dh, dw] = pair_arg(dilation, op, "dilation_rate");
  const auto g = geometry(op, x.shape(), kernel.shape()[0], kernel.shape()[1], sh, sw, dh, dw, padding);
  const int64_t N = x.shape()[0], K = g.kh * g.kw * g.c, P = g.oh * g.ow;
  const bool direct = g.kh == 1 && g.kw == 1 && sh == 1 && sw == 1;  // cols == the image itself
  Tensor y = Tensor::empty({N, g.oh, g.ow, F}, DType::Float32);
  const float* xp = x.data<float>();
  const float* kp = kernel.data<float>();
  const float* bp = bias.defined() ? bias.data<float>() : nullptr;
  float* yp = y.data<float>();
  // Work items: whole images, or, when there are fewer images than threads (batch-1 inference),
  // ranges of output positions of each image; each item runs the convolution GEMM (im2col + GEMM
  // where that does not apply) and the bias / relu epilogue, chunk by chunk, on one thread.
  const int nt = threads_for(N * P * K * F, kConvGrain);
  const int64_t parts = (nt > 1 && N < nt) ? std::min<int64_t>(P, (nt + N - 1) / N) : 1;
  const int64_t items = N * parts;
  std::vector<std::vector<float>> cols(direct ? 0 : nt);
  const kernels::PackedFilters filters(kp, direct ? 0 : K, F);  // shared by every chunk
#pragma omp parallel for num_threads(nt) schedule(static) if (nt > 1)
  for (int64_t item = 0; item < items; ++item) {
    const int64_t n = item / parts, part = item % parts;
    const int64_t first = P * part / parts, last = P * (part + 1) / parts;
    const float* image = xp + n * g.h * g.w * g.c;
    for (int64_t p0 = first; p0 < last; p0 += kChunkForward) {
      const int64_t rows = std::min(kChunkForward, last - p0);
      float* out = yp + (n * P + p0) * F;
      bool fused = false;  // bias and relu applied by the GEMM's tile writes
      if (direct) {  // 1x1, stride 1: output positions are input positions
        kernels::gemm(false, false, rows, F, K, image + p0 * g.c, kp, out, 0.f, /*threaded=*/nt == 1);
      } else if (kernels::conv_gemm(image, g, p0, p0 + rows, filters, out, bp, relu)) {
        fused = true;
      } else {
        auto& buf = cols[omp_get_thread_num()];
        buf.resize(kChunkForward * K);
        kernels::im2col(image, g, buf.data(), p0, p0 + rows);
        kernels::gemm(false, false, rows, F, K, buf.data(), kp, out, 0.f, /*threaded=*/nt == 1);
      }
      if (!fused && (bp || relu))  // epilogue while the output block is still in cache
        for (int64_t r = 0; r < rows; ++r) {
          float* row = out + r * F;
          if (bp) for (int64_t f = 0; f < F; ++f) row[f] += bp[f];
          if (relu) for (int64_t f = 0; f < F; ++f) row[f] = kernels::relu_nan(row[f]);
        }
    }
  }

  if (recording({&x, &kernel, &bias})) {
    Tensor yd = y.detach();
    // dy' = dy * (y > 0 or NaN) for relu; dbias = sum dy'; dK = sum_n cols_n^T dy'_n; dx_n = col2im(dy'_n K^T)
    record(y, op, {x, kernel, bias}, [=](const Tensor& gy_in, const std::vector<bool>& need) {
      Tensor gy = gy_in;
      if (relu) {
        gy = Tensor::empty(gy_in.shape(), DType::Float32);
        kernels::map2(gy_in.data<float>(), yd.data<float>(), gy.data<float>(), gy.numel(),
                      [](float gv, float v) { return kernels::relu_grad(gv, v); });
      }
      Tensor dx, dk, db;
      if (need[2]) db = sum(gy.view({N * P, F}), {0});
      if (need[0]) dx = Tensor::empty(x.shape(), DType::Float32);
      const int threads = get_num_threads();
      std::vector<std::vector<float>> dk_local(need[1] ? threads : 0);
      std::vector<std::vector<float>> col_buf(threads), dcol_buf(threads);
      const float* gp = gy.data<float>();
      const float* xq = x.data<float>();
      const float* kq = kernel.data<float>();
      // dx of a stride-1 convolution is itself a convolution: dy' padded by (window - 1 - padding)
      // with the kernel flipped in space and its channel axes swapped. conv_gemm runs it without
      // a column buffer; other convolutions scatter dcols = dy' @ K^T back with col2im.
      const bool transposed = need[0] && !direct && g.sh == 1 && g.sw == 1 && g.dh == 1 && g.dw == 1;
      kernels::ConvGeometry gt;
      std::vector<float> flipped;
      if (transposed) {
        gt.h = g.oh, gt.w = g.ow, gt.c = F, gt.kh = g.kh, gt.kw = g.kw, gt.sh = gt.sw = 1;
        gt.pad_top = g.kh - 1 - g.pad_top, gt.pad_left = g.kw - 1 - g.pad_left, gt.oh = g.h, gt.ow = g.w;
        flipped.resize(K * F);  // (kh, kw, F, C): flipped[i, j, f, c] = kernel[kh-1-i, kw-1-j, c, f]
        for (int64_t i = 0; i < g.kh; ++i)
          for (int64_t j = 0; j < g.kw; ++j)
            for (int64_t c = 0; c < g.c; ++c)
              for (int64_t f = 0; f < F; ++f)
                flipped[((i * g.kw + j) * F + f) * g.c + c] = kq[(((g.kh - 1 - i) * g.kw + (g.kw - 1 - j)) * g.c + c) * F + f];
      }
      const kernels::PackedFilters flipped_filters(flipped.data(), transposed ? g.kh * g.kw * F : 0, g.c);
      // (no packed filters: no AVX2/FMA, or a window too deep for conv_gemm; col2im then)
      const bool dx_by_conv = transposed && flipped_filters.data != nullptr;
      // dx of image n by the transposed convolution; split across threads when the images are not.
      auto dx_transposed = [&](const float* gn, float* dxn, bool threaded) {
        const int64_t positions = g.h * g.w;
        const int parts = threaded ? threads_for(positions * g.kh * g.kw * F * g.c, kConvGrain) : 1;
#pragma omp parallel for num_threads(parts) schedule(static) if (parts > 1)
        for (int part = 0; part < parts; ++part) {
          const int64_t begin = positions * part / parts, end = positions * (part + 1) / parts;
          kernels::conv_gemm(gn, gt, begin, end, flipped_filters, dxn + begin * g.c);
        }
      };
      // Per image, in chunks of positions: dK += cols^T @ dy', dcols = dy' @ K^T summed into dx.
      for_each_image(N, 2 * N * P * K * F, [&](int64_t n, int tid, bool threaded) {
        const float* gn = gp + n * P * F;
        const float* image = xq + n * g.h * g.w * g.c;
        float* dxn = need[0] ? dx.data<float>() + n * g.h * g.w * g.c : nullptr;
        if (dxn && dx_by_conv) {
          dx_transposed(gn, dxn, threaded);
          dxn = nullptr;
        }
        if (dxn && !direct) std::memset(dxn, 0, sizeof(float) * g.h * g.w * g.c);
        if (need[1] && dk_local[tid].empty()) dk_local[tid].assign(K * F, 0.f);
        for (int64_t p0 = 0; p0 < P; p0 += kChunkBackward) {
          const int64_t rows = std::min(kChunkBackward, P - p0);
          const float* gc = gn + p0 * F;
          if (need[1]) {
            const float* c = image + p0 * g.c;
            if (!direct) {
              col_buf[tid].resize(kChunkBackward * K);
              kernels::im2col(image, g, col_buf[tid].data(), p0, p0 + rows);
              c = col_buf[tid].data();
            }
            kernels::gemm(true, false, K, F, rows, c, gc, dk_local[tid].data(), 1.f, threaded);
          }
          if (dxn) {
            if (direct) {
              kernels::gemm(false, true, rows, K, F, gc, kq, dxn + p0 * g.c, 0.f, threaded);
            } else {
              dcol_buf[tid].resize(kChunkBackward * K);
              kernels::gemm(false, true, rows, K, F, gc, kq, dcol_buf[tid].data(), 0.f, threaded);
              kernels::col2im(dcol_buf[tid].data(), g, dxn, p0, p0 + rows);
            }
          }
        }
      });
      if (need[1]) {
        dk = zeros(kernel.shape());
        float* d = dk.data<float>();
        for (auto& acc : dk_local)
          if (!acc.empty())
            for (int64_t i = 0; i < K * F; ++i) d[i] += acc[i];
      }
      return std::vector<Tensor>{dx, dk, db};
    });
  }
  return y;
}

namespace {
Tensor pool2d(const Tensor& x, const std::vector<int64_t>& pool_size, const std::vector<int64_t>& strides,
              const std::string& padding, bool is_max) {
  const char* op = is_max ? "max_pool2d" : "avg_pool2d";
  check_nhwc(x, op);
  auto [ph, pw] = pair_arg(pool_size, op, "pool_size");
  auto [sh, sw] = pair_arg(strides, op, "strides");
  const auto g = geometry(op, x.shape(), ph, pw, sh, sw, 1, 1, padding);
  const int64_t N = x.shape()[0], in_sz = g.h * g.w * g.c, out_sz = g.oh * g.ow * g.c;
  Tensor y = Tensor::empty({N, g.oh, g.ow, g.c}, DType::Float32);
  const bool rec = recording({&x});
  // the gradient's argmax holds a position in the image (ih * w + iw) as int32
  if (is_max && rec && g.h * g.w > INT32_MAX)
    throw std::invalid_argument(tag(op) + "the gradient of max pooling supports images of at most 2**31 - 1 "
                                "positions (height * width), got an input of shape " + shape_str(x.shape()));
  Tensor argmax = (is_max && rec) ? Tensor::empty(y.shape(), DType::Int32) : Tensor();
  const float* xp = x.data<float>();
  float* yp = y.data<float>();
  int32_t* ap = argmax.defined() ? argmax.data<int32_t>() : nullptr;
  // (a window's cost is bounded by the image: the kernels clip windows to it)
  const int nt = threads_for(N * out_sz * std::min(ph, g.h) * std::min(pw, g.w));
#pragma omp parallel for num_threads(nt) schedule(static) if (nt > 1 && N > 1)
  for (int64_t n = 0; n < N; ++n) {
    if (is_max) kernels::max_pool(xp + n * in_sz, g, yp + n * out_sz, ap ? ap + n * out_sz : nullptr);
    else kernels::avg_pool(xp + n * in_sz, g, yp + n * out_sz);
  }
  if (rec) {
    // max: dy goes to the input position that was the maximum; avg: dy / window size to each position
    record(y, op, {x}, [=](const Tensor& gy, const std::vector<bool>&) {
      Tensor dx = Tensor::empty(x.shape(), DType::Float32);
      const float* gp = gy.data<float>();
      float* dp = dx.data<float>();
#pragma omp parallel for num_threads(nt) schedule(static) if (nt > 1 && N > 1)
      for (int64_t n = 0; n < N; ++n) {
        if (is_max) kernels::max_pool_backward(gp + n * out_sz, argmax.data<int32_t>() + n * out_sz, g, dp + n * in_sz);
        else kernels::avg_pool_backward(gp + n * out_sz, g, dp + n * in_sz);
      }
      return std::vector<Tensor>{dx};
    });
  }
  return y;
}
}  // namespace

Tensor max_pool2d(const Tensor& x, const std::vector<int64_t>& pool_size, const std::vector<int64_t>& strides,
                  const std::string& padding) {
  return pool2d(x, pool_size, strides, padding, true);
}

Tensor avg_pool2d(const Tensor& x, const std::vector<int64_t>& pool_size, const std::vector<int64_t>& strides,
                  const std::string& padding) {
  return pool2d(x, pool_size, strides, padding, false);
}

}  // namespace ops
}  // namespace lamina
