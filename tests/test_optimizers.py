"""Optimizers: each update against a NumPy (float64) implementation of Keras 3's formulas and against
numbers printed by real Keras 3.15 (tests/optimizers/keras_3_15.json), plus the Keras API around
them: iterations, learning rates and schedules, slots that follow their variables, configs, errors."""
import json
import math
import os
import sys

import numpy as np
import pytest

import lamina as keras
from lamina import _core, ops
from lamina.optimizers import schedules

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "optimizers"))
import optimizer_configs as configs  # noqa: E402

with open(os.path.join(os.path.dirname(os.path.abspath(__file__)), "optimizers", "keras_3_15.json")) as _f:
    KERAS = json.load(_f)

RTOL, ATOL = 2e-5, 2e-6


# ---------------------------------------------------------------------------- NumPy reference


def _schedule_value(spec, step):
    kind, kw = spec
    if kind == "ExponentialDecay":
        p = step / kw["decay_steps"]
        if kw.get("staircase"):
            p = math.floor(p)
        return kw["initial_learning_rate"] * kw["decay_rate"] ** p
    for boundary, value in zip(kw["boundaries"], kw["values"]):
        if step <= boundary:
            return value
    return kw["values"][-1]


class Reference:
    """Keras 3's base optimizer + update_step formulas, in float64. Slots are keyed by a variable key."""

    DEFAULTS = {
        "SGD": {"learning_rate": 0.01, "momentum": 0.0, "nesterov": False},
        "Adam": {"learning_rate": 0.001, "beta_1": 0.9, "beta_2": 0.999, "epsilon": 1e-7, "amsgrad": False},
        "AdamW": {"learning_rate": 0.001, "beta_1": 0.9, "beta_2": 0.999, "epsilon": 1e-7, "amsgrad": False,
                  "weight_decay": 0.004},
        "RMSprop": {"learning_rate": 0.001, "rho": 0.9, "momentum": 0.0, "epsilon": 1e-7, "centered": False},
        "Adagrad": {"learning_rate": 0.001, "initial_accumulator_value": 0.1, "epsilon": 1e-7},
        "MomentumSGD": {"learning_rate": 0.01, "momentum": 0.9, "nesterov": False},  # configs' user-written one
    }

    def __init__(self, cls_name, kwargs, schedule=None):
        self.kind = cls_name
        self.h = dict(self.DEFAULTS[cls_name])
        self.h.update(kwargs)
        self.schedule = schedule
        self.iterations = 0
        self.slots = {}

    def lr(self):
        if self.schedule is not None:
            return _schedule_value(self.schedule, self.iterations)
        return float(np.float32(self.h["learning_rate"]))  # Keras keeps it in a float32 variable

    def _clip(self, grads):
        h = self.h
        if h.get("clipnorm"):
            c = h["clipnorm"]
            return [g * c / max(np.sqrt(np.sum(g * g)), c) for g in grads]
        if h.get("global_clipnorm"):
            c = h["global_clipnorm"]
            n = np.sqrt(sum(np.sum(g * g) for g in grads))
            return [g * c * min(1.0 / n, 1.0 / c) for g in grads]
        if h.get("clipvalue"):
            v = h["clipvalue"]
            return [np.clip(g, -v, v) for g in grads]
        return grads

    def step(self, keys, params, grads):
        """Updates params (float64 arrays, in place) for the variables named by keys."""
        h, lr = self.h, self.lr()
        grads = self._clip([np.asarray(g, np.float64) for g in grads])
        if h.get("weight_decay"):
            for p in params:
                p -= p * h["weight_decay"] * lr
        t = self.iterations + 1
        for key, p, g in zip(keys, params, grads):
            s = self.slots.setdefault(key, {})
            if self.kind in ("SGD", "MomentumSGD"):
                if h["momentum"]:
                    m = s.setdefault("m", np.zeros_like(p))
                    m[...] = h["momentum"] * m - lr * g
                    p += h["momentum"] * m - lr * g if h["nesterov"] else m
                else:
                    p -= lr * g
            elif self.kind in ("Adam", "AdamW"):
                b1, b2 = h["beta_1"], h["beta_2"]
                m = s.setdefault("m", np.zeros_like(p))
                v = s.setdefault("v", np.zeros_like(p))
                alpha = lr * np.sqrt(1 - b2 ** t) / (1 - b1 ** t)
                m += (g - m) * (1 - b1)
                v += (g * g - v) * (1 - b2)
                if h["amsgrad"]:
                    vh = s.setdefault("vh", np.zeros_like(p))
                    vh[...] = np.maximum(vh, v)
                    v = vh
                p -= alpha * m / (np.sqrt(v) + h["epsilon"])
            elif self.kind == "RMSprop":
                rho = h["rho"]
                vel = s.setdefault("vel", np.zeros_like(p))
                vel[...] = rho * vel + (1 - rho) * g * g
                if h["centered"]:
                    a = s.setdefault("avg", np.zeros_like(p))
                    a[...] = rho * a + (1 - rho) * g
                    den = vel - a * a + h["epsilon"]
                else:
                    den = vel + h["epsilon"]
                inc = lr * g / np.sqrt(den)
                if h["momentum"] > 0:
                    mom = s.setdefault("mom", np.zeros_like(p))
                    mom[...] = h["momentum"] * mom + inc
                    p -= mom
                else:
                    p -= inc
            elif self.kind == "Adagrad":
                acc = s.setdefault("acc", np.full_like(p, h["initial_accumulator_value"]))
                acc += g * g
                p -= lr * g / np.sqrt(acc + h["epsilon"])
        self.iterations += 1


