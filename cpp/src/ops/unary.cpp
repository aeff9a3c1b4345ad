// The unary elementwise ops and activations of lamina/unary_ops.def, each expanded into a row type
// that one template turns into the op (dtype rule, forward, recorded backward); clip, whose
// bounds depend on the dtype, is a row written by hand.
#include <cmath>
#include <limits>
#include <type_traits>

#include "kernels/elementwise.hpp"
#include "kernels/unary.hpp"
#include "op_util.hpp"

namespace lamina {
namespace ops {
using namespace detail;

namespace {

// The `dtypes` column of unary_ops.def (its header says what each rule does).
enum class UnaryDtypes { Float, IntKeep, NoBool, BoolInt, Any };
// What the backward keeps: the input, the output, or nothing but g.
enum class Saved { x, y, none };
struct NoParam {};

// A parameter as the kernels take it: float32 for a double (as the float math computes), bools as are.
inline float kernel_param(double v) { return static_cast<float>(v); }
inline bool kernel_param(bool v) { return v; }

// The input an op computes on, after its dtype rule (the rows' `dtypes` column).
Tensor unary_input(const Tensor& x, const char* op, UnaryDtypes rule) {
  check_defined(x, op);
  const DType dt = x.dtype();
  switch (rule) {
    case UnaryDtypes::Float: return as_float(x, op);
    case UnaryDtypes::IntKeep: return dt == DType::Bool ? cast(x, DType::Float32) : x;
    case UnaryDtypes::NoBool:
      if (dt == DType::Bool) throw TypeError(tag(op) + "not defined for bool tensors");
      return x;
    case UnaryDtypes::BoolInt: return dt == DType::Bool ? cast(x, DType::Int32) : x;
    case UnaryDtypes::Any: return x;
  }
  return x;
}

// The op of a row: forward in the input's dtype (float32 only for Float rows), and while recording
// a node whose backward is Row::backward(g, saved x or y).
template <class Row, class P>
Tensor unary(const Tensor& x, P p) {
  Tensor in = unary_input(x, Row::name, Row::dtypes);
  Tensor y = Tensor::empty(in.shape(), in.dtype());
  const int64_t n = in.numel();
  if constexpr (Row::dtypes == UnaryDtypes::Float) {
    Row::forward(in.data<float>(), y.data<float>(), n, p);
  } else {
    dispatch(in.dtype(), [&](auto tag_) {
      using T = decltype(tag_);
      Row::forward(in.data<T>(), y.data<T>(), n, p);
    });
  }
  if constexpr (Row::differentiable) {
    if (y.dtype() == DType::Float32 && recording({&x})) {
      Tensor saved = Row::saved == Saved::x ? in : Row::saved == Saved::y ? y.detach() : Tensor();
      record(y, Row::name, {x}, [saved, p](const Tensor& g, const std::vector<bool>&) {
        Tensor dx = Tensor::empty(g.shape(), DType::Float32);
        const float* s = saved.defined() ? saved.data<float>() : g.data<float>();
        Row::backward(g.data<float>(), s, dx.data<float>(), g.numel(), p);
        return std::vector<Tensor>{dx};
      });
    }
  }
  return y;
}

// The table's columns as row members (see unary_ops.def).
#define MAP(expr)                                                       \
  template <class T, class P>                                           \
  static void forward(const T* xp, T* yp, int64_t n, P p) {             \
    kernels::map1(xp, yp, n, [=](T x) { return static_cast<T>(expr); }); \
  }
#define VEC(kernel)                                                     \
  template <class P>                                                    \
  static void forward(const float* xp, float* yp, int64_t n, P) {       \
    kernel(xp, yp, n);                                                  \
  }
#define GRAD(saved_, expr)                                                              \
  static constexpr bool differentiable = true;                                          \
  static constexpr Saved saved = Saved::saved_;                                         \
  template <class P>                                                                    \
  static void backward(const float* gp, const float* sp, float* dp, int64_t n, P p) {   \
    kernels::map2(gp, sp, dp, n, [=](float g, float saved_) { return expr; });          \
  }
#define GRAD_VEC(saved_, kernel)                                                        \
  static constexpr bool differentiable = true;                                          \
  static constexpr Saved saved = Saved::saved_;                                         \
  template <class P>                                                                    \
  static void backward(const float* gp, const float* sp, float* dp, int64_t n, P) {     \
    kernel(gp, sp, dp, n);                                                              \
  }
#define NO_GRAD static constexpr bool differentiable = false;

// (the columns reach the struct expanded, commas and all: hence the variadic helper)
#define LAMINA_UNARY_ROW(name_, dtypes_, ...)                   \
  struct name_##_row {                                          \
    static constexpr const char* name = #name_;                 \
    static constexpr UnaryDtypes dtypes = UnaryDtypes::dtypes_; \
    __VA_ARGS__                                                 \
  };
#define LAMINA_UNARY(name_, dtypes_, forward_, derivative_) LAMINA_UNARY_ROW(name_, dtypes_, forward_ derivative_)
#define LAMINA_UNARY_P(name_, type, param, default_value, dtypes_, forward_, derivative_) \
  LAMINA_UNARY_ROW(name_, dtypes_, forward_ derivative_)
#include "lamina/unary_ops.def"

// clip(x, lo, hi): the bounds in x's dtype (integer bounds beyond the type's range, such as
// +-inf, clamp to it: converting them would be undefined); d clip = g inside [lo, hi], 0 outside.
struct ClipBounds {
  double lo, hi;
};
template <class T>
T clip_bound(double v) {
  if constexpr (std::is_integral_v<T> && !std::is_same_v<T, bool>) {
    constexpr double mn = static_cast<double>(std::numeric_limits<T>::min());
    if (!(v > mn)) return std::numeric_limits<T>::min();  // also NaN
    if (v >= -mn) return std::numeric_limits<T>::max();
  }
  return static_cast<T>(v);
}
struct clip_row {
  static constexpr const char* name = "clip";
  static constexpr UnaryDtypes dtypes = UnaryDtypes::Any;
  template <class T>
  static void forward(const T* xp, T* yp, int64_t n, ClipBounds b) {
    const T l = clip_bound<T>(b.lo), h = clip_bound<T>(b.hi);
    kernels::map1(xp, yp, n, [l, h](T v) { return v < l ? l : (v > h ? h : v); });
  }
  static constexpr bool differentiable = true;
  static constexpr Saved saved = Saved::x;
  static void backward(const float* gp, const float* sp, float* dp, int64_t n, ClipBounds b) {
    const float l = clip_bound<float>(b.lo), h = clip_bound<float>(b.hi);
    kernels::map2(gp, sp, dp, n, [l, h](float g, float v) { return (v >= l && v <= h) ? g : 0.f; });
  }
};

}  // namespace

#define LAMINA_UNARY(name_, dtypes_, forward_, derivative_) \
  Tensor name_(const Tensor& x) { return unary<name_##_row>(x, NoParam{}); }
#define LAMINA_UNARY_P(name_, type, param, default_value, dtypes_, forward_, derivative_) \
  Tensor name_(const Tensor& x, type param) { return unary<name_##_row>(x, kernel_param(param)); }
#include "lamina/unary_ops.def"
#undef LAMINA_UNARY_ROW
#undef MAP
#undef VEC
#undef GRAD
#undef GRAD_VEC
#undef NO_GRAD

Tensor clip(const Tensor& x, double lo, double hi) {
  if (lo > hi)
    throw std::invalid_argument("[clip] x_min (" + std::to_string(lo) + ") must be <= x_max (" +
                                std::to_string(hi) + ")");
  return unary<clip_row>(x, ClipBounds{lo, hi});
}

}  // namespace ops
}  // namespace lamina
