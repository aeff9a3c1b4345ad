// Elementwise arithmetic, comparisons and basic unary math, with NumPy broadcasting.
#include <cmath>
#include <limits>
#include <type_traits>

#include "kernels/elementwise.hpp"
#include "kernels/strided.hpp"
#include "kernels/unary.hpp"
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

// Calls f(T{}) with T the C++ type of a numeric dtype.
template <class F>
void dispatch(DType dt, F f) {
  switch (dt) {
    case DType::Float32: f(float{}); break;
    case DType::Int32: f(int32_t{}); break;
    case DType::Int64: f(int64_t{}); break;
    case DType::Bool: f(bool{}); break;
  }
}

// Result dtype of add, subtract, multiply, maximum, minimum (Keras's result_type): bool with bool
// stays bool, otherwise the wider of the two (bool counts as the narrowest).
DType arith_dtype(DType a, DType b) {
  if (a == DType::Float32 || b == DType::Float32) return DType::Float32;
  if (a == DType::Int64 || b == DType::Int64) return DType::Int64;
  if (a == DType::Bool && b == DType::Bool) return DType::Bool;
  return DType::Int32;  // int32, or int32 with bool
}

// f(x, y) with integers wrapping around in two's complement, as NumPy's int32/int64 arithmetic
// does (computed on the unsigned type: signed overflow is undefined behaviour in C++). Floats and
// bools go straight to f (for bools, the int result converts to bool: + is or, * is and).
template <class T, class F>
T wrapping(T x, T y, F f) {
  if constexpr (std::is_integral_v<T> && !std::is_same_v<T, bool>) {
    using U = std::make_unsigned_t<T>;
    return static_cast<T>(f(static_cast<U>(x), static_cast<U>(y)));
  } else {
    return static_cast<T>(f(x, y));
  }
}

// -x, wrapping as NumPy does (-INT_MIN == INT_MIN); floats flip the sign bit (-(0.0) == -0.0,
// which 0 - x would lose).
template <class T>
T wrapping_negate(T v) {
  if constexpr (std::is_floating_point_v<T>) return -v;
  else return wrapping(T(0), v, [](auto x, auto y) { return x - y; });
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

// Float-only unary map with optional int -> float promotion.
template <class F>
Tensor fmap(const char* op, const Tensor& x, F f) {
  Tensor xf = as_float(x, op);
  Tensor y = Tensor::empty(xf.shape(), DType::Float32);
  kernels::map1(xf.data<float>(), y.data<float>(), xf.numel(), f);
  return y;
}

// Elementwise product of same-shape float tensors, y = f(a, b).
template <class F>
Tensor fmap2(const Tensor& a, const Tensor& b, F f) {
  Tensor y = Tensor::empty(a.shape(), DType::Float32);
  kernels::map2(a.data<float>(), b.data<float>(), y.data<float>(), a.numel(), f);
  return y;
}

}  // namespace

