#pragma once
// Reverse-mode automatic differentiation over a dynamic graph.
//
// Ops record a graph node only while recording is on (a GradRecording scope is alive in this
// thread) and at least one float32 input requires a gradient. Outside such a scope ops record
// nothing and pay nothing for autodiff. Each node holds the inputs that need gradients and a
// backward closure written next to the op's forward (cpp/src/ops/).
//
//   lamina::Tensor w = lamina::ops::random_normal({3, 2}, 0, 1, /*seed=*/0);
//   w.set_requires_grad(true);
//   lamina::Tensor loss;
//   {
//     lamina::GradRecording rec;                      // start recording
//     loss = lamina::ops::sum(lamina::ops::matmul(x, w));
//   }
//   lamina::backward(loss);                           // w.grad() now holds d loss / d w
#include <functional>
#include <vector>

#include "lamina/tensor.hpp"

namespace lamina {

// Gradients of a node's output with respect to each of its inputs. An entry may be left undefined
// when that input does not need a gradient (need[i] == false). When grad_output is the only
// handle to its storage (ops::detail::sole_owner), the pass will not read it again and the
// backward may overwrite it instead of allocating its result.
using BackwardFn =
    std::function<std::vector<Tensor>(const Tensor& grad_output, const std::vector<bool>& need)>;

struct Node {
  const char* name = "";       // the op that made it, for error messages
  std::vector<Tensor> inputs;  // the op's tensor inputs (only those that may receive gradients)
  std::vector<bool> need;      // inputs[i].requires_grad() at record time
  BackwardFn backward;
};

// Recording scope (thread-local, nests). GradientTape in Python and the training step use it.
class LAMINA_API GradRecording {
 public:
  GradRecording();
  ~GradRecording();
  GradRecording(const GradRecording&) = delete;
  GradRecording& operator=(const GradRecording&) = delete;
};

// Turns recording off inside a recording scope (thread-local, nests).
class LAMINA_API NoGrad {
 public:
  NoGrad();
  ~NoGrad();
  NoGrad(const NoGrad&) = delete;
  NoGrad& operator=(const NoGrad&) = delete;

 private:
  int saved_;
};

LAMINA_API bool is_recording();

// True when an op with these inputs must record a node (recording on and an input needs grad).
LAMINA_API bool should_record(const std::vector<const Tensor*>& inputs);

// Attaches a node to `out` (called by ops after their forward). `inputs` are the op's inputs in
// the order the backward returns their gradients.
LAMINA_API void record(Tensor& out, const char* name, std::vector<Tensor> inputs, BackwardFn backward);

// Accumulates d output / d leaf into leaf.grad() for every leaf that requires grad.
// `grad_output` defaults to ones (output must then have one element, else std::invalid_argument).
LAMINA_API void backward(const Tensor& output, const Tensor& grad_output = Tensor());

// Returns d output / d wrt[i] for each requested tensor (leaf or intermediate), without touching
// .grad(). An entry is undefined when wrt[i] does not influence output. release=true frees each
// node as soon as its backward has run (as torch's backward without retain_graph), which lowers the
// peak memory of the pass; the graph below `output` is then gone, as after release_graph(output).
LAMINA_API std::vector<Tensor> gradients(const Tensor& output, const std::vector<Tensor>& wrt,
                                         const Tensor& grad_output = Tensor(), bool release = false);

// Drops the recorded history below `output`: every tensor reachable from it through the graph
// (output included) becomes history-free, as after detach(), and the nodes with their saved
// tensors are freed. For a finished one-shot gradient computation (a non-persistent
// GradientTape): the saved values no longer pin the storage of the variables they were read
// from, so an optimizer can update them in place instead of copying them first.
LAMINA_API void release_graph(const Tensor& output);

}  // namespace lamina
