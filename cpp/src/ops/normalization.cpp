// Batch normalisation over the last axis (channels-last data): training-mode forward with batch
// statistics, and its backward.
#include <cmath>
#include <vector>

#include "kernels/norm.hpp"
#include "op_util.hpp"
#include "parallel.hpp"

namespace lamina {
namespace ops {
using namespace detail;

Tensor batch_norm(const Tensor& x, const Tensor& gamma, const Tensor& beta, double epsilon, Tensor* batch_mean,
                  Tensor* batch_variance) {
  const char* op = "batch_norm";
  require_float(x, op);
  if (x.dim() < 1) throw std::invalid_argument(tag(op) + "expected an input of rank >= 1, got a scalar");
  const int64_t C = x.shape().back(), rows = C ? x.numel() / C : 0;
  for (const Tensor* p : {&gamma, &beta})
    if (p->defined()) {
      require_float(*p, op);
      if (p->dim() != 1 || p->shape()[0] != C)
        throw std::invalid_argument(tag(op) + "expected gamma and beta of shape (" + std::to_string(C) +
                                    ",) for an input of shape " + shape_str(x.shape()) + ", got " +
                                    shape_str(p->shape()));
    }
  if (rows == 0) throw std::invalid_argument(tag(op) + "cannot compute batch statistics of an empty input of shape " +
                                             shape_str(x.shape()));
  if (!(epsilon > 0)) throw std::invalid_argument(tag(op) + "epsilon must be positive");
  Tensor mean = Tensor::empty({C}), var = Tensor::empty({C});
  kernels::channel_moments(x.data<float>(), rows, C, mean.data<float>(), var.data<float>());
  // y = x * scale + shift with scale = gamma / sqrt(var + eps), shift = beta - mean * scale
  Tensor invstd = Tensor::empty({C}), scale = Tensor::empty({C}), shift = Tensor::empty({C});
  for (int64_t c = 0; c < C; ++c) {
    const float is = 1.f / std::sqrt(var.data<float>()[c] + static_cast<float>(epsilon));
    const float g = gamma.defined() ? gamma.data<float>()[c] : 1.f;
    const float b = beta.defined() ? beta.data<float>()[c] : 0.f;
    invstd.data<float>()[c] = is;
    scale.data<float>()[c] = g * is;
    shift.data<float>()[c] = b - mean.data<float>()[c] * g * is;
  }
  Tensor y = Tensor::empty(x.shape());
  kernels::normalize_channels(x.data<float>(), rows, C, scale.data<float>(), shift.data<float>(), y.data<float>());
  if (batch_mean) *batch_mean = mean;
  if (batch_variance) *batch_variance = var;
  if (recording({&x, &gamma, &beta})) {
    // xhat = (x - mean) invstd; dbeta = sum g; dgamma = sum g xhat;
    // dx = gamma invstd / N (N g - dbeta - xhat dgamma)
    record(y, op, {x, gamma, beta}, [=](const Tensor& g, const std::vector<bool>& need) {
      Tensor sg = Tensor::empty({C}), sgx = Tensor::empty({C});
      kernels::channel_sums(g.data<float>(), x.data<float>(), rows, C, mean.data<float>(), sg.data<float>(),
                            sgx.data<float>());
      const float* is = invstd.data<float>();
      Tensor dgamma, dbeta, dx;
      if (need[1]) {
        dgamma = Tensor::empty({C});
        for (int64_t c = 0; c < C; ++c) dgamma.data<float>()[c] = sgx.data<float>()[c] * is[c];
      }
      if (need[2]) dbeta = sg.clone();
      if (need[0]) {
        // dx = a[c] * g + b[c] * x + d[c], folding the per-channel constants
        Tensor a = Tensor::empty({C}), b = Tensor::empty({C}), d = Tensor::empty({C});
        for (int64_t c = 0; c < C; ++c) {
          const float gm = gamma.defined() ? gamma.data<float>()[c] : 1.f;
          const float k = gm * is[c];
          const float dg = sgx.data<float>()[c] * is[c];  // sum g xhat
          const float coef = k * dg * is[c] / static_cast<float>(rows);
          a.data<float>()[c] = k;
          b.data<float>()[c] = -coef;
          d.data<float>()[c] = -k * sg.data<float>()[c] / static_cast<float>(rows) + coef * mean.data<float>()[c];
        }
        dx = Tensor::empty(x.shape());
        const float* gp = g.data<float>();
        const float* xp = x.data<float>();
        float* out = dx.data<float>();
        const float *pa = a.data<float>(), *pb = b.data<float>(), *pd = d.data<float>();
        const int nt = threads_for(rows * C);
#pragma omp parallel for num_threads(nt) schedule(static) if (nt > 1)
        for (int64_t r = 0; r < rows; ++r)
          for (int64_t c = 0; c < C; ++c)
            out[r * C + c] = pa[c] * gp[r * C + c] + pb[c] * xp[r * C + c] + pd[c];
      }
      return std::vector<Tensor>{dx, dgamma, dbeta};
    });
  }
  return y;
}

}  // namespace ops
}  // namespace lamina
