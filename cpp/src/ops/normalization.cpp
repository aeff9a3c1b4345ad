// Batch normalisation on any axis: Keras's batch_normalization (given statistics) and the
// BatchNormalization layer's step (batch statistics + moving averages, or the moving statistics);
// Keras's layer_normalization. Each with its backward; the passes over the data are kernels
// (kernels/norm.cpp).
#include <algorithm>
#include <cmath>
#include <mutex>
#include <vector>

#include "kernels/norm.hpp"
#include "lamina/autograd.hpp"
#include "op_util.hpp"

namespace lamina {
namespace ops {
using namespace detail;

namespace {

// A per-channel vector argument: float32 of shape (channels,); undefined allowed when optional.
struct VectorArg {
  const Tensor& t;
  const char* name;
  bool optional;
};

// Checks x, the axis, epsilon and the per-channel vectors; returns x as (outer, channels, inner).
kernels::ChannelView check_args(const Tensor& x, int64_t axis, double epsilon, std::initializer_list<VectorArg> vectors,
                                const char* op) {
  require_float(x, op);
  if (x.dim() < 1) throw std::invalid_argument(tag(op) + "expected an input of rank >= 1, got a scalar");
  const int64_t a = norm_axis(axis, x.dim(), op, x.shape());
  kernels::ChannelView v{1, x.shape()[a], 1};
  for (int64_t d = 0; d < a; ++d) v.outer *= x.shape()[d];
  for (int64_t d = a + 1; d < x.dim(); ++d) v.inner *= x.shape()[d];
  for (const VectorArg& p : vectors) {
    if (!p.t.defined()) {
      if (p.optional) continue;
      throw std::invalid_argument(tag(op) + p.name + " is required");
    }
    require_float(p.t, op);
    if (p.t.dim() != 1 || p.t.shape()[0] != v.channels)
      throw std::invalid_argument(tag(op) + "expected " + p.name + " of shape (" + std::to_string(v.channels) +
                                  ",) for an input of shape " + shape_str(x.shape()) + ", got " +
                                  shape_str(p.t.shape()));
  }
  if (!(epsilon > 0)) throw std::invalid_argument(tag(op) + "epsilon must be positive");
  return v;
}

const float* data_or_null(const Tensor& t) { return t.defined() ? t.data<float>() : nullptr; }

// 1 / sqrt(variance + epsilon) per channel, in float (as the composite ops computed it).
Tensor inverse_std(const Tensor& variance, double epsilon) {
  const int64_t C = variance.numel();
  Tensor inv = Tensor::empty({C});
  const float eps = static_cast<float>(epsilon);
  for (int64_t c = 0; c < C; ++c) inv.data<float>()[c] = 1.f / std::sqrt(variance.data<float>()[c] + eps);
  return inv;
}

// factor[c] * gamma[c] (gamma undefined: 1).
Tensor times_gamma(const Tensor& factor, const Tensor& gamma) {
  if (!gamma.defined()) return factor;
  Tensor out = Tensor::empty(factor.shape());
  for (int64_t c = 0; c < factor.numel(); ++c) out.data<float>()[c] = factor.data<float>()[c] * gamma.data<float>()[c];
  return out;
}

// The layer's training step: y from the batch's statistics, and their backward.
Tensor batch_norm_training(const Tensor& x, const kernels::ChannelView v, const Tensor& gamma, const Tensor& beta,
                           double epsilon, Tensor& mean, Tensor& var) {
  const char* op = "batch_norm";
  const int64_t C = v.channels;
  mean = Tensor::empty({C});
  var = Tensor::empty({C});
  kernels::channel_moments(x.data<float>(), v, mean.data<float>(), var.data<float>());
  const Tensor invstd = inverse_std(var, epsilon), scale = times_gamma(invstd, gamma);
  Tensor y = Tensor::empty(x.shape());
  kernels::normalize_channels(x.data<float>(), v, mean.data<float>(), scale.data<float>(), data_or_null(beta),
                              y.data<float>());
  if (recording({&x, &gamma, &beta})) {
    // xhat = (x - mean) invstd; dbeta = sum g; dgamma = sum g xhat;
    // dx = gamma invstd / N (N g - dbeta - xhat dgamma)
    record(y, op, {x, gamma, beta}, [=](const Tensor& g, const std::vector<bool>& need) {
      Tensor sg = Tensor::empty({C}), sgx = Tensor::empty({C});
      kernels::channel_sums(g.data<float>(), x.data<float>(), v, mean.data<float>(), sg.data<float>(),
                            sgx.data<float>());
      const float* is = invstd.data<float>();
      const float rows = static_cast<float>(v.rows());
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
          const float k = scale.data<float>()[c];  // gamma invstd
          const float coef = k * (sgx.data<float>()[c] * is[c]) * is[c] / rows;
          a.data<float>()[c] = k;
          b.data<float>()[c] = -coef;
          d.data<float>()[c] = -k * sg.data<float>()[c] / rows + coef * mean.data<float>()[c];
        }
        dx = Tensor::empty(x.shape());
        kernels::channel_affine2(g.data<float>(), x.data<float>(), v, a.data<float>(), b.data<float>(),
                                 d.data<float>(), dx.data<float>());
      }
      return std::vector<Tensor>{dx, dgamma, dbeta};
    });
  }
  return y;
}

}  // namespace

