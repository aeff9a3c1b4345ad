#pragma once
// Helpers shared by the nn layers (internal).
#include <string>

#include "lamina/nn.hpp"
#include "lamina/tensor.hpp"

namespace lamina {
namespace nn {
namespace detail {

std::string check_padding(const std::string& padding);
Size2 check_pair(Size2 v, const char* what);
// Keras's default kernel initializer, glorot_uniform: ops::variance_scaling(1, "fan_avg", "uniform"),
// the draw keras.initializers.GlorotUniform makes (same seed, same values); requires_grad set.
Tensor glorot_uniform(const Shape& shape, int64_t seed);
Tensor zeros_weight(const Shape& shape);
// Shape as Keras prints it, with -1 as None: "(None, 3)".
std::string shape_none_str(const Shape& shape);
// Window output size (-1 stays -1).
int64_t spatial_out(int64_t size, int64_t window, int64_t stride, const std::string& padding);

}  // namespace detail
}  // namespace nn
}  // namespace lamina
