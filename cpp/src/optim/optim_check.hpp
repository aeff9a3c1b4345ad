#pragma once
// Internal: argument checks shared by the fused updates and the clipping helpers. Messages name the
// function and the offending entry: "[adam_update] grads[1] has shape (3,), expected (2, 3) ...".
#include <cmath>
#include <sstream>
#include <stdexcept>
#include <string>
#include <unordered_set>
#include <vector>

#include "lamina/optim.hpp"

namespace lamina {
namespace optim {
namespace detail {

inline std::string tag(const char* op) { return std::string("[") + op + "] "; }

inline std::string entry(const char* list, size_t i) { return std::string(list) + "[" + std::to_string(i) + "]"; }

inline void check_float(const char* op, const char* list, size_t i, const Tensor& t) {
  if (!t.defined()) throw std::invalid_argument(tag(op) + entry(list, i) + " is undefined");
  if (t.dtype() != DType::Float32)
    throw TypeError(tag(op) + entry(list, i) + " has dtype " + dtype_name(t.dtype()) +
                    "; optimizers work on float32 tensors");
}

// params: defined, float32, each listed once; grads: one per param, same shape.
inline void check_params(const char* op, const std::vector<Tensor>& params, const std::vector<Tensor>& grads) {
  if (grads.size() != params.size())
    throw std::invalid_argument(tag(op) + "got " + std::to_string(params.size()) + " params but " +
                                std::to_string(grads.size()) + " grads");
  std::unordered_set<const TensorImpl*> seen;
  for (size_t i = 0; i < params.size(); ++i) {
    check_float(op, "params", i, params[i]);
    if (!seen.insert(params[i].id()).second)
      throw std::invalid_argument(tag(op) + entry("params", i) + " is listed more than once");
    check_float(op, "grads", i, grads[i]);
    if (grads[i].shape() != params[i].shape())
      throw std::invalid_argument(tag(op) + entry("grads", i) + " has shape " + shape_str(grads[i].shape()) +
                                  ", expected " + shape_str(params[i].shape()) + " (the shape of " +
                                  entry("params", i) + ")");
  }
}

// A slot list: one float32 tensor per param with its shape. An unused list may be empty.
inline void check_slots(const char* op, const char* list, const std::vector<Tensor>& slots,
                        const std::vector<Tensor>& params, bool required) {
  if (!required && slots.empty()) return;
  if (slots.size() != params.size())
    throw std::invalid_argument(tag(op) + "got " + std::to_string(params.size()) + " params but " +
                                std::to_string(slots.size()) + " " + list);
  for (size_t i = 0; i < slots.size(); ++i) {
    check_float(op, list, i, slots[i]);
    if (slots[i].shape() != params[i].shape())
      throw std::invalid_argument(tag(op) + entry(list, i) + " has shape " + shape_str(slots[i].shape()) +
                                  ", expected " + shape_str(params[i].shape()) + " (the shape of " +
                                  entry("params", i) + ")");
  }
}

inline void check_threshold(const char* op, const char* what, float t) {
  if (!(t > 0.f)) {
    std::ostringstream msg;
    msg << tag(op) << what << " must be > 0, got " << t;
    throw std::invalid_argument(msg.str());
  }
}

inline void check_clip(const char* op, const GradClip& clip) {
  switch (clip.kind) {
    case GradClip::Kind::None: return;
    case GradClip::Kind::Value: return check_threshold(op, "clip value", clip.threshold);
    case GradClip::Kind::Norm: return check_threshold(op, "clip norm", clip.threshold);
    case GradClip::Kind::GlobalNorm: return check_threshold(op, "global clip norm", clip.threshold);
  }
  throw std::invalid_argument(tag(op) + "unknown clip kind");
}

}  // namespace detail
}  // namespace optim
}  // namespace lamina
