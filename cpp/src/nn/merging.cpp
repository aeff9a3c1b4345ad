// nn::Merge and the merging layers (Add, Subtract, Multiply, Average, Maximum, Minimum,
// Concatenate): compositions of the elementwise ops and ops::concatenate, as
// python/lamina/layers/merging.py.
#include <stdexcept>
#include <string>
#include <vector>

#include "lamina/nn.hpp"
#include "lamina/ops.hpp"
#include "nn/nn_util.hpp"

namespace lamina {
namespace nn {

namespace {

std::string shapes_str(const std::vector<Shape>& shapes) {
  std::string out = "[";
  for (size_t i = 0; i < shapes.size(); ++i) out += (i ? ", " : "") + detail::shape_none_str(shapes[i]);
  return out + "]";
}

// Keras's elementwise output shape: dimensions equal, or one of them 1 or unknown (-1).
Shape broadcast_shape(Shape a, Shape b, const std::string& layer) {
  if (a.size() < b.size()) std::swap(a, b);
  Shape out(a.begin(), a.end() - b.size());
  for (size_t i = 0; i < b.size(); ++i) {
    const int64_t x = a[a.size() - b.size() + i], y = b[i];
    if (x < 0 || y < 0) {
      if (x < 0 && y < 0)
        out.push_back(-1);
      else if (y < 0)
        out.push_back(x == 1 ? -1 : x);
      else
        out.push_back(y == 1 ? -1 : y);
    } else if (x == 1) {
      out.push_back(y);
    } else if (y == 1 || x == y) {
      out.push_back(x);
    } else {
      throw std::invalid_argument("Inputs have incompatible shapes. Received shapes " + detail::shape_none_str(a) +
                                  " and " + detail::shape_none_str(b) + " (layer \"" + layer + "\")");
    }
  }
  return out;
}

}  // namespace

Merge::Merge(size_t min_inputs, size_t max_inputs, const std::string& default_name, const std::string& name)
    : Layer(default_name, name), min_inputs_(min_inputs), max_inputs_(max_inputs) {
  mark_built();
}

void Merge::check_count(size_t n) const {
  if (n < min_inputs_)
    throw std::invalid_argument("A merge layer should be called on a list of at least " + std::to_string(min_inputs_) +
                                " inputs. Got " + std::to_string(n) + " inputs.");
  if (n > max_inputs_)
    throw std::invalid_argument("A `" + class_name() + "` layer should be called on exactly " +
                                std::to_string(max_inputs_) + " inputs. Got " + std::to_string(n) + " inputs.");
}

Shape Merge::output_shape(const std::vector<Shape>& shapes) const {
  check_count(shapes.size());
  Shape out = shapes[0];
  for (size_t i = 1; i < shapes.size(); ++i) out = broadcast_shape(out, shapes[i], name());
  return out;
}

Shape Merge::output_shape(const Shape& input_shape) const {
  throw std::invalid_argument("A merge layer should be called on a list of inputs. Received: input_shape=" +
                              detail::shape_none_str(input_shape) + " (not a list of shapes)");
}

Tensor Merge::forward(const std::vector<Tensor>& xs, bool) {
  std::vector<Shape> shapes;
  for (const Tensor& x : xs) {
    if (!x.defined()) throw std::invalid_argument("Layer '" + name() + "' received an undefined tensor.");
    shapes.push_back(x.shape());
  }
  output_shape(shapes);  // Keras's messages for a wrong count or incompatible shapes
  return merge(xs);
}

Tensor Merge::forward(const Tensor& x, bool) {
  throw std::invalid_argument("A merge layer should be called on a list of inputs. Received: inputs=" + x.repr() +
                              " (not a list of tensors)");
}

Tensor Merge::call(const Tensor& x, bool training) { return forward(x, training); }

namespace {
template <typename Op>
Tensor fold(const std::vector<Tensor>& xs, Op op) {
  Tensor acc = xs[0];
  for (size_t i = 1; i < xs.size(); ++i) acc = op(acc, xs[i]);
  return acc;
}
constexpr size_t kMany = static_cast<size_t>(-1);
}  // namespace

Add::Add(const std::string& name) : Merge(1, kMany, "add", name) {}
Tensor Add::merge(const std::vector<Tensor>& xs) const { return fold(xs, ops::add); }

Subtract::Subtract(const std::string& name) : Merge(2, 2, "subtract", name) {}
Tensor Subtract::merge(const std::vector<Tensor>& xs) const { return ops::subtract(xs[0], xs[1]); }

Multiply::Multiply(const std::string& name) : Merge(1, kMany, "multiply", name) {}
Tensor Multiply::merge(const std::vector<Tensor>& xs) const { return fold(xs, ops::multiply); }

Average::Average(const std::string& name) : Merge(1, kMany, "average", name) {}
Tensor Average::merge(const std::vector<Tensor>& xs) const {
  return ops::divide(fold(xs, ops::add), ops::scalar(static_cast<double>(xs.size())));
}

Maximum::Maximum(const std::string& name) : Merge(1, kMany, "maximum", name) {}
Tensor Maximum::merge(const std::vector<Tensor>& xs) const { return fold(xs, ops::maximum); }

Minimum::Minimum(const std::string& name) : Merge(1, kMany, "minimum", name) {}
Tensor Minimum::merge(const std::vector<Tensor>& xs) const { return fold(xs, ops::minimum); }

Concatenate::Concatenate(int64_t axis, const std::string& name) : Merge(1, kMany, "concatenate", name), axis_(axis) {}

Shape Concatenate::output_shape(const std::vector<Shape>& shapes) const {
  if (shapes.empty())
    throw std::invalid_argument("A `Concatenate` layer should be called on a list of at least 1 input. "
                                "Received: input_shape=[]");
  const int64_t rank = static_cast<int64_t>(shapes[0].size());
  const std::string mismatch =
      "A `Concatenate` layer requires inputs with matching shapes except for the concatenation axis. "
      "Received: input_shape=" + shapes_str(shapes);
  for (const Shape& s : shapes)
    if (static_cast<int64_t>(s.size()) != rank) throw std::invalid_argument(mismatch);
  if (axis_ < -rank || axis_ >= rank)
    throw std::invalid_argument("Concatenate axis " + std::to_string(axis_) + " is out of range for inputs of rank " +
                                std::to_string(rank));
  const int64_t axis = axis_ < 0 ? axis_ + rank : axis_;
  Shape out = shapes[0];
  for (size_t i = 1; i < shapes.size(); ++i)
    for (int64_t d = 0; d < rank; ++d) {
      const int64_t v = shapes[i][d];
      if (d == axis)
        out[d] = (out[d] < 0 || v < 0) ? -1 : out[d] + v;
      else if (out[d] >= 0 && v >= 0 && out[d] != v)
        throw std::invalid_argument(mismatch);
      else if (out[d] < 0)
        out[d] = v;
    }
  return out;
}

Tensor Concatenate::merge(const std::vector<Tensor>& xs) const { return ops::concatenate(xs, axis_); }

}  // namespace nn
}  // namespace lamina
