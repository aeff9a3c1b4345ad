#pragma once
// Internal: softmax, log_softmax and softmax cross-entropy (softmax.cpp).
// Kernels are raw compute on contiguous buffers: no autodiff, no argument checks (ops do both).
#include <cstdint>

namespace lamina {
namespace kernels {

// ------------------------------------------------------------------ softmax family (softmax.cpp)
// Along the middle axis of (outer, n, inner).
void softmax(const float* x, float* y, int64_t outer, int64_t n, int64_t inner, bool log);
// Backward: dx = y * (g - sum(g * y)) (softmax), dx = g - exp(y) * sum(g) (log_softmax, y = output).
void softmax_backward(const float* y, const float* g, float* dx, int64_t outer, int64_t n,
                      int64_t inner, bool log);
// rows x classes logits, labels as int64 -> per-row loss; probs (softmax) kept for backward.
void softmax_xent(const float* logits, const int64_t* labels, float* loss, float* probs,
                  int64_t rows, int64_t classes);

}  // namespace kernels
}  // namespace lamina