def _reference_run(name):
    cls_name, kwargs, schedule = configs.CONFIGS[name]
    ref = Reference(cls_name, kwargs, schedule)
    params = [v.astype(np.float64) for v in configs.initial_values()]
    history = []
    for grads in configs.gradients():
        ref.step([0, 1], params, grads)
        history.append([p.copy() for p in params])
    return history


def _lamina_run(name):
    variables = [keras.Variable(v, name=f"v{i}") for i, v in enumerate(configs.initial_values())]
    opt = configs.build(keras.optimizers, name, ops)
    history = []
    for grads in configs.gradients():
        opt.apply_gradients(zip(grads, variables))
        history.append([v.numpy() for v in variables])
    return opt, history


# ---------------------------------------------------------------------------- update formulas


@pytest.mark.parametrize("name", sorted(configs.CONFIGS))
def test_reference_matches_keras(name):
    """The NumPy reference reproduces what Keras 3.15 computed (so it is a faithful oracle)."""
    for step, (ours, theirs) in enumerate(zip(_reference_run(name), KERAS["results"][name])):
        for p, k in zip(ours, theirs):
            np.testing.assert_allclose(p, np.array(k), rtol=RTOL, atol=ATOL, err_msg=f"{name} step {step + 1}")


@pytest.mark.parametrize("name", sorted(configs.CONFIGS))
def test_update_matches_reference_and_keras(name):
    opt, history = _lamina_run(name)
    assert int(opt.iterations) == configs.STEPS
    for step, (ours, ref, theirs) in enumerate(zip(history, _reference_run(name), KERAS["results"][name])):
        for p, r, k in zip(ours, ref, theirs):
            assert p.dtype == np.float32
            np.testing.assert_allclose(p, r, rtol=RTOL, atol=ATOL, err_msg=f"{name} step {step + 1} vs NumPy")
            np.testing.assert_allclose(p, np.array(k), rtol=RTOL, atol=ATOL, err_msg=f"{name} step {step + 1} vs Keras")


def test_fixture_comes_from_keras_3_15():
    assert KERAS["keras_version"] == "3.15.1" and set(KERAS["results"]) == set(configs.CONFIGS)


def test_sgd_by_hand():
    v = keras.Variable(np.array([1.0, -2.0], "float32"))
    opt = keras.optimizers.SGD(learning_rate=0.5, momentum=0.5)
    opt.apply_gradients([(np.array([1.0, 1.0], "float32"), v)])   # m = -0.5;  v = 0.5, -2.5
    opt.apply_gradients([(np.array([2.0, 0.0], "float32"), v)])   # m = -1.25, -0.25
    np.testing.assert_allclose(v.numpy(), [-0.75, -2.75])


