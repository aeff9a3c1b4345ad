// Vectorised transcendental functions (Eigen's SIMD exp/log/tanh/logistic/erf), split into chunks
// across threads for large arrays.
#include <Eigen/Core>
#include <unsupported/Eigen/SpecialFunctions>

#include "kernels.hpp"

namespace lamina {
namespace kernels {
namespace {

using Arr = Eigen::Array<float, Eigen::Dynamic, 1>;
using CMap = Eigen::Map<const Arr>;
using MMap = Eigen::Map<Arr>;

template <class F>
void chunked(const float* x, float* y, int64_t n, F f) {
  int nt = threads_for(n, int64_t(1) << 13);
#pragma omp parallel num_threads(nt) if (nt > 1)
  {
    int tid = omp_get_thread_num(), nth = omp_get_num_threads();
    int64_t lo = n * tid / nth, hi = n * (tid + 1) / nth;
    if (hi > lo) {
      CMap in(x + lo, hi - lo);
      MMap out(y + lo, hi - lo);
      f(in, out);
    }
  }
}

}  // namespace

void vexp(const float* x, float* y, int64_t n) {
  chunked(x, y, n, [](const CMap& a, MMap& b) { b = a.exp(); });
}
void vlog(const float* x, float* y, int64_t n) {
  chunked(x, y, n, [](const CMap& a, MMap& b) { b = a.log(); });
}
void vtanh(const float* x, float* y, int64_t n) {
  chunked(x, y, n, [](const CMap& a, MMap& b) { b = a.tanh(); });
}
void vsigmoid(const float* x, float* y, int64_t n) {
  chunked(x, y, n, [](const CMap& a, MMap& b) { b = a.logistic(); });
}
void verf(const float* x, float* y, int64_t n) {
  chunked(x, y, n, [](const CMap& a, MMap& b) { b = a.erf(); });
}

}  // namespace kernels
}  // namespace lamina
