#pragma once
// Errors thrown by lamina. Every check on user input throws one of these; nothing aborts.
//   std::invalid_argument  -> Python ValueError   (bad shapes, bad values)
//   std::out_of_range      -> Python IndexError   (axis or index out of range)
//   lamina::TypeError      -> Python TypeError    (unsupported dtype)
#include <stdexcept>
#include <string>

#include "lamina/export.hpp"

namespace lamina {

class LAMINA_API TypeError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

}  // namespace lamina