def test_large_tensors_use_the_threaded_path():
    rng = np.random.RandomState(3)
    p0 = rng.normal(size=(300, 400)).astype("float32")   # above the parallel threshold
    small0 = rng.normal(size=(5,)).astype("float32")
    grads = [rng.normal(size=p0.shape).astype("float32"), rng.normal(size=small0.shape).astype("float32")]
    big, small = keras.Variable(p0), keras.Variable(small0)
    opt = keras.optimizers.Adam(0.01, clipnorm=50.0)
    opt.apply_gradients(zip(grads, [big, small]))
    ref = Reference("Adam", {"learning_rate": 0.01, "clipnorm": 50.0})
    params = [p0.astype(np.float64), small0.astype(np.float64)]
    ref.step([0, 1], params, grads)
    np.testing.assert_allclose(big.numpy(), params[0], rtol=RTOL, atol=ATOL)
    np.testing.assert_allclose(small.numpy(), params[1], rtol=RTOL, atol=ATOL)


def test_toy_regression_converges_with_gradient_tape():
    rng = np.random.RandomState(0)
    x = rng.normal(size=(64, 3)).astype("float32")
    w_true = np.array([[1.5], [-2.0], [0.5]], "float32")
    y = x @ w_true + 0.3
    w = keras.Variable(np.zeros((3, 1), "float32"), name="w")
    b = keras.Variable(np.zeros((1,), "float32"), name="b")
    for opt in (keras.optimizers.Adam(learning_rate=0.1), keras.optimizers.SGD(0.1, momentum=0.9)):
        w.assign(np.zeros((3, 1), "float32"))
        b.assign(np.zeros((1,), "float32"))
        for _ in range(150):
            with keras.GradientTape() as tape:
                loss = ops.mean(ops.square(ops.matmul(x, w) + b - y))
            grads = tape.gradient(loss, [w, b])
            opt.apply_gradients(zip(grads, [w, b]))
        assert float(loss) < 1e-3, type(opt).__name__
        np.testing.assert_allclose(w.numpy(), w_true, atol=0.02)
        np.testing.assert_allclose(b.numpy(), [0.3], atol=0.02)
        assert int(opt.iterations) == 150


# ---------------------------------------------------------------------------- iterations, lr, variables


def test_iterations_is_a_non_trainable_int64_variable_counting_steps():
    v = keras.Variable(np.ones(2, "float32"))
    opt = keras.optimizers.RMSprop()
    assert isinstance(opt.iterations, keras.Variable)
    assert opt.iterations.dtype == "int64" and not opt.iterations.trainable and int(opt.iterations) == 0
    for i in range(3):
        assert int(opt.apply_gradients([(np.ones(2, "float32"), v)])) == i + 1
    opt.apply([np.ones(2, "float32")])  # built: the variables may be left out
    assert int(opt.iterations) == 4
    opt.apply([])  # no gradients at all: nothing happens (Keras)
    assert int(opt.iterations) == 4


