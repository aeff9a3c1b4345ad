// softmax / log_softmax on an axis, and the Activation enum's names and calls (lamina/unary_ops.def;
// the elementwise activations themselves are rows of that table: unary.cpp).
#include "kernels/softmax.hpp"
#include "op_util.hpp"

namespace lamina {
namespace ops {
using namespace detail;

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
// Every accepted name, aliases included, in unary_ops.def's order.
constexpr ActivationName kActivationNames[] = {
#define LAMINA_ACTIVATION(id, name, call) {#name, Activation::id},
#define LAMINA_ACTIVATION_ALIAS(name, id) {#name, Activation::id},
#include "lamina/unary_ops.def"
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
#define LAMINA_ACTIVATION(id, name, call) \
  case Activation::id: return call;
#include "lamina/unary_ops.def"
  }
  throw std::invalid_argument("unknown activation");
}

}  // namespace ops
}  // namespace lamina
