// Activations: elementwise nonlinearities and softmax / log_softmax on an axis.
#include <cmath>

#include "kernels/elementwise.hpp"
#include "kernels/softmax.hpp"
#include "kernels/unary.hpp"
#include "op_util.hpp"

namespace lamina {
namespace ops {
using namespace detail;

namespace {

template <class F>
Tensor map_float(const Tensor& x, const char* op, F f) {
  require_float(x, op);
  Tensor y = Tensor::empty(x.shape(), DType::Float32);
  kernels::map1(x.data<float>(), y.data<float>(), x.numel(), f);
  return y;
}

// g * f'(a), with a the saved input or output (same shape as g).
template <class F>
Tensor grad_map(const Tensor& g, const Tensor& a, F f) {
  Tensor d = Tensor::empty(g.shape(), DType::Float32);
  kernels::map2(g.data<float>(), a.data<float>(), d.data<float>(), g.numel(), f);
  return d;
}

// Records a node whose backward is g * f'(saved) with `saved` x or y.
template <class F>
void record_unary(Tensor& y, const char* op, const Tensor& x, const Tensor& saved, F f) {
  record(y, op, {x}, [saved, f](const Tensor& g, const std::vector<bool>&) {
    return std::vector<Tensor>{grad_map(g, saved, f)};
  });
}

constexpr float kSeluAlpha = 1.6732632423543772f;
constexpr float kSeluScale = 1.0507009873554805f;
constexpr float kSqrt2OverPi = 0.7978845608028654f;

}  // namespace

Tensor relu(const Tensor& x) {
  Tensor y = map_float(x, "relu", [](float v) { return kernels::relu_nan(v); });
  // d relu = g * (y > 0 or NaN), as torch
  if (recording({&x})) record_unary(y, "relu", x, y.detach(), [](float g, float v) { return kernels::relu_grad(g, v); });
  return y;
}

Tensor sigmoid(const Tensor& x) {
  require_float(x, "sigmoid");
  Tensor y = Tensor::empty(x.shape(), DType::Float32);
  kernels::vsigmoid(x.data<float>(), y.data<float>(), x.numel());
  // d sigmoid = g * y * (1 - y)
  if (recording({&x}))
    record_unary(y, "sigmoid", x, y.detach(), [](float g, float v) { return g * v * (1.f - v); });
  return y;
}

Tensor tanh(const Tensor& x) {
  require_float(x, "tanh");
  Tensor y = Tensor::empty(x.shape(), DType::Float32);
  kernels::vtanh(x.data<float>(), y.data<float>(), x.numel());
  // d tanh = g * (1 - y^2)
  if (recording({&x}))
    record_unary(y, "tanh", x, y.detach(), [](float g, float v) { return g * (1.f - v * v); });
  return y;
}

Tensor silu(const Tensor& x) {
  require_float(x, "silu");
  Tensor s = Tensor::empty(x.shape(), DType::Float32);
  kernels::vsigmoid(x.data<float>(), s.data<float>(), x.numel());
  Tensor y = grad_map(x, s, [](float v, float sv) { return v * sv; });
  // d silu = g * (s + x s (1 - s)), s = sigmoid(x)
  if (recording({&x})) {
    record(y, "silu", {x}, [x, s](const Tensor& g, const std::vector<bool>&) {
      Tensor d = Tensor::empty(g.shape(), DType::Float32);
      kernels::map3(g.data<float>(), x.data<float>(), s.data<float>(), d.data<float>(), g.numel(),
                    [](float gv, float v, float sv) { return gv * (sv + v * sv * (1.f - sv)); });
      return std::vector<Tensor>{d};
    });
  }
  return y;
}

Tensor gelu(const Tensor& x, bool approximate) {
  require_float(x, "gelu");
  Tensor y;
  if (approximate) {
    // 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3)))
    y = map_float(x, "gelu", [](float v) {
      return 0.5f * v * (1.f + std::tanh(kSqrt2OverPi * (v + 0.044715f * v * v * v)));
    });
    if (recording({&x}))
      record_unary(y, "gelu", x, x, [](float g, float v) {
        float u = kSqrt2OverPi * (v + 0.044715f * v * v * v);
        float t = std::tanh(u);
        float du = kSqrt2OverPi * (1.f + 3.f * 0.044715f * v * v);
        return g * (0.5f * (1.f + t) + 0.5f * v * (1.f - t * t) * du);
      });
  } else {
    // 0.5 x (1 + erf(x / sqrt 2))
    y = map_float(x, "gelu", [](float v) { return 0.5f * v * (1.f + std::erf(v * 0.7071067811865476f)); });
    if (recording({&x}))
      record_unary(y, "gelu", x, x, [](float g, float v) {
        float cdf = 0.5f * (1.f + std::erf(v * 0.7071067811865476f));
        float pdf = 0.3989422804014327f * std::exp(-0.5f * v * v);
        return g * (cdf + v * pdf);
      });
  }
  return y;
}

Tensor elu(const Tensor& x, double alpha_d) {
  require_float(x, "elu");
  const float alpha = static_cast<float>(alpha_d);
  Tensor y = Tensor::empty(x.shape(), DType::Float32);
  kernels::map1(x.data<float>(), y.data<float>(), x.numel(),
                [alpha](float v) { return v > 0.f ? v : alpha * std::expm1(v); });
  // d elu = g * alpha e^x for x <= 0, g otherwise (NaN included, as torch)
  if (recording({&x}))
    record_unary(y, "elu", x, x, [alpha](float g, float v) { return v <= 0.f ? g * alpha * std::exp(v) : g; });
  return y;
}

Tensor selu(const Tensor& x) {
  Tensor y = map_float(x, "selu", [](float v) {
    return kSeluScale * (v > 0.f ? v : kSeluAlpha * std::expm1(v));
  });
  // d selu = scale alpha e^x g for x <= 0, scale g otherwise (NaN included, as torch)
  if (recording({&x}))
    record_unary(y, "selu", x, x, [](float g, float v) {
      return kSeluScale * (v <= 0.f ? g * kSeluAlpha * std::exp(v) : g);
    });
  return y;
}

Tensor leaky_relu(const Tensor& x, double negative_slope) {
  require_float(x, "leaky_relu");
  const float a = static_cast<float>(negative_slope);
  Tensor y = Tensor::empty(x.shape(), DType::Float32);
  kernels::map1(x.data<float>(), y.data<float>(), x.numel(), [a](float v) { return v > 0.f ? v : a * v; });
  // d = g for x > 0, a g otherwise
  if (recording({&x}))
    record_unary(y, "leaky_relu", x, x, [a](float g, float v) { return v > 0.f ? g : a * g; });
  return y;
}

Tensor softplus(const Tensor& x) {
  Tensor y = map_float(x, "softplus", [](float v) {
    return v > 20.f ? v : std::log1p(std::exp(v));
  });
  // d softplus = g * sigmoid(x)
  if (recording({&x}))
    record_unary(y, "softplus", x, x, [](float g, float v) { return g / (1.f + std::exp(-v)); });
  return y;
}

namespace {
Tensor softmax_impl(const Tensor& x, int64_t axis, bool log, const char* op) {
  require_float(x, op);
  if (x.dim() == 0) throw std::invalid_argument(tag(op) + "expected a tensor of rank >= 1, got a scalar");
  int64_t ax = norm_axis(axis, x.dim(), op, x.shape());
  int64_t outer = 1, inner = 1, n = x.shape()[ax];
  for (int64_t d = 0; d < ax; ++d) outer *= x.shape()[d];
  for (int64_t d = ax + 1; d < x.dim(); ++d) inner *= x.shape()[d];
  Tensor y = Tensor::empty(x.shape(), DType::Float32);
  kernels::softmax(x.data<float>(), y.data<float>(), outer, n, inner, log);
  if (recording({&x})) {
    Tensor yd = y.detach();
    // softmax: dx = y (g - sum(g y)); log_softmax: dx = g - e^y sum(g)
    record(y, op, {x}, [yd, outer, n, inner, log](const Tensor& g, const std::vector<bool>&) {
      Tensor dx = Tensor::empty(g.shape(), DType::Float32);
      kernels::softmax_backward(yd.data<float>(), g.data<float>(), dx.data<float>(), outer, n, inner, log);
      return std::vector<Tensor>{dx};
    });
  }
  return y;
}
}  // namespace

Tensor softmax(const Tensor& x, int64_t axis) { return softmax_impl(x, axis, false, "softmax"); }
Tensor log_softmax(const Tensor& x, int64_t axis) { return softmax_impl(x, axis, true, "log_softmax"); }

namespace {
struct ActivationName {
  const char* name;
  Activation value;
};
constexpr ActivationName kActivationNames[] = {
    {"linear", Activation::Linear}, {"relu", Activation::Relu},       {"sigmoid", Activation::Sigmoid},
    {"tanh", Activation::Tanh},     {"softmax", Activation::Softmax}, {"gelu", Activation::Gelu},
    {"elu", Activation::Elu},       {"selu", Activation::Selu},       {"silu", Activation::Silu},
    {"swish", Activation::Silu},    {"softplus", Activation::Softplus}, {"leaky_relu", Activation::LeakyRelu},
};
}  // namespace

Activation activation_from_name(const std::string& name) {
  if (name.empty()) return Activation::Linear;
  for (const auto& a : kActivationNames)
    if (name == a.name) return a.value;
  throw std::invalid_argument("Could not interpret activation function identifier: " + name);
}

const char* activation_name(Activation a) {
  for (const auto& e : kActivationNames)
    if (e.value == a) return e.name;  // the first name of a value: "silu", not "swish"
  throw std::invalid_argument("unknown activation");
}

std::vector<std::string> activation_names() {
  std::vector<std::string> names;
  for (const auto& a : kActivationNames) names.push_back(a.name);
  return names;
}

Tensor activation(const Tensor& x, Activation a) {
  switch (a) {
    case Activation::Linear: return x;
    case Activation::Relu: return relu(x);
    case Activation::Sigmoid: return sigmoid(x);
    case Activation::Tanh: return tanh(x);
    case Activation::Softmax: return softmax(x, -1);
    case Activation::Gelu: return gelu(x, /*approximate=*/false);
    case Activation::Elu: return elu(x, 1.0);
    case Activation::Selu: return selu(x);
    case Activation::Silu: return silu(x);
    case Activation::Softplus: return softplus(x);
    case Activation::LeakyRelu: return leaky_relu(x, 0.2);
  }
  throw std::invalid_argument("unknown activation");
}

}  // namespace ops
}  // namespace lamina
