// Fused optimizer loops. Every parameter list is cut into chunks of at most kChunk elements and
// the chunks of all tensors share one parallel region, so that many small tensors and a few large
// ones both keep the threads busy, and a small model stays on one thread (no fork at all).
#include <omp.h>

#include <algorithm>
#include <cmath>
#include <type_traits>
#include <utility>

#include "elementwise.hpp"
#include "optim.hpp"
#include "parallel.hpp"

namespace lamina {
namespace kernels {
namespace {

constexpr int64_t kChunk = int64_t(1) << 14;

struct Chunk {
  size_t tensor;
  int64_t lo, hi;
};

// Calls f(i, lo, hi) over [lo, hi) ranges covering every tensor i of sizes.
template <class F>
void for_chunks(const std::vector<int64_t>& sizes, F f) {
  int64_t total = 0;
  for (int64_t n : sizes) total += n;
  int nt = threads_for(total);
  if (nt <= 1) {
    for (size_t i = 0; i < sizes.size(); ++i)
      if (sizes[i] > 0) f(i, int64_t(0), sizes[i]);
    return;
  }
  std::vector<Chunk> chunks;
  chunks.reserve(static_cast<size_t>(total / kChunk) + sizes.size());
  for (size_t i = 0; i < sizes.size(); ++i)
    for (int64_t lo = 0; lo < sizes[i]; lo += kChunk) chunks.push_back({i, lo, std::min(sizes[i], lo + kChunk)});
  const int64_t nc = static_cast<int64_t>(chunks.size());
#pragma omp parallel for num_threads(nt) schedule(static)
  for (int64_t c = 0; c < nc; ++c) f(chunks[c].tensor, chunks[c].lo, chunks[c].hi);
}

template <class F>
void for_params(const std::vector<ParamBuffers>& b, F f) {
  std::vector<int64_t> sizes(b.size());
  for (size_t i = 0; i < b.size(); ++i) sizes[i] = b[i].n;
  for_chunks(sizes, [&](size_t i, int64_t lo, int64_t hi) { f(b[i], lo, hi); });
}

inline float clamp(float g, float lo, float hi) { return std::min(std::max(g, lo), hi); }

// Built with -fno-math-errno (CMakeLists.txt): sqrt of a negative is NaN either way and nobody reads
// errno, and without it the loops that take a square root do not vectorise.
inline float root(float x) { return std::sqrt(x); }

}  // namespace

void sum_squares(const std::vector<const float*>& data, const std::vector<int64_t>& sizes,
                 std::vector<double>& out) {
  // One partial sum per chunk, added in chunk order: the result does not depend on the threads.
  std::vector<std::vector<double>> partial(sizes.size());
  for (size_t i = 0; i < sizes.size(); ++i) partial[i].assign(static_cast<size_t>((sizes[i] + kChunk - 1) / kChunk), 0.0);
  for_chunks(sizes, [&](size_t i, int64_t lo, int64_t hi) {
    const float* x = data[i];
    double s = 0.0;
    for (int64_t j = lo; j < hi; ++j) s += double(x[j]) * double(x[j]);
    partial[i][static_cast<size_t>(lo / kChunk)] = s;
  });
  out.assign(sizes.size(), 0.0);
  for (size_t i = 0; i < sizes.size(); ++i)
    for (double s : partial[i]) out[i] += s;
}

void scale_clamp(const float* x, float* y, int64_t n, float scale, float lo, float hi) {
  for_chunks({n}, [&](size_t, int64_t a, int64_t b) {
    for (int64_t j = a; j < b; ++j) y[j] = std::min(std::max(x[j] * scale, lo), hi);
  });
}

// Each loop reads the hyperparameters from locals, not from lambda captures: a store through p or
// a slot could alias a captured reference, which stops the compiler from vectorising.
#define LAMINA_OPTIM_LOCALS(t)                                                        \
  float* p = (t).param;                                                               \
  const float* gr = (t).grad;                                                         \
  const float s = (t).grad_scale, cl = pre.clip_lo, ch = pre.clip_hi, dec = pre.decay

void sgd_step(const std::vector<ParamBuffers>& b, const UpdatePrelude& pre, float lr_, float momentum_,
              bool nesterov) {
  for_params(b, [&](const ParamBuffers& t, int64_t begin, int64_t end) {
    LAMINA_OPTIM_LOCALS(t);
    const float lr = lr_, mu = momentum_;
    float* m = t.slot[0];
    if (mu == 0.f || m == nullptr) {
      for (int64_t j = begin; j < end; ++j) {
        float g = clamp(gr[j] * s, cl, ch);
        float w = p[j] - p[j] * dec;
        p[j] = w - g * lr;
      }
    } else if (nesterov) {
      for (int64_t j = begin; j < end; ++j) {
        float g = clamp(gr[j] * s, cl, ch);
        float w = p[j] - p[j] * dec;
        float mj = m[j] * mu - g * lr;
        m[j] = mj;
        p[j] = w + (mj * mu - g * lr);
      }
    } else {
      for (int64_t j = begin; j < end; ++j) {
        float g = clamp(gr[j] * s, cl, ch);
        float w = p[j] - p[j] * dec;
        float mj = m[j] * mu - g * lr;
        m[j] = mj;
        p[j] = w + mj;
      }
    }
  });
}

void adam_step(const std::vector<ParamBuffers>& b, const UpdatePrelude& pre, float alpha_, float beta1,
               float beta2, float eps_, bool amsgrad) {
  for_params(b, [&](const ParamBuffers& t, int64_t begin, int64_t end) {
    LAMINA_OPTIM_LOCALS(t);
    const float alpha = alpha_, c1 = 1.f - beta1, c2 = 1.f - beta2, eps = eps_;
    float* m = t.slot[0];
    float* v = t.slot[1];
    float* vh = t.slot[2];
    if (amsgrad) {
      for (int64_t j = begin; j < end; ++j) {
        float g = clamp(gr[j] * s, cl, ch);
        float w = p[j] - p[j] * dec;
        float mj = m[j] + (g - m[j]) * c1;
        float vj = v[j] + (g * g - v[j]) * c2;
        float hj = max_nan(vh[j], vj);  // NaN-propagating, as torch.maximum
        m[j] = mj;
        v[j] = vj;
        vh[j] = hj;
        p[j] = w - (mj * alpha) / (root(hj) + eps);
      }
    } else {
      for (int64_t j = begin; j < end; ++j) {
        float g = clamp(gr[j] * s, cl, ch);
        float w = p[j] - p[j] * dec;
        float mj = m[j] + (g - m[j]) * c1;
        float vj = v[j] + (g * g - v[j]) * c2;
        m[j] = mj;
        v[j] = vj;
        p[j] = w - (mj * alpha) / (root(vj) + eps);
      }
    }
  });
}

void rmsprop_step(const std::vector<ParamBuffers>& b, const UpdatePrelude& pre, float lr_, float rho_,
                  float momentum_, float eps_) {
  for_params(b, [&](const ParamBuffers& t, int64_t begin, int64_t end) {
    LAMINA_OPTIM_LOCALS(t);
    const float lr = lr_, rho = rho_, c = 1.f - rho_, mu = momentum_, eps = eps_;
    float* v = t.slot[0];
    float* mom = mu > 0.f ? t.slot[1] : nullptr;
    float* avg = t.slot[2];
    // The four variants as separate loops, so that each one vectorises.
    auto run = [&](auto centered, auto with_momentum) {
      for (int64_t j = begin; j < end; ++j) {
        float g = clamp(gr[j] * s, cl, ch);
        float w = p[j] - p[j] * dec;
        float vj = rho * v[j] + c * (g * g);
        v[j] = vj;
        float d;
        if constexpr (decltype(centered)::value) {
          float aj = rho * avg[j] + c * g;
          avg[j] = aj;
          d = vj - aj * aj + eps;
        } else {
          d = vj + eps;
        }
        float inc = (lr * g) / root(d);
        if constexpr (decltype(with_momentum)::value) {
          float mj = mu * mom[j] + inc;
          mom[j] = mj;
          p[j] = w - mj;
        } else {
          p[j] = w - inc;
        }
      }
    };
    using T = std::true_type;
    using F = std::false_type;
    if (avg && mom) run(T{}, T{});
    else if (avg) run(T{}, F{});
    else if (mom) run(F{}, T{});
    else run(F{}, F{});
  });
}

void adagrad_step(const std::vector<ParamBuffers>& b, const UpdatePrelude& pre, float lr_, float eps_) {
  for_params(b, [&](const ParamBuffers& t, int64_t begin, int64_t end) {
    LAMINA_OPTIM_LOCALS(t);
    const float lr = lr_, eps = eps_;
    float* acc = t.slot[0];
    for (int64_t j = begin; j < end; ++j) {
      float g = clamp(gr[j] * s, cl, ch);
      float w = p[j] - p[j] * dec;
      float aj = acc[j] + g * g;
      acc[j] = aj;
      p[j] = w - (lr * g) / root(aj + eps);
    }
  });
}

#undef LAMINA_OPTIM_LOCALS

}  // namespace kernels
}  // namespace lamina
