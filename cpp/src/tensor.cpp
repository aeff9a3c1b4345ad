#include "lamina/tensor.hpp"

#include <cstring>
#include <sstream>

#include "allocator.hpp"
#include "lamina/autograd.hpp"

namespace lamina {

const char* dtype_name(DType dtype) {
  switch (dtype) {
    case DType::Float32: return "float32";
    case DType::Int32: return "int32";
    case DType::Int64: return "int64";
    case DType::Bool: return "bool";
  }
  return "unknown";
}

size_t dtype_size(DType dtype) {
  switch (dtype) {
    case DType::Float32: return 4;
    case DType::Int32: return 4;
    case DType::Int64: return 8;
    case DType::Bool: return 1;
  }
  return 1;
}

DType dtype_from_name(const std::string& name) {
  if (name == "float32") return DType::Float32;
  if (name == "int32") return DType::Int32;
  if (name == "int64") return DType::Int64;
  if (name == "bool") return DType::Bool;
  throw TypeError("Unsupported dtype '" + name +
                  "': lamina tensors are float32, int32, int64 or bool");
}

std::string shape_str(const Shape& shape) {
  std::ostringstream s;
  s << "(";
  for (size_t i = 0; i < shape.size(); ++i) {
    if (i) s << ", ";
    s << shape[i];
  }
  if (shape.size() == 1) s << ",";
  s << ")";
  return s.str();
}

int64_t shape_numel(const Shape& shape) {
  // The product of the non-zero dimensions must fit too (as NumPy requires): then the product of
  // any subset of a valid shape's dimensions (outer / inner sizes in kernels) fits as well. A
  // wrapped product would let a huge shape view a small buffer.
  int64_t n = 1;
  bool empty = false;
  for (int64_t d : shape) {
    if (d == 0) {
      empty = true;
      continue;
    }
    if (__builtin_mul_overflow(n, d, &n))
      throw std::invalid_argument("shape " + shape_str(shape) + " has too many elements");
  }
  return empty ? 0 : n;
}

Storage::Storage(size_t nbytes) : data_(allocator::allocate(nbytes)), nbytes_(nbytes) {}
Storage::~Storage() { allocator::release(data_, nbytes_); }

namespace {
// Nodes waiting to be destroyed by the outermost ~TensorImpl of this thread (null: none running).
thread_local std::vector<std::shared_ptr<Node>>* pending_nodes = nullptr;
}  // namespace

TensorImpl::~TensorImpl() {
  // Only the last owner of a node can start a deep chain; other owners just drop a count.
  if (!grad_fn || grad_fn.use_count() > 1) return;
  if (pending_nodes) {  // inside the loop below: defer instead of recursing
    pending_nodes->push_back(std::move(grad_fn));
    return;
  }
  std::vector<std::shared_ptr<Node>> work;
  work.push_back(std::move(grad_fn));
  pending_nodes = &work;
  while (!work.empty()) {
    std::shared_ptr<Node> node = std::move(work.back());
    work.pop_back();
    node.reset();  // the node's tensors die here; their own nodes land on `work`
  }
  pending_nodes = nullptr;
}

Tensor Tensor::empty(const Shape& shape, DType dtype) {
  for (int64_t d : shape)
    if (d < 0)
      throw std::invalid_argument("Negative dimension in shape " + shape_str(shape));
  auto impl = std::make_shared<TensorImpl>();
  impl->shape = shape;
  impl->numel = shape_numel(shape);
  if (impl->numel > (int64_t(1) << 62) / static_cast<int64_t>(dtype_size(dtype)))
    throw std::invalid_argument("shape " + shape_str(shape) + " has too many elements");
  impl->dtype = dtype;
  impl->storage = std::make_shared<Storage>(static_cast<size_t>(impl->numel) * dtype_size(dtype));
  return Tensor(std::move(impl));
}

int64_t Tensor::size(int64_t axis) const {
  int64_t r = dim();
  if (axis < -r || axis >= r)
    throw std::out_of_range("axis " + std::to_string(axis) + " is out of bounds for a tensor of rank " +
                            std::to_string(r));
  return impl_->shape[axis < 0 ? axis + r : axis];
}

double Tensor::item() const {
  if (numel() != 1)
    throw std::invalid_argument("item(): expected a tensor with one element, got shape " +
                                shape_str(shape()));
  switch (dtype()) {
    case DType::Float32: return *data<float>();
    case DType::Int32: return *data<int32_t>();
    case DType::Int64: return static_cast<double>(*data<int64_t>());
    case DType::Bool: return *data<bool>() ? 1.0 : 0.0;
  }
  return 0.0;
}

void Tensor::set_requires_grad(bool flag) {
  if (flag && dtype() != DType::Float32)
    throw TypeError(std::string("Only float32 tensors can require gradients, got ") +
                    dtype_name(dtype()));
  impl_->requires_grad = flag;
}

Tensor Tensor::grad() const { return impl_->grad ? Tensor(impl_->grad) : Tensor(); }

void Tensor::set_grad(const Tensor& g) {
  if (g.defined() && g.dtype() != DType::Float32)
    throw TypeError(std::string("set_grad: gradients are float32, got ") + dtype_name(g.dtype()));
  if (g.defined() && g.shape() != shape())
    throw std::invalid_argument("set_grad: gradient shape " + shape_str(g.shape()) +
                                " does not match tensor shape " + shape_str(shape()));
  impl_->grad = g.defined() ? g.impl() : nullptr;
}

Tensor Tensor::detach() const {
  auto impl = std::make_shared<TensorImpl>();
  impl->storage = impl_->storage;
  impl->shape = impl_->shape;
  impl->numel = impl_->numel;
  impl->dtype = impl_->dtype;
  return Tensor(std::move(impl));
}

Tensor Tensor::view(const Shape& shape) const {
  if (shape_numel(shape) != numel())
    throw std::invalid_argument("view: cannot view a tensor of shape " + shape_str(this->shape()) +
                                " as shape " + shape_str(shape));
  Tensor t = detach();
  t.impl_->shape = shape;
  return t;
}

Tensor Tensor::clone() const {
  Tensor t = Tensor::empty(shape(), dtype());
  if (nbytes()) std::memcpy(t.raw_data(), raw_data(), nbytes());
  return t;
}

void Tensor::assign(const Tensor& src) {
  if (src.shape() != shape())
    throw std::invalid_argument("assign: value of shape " + shape_str(src.shape()) +
                                " does not match the target shape " + shape_str(shape()));
  if (src.dtype() != dtype())
    throw TypeError(std::string("assign: value of dtype ") + dtype_name(src.dtype()) +
                    " does not match the target dtype " + dtype_name(dtype()));
  if (src.raw_data() != raw_data() && nbytes()) std::memmove(raw_data(), src.raw_data(), nbytes());
}

void Tensor::unshare() {
  if (impl_->storage.use_count() <= 1) return;
  auto fresh = std::make_shared<Storage>(nbytes());
  if (nbytes()) std::memcpy(fresh->data(), raw_data(), nbytes());
  impl_->storage = std::move(fresh);
}

std::string Tensor::repr() const {
  if (!defined()) return "Tensor(undefined)";
  return "Tensor(shape=" + shape_str(shape()) + ", dtype=" + dtype_name(dtype()) + ")";
}

}  // namespace lamina
