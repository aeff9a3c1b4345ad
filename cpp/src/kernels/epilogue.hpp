#pragma once
// Internal: the epilogue of a GEMM whose rows are samples (Dense) or output positions (a
// convolution): + a bias per column, then an activation simple enough to run on the tile while it
// is in registers. The packed GEMMs apply it in their tile writes (gemm_blocks.hpp, the SIMD form of
// epilogue_value); every other path calls apply_epilogue on the finished block. Both give the same
// bits: one add and one relu per element, in that order.
// Kernels are raw compute on contiguous buffers: no autodiff, no argument checks (ops do both).
#include <cstdint>

#include "elementwise.hpp"

namespace lamina {
namespace kernels {

// The activations an epilogue can apply (an op fuses these and runs any other after the GEMM).
enum class EpilogueActivation { None, Relu };

struct Epilogue {
  const float* bias = nullptr;  // (n,) added to every row; null: none
  EpilogueActivation activation = EpilogueActivation::None;

  bool empty() const { return !bias && activation == EpilogueActivation::None; }
  // The same epilogue for the columns from j0 on (a tile or a column block).
  Epilogue from_column(int64_t j0) const { return {bias ? bias + j0 : nullptr, activation}; }
};

// Element (any row, column j) of C through the epilogue: the scalar definition.
inline float epilogue_value(const Epilogue& e, float v, int64_t j) {
  if (e.bias) v += e.bias[j];
  if (e.activation == EpilogueActivation::Relu) v = relu_nan(v);
  return v;
}

// C (rows x cols, row stride ldc) through the epilogue, in place; in parallel above the work
// threshold when `threaded` (gemm.cpp).
void apply_epilogue(const Epilogue& e, float* c, int64_t rows, int64_t cols, int64_t ldc, bool threaded);

// out[i] = gy[i] * activation'(y[i]) from the epilogue's output y (out may be gy): the gradient
// that reaches the GEMM. Relu: torch's threshold_backward (relu_grad, NaN passes); None: a copy.
void epilogue_backward(EpilogueActivation a, const float* gy, const float* y, float* out, int64_t n);

}  // namespace kernels
}  // namespace lamina