def test_learning_rate_get_set_and_schedules():
    opt = keras.optimizers.SGD(learning_rate=0.1)
    assert isinstance(opt.learning_rate, float) and opt.learning_rate == pytest.approx(0.1)
    opt.learning_rate = 0.25
    assert opt.learning_rate == 0.25
    v = keras.Variable(np.zeros(1, "float32"))
    opt.apply_gradients([(np.ones(1, "float32"), v)])
    np.testing.assert_allclose(v.numpy(), [-0.25])

    sched = schedules.ExponentialDecay(1.0, decay_steps=2, decay_rate=0.5)
    opt = keras.optimizers.SGD(learning_rate=sched)
    seen = []
    for _ in range(3):
        seen.append(opt.learning_rate)
        opt.apply_gradients([(np.ones(1, "float32"), v)])
    np.testing.assert_allclose(seen, [1.0, 0.5 ** 0.5, 0.5])
    with pytest.raises(TypeError, match="not settable"):
        opt.learning_rate = 0.1
    assert [v.name for v in opt.variables] == ["iteration"]  # no learning_rate variable with a schedule

    staircase = schedules.ExponentialDecay(0.1, 3, 0.5, staircase=True)
    np.testing.assert_allclose([staircase(i) for i in range(7)], [0.1] * 3 + [0.05] * 3 + [0.025])
    pw = schedules.PiecewiseConstantDecay([2, 4], [1.0, 0.5, 0.1])
    assert [pw(i) for i in range(7)] == [1.0, 1.0, 1.0, 0.5, 0.5, 0.1, 0.1]
    with pytest.raises(ValueError, match="The length of boundaries should be 1 less"):
        schedules.PiecewiseConstantDecay([1], [1.0])
    with pytest.raises(ValueError, match="`decay_steps` must be > 0"):
        schedules.ExponentialDecay(0.1, 0, 0.5)
    # a callable learning rate is called at each step
    opt = keras.optimizers.SGD(learning_rate=lambda: 0.5)
    assert opt.learning_rate == 0.5


def test_variables_names_and_order_follow_keras():
    layer = keras.layers.Dense(2, name="dense_opt")
    layer.build((None, 3))
    opt = keras.optimizers.Adam(amsgrad=True, name="adam_opt")
    assert [v.path for v in opt.variables] == ["adam_opt/iteration", "adam_opt/learning_rate"]
    opt.build(layer.trainable_variables)
    base = [p.replace("/", "_") for p in (layer.kernel.path, layer.bias.path)]
    assert [v.name for v in opt.variables] == [
        "iteration", "learning_rate",
        f"{base[0]}_momentum", f"{base[0]}_velocity", f"{base[1]}_momentum", f"{base[1]}_velocity",
        f"{base[0]}_velocity_hat", f"{base[1]}_velocity_hat"]
    assert all(not v.trainable for v in opt.variables)
    assert [v.shape for v in opt.variables[2:4]] == [(3, 2), (3, 2)]
    assert keras.optimizers.Adagrad().name.startswith("adagrad")
    assert keras.optimizers.RMSprop().name.startswith("rm_sprop")
    assert keras.optimizers.AdamW().name.startswith("adam_w")
    sgd = keras.optimizers.SGD(momentum=0.9)
    sgd.build(layer.trainable_variables)
    assert [v.name for v in sgd.variables][2:] == [f"{base[0]}_momentum", f"{base[1]}_momentum"]
    ada = keras.optimizers.Adagrad(initial_accumulator_value=0.3)
    ada.build([layer.bias])
    np.testing.assert_allclose(ada.variables[-1].numpy(), [0.3, 0.3])


# ---------------------------------------------------------------------------- changing variable sets


def test_slots_follow_variables_when_the_set_changes():
    rng = np.random.RandomState(5)
    init = {k: rng.normal(size=s).astype("float32") for k, s in (("a", (2, 2)), ("b", (3,)), ("c", (2,)))}
    var = {k: keras.Variable(v, name=k) for k, v in init.items()}
    ref_params = {k: v.astype(np.float64) for k, v in init.items()}
    opt = keras.optimizers.Adam(learning_rate=0.05)
    ref = Reference("Adam", {"learning_rate": 0.05})
    # step 1: a, b;  step 2: b only (a frozen, not passed);  step 3: c (new) then a, reordered;
    # step 4: all three, with b frozen but passed in (it must not change)
    plan = [["a", "b"], ["b"], ["c", "a"], ["a", "b", "c"]]
    for step, keys in enumerate(plan):
        grads = {k: rng.normal(size=init[k].shape).astype("float32") for k in keys}
        if step == 3:
            var["b"].trainable = False
            updated = ["a", "c"]
        else:
            updated = keys
        opt.apply_gradients([(grads[k], var[k]) for k in keys])
        ref.step(updated, [ref_params[k] for k in updated], [grads[k] for k in updated])
        for k in init:
            np.testing.assert_allclose(var[k].numpy(), ref_params[k], rtol=RTOL, atol=ATOL,
                                       err_msg=f"variable {k} after step {step + 1}")
    assert int(opt.iterations) == 4
    # one momentum and one velocity per variable, none shared
    slot_names = [v.name for v in opt.variables[2:]]
    assert sorted(slot_names) == sorted(f"{k}_{s}" for k in "abc" for s in ("momentum", "velocity"))