Tensor add(const Tensor& a, const Tensor& b) {
  Tensor out = arith("add", a, b, [](auto x, auto y) {
    return wrapping(x, y, [](auto p, auto q) { return p + q; });
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
    return wrapping(x, y, [](auto p, auto q) { return p - q; });
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
  Tensor out = arith("multiply", a, b, [](auto x, auto y) {
    return wrapping(x, y, [](auto p, auto q) { return p * q; });
  });
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
        Tensor la = fmap("power", af, [](float x) { return x > 0.f ? std::log(x) : 0.f; });
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

// ---------------------------------------------------------------- unary

Tensor negative(const Tensor& x) {
  check_defined(x, "negative");
  if (x.dtype() == DType::Bool) throw TypeError("[negative] not defined for bool tensors");
  Tensor y = Tensor::empty(x.shape(), x.dtype());
  dispatch(x.dtype(), [&](auto tag_) {
    using T = decltype(tag_);
    kernels::map1(x.data<T>(), y.data<T>(), x.numel(), [](T v) { return wrapping_negate(v); });
  });
  // d(-x) = -g
  if (x.dtype() == DType::Float32 && recording({&x}))
    record(y, "negative", {x}, [](const Tensor& g, const std::vector<bool>&) {
      return std::vector<Tensor>{negative(g)};
    });
  return y;
}

Tensor abs(const Tensor& x) {
  check_defined(x, "abs");
  if (x.dtype() == DType::Bool) return x;
  Tensor y = Tensor::empty(x.shape(), x.dtype());
  dispatch(x.dtype(), [&](auto tag_) {
    using T = decltype(tag_);
    // as NumPy: abs(-0.0) == 0.0, abs(INT_MIN) == INT_MIN
    kernels::map1(x.data<T>(), y.data<T>(), x.numel(), [](T v) {
      if constexpr (std::is_floating_point_v<T>) return std::fabs(v);
      else return v < T(0) ? wrapping_negate(v) : v;
    });
  });
  // d|x| = g * sign(x)
  if (x.dtype() == DType::Float32 && recording({&x}))
    record(y, "abs", {x}, [x](const Tensor& g, const std::vector<bool>&) {
      return std::vector<Tensor>{fmap2(g, x, [](float gv, float v) { return v > 0 ? gv : (v < 0 ? -gv : 0.f); })};
    });
  return y;
}

Tensor sign(const Tensor& x) {
  check_defined(x, "sign");
  Tensor y = Tensor::empty(x.shape(), x.dtype());
  dispatch(x.dtype(), [&](auto tag_) {
    using T = decltype(tag_);
    kernels::map1(x.data<T>(), y.data<T>(), x.numel(),
                  [](T v) { return v != v ? v : static_cast<T>((T(0) < v) - (v < T(0))); });  // NaN: NaN (NumPy)
  });
  return y;  // piecewise constant: no gradient
}

Tensor square(const Tensor& x) {
  check_defined(x, "square");
  // bool squares to int32 (Keras), not to bool as bool * bool does
  Tensor xd = x.dtype() == DType::Bool ? cast(x, DType::Int32) : x.detach();
  Tensor y = multiply(xd, xd);
  // d x^2 = 2 x g
  if (y.dtype() == DType::Float32 && recording({&x}))
    record(y, "square", {x}, [x](const Tensor& g, const std::vector<bool>&) {
      return std::vector<Tensor>{fmap2(g, x, [](float gv, float v) { return 2.f * v * gv; })};
    });
  return y;
}

Tensor exp(const Tensor& x) {
  Tensor xf = as_float(x, "exp");
  Tensor y = Tensor::empty(xf.shape(), DType::Float32);
  kernels::vexp(xf.data<float>(), y.data<float>(), xf.numel());
  if (recording({&x})) {
    Tensor yd = y.detach();
    // d e^x = g e^x
    record(y, "exp", {x}, [yd](const Tensor& g, const std::vector<bool>&) {
      return std::vector<Tensor>{fmap2(g, yd, [](float gv, float v) { return gv * v; })};
    });
  }
  return y;
}

Tensor log(const Tensor& x) {
  Tensor xf = as_float(x, "log");
  Tensor y = Tensor::empty(xf.shape(), DType::Float32);
  kernels::vlog(xf.data<float>(), y.data<float>(), xf.numel());
  // d log x = g / x
  if (recording({&x}))
    record(y, "log", {x}, [x](const Tensor& g, const std::vector<bool>&) {
      return std::vector<Tensor>{fmap2(g, x, [](float gv, float v) { return gv / v; })};
    });
  return y;
}

Tensor sqrt(const Tensor& x) {
  Tensor y = fmap("sqrt", x, [](float v) { return std::sqrt(v); });
  if (recording({&x})) {
    Tensor yd = y.detach();
    // d sqrt x = g / (2 sqrt x)
    record(y, "sqrt", {x}, [yd](const Tensor& g, const std::vector<bool>&) {
      return std::vector<Tensor>{fmap2(g, yd, [](float gv, float v) { return gv / (2.f * v); })};
    });
  }
  return y;
}

Tensor clip(const Tensor& x, double lo, double hi) {
  if (lo > hi)
    throw std::invalid_argument("[clip] x_min (" + std::to_string(lo) + ") must be <= x_max (" +
                                std::to_string(hi) + ")");
  check_defined(x, "clip");
  if (x.dtype() != DType::Float32) {
    Tensor y = Tensor::empty(x.shape(), x.dtype());
    dispatch(x.dtype(), [&](auto tag_) {
      using T = decltype(tag_);
      // bounds beyond the integer range (such as +-inf) clamp to it: converting them would be UB
      auto bound = [](double v) {
        if constexpr (std::is_integral_v<T> && !std::is_same_v<T, bool>) {
          constexpr double mn = static_cast<double>(std::numeric_limits<T>::min());
          if (!(v > mn)) return std::numeric_limits<T>::min();  // also NaN
          if (v >= -mn) return std::numeric_limits<T>::max();
        }
        return static_cast<T>(v);
      };
      T l = bound(lo), h = bound(hi);
      kernels::map1(x.data<T>(), y.data<T>(), x.numel(), [l, h](T v) { return v < l ? l : (v > h ? h : v); });
    });
    return y;
  }
  float l = static_cast<float>(lo), h = static_cast<float>(hi);
  Tensor y = fmap("clip", x, [l, h](float v) { return v < l ? l : (v > h ? h : v); });
  // d clip = g inside [lo, hi], 0 outside
  if (recording({&x}))
    record(y, "clip", {x}, [x, l, h](const Tensor& g, const std::vector<bool>&) {
      return std::vector<Tensor>{fmap2(g, x, [l, h](float gv, float v) { return (v >= l && v <= h) ? gv : 0.f; })};
    });
  return y;
}

}  // namespace ops

Tensor operator+(const Tensor& a, const Tensor& b) { return ops::add(a, b); }
Tensor operator-(const Tensor& a, const Tensor& b) { return ops::subtract(a, b); }
Tensor operator*(const Tensor& a, const Tensor& b) { return ops::multiply(a, b); }
Tensor operator/(const Tensor& a, const Tensor& b) { return ops::divide(a, b); }
Tensor operator-(const Tensor& x) { return ops::negative(x); }

}  // namespace lamina