Tensor batch_normalization(const Tensor& x, const Tensor& mean, const Tensor& variance, int64_t axis,
                           const Tensor& offset, const Tensor& scale, double epsilon) {
  const char* op = "batch_normalization";
  const kernels::ChannelView v = check_args(
      x, axis, epsilon, {{mean, "mean", false}, {variance, "variance", false}, {offset, "offset", true},
                         {scale, "scale", true}}, op);
  const int64_t C = v.channels;
  // y = (x - mean) * s + offset with s = scale / sqrt(variance + epsilon)
  const Tensor inv = inverse_std(variance, epsilon), s = times_gamma(inv, scale);
  // Snapshots: a moving statistic updated in place later must not change what backward reads.
  const Tensor m = mean.detach();
  Tensor y = Tensor::empty(x.shape());
  kernels::normalize_channels(x.data<float>(), v, m.data<float>(), s.data<float>(), data_or_null(offset),
                              y.data<float>());
  if (recording({&x, &mean, &variance, &offset, &scale})) {
    // dx = g s; doffset = sum g; dscale = sum g (x - mean) inv; dmean = -s sum g;
    // dvariance = -scale inv^3 / 2 sum g (x - mean)
    const Tensor sc = scale.defined() ? scale.detach() : Tensor();
    record(y, op, {x, mean, variance, offset, scale}, [=](const Tensor& g, const std::vector<bool>& need) {
      std::vector<Tensor> out(5);
      if (need[0]) {
        out[0] = Tensor::empty(x.shape());
        kernels::normalize_channels(g.data<float>(), v, nullptr, s.data<float>(), nullptr, out[0].data<float>());
      }
      if (!(need[1] || need[2] || need[3] || need[4])) return out;
      Tensor sg = Tensor::empty({C}), sgx = Tensor::empty({C});
      kernels::channel_sums(g.data<float>(), x.data<float>(), v, m.data<float>(), sg.data<float>(),
                            sgx.data<float>());
      for (int k = 1; k < 5; ++k)
        if (need[k]) out[k] = Tensor::empty({C});
      for (int64_t c = 0; c < C; ++c) {
        const float iv = inv.data<float>()[c], gm = sc.defined() ? sc.data<float>()[c] : 1.f;
        if (need[1]) out[1].data<float>()[c] = -s.data<float>()[c] * sg.data<float>()[c];
        if (need[2]) out[2].data<float>()[c] = -0.5f * gm * iv * iv * iv * sgx.data<float>()[c];
        if (need[3]) out[3].data<float>()[c] = sg.data<float>()[c];
        if (need[4]) out[4].data<float>()[c] = sgx.data<float>()[c] * iv;
      }
      return out;
    });
  }
  return y;
}

Tensor batch_norm(const Tensor& x, const Tensor& gamma, const Tensor& beta, const Tensor& moving_mean,
                  const Tensor& moving_variance, int64_t axis, double momentum, double epsilon, bool training) {
  const char* op = "batch_norm";
  const kernels::ChannelView v = check_args(x, axis, epsilon,
                                            {{gamma, "gamma", true}, {beta, "beta", true},
                                             {moving_mean, "moving_mean", false},
                                             {moving_variance, "moving_variance", false}}, op);
  if (!training) return batch_normalization(x, moving_mean, moving_variance, axis, beta, gamma, epsilon);
  if (x.numel() == 0)
    throw std::invalid_argument(tag(op) + "cannot compute batch statistics of an empty input of shape " +
                                shape_str(x.shape()));
  Tensor mean, var;
  Tensor y = batch_norm_training(x, v, gamma, beta, epsilon, mean, var);
  // moving = moving * momentum + batch * (1 - momentum), with the ops the layers used before (same
  // rounding); one layer called from several threads at once updates its statistics one at a time.
  static std::mutex update_mutex;
  NoGrad no_grad;
  const Tensor keep = scalar(momentum), take = scalar(1.0 - momentum);
  std::lock_guard<std::mutex> lock(update_mutex);
  for (auto [moving, batch] : {std::pair<Tensor, Tensor>{moving_mean, mean}, {moving_variance, var}}) {
    const Tensor updated = add(multiply(moving, keep), multiply(batch, take));
    moving.unshare();  // results computed earlier from the statistics keep their values
    moving.assign(updated);
  }
  return y;
}

