// conv (2-D convolution, its compute in kernels/conv_pass.cpp) and 2-D max / average pooling,
// NHWC: argument checks, the window geometry, and the backward's recording.
#include <algorithm>
#include <vector>

#include "fused_activation.hpp"
#include "kernels/conv.hpp"
#include "kernels/pool.hpp"
#include "op_util.hpp"

namespace lamina {
namespace ops {
using namespace detail;

namespace {

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

}  // namespace

Tensor conv(const Tensor& x, const Tensor& kernel, const Tensor& bias, const std::vector<int64_t>& strides,
            const std::string& padding, const std::vector<int64_t>& dilation, Activation activation) {
  const char* op = "conv";
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
  auto [sh, sw] = pair_arg(strides, op, "strides");
  auto [dh, dw] = pair_arg(dilation, op, "dilation_rate");
  const auto g = geometry(op, x.shape(), kernel.shape()[0], kernel.shape()[1], sh, sw, dh, dw, padding);
  const int64_t N = x.shape()[0];
  const SplitActivation act = split_activation(activation);
  Tensor y = Tensor::empty({N, g.oh, g.ow, F}, DType::Float32);
  kernels::conv_forward(x.data<float>(), N, g, kernel.data<float>(), F,
                        {bias.defined() ? bias.data<float>() : nullptr, act.fused}, y.data<float>());
  if (recording({&x, &kernel, &bias})) {
    Tensor yd = act.fused == kernels::EpilogueActivation::None ? Tensor() : y.detach();
    // dy' = dy * fused'(y); dbias = sum dy'; dK = sum_n cols_n^T dy'_n; dx_n = col2im(dy'_n K^T)
    record(y, op, {x, kernel, bias}, [=](const Tensor& gy_in, const std::vector<bool>& need) {
      const Tensor gy = fused_activation_grad(gy_in, yd, act.fused);
      Tensor dx, dk, db;
      if (need[2]) db = sum(gy.view({N * g.oh * g.ow, F}), {0});
      if (need[0]) dx = Tensor::empty(x.shape(), DType::Float32);
      if (need[1]) dk = Tensor::empty(kernel.shape(), DType::Float32);
      if (need[0] || need[1])
        kernels::conv_backward(x.data<float>(), N, g, kernel.data<float>(), F, gy.data<float>(),
                               need[0] ? dx.data<float>() : nullptr, need[1] ? dk.data<float>() : nullptr);
      return std::vector<Tensor>{dx, dk, db};
    });
  }
  return ops::activation(y, act.after);
}

namespace {
Tensor pool(const Tensor& x, const std::vector<int64_t>& pool_size, const std::vector<int64_t>& strides,
            const std::string& padding, bool is_max) {
  const char* op = is_max ? "max_pool" : "average_pool";
  check_nhwc(x, op);
  auto [ph, pw] = pair_arg(pool_size, op, "pool_size");
  auto [sh, sw] = pair_arg(strides, op, "strides");
  const auto g = geometry(op, x.shape(), ph, pw, sh, sw, 1, 1, padding);
  const int64_t N = x.shape()[0];
  Tensor y = Tensor::empty({N, g.oh, g.ow, g.c}, DType::Float32);
  const bool rec = recording({&x});
  // the gradient's argmax holds a position in the image (ih * w + iw) as int32
  if (is_max && rec && g.h * g.w > INT32_MAX)
    throw std::invalid_argument(tag(op) + "the gradient of max pooling supports images of at most 2**31 - 1 "
                                "positions (height * width), got an input of shape " + shape_str(x.shape()));
  Tensor argmax = (is_max && rec) ? Tensor::empty(y.shape(), DType::Int32) : Tensor();
  if (is_max)
    kernels::max_pool(x.data<float>(), N, g, y.data<float>(), argmax.defined() ? argmax.data<int32_t>() : nullptr);
  else
    kernels::avg_pool(x.data<float>(), N, g, y.data<float>());
  if (rec) {
    // max: dy goes to the input position that was the maximum; avg: dy / window size to each position
    record(y, op, {x}, [=](const Tensor& gy, const std::vector<bool>&) {
      Tensor dx = Tensor::empty(x.shape(), DType::Float32);
      if (is_max)
        kernels::max_pool_backward(gy.data<float>(), argmax.data<int32_t>(), N, g, dx.data<float>());
      else
        kernels::avg_pool_backward(gy.data<float>(), N, g, dx.data<float>());
      return std::vector<Tensor>{dx};
    });
  }
  return y;
}
}  // namespace

Tensor max_pool(const Tensor& x, const std::vector<int64_t>& pool_size, const std::vector<int64_t>& strides,
                const std::string& padding) {
  return pool(x, pool_size, strides, padding, true);
}

Tensor average_pool(const Tensor& x, const std::vector<int64_t>& pool_size, const std::vector<int64_t>& strides,
                    const std::string& padding) {
  return pool(x, pool_size, strides, padding, false);
}

}  // namespace ops
}  // namespace lamina
