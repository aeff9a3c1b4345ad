// Elementwise arithmetic and comparisons, with NumPy broadcasting (the unary ops: unary.cpp).
#include <cmath>

#include "kernels/elementwise.hpp"
#include "kernels/strided.hpp"
#include "op_util.hpp"

namespace lamina {
namespace ops {
using namespace detail;

Shape broadcast_shapes(const Shape& a, const Shape& b, const char* op) {
  const size_t r = std::max(a.size(), b.size());
  Shape out(r);
  for (size_t i = 0; i < r; ++i) {
    int64_t da = i < r - a.size() ? 1 : a[i - (r - a.size())];
    int64_t db = i < r - b.size() ? 1 : b[i - (r - b.size())];
    if (da != db && da != 1 && db != 1)
      throw std::invalid_argument(tag(op) + "shapes " + shape_str(a) + " and " + shape_str(b) +
                                  " cannot be broadcast together");
    out[i] = da == 1 ? db : da;
  }
  return out;
}

namespace {

// Result dtype of add, subtract, multiply, maximum, minimum (Keras's result_type): bool with bool
// stays bool, otherwise the wider of the two (bool counts as the narrowest).
DType arith_dtype(DType a, DType b) {
  if (a == DType::Float32 || b == DType::Float32) return DType::Float32;
  if (a == DType::Int64 || b == DType::Int64) return DType::Int64;
  if (a == DType::Bool && b == DType::Bool) return DType::Bool;
  return DType::Int32;  // int32, or int32 with bool
}

// out = f(a, b) computed in dtype `dt` (inputs cast to it), output dtype `out_dt`.
template <class F>
Tensor broadcast_apply(const char* op, const Tensor& a, const Tensor& b, DType dt, DType out_dt, F f) {
  check_defined(a, op);
  check_defined(b, op);
  Shape out_shape = a.shape() == b.shape() ? a.shape() : broadcast_shapes(a.shape(), b.shape(), op);
  Tensor ca = cast(a, dt), cb = cast(b, dt);
  Tensor out = Tensor::empty(out_shape, out_dt);
  auto plan = kernels::plan_broadcast(out_shape, {a.shape(), b.shape()});
  dispatch(dt, [&](auto in_tag) {
    using T = decltype(in_tag);
    dispatch(out_dt, [&](auto out_tag) {
      using O = decltype(out_tag);
      kernels::binary_broadcast(ca.data<T>(), cb.data<T>(), out.data<O>(), plan,
                                [&](T x, T y) { return static_cast<O>(f(x, y)); });
    });
  });
  return out;
}

template <class F>
Tensor arith(const char* op, const Tensor& a, const Tensor& b, F f) {
  check_defined(a, op);
  check_defined(b, op);
  DType dt = arith_dtype(a.dtype(), b.dtype());
  return broadcast_apply(op, a, b, dt, dt, f);
}

template <class F>
Tensor compare(const char* op, const Tensor& a, const Tensor& b, F f) {
  check_defined(a, op);
  check_defined(b, op);
  DType dt = arith_dtype(a.dtype(), b.dtype());
  if (dt == DType::Int32 && (a.dtype() == DType::Int64 || b.dtype() == DType::Int64)) dt = DType::Int64;
  return broadcast_apply(op, a, b, dt, DType::Bool, f);
}

}  // namespace

Tensor add(const Tensor& a, const Tensor& b) {
  Tensor out = arith("add", a, b, [](auto x, auto y) {
    return kernels::wrapping(x, y, [](auto p, auto q) { return p + q; });
  });
  if (out.dtype() == DType::Float32 && recording({&a, &b})) {
    Shape sa = a.shape(), sb = b.shape();
    // d(a+b) = g, g (each summed down to its input's shape)
    record(out, "add", {a, b}, [sa, sb](const Tensor& g, const std::vector<bool>& need) {
      return std::vector<Tensor>{need[0] ? sum_to(g, sa) : Tensor(), need[1] ? sum_to(g, sb) : Tensor()};
    });
  }
  return out;
}

Tensor subtract(const Tensor& a, const Tensor& b) {
  if (a.defined() && b.defined() && a.dtype() == DType::Bool && b.dtype() == DType::Bool)
    throw TypeError("[subtract] not defined for two bool tensors (as in NumPy and Keras): use "
                    "logical_xor, or cast to int32 first");
  Tensor out = arith("subtract", a, b, [](auto x, auto y) {
    return kernels::wrapping(x, y, [](auto p, auto q) { return p - q; });
  });
  if (out.dtype() == DType::Float32 && recording({&a, &b})) {
    Shape sa = a.shape(), sb = b.shape();
    // d(a-b) = g, -g
    record(out, "subtract", {a, b}, [sa, sb](const Tensor& g, const std::vector<bool>& need) {
      return std::vector<Tensor>{need[0] ? sum_to(g, sa) : Tensor(),
                                 need[1] ? negative(sum_to(g, sb)) : Tensor()};
    });
  }
  return out;
}

Tensor multiply(const Tensor& a, const Tensor& b) {
  Tensor out = arith("multiply", a, b, [](auto x, auto y) { return kernels::wrapping_multiply(x, y); });
  if (out.dtype() == DType::Float32 && recording({&a, &b})) {
    // d(a*b) = g*b, g*a
    record(out, "multiply", {a, b}, [a, b](const Tensor& g, const std::vector<bool>& need) {
      return std::vector<Tensor>{need[0] ? sum_to(multiply(g, b), a.shape()) : Tensor(),
                                 need[1] ? sum_to(multiply(g, a), b.shape()) : Tensor()};
    });
  }
  return out;
}

Tensor divide(const Tensor& a, const Tensor& b) {
  Tensor out = broadcast_apply("divide", a, b, DType::Float32, DType::Float32,
                               [](float x, float y) { return x / y; });
  if (recording({&a, &b})) {
    Tensor y = out.detach();
    // d(a/b) = g/b, -g*(a/b)/b
    record(out, "divide", {a, b}, [a, b, y](const Tensor& g, const std::vector<bool>& need) {
      Tensor gb = need[1] ? sum_to(negative(divide(multiply(g, y), b)), b.shape()) : Tensor();
      return std::vector<Tensor>{need[0] ? sum_to(divide(g, b), a.shape()) : Tensor(), gb};
    });
  }
  return out;
}

Tensor power(const Tensor& a, const Tensor& b) {
  Tensor out = broadcast_apply("power", a, b, DType::Float32, DType::Float32,
                               [](float x, float y) { return std::pow(x, y); });
  if (recording({&a, &b})) {
    Tensor y = out.detach();
    // d(a^b) = g*b*a^(b-1), g*a^b*log(a) (0 where a <= 0)
    record(out, "power", {a, b}, [a, b, y](const Tensor& g, const std::vector<bool>& need) {
      Tensor af = as_float(a, "power"), bf = as_float(b, "power");
      Tensor ga, gb;
      if (need[0]) {
        Tensor d = broadcast_apply("power", af, bf, DType::Float32, DType::Float32,
                                   [](float x, float e) { return e == 0.f ? 0.f : e * std::pow(x, e - 1.f); });
        ga = sum_to(multiply(g, d), a.shape());
      }
      if (need[1]) {
        Tensor la = Tensor::empty(af.shape(), DType::Float32);
        kernels::map1(af.data<float>(), la.data<float>(), af.numel(),
                      [](float x) { return x > 0.f ? std::log(x) : 0.f; });
        gb = sum_to(multiply(multiply(g, y), la), b.shape());
      }
      return std::vector<Tensor>{ga, gb};
    });
  }
  return out;
}

namespace {
// maximum/minimum (NaN-propagating, as NumPy and torch). The gradient goes to `a` where pick(a, b)
// holds (ties included), else to `b`; where either is NaN it goes to both, as torch's does (a NaN
// output does not hide a NaN gradient from either input).
template <class F, class P>
Tensor select_op(const char* op, const Tensor& a, const Tensor& b, F f, P pick) {
  Tensor out = arith(op, a, b, f);
  if (out.dtype() == DType::Float32 && recording({&a, &b})) {
    record(out, op, {a, b}, [a, b, pick, op](const Tensor& g, const std::vector<bool>& need) {
      auto mask = [&](bool to_a) {
        return broadcast_apply(op, as_float(a, op), as_float(b, op), DType::Float32, DType::Float32,
                               [pick, to_a](float x, float y) {
                                 return (x != x || y != y || pick(x, y) == to_a) ? 1.f : 0.f;
                               });
      };
      Tensor ga, gb;
      if (need[0]) ga = sum_to(multiply(g, mask(true)), a.shape());
      if (need[1]) gb = sum_to(multiply(g, mask(false)), b.shape());
      return std::vector<Tensor>{ga, gb};
    });
  }
  return out;
}
}  // namespace

Tensor maximum(const Tensor& a, const Tensor& b) {
  return select_op("maximum", a, b, [](auto x, auto y) { return kernels::max_nan(x, y); },
                   [](float x, float y) { return x >= y; });
}

Tensor minimum(const Tensor& a, const Tensor& b) {
  return select_op("minimum", a, b, [](auto x, auto y) { return kernels::min_nan(x, y); },
                   [](float x, float y) { return x <= y; });
}

Tensor equal(const Tensor& a, const Tensor& b) {
  return compare("equal", a, b, [](auto x, auto y) { return x == y; });
}
Tensor not_equal(const Tensor& a, const Tensor& b) {
  return compare("not_equal", a, b, [](auto x, auto y) { return x != y; });
}
Tensor less(const Tensor& a, const Tensor& b) {
  return compare("less", a, b, [](auto x, auto y) { return x < y; });
}
Tensor less_equal(const Tensor& a, const Tensor& b) {
  return compare("less_equal", a, b, [](auto x, auto y) { return x <= y; });
}
Tensor greater(const Tensor& a, const Tensor& b) {
  return compare("greater", a, b, [](auto x, auto y) { return x > y; });
}
Tensor greater_equal(const Tensor& a, const Tensor& b) {
  return compare("greater_equal", a, b, [](auto x, auto y) { return x >= y; });
}
Tensor logical_and(const Tensor& a, const Tensor& b) {
  return broadcast_apply("logical_and", cast(a, DType::Bool), cast(b, DType::Bool), DType::Bool,
                         DType::Bool, [](bool x, bool y) { return x && y; });
}
Tensor logical_or(const Tensor& a, const Tensor& b) {
  return broadcast_apply("logical_or", cast(a, DType::Bool), cast(b, DType::Bool), DType::Bool,
                         DType::Bool, [](bool x, bool y) { return x || y; });
}
Tensor logical_not(const Tensor& x) {
  check_defined(x, "logical_not");
  Tensor xb = cast(x, DType::Bool);
  Tensor y = Tensor::empty(x.shape(), DType::Bool);
  kernels::map1(xb.data<bool>(), y.data<bool>(), x.numel(), [](bool v) { return !v; });
  return y;
}

Tensor where(const Tensor& condition, const Tensor& x, const Tensor& y) {
  check_defined(condition, "where");
  check_defined(x, "where");
  check_defined(y, "where");
  Shape s = broadcast_shapes(broadcast_shapes(condition.shape(), x.shape(), "where"), y.shape(), "where");
  DType dt = arith_dtype(x.dtype(), y.dtype());
  if (x.dtype() == DType::Bool && y.dtype() == DType::Bool) dt = DType::Bool;
  Tensor c = cast(condition, DType::Bool), cx = cast(x, dt), cy = cast(y, dt);
  Tensor out = Tensor::empty(s, dt);
  auto plan = kernels::plan_broadcast(s, {condition.shape(), x.shape(), y.shape()});
  dispatch(dt, [&](auto tag_) {
    using T = decltype(tag_);
    kernels::ternary_broadcast(c.data<bool>(), cx.data<T>(), cy.data<T>(), out.data<T>(), plan,
                               [](bool k, T a, T b) { return k ? a : b; });
  });
  if (dt == DType::Float32 && recording({&x, &y})) {
    // d where(c, x, y) = where(c, g, 0), where(c, 0, g)
    record(out, "where", {x, y}, [c, x, y](const Tensor& g, const std::vector<bool>& need) {
      Tensor zero = scalar(0.0);
      return std::vector<Tensor>{need[0] ? sum_to(where(c, g, zero), x.shape()) : Tensor(),
                                 need[1] ? sum_to(where(c, zero, g), y.shape()) : Tensor()};
    });
  }
  return out;
}

}  // namespace ops

Tensor operator+(const Tensor& a, const Tensor& b) { return ops::add(a, b); }
Tensor operator-(const Tensor& a, const Tensor& b) { return ops::subtract(a, b); }
Tensor operator*(const Tensor& a, const Tensor& b) { return ops::multiply(a, b); }
Tensor operator/(const Tensor& a, const Tensor& b) { return ops::divide(a, b); }
Tensor operator-(const Tensor& x) { return ops::negative(x); }

}  // namespace lamina