Tensor layer_normalization(const Tensor& x, const Tensor& gamma, const Tensor& beta, const std::vector<int64_t>& axis,
                           double epsilon) {
  const char* op = "layer_normalization";
  require_float(x, op);
  if (x.dim() < 1) throw std::invalid_argument(tag(op) + "expected an input of rank >= 1, got a scalar");
  if (axis.empty()) throw std::invalid_argument(tag(op) + "expected at least one axis");
  const int64_t rank = x.dim();
  std::vector<int64_t> axes;
  for (int64_t a : axis) axes.push_back(norm_axis(a, rank, op, x.shape()));
  std::sort(axes.begin(), axes.end());
  if (std::adjacent_find(axes.begin(), axes.end()) != axes.end())
    throw std::invalid_argument(tag(op) + "repeated axis in " + shape_str(Shape(axis.begin(), axis.end())));
  Shape param_shape;
  for (int64_t a : axes) param_shape.push_back(x.shape()[a]);
  for (const auto& [p, name] : {std::pair<const Tensor&, const char*>{gamma, "gamma"}, {beta, "beta"}})
    if (p.defined()) {
      require_float(p, op);
      if (p.shape() != param_shape)
        throw std::invalid_argument(tag(op) + "expected " + name + " of shape " + shape_str(param_shape) +
                                    " for an input of shape " + shape_str(x.shape()) + ", got " + shape_str(p.shape()));
    }
  if (!(epsilon > 0)) throw std::invalid_argument(tag(op) + "epsilon must be positive");
  if (axes.front() != rank - static_cast<int64_t>(axes.size())) {
    // Normalised axes not the trailing ones: move them there (in order) and back.
    std::vector<int64_t> perm, inverse(rank), trailing;
    for (int64_t d = 0; d < rank; ++d)
      if (!std::binary_search(axes.begin(), axes.end(), d)) perm.push_back(d);
    for (int64_t a : axes) {
      trailing.push_back(static_cast<int64_t>(perm.size()) - rank);
      perm.push_back(a);
    }
    for (int64_t d = 0; d < rank; ++d) inverse[perm[d]] = d;
    return transpose(layer_normalization(transpose(x, perm), gamma, beta, trailing, epsilon), inverse);
  }
  const int64_t n = shape_numel(param_shape), rows = n ? x.numel() / n : 0;
  Tensor y = Tensor::empty(x.shape()), mean = Tensor::empty({rows}), invstd = Tensor::empty({rows});
  if (x.numel() == 0) return y;
  kernels::layer_norm_forward(x.data<float>(), rows, n, data_or_null(gamma), data_or_null(beta),
                              static_cast<float>(epsilon), y.data<float>(), mean.data<float>(), invstd.data<float>());
  if (recording({&x, &gamma, &beta})) {
    // xhat = (x - mean) invstd, h = g gamma: dx = invstd (h - mean(h) - xhat mean(h xhat));
    // dgamma = sum over rows of g xhat, dbeta = sum over rows of g
    const Tensor gm = gamma.defined() ? gamma.detach() : Tensor();
    record(y, op, {x, gamma, beta}, [=](const Tensor& g, const std::vector<bool>& need) {
      std::vector<Tensor> out(3);
      for (int k = 0; k < 3; ++k)
        if (need[k]) out[k] = Tensor::empty(k == 0 ? x.shape() : param_shape);
      kernels::layer_norm_backward(g.data<float>(), x.data<float>(), rows, n, data_or_null(gm), mean.data<float>(),
                                   invstd.data<float>(), need[0] ? out[0].data<float>() : nullptr,
                                   need[1] ? out[1].data<float>() : nullptr, need[2] ? out[2].data<float>() : nullptr);
      return out;
    });
  }
  return y;
}

}  // namespace ops
}  // namespace lamina
