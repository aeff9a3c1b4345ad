// The C++ optimizer classes: slot bookkeeping by parameter identity, then one fused update call.
#include <stdexcept>
#include <string>

#include "lamina/ops.hpp"
#include "lamina/optim.hpp"

namespace lamina {
namespace optim {

Optimizer::Optimizer(float lr, float wd) : learning_rate(lr), weight_decay(wd) {}
Optimizer::~Optimizer() = default;

void Optimizer::step(std::vector<Tensor>& params) {
  std::vector<Tensor> ps, gs;
  for (size_t i = 0; i < params.size(); ++i) {
    const Tensor& p = params[i];
    if (!p.defined())
      throw std::invalid_argument("[Optimizer::step] params[" + std::to_string(i) + "] is undefined");
    if (!p.requires_grad()) continue;  // frozen
    Tensor g = p.grad();
    if (!g.defined()) continue;  // no gradient this step (Keras skips None gradients)
    ps.push_back(p);
    gs.push_back(g);
  }
  // Forget the slots of parameters that no longer exist: their address may be reused by a new one.
  for (auto it = slots_.begin(); it != slots_.end();)
    it = it->second.owner.expired() ? slots_.erase(it) : std::next(it);

  const int k = num_slots();
  std::vector<std::vector<Tensor>> slots(static_cast<size_t>(k));
  for (const Tensor& p : ps) {
    Entry& e = slots_[p.id()];
    if (e.owner.lock() != p.impl()) e = Entry{p.impl(), {}};
    while (static_cast<int>(e.slots.size()) < k)
      e.slots.push_back(ops::full(p.shape(), slot_initial_value(static_cast<int>(e.slots.size()))));
    for (int j = 0; j < k; ++j) slots[j].push_back(e.slots[j]);
  }
  if (!ps.empty()) update(ps, gs, slots);
  ++iterations_;
}

void Optimizer::zero_grad(std::vector<Tensor>& params) {
  for (Tensor& p : params)
    if (p.defined()) p.set_grad(Tensor());
}

namespace {
std::vector<Tensor>& slot_or(std::vector<std::vector<Tensor>>& slots, size_t k, std::vector<Tensor>& empty) {
  return k < slots.size() ? slots[k] : empty;
}
}  // namespace

SGD::SGD(float lr, float m, bool n, float wd) : Optimizer(lr, wd), momentum(m), nesterov(n) {}

void SGD::update(std::vector<Tensor>& params, const std::vector<Tensor>& grads,
                 std::vector<std::vector<Tensor>>& slots) {
  std::vector<Tensor> none;
  sgd_update(params, grads, slot_or(slots, 0, none), learning_rate, momentum, nesterov, weight_decay, clip);
}

Adam::Adam(float lr, float b1, float b2, float eps, bool ams, float wd)
    : Optimizer(lr, wd), beta_1(b1), beta_2(b2), epsilon(eps), amsgrad(ams) {}

void Adam::update(std::vector<Tensor>& params, const std::vector<Tensor>& grads,
                  std::vector<std::vector<Tensor>>& slots) {
  std::vector<Tensor> none;
  adam_update(params, grads, slots[0], slots[1], slot_or(slots, 2, none), learning_rate, beta_1, beta_2,
              epsilon, iterations() + 1, weight_decay, amsgrad, clip);
}

AdamW::AdamW(float lr, float wd, float b1, float b2, float eps, bool ams) : Adam(lr, b1, b2, eps, ams, wd) {}

RMSprop::RMSprop(float lr, float r, float m, float eps, bool c, float wd)
    : Optimizer(lr, wd), rho(r), momentum(m), epsilon(eps), centered(c) {}

void RMSprop::update(std::vector<Tensor>& params, const std::vector<Tensor>& grads,
                     std::vector<std::vector<Tensor>>& slots) {
  std::vector<Tensor> none1, none2;
  rmsprop_update(params, grads, slots[0], slot_or(slots, 1, none1), slot_or(slots, 2, none2), learning_rate,
                 rho, momentum, epsilon, centered, weight_decay, clip);
}

Adagrad::Adagrad(float lr, float init, float eps, float wd)
    : Optimizer(lr, wd), initial_accumulator_value(init), epsilon(eps) {}

void Adagrad::update(std::vector<Tensor>& params, const std::vector<Tensor>& grads,
                     std::vector<std::vector<Tensor>>& slots) {
  adagrad_update(params, grads, slots[0], learning_rate, epsilon, weight_decay, clip);
}

}  // namespace optim
}  // namespace lamina
