// Weight initializers' draws, shared by the C++ layers and python/lamina/initializers.py: Keras's
// fans, truncated normal and variance scaling (Glorot, He and LeCun are variance scalings).
#include <algorithm>
#include <cmath>
#include <stdexcept>
#include <string>

#include "op_util.hpp"

namespace lamina {
namespace ops {
using namespace detail;

std::pair<int64_t, int64_t> compute_fans(const Shape& shape) {
  if (shape.empty()) return {1, 1};
  if (shape.size() == 1) return {shape[0], shape[0]};
  if (shape.size() == 2) return {shape[0], shape[1]};
  int64_t receptive = 1;  // a convolution kernel (..., in, out): every spatial position counts
  for (size_t d = 0; d + 2 < shape.size(); ++d) receptive *= shape[d];
  return {shape[shape.size() - 2] * receptive, shape.back() * receptive};
}

Tensor truncated_normal(const Shape& shape, double mean, double stddev, int64_t seed) {
  if (stddev < 0) throw std::invalid_argument("[truncated_normal] stddev must be >= 0");
  // Standard normals; those beyond two standard deviations are drawn again (seed + 1, + 2, ... so a
  // seeded call repeats itself), at most 8 times, then clipped. Composed from the ops so the values
  // match what the Python initializers gave with the same seed.
  Tensor x = random_normal(shape, 0.0, 1.0, seed);
  const Tensor two = scalar(2.0);
  for (int64_t i = 0; i < 8 && x.numel() > 0; ++i) {
    const Tensor bad = greater(abs(x), two);
    const bool* b = bad.data<bool>();
    if (std::none_of(b, b + bad.numel(), [](bool v) { return v; })) break;
    x = where(bad, random_normal(shape, 0.0, 1.0, seed < 0 ? -1 : seed + i + 1), x);
  }
  return add(multiply(clip(x, -2.0, 2.0), scalar(stddev)), scalar(mean));
}

Tensor variance_scaling(const Shape& shape, double scale, const std::string& mode, const std::string& distribution,
                        int64_t seed) {
  const char* op = "variance_scaling";
  if (!(scale > 0.0))
    throw std::invalid_argument(tag(op) + "Argument `scale` must be positive float. Received: scale=" +
                                std::to_string(scale));
  const auto [fan_in, fan_out] = compute_fans(shape);
  double fan;
  if (mode == "fan_in")
    fan = static_cast<double>(fan_in);
  else if (mode == "fan_out")
    fan = static_cast<double>(fan_out);
  else if (mode == "fan_avg")
    fan = static_cast<double>(fan_in + fan_out) / 2.0;
  else
    throw std::invalid_argument(tag(op) + "Invalid `mode` argument: " + mode +
                                ". Please use one of {'fan_in', 'fan_out', 'fan_avg'}");
  const double s = scale / std::max(1.0, fan);
  if (distribution == "truncated_normal" || distribution == "normal")
    return truncated_normal(shape, 0.0, std::sqrt(s) / 0.87962566103423978, seed);  // stddev of N(0,1) cut at +-2
  if (distribution == "untruncated_normal") return random_normal(shape, 0.0, std::sqrt(s), seed);
  if (distribution == "uniform") {
    const double limit = std::sqrt(3.0 * s);
    return random_uniform(shape, -limit, limit, seed);
  }
  throw std::invalid_argument(tag(op) + "Invalid `distribution` argument: " + distribution +
                              ". Please use one of {'uniform', 'truncated_normal', 'untruncated_normal'}");
}

}  // namespace ops
}  // namespace lamina