def test_frozen_variable_passed_in_is_not_updated():
    frozen = keras.Variable(np.ones(3, "float32"), trainable=False)
    live = keras.Variable(np.ones(3, "float32"))
    opt = keras.optimizers.SGD(0.1, weight_decay=0.5)
    opt.apply_gradients([(np.ones(3, "float32"), frozen), (np.ones(3, "float32"), live)])
    np.testing.assert_array_equal(frozen.numpy(), np.ones(3))
    np.testing.assert_allclose(live.numpy(), 1 - 0.05 - 0.1)


def test_none_gradients_are_skipped_with_a_warning():
    a = keras.Variable(np.ones(2, "float32"), name="with_grad")
    b = keras.Variable(np.ones(2, "float32"), name="without_grad")
    opt = keras.optimizers.SGD(0.1)
    with pytest.warns(UserWarning, match=r"Gradients do not exist for variables \['without_grad'\]"):
        opt.apply_gradients([(np.ones(2, "float32"), a), (None, b)])
    np.testing.assert_allclose(a.numpy(), [0.9, 0.9])
    np.testing.assert_array_equal(b.numpy(), [1, 1])
    with pytest.raises(ValueError, match="No gradients provided for any variable."):
        opt.apply_gradients([(None, a), (None, b)])
    assert int(opt.iterations) == 1


def test_update_keeps_earlier_views_and_results():
    v = keras.Variable(np.ones(4, "float32"))
    view = np.asarray(v.value)          # shares the variable's memory
    reshaped = ops.reshape(v.value, (2, 2))
    opt = keras.optimizers.Adam(0.1)
    opt.apply_gradients([(np.ones(4, "float32"), v)])
    np.testing.assert_array_equal(view, np.ones(4))
    np.testing.assert_array_equal(np.asarray(reshaped), np.ones((2, 2)))
    assert not np.allclose(v.numpy(), 1.0)


def test_exclude_from_weight_decay():
    kernel = keras.Variable(np.ones(2, "float32"), name="kernel")
    bias = keras.Variable(np.ones(2, "float32"), name="bias")
    for clip in ({}, {"global_clipnorm": 0.5}):
        kernel.assign(np.ones(2, "float32"))
        bias.assign(np.ones(2, "float32"))
        opt = keras.optimizers.SGD(0.1, weight_decay=0.5, **clip)
        opt.exclude_from_weight_decay(var_names=["bias"])
        g = np.full(2, 3.0, "float32")
        opt.apply_gradients([(g, kernel), (g, bias)])
        scale = min(1.0, 0.5 / np.sqrt(4 * 9.0)) if clip else 1.0
        np.testing.assert_allclose(kernel.numpy(), 1 - 0.05 - 0.1 * 3 * scale, rtol=1e-6)
        np.testing.assert_allclose(bias.numpy(), 1 - 0.1 * 3 * scale, rtol=1e-6)
        with pytest.raises(ValueError, match="before"):
            opt.exclude_from_weight_decay(var_names=["kernel"])


