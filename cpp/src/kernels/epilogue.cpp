// The GEMM epilogue outside the packed kernels' tile writes, and its activation's gradient.
#include "epilogue.hpp"

namespace lamina {
namespace kernels {

void apply_epilogue(const Epilogue& e, float* c, int64_t rows, int64_t cols, int64_t ldc, bool threaded) {
  if (e.empty()) return;
  const int nt = threaded ? threads_for(rows * cols) : 1;
#pragma omp parallel for num_threads(nt) schedule(static) if (nt > 1)
  for (int64_t r = 0; r < rows; ++r) {
    float* row = c + r * ldc;
    for (int64_t j = 0; j < cols; ++j) row[j] = epilogue_value(e, row[j], j);
  }
}

void epilogue_backward(EpilogueActivation a, const float* gy, const float* y, float* out, int64_t n) {
  switch (a) {
    case EpilogueActivation::None:
      map1(gy, out, n, [](float g) { return g; });
      return;
    case EpilogueActivation::Relu:
      map2(gy, y, out, n, [](float g, float v) { return relu_grad(g, v); });
      return;
  }
}

}  // namespace kernels
}  // namespace lamina
