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
// Shape as Keras prints it, with -1 as None: "(None, 3)".
std::string shape_none_str(const Shape& shape);
// Window output size (-1 stays -1).
int64_t spatial_out(int64_t size, int64_t window, int64_t stride, const std::string& padding);

}  // namespace detail
}  // namespace nn
}  // namespace lamina