def test_keras_style_subclass_with_update_step():
    """A user-written optimizer: its slots, `update_step`, and the base class's clipping and weight
    decay around it. The update is `variable -= learning_rate * gradient`, so clipping changes it
    (a sign-of-gradient update would hide a clip that is skipped). The numbers are what Keras 3.15.1
    prints for the same class (torch backend); by hand: decay v *= 1 - 0.1 * 0.5, then
    v -= 0.5 * clip(g, -1, 1)."""
    class PlainSGD(keras.optimizers.Optimizer):
        def __init__(self, learning_rate=0.1, **kwargs):
            super().__init__(learning_rate=learning_rate, **kwargs)

        def build(self, variables):
            if self.built:
                return
            super().build(variables)
            self.counts = [self.add_variable_from_reference(v, "count") for v in variables]

        def update_step(self, gradient, variable, learning_rate):
            self.assign_sub(variable, ops.multiply(gradient, learning_rate))
            self.assign_add(self.counts[self._get_variable_index(variable)], ops.ones(variable.shape))

    v = keras.Variable(np.array([1.0, 2.0, -1.0], "float32"), name="w")
    opt = PlainSGD(learning_rate=0.5, clipvalue=1.0, weight_decay=0.1)
    opt.apply_gradients([(np.array([2.0, -3.0, 0.5], "float32"), v)])
    np.testing.assert_allclose(v.numpy(), [0.45, 2.4, -1.2], rtol=1e-6)  # unclipped: [-0.05, 3.4, -1.2]
    opt.apply_gradients([(np.array([-0.25, 4.0, -1.5], "float32"), v)])
    np.testing.assert_allclose(v.numpy(), [0.5525, 1.78, -0.64], rtol=1e-6)
    np.testing.assert_allclose(opt.counts[0].numpy(), [2, 2, 2])
    assert int(opt.iterations) == 2
    with pytest.raises(ValueError, match="Unknown variable"):
        opt.apply_gradients([(np.ones(3, "float32"), keras.Variable(np.zeros(3, "float32")))])


# ---------------------------------------------------------------------------- get / config / errors


def test_get_by_name_instance_and_config():
    for name, cls in [("adam", keras.optimizers.Adam), ("SGD", keras.optimizers.SGD),
                      ("rmsprop", keras.optimizers.RMSprop), ("RMSprop", keras.optimizers.RMSprop),
                      ("AdamW", keras.optimizers.AdamW), ("adagrad", keras.optimizers.Adagrad)]:
        assert type(keras.optimizers.get(name)) is cls
    opt = keras.optimizers.Adam()
    assert keras.optimizers.get(opt) is opt
    assert keras.optimizers.get(None) is None
    got = keras.optimizers.get({"class_name": "SGD", "config": {"learning_rate": 0.5, "momentum": 0.9}})
    assert isinstance(got, keras.optimizers.SGD) and got.momentum == 0.9 and got.learning_rate == 0.5


@pytest.mark.parametrize("identifier", ["foo", 3, {"class_name": "Foo", "config": {}}])
def test_unknown_identifier_raises_value_error(identifier):
    with pytest.raises(ValueError, match=f"Could not interpret optimizer identifier: {identifier}"
                       .replace("{", r"\{").replace("}", r"\}")):
        keras.optimizers.get(identifier)


def test_config_round_trip_and_serialize():
    sched = schedules.PiecewiseConstantDecay([10], [0.1, 0.01])
    for opt in [keras.optimizers.SGD(0.05, momentum=0.9, nesterov=True, clipnorm=1.0),
                keras.optimizers.Adam(amsgrad=True, weight_decay=0.01),
                keras.optimizers.AdamW(learning_rate=sched, global_clipnorm=2.0),
                keras.optimizers.RMSprop(rho=0.8, centered=True, clipvalue=0.5),
                keras.optimizers.Adagrad(initial_accumulator_value=0.2)]:
        config = opt.get_config()
        clone = type(opt).from_config(config)
        assert clone.get_config() == config
        again = keras.optimizers.deserialize(keras.optimizers.serialize(opt))
        assert type(again) is type(opt) and again.get_config() == config
    cfg = keras.optimizers.Adam().get_config()
    assert list(cfg)[:11] == ["name", "learning_rate", "weight_decay", "clipnorm", "global_clipnorm",
                              "clipvalue", "use_ema", "ema_momentum", "ema_overwrite_frequency",
                              "loss_scale_factor", "gradient_accumulation_steps"]
    assert cfg["learning_rate"] == float(np.float32(0.001))  # stored as float32, as Keras
    assert keras.optimizers.AdamW().get_config()["weight_decay"] == 0.004
    assert keras.optimizers.serialize(keras.optimizers.SGD())["class_name"] == "SGD"
    s = schedules.serialize(schedules.ExponentialDecay(0.1, 5, 0.9))
    assert s["class_name"] == "ExponentialDecay" and schedules.deserialize(s).decay_steps == 5


