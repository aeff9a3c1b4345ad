// Creation ops and dtype casts.
#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <random>
#include <type_traits>

#include "kernels/elementwise.hpp"
#include "op_util.hpp"

namespace lamina {
namespace ops {
using namespace detail;

namespace {
// Floating -> integer as NumPy gives it on x86-64, without the undefined behaviour of converting
// a value the integer cannot hold: NaN, infinities and out-of-range values become the minimum.
template <class TO>
TO float_to_int(double v) {
  constexpr double lo = static_cast<double>(std::numeric_limits<TO>::min());  // -2^31 / -2^63, exact
  return v >= lo && v < -lo ? static_cast<TO>(v) : std::numeric_limits<TO>::min();
}

// Writes only: a map over the uninitialised buffer would read it first (for bool, loading a byte
// that is not 0 or 1 is undefined behaviour).
template <class T>
void fill(Tensor& t, T v) {
  std::fill_n(t.data<T>(), t.numel(), v);
}
}  // namespace

Tensor full(const Shape& shape, double value, DType dtype) {
  // An integer fill must be representable (converting NaN, inf or an out-of-range double to an
  // integer is undefined behaviour; torch refuses it too).
  const bool fits = dtype == DType::Int32   ? value > -2147483649.0 && value < 2147483648.0
                    : dtype == DType::Int64 ? value >= -9223372036854775808.0 && value < 9223372036854775808.0
                                            : true;
  if (!fits)
    throw std::invalid_argument("[full] fill value " + std::to_string(value) + " does not fit dtype " +
                                dtype_name(dtype));
  Tensor t = Tensor::empty(shape, dtype);
  switch (dtype) {
    case DType::Float32: fill<float>(t, static_cast<float>(value)); break;
    case DType::Int32: fill<int32_t>(t, static_cast<int32_t>(value)); break;
    case DType::Int64: fill<int64_t>(t, static_cast<int64_t>(value)); break;
    case DType::Bool: fill<bool>(t, value != 0.0); break;
  }
  return t;
}

Tensor zeros(const Shape& shape, DType dtype) {
  Tensor t = Tensor::empty(shape, dtype);
  if (t.nbytes()) std::memset(t.raw_data(), 0, t.nbytes());
  return t;
}

Tensor ones(const Shape& shape, DType dtype) { return full(shape, 1.0, dtype); }

Tensor scalar(double value, DType dtype) { return full({}, value, dtype); }

Tensor from_data(const void* data, const Shape& shape, DType dtype) {
  Tensor t = Tensor::empty(shape, dtype);
  if (t.nbytes()) std::memcpy(t.raw_data(), data, t.nbytes());
  return t;
}

Tensor arange(double start, double stop, double step, DType dtype) {
  if (step == 0) throw std::invalid_argument("[arange] step must not be zero");
  double count = std::ceil((stop - start) / step);
  // As NumPy: a NaN bound or step has no length, an infinite one is too large (and converting
  // either to int64 would be undefined behaviour).
  if (std::isnan(count))
    throw std::invalid_argument("[arange] cannot compute length: start=" + std::to_string(start) +
                                ", stop=" + std::to_string(stop) + ", step=" + std::to_string(step));
  if (count >= 9.2e18)
    throw std::invalid_argument("[arange] maximum allowed size exceeded: start=" + std::to_string(start) +
                                ", stop=" + std::to_string(stop) + ", step=" + std::to_string(step));
  int64_t n = count > 0 ? static_cast<int64_t>(count) : 0;
  Tensor t = Tensor::empty({n}, DType::Float32);
  float* p = t.data<float>();
  for (int64_t i = 0; i < n; ++i) p[i] = static_cast<float>(start + i * step);
  if (dtype == DType::Float32) return t;
  Tensor r = Tensor::empty({n}, dtype);
  if (dtype == DType::Int32)
    for (int64_t i = 0; i < n; ++i) r.data<int32_t>()[i] = float_to_int<int32_t>(start + i * step);
  else if (dtype == DType::Int64)
    for (int64_t i = 0; i < n; ++i) r.data<int64_t>()[i] = float_to_int<int64_t>(start + i * step);
  else
    return cast(t, dtype);
  return r;
}

Tensor random_uniform(const Shape& shape, double minval, double maxval, int64_t seed) {
  if (!(maxval >= minval))
    throw std::invalid_argument("[random_uniform] maxval must be >= minval, got minval=" +
                                std::to_string(minval) + ", maxval=" + std::to_string(maxval));
  Tensor t = Tensor::empty(shape, DType::Float32);
  std::mt19937 gen(static_cast<uint32_t>(seed < 0 ? next_random_seed() : static_cast<uint64_t>(seed)));
  float* p = t.data<float>();
  const double scale = (maxval - minval) / 4294967296.0;
  for (int64_t i = 0; i < t.numel(); ++i) {
    float v = static_cast<float>(minval + gen() * scale);
    p[i] = v < static_cast<float>(maxval) ? v : static_cast<float>(minval);  // keep [min, max)
  }
  return t;
}

Tensor random_normal(const Shape& shape, double mean, double stddev, int64_t seed) {
  if (stddev < 0) throw std::invalid_argument("[random_normal] stddev must be >= 0");
  Tensor t = Tensor::empty(shape, DType::Float32);
  std::mt19937 gen(static_cast<uint32_t>(seed < 0 ? next_random_seed() : static_cast<uint64_t>(seed)));
  float* p = t.data<float>();
  const int64_t n = t.numel();
  const double two_pi = 6.283185307179586;
  for (int64_t i = 0; i < n; i += 2) {  // Box-Muller: two normals from two uniforms
    double u1 = (gen() + 1.0) / 4294967297.0, u2 = gen() / 4294967296.0;
    double r = std::sqrt(-2.0 * std::log(u1));
    p[i] = static_cast<float>(mean + stddev * r * std::cos(two_pi * u2));
    if (i + 1 < n) p[i + 1] = static_cast<float>(mean + stddev * r * std::sin(two_pi * u2));
  }
  return t;
}

namespace {
template <class TI, class TO>
void cast_loop(const Tensor& x, Tensor& y) {
  kernels::map1(x.data<TI>(), y.data<TO>(), x.numel(), [](TI v) {
    if constexpr (std::is_floating_point_v<TI> && std::is_integral_v<TO>) return float_to_int<TO>(v);
    else return static_cast<TO>(v);
  });
}
template <class TI>
void cast_from(const Tensor& x, Tensor& y) {
  switch (y.dtype()) {
    case DType::Float32: cast_loop<TI, float>(x, y); break;
    case DType::Int32: cast_loop<TI, int32_t>(x, y); break;
    case DType::Int64: cast_loop<TI, int64_t>(x, y); break;
    case DType::Bool:
      kernels::map1(x.data<TI>(), y.data<bool>(), x.numel(), [](TI v) { return v != TI(0); });
      break;
  }
}
}  // namespace

Tensor cast(const Tensor& x, DType dtype) {
  check_defined(x, "cast");
  if (x.dtype() == dtype) return x;
  Tensor y = Tensor::empty(x.shape(), dtype);
  switch (x.dtype()) {
    case DType::Float32: cast_from<float>(x, y); break;
    case DType::Int32: cast_from<int32_t>(x, y); break;
    case DType::Int64: cast_from<int64_t>(x, y); break;
    case DType::Bool: cast_from<bool>(x, y); break;
  }
  return y;  // float -> int has no gradient; int -> float starts none either
}

}  // namespace ops
}  // namespace lamina
