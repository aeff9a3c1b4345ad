#pragma once
// Helpers shared by the nn layers (internal).
#include <string>

#include "lamina/nn.hpp"
#include "lamina/tensor.hpp"

namespace lamina {
namespace nn {
namespace detail {

// "dense", "dense_1", ... (one counter per default name, process-wide, thread-safe).
std::string unique_name(const std::string& base);
std::string check_padding(const std::string& padding);
Size2 check_pair(Size2 v, const char* what);
// Keras's glorot_uniform: uniform in +-sqrt(6 / (fan_in + fan_out)), requires_grad set.
Tensor glorot_uniform(const Shape& shape, int64_t fan_in, int64_t fan_out, int64_t seed);
Tensor zeros_weight(const Shape& shape);
// Shape as Keras prints it, with -1 as None: "(None, 3)".
std::string shape_none_str(const Shape& shape);
// Window output size (-1 stays -1).
int64_t spatial_out(int64_t size, int64_t window, int64_t stride, const std::string& padding);

}  // namespace detail
}  // namespace nn
}  // namespace lamina
