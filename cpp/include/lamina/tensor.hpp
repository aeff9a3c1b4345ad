#pragma once
// lamina::Tensor: an n-dimensional, contiguous, row-major array with shared storage.
//
// - Shapes are int64 vectors; a 0-d tensor (shape {}) holds one scalar.
// - dtypes: Float32 (the compute dtype; autodiff flows only through it), Int32 / Int64 (labels,
//   indices, counters), Bool (comparison results).
// - Storage is 64-byte aligned and comes from a caching allocator: a buffer freed by one training
//   step is handed to the next step's tensor of the same size instead of going back to malloc.
// - Copying a Tensor copies a handle (both refer to the same data). `clone()` copies the data.
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "lamina/error.hpp"
#include "lamina/export.hpp"

namespace lamina {

enum class DType : uint8_t { Float32 = 0, Int32 = 1, Int64 = 2, Bool = 3 };

using Shape = std::vector<int64_t>;

LAMINA_API const char* dtype_name(DType dtype);   // "float32", "int32", "int64", "bool"
LAMINA_API size_t dtype_size(DType dtype);        // bytes per element
LAMINA_API DType dtype_from_name(const std::string& name);  // throws TypeError for other names
LAMINA_API std::string shape_str(const Shape& shape);        // Python style: "(8, 8)", "(3,)", "()"
// Number of elements. std::invalid_argument when the product of the non-zero dimensions overflows
// int64 (as NumPy, a shape with a 0 must still have a representable size).
LAMINA_API int64_t shape_numel(const Shape& shape);

// Raw, aligned, allocator-owned bytes. Returned to the allocator's cache when the last user goes.
class LAMINA_API Storage {
 public:
  explicit Storage(size_t nbytes);
  ~Storage();
  Storage(const Storage&) = delete;
  Storage& operator=(const Storage&) = delete;
  void* data() const { return data_; }
  size_t nbytes() const { return nbytes_; }

 private:
  void* data_;
  size_t nbytes_;
};

struct Node;  // autograd graph node (autograd.hpp)

// The shared state behind a Tensor handle. Users work with Tensor; this is visible only so the
// accessors below can be inline.
struct LAMINA_API TensorImpl {
  TensorImpl() = default;
  TensorImpl(const TensorImpl&) = delete;
  TensorImpl& operator=(const TensorImpl&) = delete;
  // Frees the graph below this tensor without recursion: a node that dies here is put on a
  // per-thread work list and destroyed by a loop, so a graph of millions of ops (each node holding
  // its inputs, each input holding its node) is freed in constant stack depth.
  ~TensorImpl();

  std::shared_ptr<Storage> storage;
  Shape shape;
  int64_t numel = 0;
  DType dtype = DType::Float32;
  bool requires_grad = false;        // leaf flag: gradients are accumulated into `grad`
  std::shared_ptr<Node> grad_fn;     // set on results of recorded ops
  std::shared_ptr<TensorImpl> grad;  // accumulated gradient (leaves only)
};

class LAMINA_API Tensor {
 public:
  Tensor() = default;  // an undefined tensor (defined() == false)
  explicit Tensor(std::shared_ptr<TensorImpl> impl) : impl_(std::move(impl)) {}

  // Uninitialised storage of the given shape. Negative dimensions, or more elements than an int64
  // byte count can hold, throw std::invalid_argument.
  static Tensor empty(const Shape& shape, DType dtype = DType::Float32);

  bool defined() const { return impl_ != nullptr; }
  const Shape& shape() const { return impl_->shape; }
  int64_t dim() const { return static_cast<int64_t>(impl_->shape.size()); }
  int64_t numel() const { return impl_->numel; }
  // Size of one axis; negative axes count from the end. Out of range throws std::out_of_range.
  int64_t size(int64_t axis) const;
  DType dtype() const { return impl_->dtype; }
  size_t nbytes() const { return static_cast<size_t>(impl_->numel) * dtype_size(impl_->dtype); }

  void* raw_data() const { return impl_->storage->data(); }
  // Typed pointer; throws TypeError when T does not match the dtype.
  template <class T>
  T* data() const;

  // The value of a one-element tensor, as a double. Other sizes throw std::invalid_argument.
  double item() const;

  // --- autodiff ---
  bool requires_grad() const { return impl_->requires_grad || impl_->grad_fn != nullptr; }
  // Marks a leaf as needing gradients (float32 only: other dtypes throw TypeError).
  void set_requires_grad(bool flag);
  bool is_leaf() const { return impl_->grad_fn == nullptr; }
  const std::shared_ptr<Node>& grad_fn() const { return impl_->grad_fn; }
  // Gradient accumulated by backward() (undefined until then).
  Tensor grad() const;
  void set_grad(const Tensor& g);

  // Same storage, no graph history, requires_grad false.
  Tensor detach() const;
  // New storage with the same values, no history.
  Tensor clone() const;
  // Overwrites this tensor's values in place (same shape and dtype required, else
  // std::invalid_argument / TypeError). Tensors sharing this storage see the new values.
  void assign(const Tensor& src);
  // Gives this tensor private storage (a copy of its values) when other tensors or NumPy arrays
  // share its storage; a no-op otherwise. Call it before writing a variable in place (Variable.assign,
  // optimizers): results computed earlier from it, such as reshape views, then keep their values.
  void unshare();
  // Same storage viewed with another shape of equal size (no history; ops::reshape records).
  Tensor view(const Shape& shape) const;

  // Identity of the shared state (two handles to one tensor compare equal).
  const TensorImpl* id() const { return impl_.get(); }
  const std::shared_ptr<TensorImpl>& impl() const { return impl_; }
  const std::shared_ptr<Storage>& storage() const { return impl_->storage; }

  std::string repr() const;  // "Tensor(shape=(2, 3), dtype=float32)"

 private:
  std::shared_ptr<TensorImpl> impl_;
};

// --- dtype mapping for Tensor::data<T>() ---
template <class T>
struct dtype_of;
template <>
struct dtype_of<float> {
  static constexpr DType value = DType::Float32;
};
template <>
struct dtype_of<int32_t> {
  static constexpr DType value = DType::Int32;
};
template <>
struct dtype_of<int64_t> {
  static constexpr DType value = DType::Int64;
};
template <>
struct dtype_of<bool> {
  static constexpr DType value = DType::Bool;
};

template <class T>
T* Tensor::data() const {
  if (impl_->dtype != dtype_of<T>::value)
    throw TypeError(std::string("Tensor::data: tensor has dtype ") + dtype_name(impl_->dtype));
  return static_cast<T*>(impl_->storage->data());
}

}  // namespace lamina