def test_defaults_follow_keras():
    assert keras.optimizers.SGD().learning_rate == pytest.approx(0.01)
    for cls in (keras.optimizers.Adam, keras.optimizers.AdamW, keras.optimizers.RMSprop, keras.optimizers.Adagrad):
        opt = cls()
        assert opt.learning_rate == pytest.approx(0.001) and opt.epsilon == 1e-7
    assert keras.optimizers.RMSprop().rho == 0.9
    assert keras.optimizers.Adagrad().initial_accumulator_value == 0.1


def test_constructor_errors_match_keras():
    with pytest.raises(ValueError, match="Argument `learning_rate` should be float"):
        keras.optimizers.SGD(learning_rate=1)
    with pytest.raises(ValueError, match=r"`momentum` must be a float between \[0, 1\]."):
        keras.optimizers.SGD(momentum=1.5)
    with pytest.raises(ValueError, match="Only one of `clipnorm`, `clipvalue` and `global_clipnorm`"):
        keras.optimizers.Adam(clipnorm=1.0, clipvalue=1.0)
    with pytest.raises(ValueError, match=r"Argument\(s\) not recognized: \{'foo': 1\}"):
        keras.optimizers.Adam(foo=1)
    with pytest.raises(ValueError, match="Argument `weight_decay` must be a float"):
        keras.optimizers.AdamW(weight_decay=None)
    with pytest.raises(NotImplementedError, match="use_ema"):
        keras.optimizers.Adam(use_ema=True)


def test_bad_gradients_raise_clear_errors():
    v = keras.Variable(np.ones((2, 3), "float32"))
    opt = keras.optimizers.SGD(0.1)
    with pytest.raises(ValueError, match=r"\[sgd_update\] grads\[0\] has shape \(3,\), expected \(2, 3\)"):
        opt.apply_gradients([(np.ones(3, "float32"), v)])
    np.testing.assert_array_equal(v.numpy(), np.ones((2, 3)))
    assert int(opt.iterations) == 0
    with pytest.raises(ValueError, match="not built|must already be built"):
        keras.optimizers.Adam().apply([np.ones(3, "float32")])
    with pytest.raises(ValueError, match="one-to-on"):
        opt.apply([np.ones((2, 3), "float32"), np.ones(1, "float32")])


def test_core_functions_validate_their_arguments():
    p = [_core.ones([2], "float32")]
    g = [_core.ones([2], "float32")]
    with pytest.raises(ValueError, match=r"\[adam_update\] got 1 params but 0 m"):
        _core.adam_update(p, g, [], [], [], 0.1)
    with pytest.raises(ValueError, match=r"\[adam_update\] step must be >= 1"):
        _core.adam_update(p, g, [_core.zeros([2], "float32")], [_core.zeros([2], "float32")], [], 0.1, step=0)
    with pytest.raises(TypeError, match=r"\[sgd_update\] grads\[0\] has dtype int32"):
        _core.sgd_update(p, [_core.ones([2], "int32")], [], 0.1)
    with pytest.raises(ValueError, match=r"\[sgd_update\] params\[1\] is listed more than once"):
        _core.sgd_update(p + p, g + g, [], 0.1)
    with pytest.raises(ValueError, match="must be > 0"):
        _core.rmsprop_update(p, g, [_core.zeros([2], "float32")], [], [], 0.1, clip="norm", clip_threshold=0.0)
    # the clipping helpers
    grads = [_core.full([2], 3.0, "float32"), _core.full([1], 4.0, "float32")]
    assert _core.global_norm(grads) == pytest.approx(math.sqrt(34))
    np.testing.assert_allclose(np.asarray(_core.clip_by_value(grads, 3.5)[1]), [3.5])
    np.testing.assert_allclose(np.asarray(_core.clip_by_norm(grads, 1.0)[0]), [1 / math.sqrt(2)] * 2, rtol=1e-6)
    np.testing.assert_allclose(np.asarray(_core.clip_by_global_norm(grads, 1.0)[1]), [4 / math.sqrt(34)], rtol=1e-6)
