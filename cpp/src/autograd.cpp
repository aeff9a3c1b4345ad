#include "lamina/autograd.hpp"

#include <unordered_map>
#include <unordered_set>

#include "lamina/ops.hpp"

namespace lamina {
namespace {
thread_local int recording_depth = 0;
}

GradRecording::GradRecording() { ++recording_depth; }
GradRecording::~GradRecording() { --recording_depth; }
NoGrad::NoGrad() : saved_(recording_depth) { recording_depth = 0; }
NoGrad::~NoGrad() { recording_depth = saved_; }

bool is_recording() { return recording_depth > 0; }

bool should_record(const std::vector<const Tensor*>& inputs) {
  if (recording_depth <= 0) return false;
  for (const Tensor* t : inputs)
    if (t->defined() && t->requires_grad()) return true;
  return false;
}

void record(Tensor& out, const char* name, std::vector<Tensor> inputs, BackwardFn backward) {
  auto node = std::make_shared<Node>();
  node->name = name;
  node->need.reserve(inputs.size());
  for (const Tensor& t : inputs) node->need.push_back(t.defined() && t.requires_grad());
  node->inputs = std::move(inputs);
  node->backward = std::move(backward);
  out.impl()->grad_fn = std::move(node);
}

namespace {

using GradMap = std::unordered_map<const TensorImpl*, Tensor>;

void accumulate(GradMap& grads, const TensorImpl* key, const Tensor& g) {
  auto it = grads.find(key);
  if (it == grads.end())
    grads.emplace(key, g);
  else
    it->second = ops::add(it->second, g);
}

// Runs the graph below `output` in reverse topological order. Returns the gradient of every leaf
// that requires one (tensors without a grad_fn) and of every tensor in `keep`; each other
// intermediate gradient is erased as soon as its node's backward has consumed it, so the pass holds
// only the gradients of its current frontier instead of every one until it ends. With `release`,
// each node is also freed (its saved tensors with it) right after its backward ran, as torch's
// backward without retain_graph: the values saved for the backward then leave memory while the
// gradients of the same sizes are being made, instead of all at the end (release_graph's result).
GradMap run_backward(const Tensor& output, const Tensor& grad_output,
                     const std::unordered_set<const TensorImpl*>& keep = {}, bool release = false) {
  if (!output.defined()) throw std::invalid_argument("backward: the output tensor is undefined");
  Tensor seed = grad_output;
  if (!seed.defined()) {
    if (output.numel() != 1)
      throw std::invalid_argument("backward: grad_output must be given for a non-scalar output of shape " +
                                  shape_str(output.shape()));
    seed = ops::ones(output.shape());
  } else if (seed.shape() != output.shape()) {
    throw std::invalid_argument("backward: grad_output of shape " + shape_str(seed.shape()) +
                                " does not match output shape " + shape_str(output.shape()));
  }
  NoGrad no_grad;  // the backward pass itself records nothing

  // Iterative DFS post-order over tensors that have a grad_fn. `order` holds handles, so a tensor
  // outlives the release of the nodes above it until its own turn.
  std::vector<Tensor> order;
  std::unordered_set<const TensorImpl*> visited;
  std::vector<std::pair<const Tensor*, size_t>> stack;
  stack.push_back({&output, 0});
  visited.insert(output.id());
  while (!stack.empty()) {
    auto& top = stack.back();
    const Node* node = top.first->grad_fn().get();
    if (node && top.second < node->inputs.size()) {
      const Tensor& in = node->inputs[top.second++];
      if (in.defined() && in.requires_grad() && visited.insert(in.id()).second) stack.push_back({&in, 0});
      continue;
    }
    order.push_back(*top.first);
    stack.pop_back();
  }

  GradMap grads;
  grads.emplace(output.id(), seed);
  for (auto it = order.rbegin(); it != order.rend(); ++it) {
    Tensor t = std::move(*it);  // the last handle this pass holds: dropped at the end of the turn
    std::shared_ptr<Node> node = release ? std::move(t.impl()->grad_fn) : t.grad_fn();
    if (!node) continue;
    auto g = grads.find(t.id());
    if (g == grads.end()) continue;
    // Consumed: nothing below reads it again. The backward then holds its only handle and may
    // write its result into it (BackwardFn); an asked-for gradient stays in the map, shared.
    Tensor g_out = g->second;
    if (!keep.count(t.id())) grads.erase(g);
    std::vector<Tensor> in_grads = node->backward(g_out, node->need);
    for (size_t i = 0; i < node->inputs.size() && i < in_grads.size(); ++i) {
      if (!node->need[i] || !in_grads[i].defined()) continue;
      const Tensor& in = node->inputs[i];
      if (in_grads[i].shape() != in.shape())
        throw std::logic_error(std::string("[") + node->name + "] backward produced a gradient of shape " +
                               shape_str(in_grads[i].shape()) + " for an input of shape " +
                               shape_str(in.shape()));
      accumulate(grads, in.id(), in_grads[i]);
    }
  }
  return grads;
}

}  // namespace

void backward(const Tensor& output, const Tensor& grad_output) {
  GradMap grads = run_backward(output, grad_output);
  for (auto& kv : grads) {
    auto* impl = const_cast<TensorImpl*>(kv.first);
    if (!impl->requires_grad || impl->grad_fn) continue;  // leaves that asked for gradients only
    if (impl->grad) {
      Tensor sum = ops::add(Tensor(impl->grad), kv.second);
      impl->grad = sum.impl();
    } else {
      // Own a private copy: the map's tensor may be shared with another leaf's gradient.
      impl->grad = kv.second.clone().impl();
    }
  }
}

void release_graph(const Tensor& output) {
  if (!output.defined() || !output.grad_fn()) return;
  // Collect the nodes first (keeping them alive), cutting each tensor's link to its node as it is
  // reached; dropping `nodes` at the end then frees them without recursion.
  std::vector<std::shared_ptr<Node>> nodes;
  nodes.push_back(std::move(output.impl()->grad_fn));
  for (size_t i = 0; i < nodes.size(); ++i)
    for (const Tensor& in : nodes[i]->inputs)
      if (in.defined() && in.impl()->grad_fn) nodes.push_back(std::move(in.impl()->grad_fn));
}

std::vector<Tensor> gradients(const Tensor& output, const std::vector<Tensor>& wrt,
                              const Tensor& grad_output, bool release) {
  std::unordered_set<const TensorImpl*> keep;
  for (const Tensor& w : wrt)
    if (w.defined()) keep.insert(w.id());
  GradMap grads = run_backward(output, grad_output, keep, release);
  std::vector<Tensor> result;
  result.reserve(wrt.size());
  for (const Tensor& w : wrt) {
    auto it = grads.find(w.id());
    result.push_back(it == grads.end() ? Tensor() : it->second);
  }
  return result;
}

}  // namespace lamina
