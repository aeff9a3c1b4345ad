"""`Optimizer`: the Keras 3 optimizer base class.

The built-in optimizers (SGD, Adam, AdamW, RMSprop, Adagrad) update every variable of a step in
one call into C++ (`lamina._core.*_update`): clipping, decoupled weight decay and the update are
fused there, with Keras 3's formulas. A subclass that defines its own `update_step` (Keras's way
of writing an optimizer) runs that per variable in Python instead.

Slot variables (momenta, velocities, ...) belong to one model variable each and are found by the
variable's identity, so the list of variables may change from one step to the next (a layer frozen
or unfrozen): a variable seen for the first time gets fresh slots, and slots never move to another
variable. Variables passed in that are not trainable (frozen) are left unchanged.
"""
import re
import warnings

from lamina import _core, initializers
from lamina.backend import Tensor, convert_to_tensor
from lamina.optimizers import schedules as _schedules
from lamina.saving.keras_saveable import KerasSaveable, assign_variables
from lamina.saving.object_registration import keras_export
from lamina.utils.naming import auto_name, to_snake_case
from lamina.variables import Variable

_DEFAULTS = {"use_ema": False, "ema_momentum": 0.99, "ema_overwrite_frequency": None,
             "loss_scale_factor": None, "gradient_accumulation_steps": None}


@keras_export("keras.optimizers.Optimizer")
class Optimizer(KerasSaveable):
    """Base class of the optimizers (Keras 3's `keras.optimizers.Optimizer`).

    Args:
        learning_rate: a float, a `keras.optimizers.schedules.LearningRateSchedule` (evaluated at
            `iterations` on each step) or a callable taking no arguments.
        weight_decay: float or None. If set, every variable is decayed before its update as Keras
            does for all optimizers: `variable -= variable * weight_decay * learning_rate`.
        clipnorm: float or None: each gradient is clipped so that its norm is at most this.
        clipvalue: float or None: each gradient element is clipped to [-clipvalue, clipvalue].
        global_clipnorm: float or None: all gradients are scaled together so that their global norm
            is at most this. Only one of the three clip arguments can be set.
        name: the name (default: the class name in snake case, made unique: "adam", "adam_1").

    `use_ema`, `ema_momentum`, `ema_overwrite_frequency`, `loss_scale_factor` and
    `gradient_accumulation_steps` are accepted with their default values (Keras configs carry them);
    other values raise NotImplementedError.
    """

    # Slot variables per model variable, as groups created one group at a time (Keras's order: within
    # a group the names alternate per variable). Subclasses set these through `_slot_groups()`.
    def _slot_groups(self):
        return []

    def _slot_initial_value(self, slot_name):
        return 0.0

    def __init__(self, learning_rate, weight_decay=None, clipnorm=None, clipvalue=None,
                 global_clipnorm=None, use_ema=False, ema_momentum=0.99, ema_overwrite_frequency=None,
                 loss_scale_factor=None, gradient_accumulation_steps=None, name=None, **kwargs):
        if kwargs.pop("decay", None) is not None:
            warnings.warn("Argument `decay` is no longer supported and will be ignored.")
        if kwargs:
            raise ValueError(f"Argument(s) not recognized: {kwargs}")
        given = {"use_ema": use_ema, "ema_momentum": ema_momentum,
                 "ema_overwrite_frequency": ema_overwrite_frequency,
                 "loss_scale_factor": loss_scale_factor,
                 "gradient_accumulation_steps": gradient_accumulation_steps}
        for key, value in given.items():
            if value != _DEFAULTS[key] and not (key == "use_ema" and not value):
                raise NotImplementedError(
                    f"lamina optimizers do not support `{key}` yet (received {key}={value!r}).")
        clip_args_sum = sum(a is not None for a in [clipnorm, clipvalue, global_clipnorm])
        if clip_args_sum > 1:
            raise ValueError(
                "Only one of `clipnorm`, `clipvalue` and `global_clipnorm` can "
                f"be set. Received: clipnorm={clipnorm}, "
                f"clipvalue={clipvalue}, global_clipnorm={global_clipnorm}")
        if name is None:
            name = auto_name(to_snake_case(self.__class__.__name__))
        self.name = name
        self.weight_decay = weight_decay
        self.clipnorm = clipnorm
        self.global_clipnorm = global_clipnorm
        self.clipvalue = clipvalue
        self.use_ema = use_ema
        self.ema_momentum = ema_momentum
        self.ema_overwrite_frequency = ema_overwrite_frequency
        self.loss_scale_factor = loss_scale_factor
        self.gradient_accumulation_steps = gradient_accumulation_steps
        self.built = False

        self._variables = []             # iteration, learning_rate, then slots in creation order
        self._trainable_variables = []   # the model variables, in the order first seen
        self._trainable_variables_indices = {}  # Variable -> index in _trainable_variables
        self._slots = {}                 # Variable -> {slot name: Variable}
        self._exclude_from_weight_decay = set()
        self._exclude_from_weight_decay_pattern = None

        self._iterations = self._make_variable(0, "iteration", "int64")
        if isinstance(learning_rate, _schedules.LearningRateSchedule) or callable(learning_rate):
            self._learning_rate = learning_rate
        else:
            if not isinstance(learning_rate, float):
                raise ValueError(
                    "Argument `learning_rate` should be float, or an instance "
                    "of LearningRateSchedule, or a callable "
                    "(that takes in the current iteration value "
                    "and returns the corresponding learning rate value). "
                    f"Received instead: learning_rate={learning_rate}")
            self._learning_rate = self._make_variable(learning_rate, "learning_rate", "float32")

    # ------------------------------------------------------------------ variables
    def _make_variable(self, value, name, dtype):
        v = Variable(value, dtype=dtype, trainable=False, name=name)
        v.path = f"{self.name}/{name}"
        self._variables.append(v)
        return v

    def add_variable(self, shape, initializer="zeros", dtype=None, aggregation="none", layout=None,
                     name=None):
        """Adds a (non-trainable) optimizer variable and returns it."""
        init = initializers.get(initializer)
        v = Variable(init, shape=tuple(shape), dtype=dtype or "float32", trainable=False, name=name)
        if name is not None:
            v.path = f"{self.name}/{name}"
        self._variables.append(v)
        return v

    def add_variable_from_reference(self, reference_variable, name=None, initializer="zeros"):
        """Adds an optimizer variable shaped like `reference_variable`, named
        `<reference path with _>_<name>` (`dense_kernel_momentum`)."""
        name = name or "var"
        ref = getattr(reference_variable, "path", None) or str(reference_variable.name)
        name = f"{ref.replace('/', '_').replace(':', '_')}_{name}"
        return self.add_variable(reference_variable.shape, initializer=initializer,
                                 dtype=reference_variable.dtype, name=name)

    @property
    def variables(self):
        """The optimizer's variables: `iteration`, `learning_rate` (for a float learning rate), then
        the slot variables in the order they were created."""
        return self._variables[:]

    @property
    def iterations(self):
        """The number of steps applied so far (a non-trainable int64 Variable)."""
        return self._iterations

    def _var_key(self, variable):
        return id(variable)

    def _get_variable_index(self, variable):
        return self._trainable_variables_indices[variable]

    def _uses_fused_update(self):
        return hasattr(self, "_fused_update") and type(self).update_step is Optimizer.update_step

    def build(self, variables):
        """Creates the slot variables of `variables` (those it does not know yet)."""
        self._track(list(variables))
        self.built = True

    def _track(self, variables):
        new = [v for v in variables if v not in self._trainable_variables_indices]
        for v in new:
            self._trainable_variables_indices[v] = len(self._trainable_variables)
            self._trainable_variables.append(v)
        self._add_slots(variables)

    def _add_slots(self, variables):
        for group in self._slot_groups():
            for v in variables:
                slots = self._slots.setdefault(v, {})
                for slot_name in group:
                    if slot_name not in slots:
                        slots[slot_name] = self.add_variable_from_reference(
                            v, slot_name, initializer=_Constant(self._slot_initial_value(slot_name)))

    # ------------------------------------------------------------------ learning rate
    @property
    def learning_rate(self):
        """The current learning rate, as a float (a schedule is evaluated at `iterations`). Setting
        a float changes it; setting a schedule or callable replaces it."""
        return self._get_current_learning_rate()

    @learning_rate.setter
    def learning_rate(self, learning_rate):
        prev = self._learning_rate if isinstance(self._learning_rate, Variable) else None
        if isinstance(learning_rate, _schedules.LearningRateSchedule) or callable(learning_rate):
            self._learning_rate = learning_rate
        else:
            if prev is None:
                raise TypeError(
                    "This optimizer was created with a `LearningRateSchedule`"
                    " object as its `learning_rate` constructor argument, "
                    "hence its learning rate is not settable. If you need the"
                    " learning rate to be settable, you should instantiate "
                    "the optimizer with a float `learning_rate` argument.")
            prev.assign(float(learning_rate))
        if prev is not None and not isinstance(self._learning_rate, Variable):
            self._variables = [v for v in self._variables if v is not prev]

    def _get_current_learning_rate(self):
        lr = self._learning_rate
        if isinstance(lr, _schedules.LearningRateSchedule):
            return float(lr(self._iterations))
        if isinstance(lr, Variable):
            return float(lr)
        if callable(lr):
            return float(lr())
        return float(lr)

    # ------------------------------------------------------------------ applying gradients
    def apply_gradients(self, grads_and_vars):
        """Applies `(gradient, variable)` pairs (a list or any iterable); returns `iterations`."""
        pairs = list(grads_and_vars)
        grads = [g for g, _ in pairs]
        variables = [v for _, v in pairs]
        self.apply(grads, variables)
        return self._iterations

    def apply(self, grads, trainable_variables=None):
        """Updates the variables with their gradients and counts one step.

        `trainable_variables` may be left out once the optimizer is built: `grads` then match the
        variables it was built with, one to one. A None gradient skips its variable (with a warning,
        as Keras); all None raises ValueError. Variables that are not trainable are not changed.
        """
        grads = list(grads)
        if len(grads) == 0:
            return
        if trainable_variables is None:
            if not self.built:
                raise ValueError(
                    "When passing `grads` without `variables`, the optimizer "
                    "must already be built on a list of variables. "
                    "Call `optimizer.build(trainable_variables)` first. ")
            if len(grads) != len(self._trainable_variables):
                raise ValueError(
                    "When passing `grads` as a list of gradient tensors, the "
                    f"gradients must match `optimizer.variables` one-to-on. "
                    f"Received a list of {len(grads)} gradients, but the "
                    f"optimizer is tracking {len(self._trainable_variables)} "
                    "trainable variables.")
            trainable_variables = self._trainable_variables
        else:
            trainable_variables = list(trainable_variables)
            if len(trainable_variables) != len(grads):
                raise ValueError(
                    f"Received {len(grads)} gradients for {len(trainable_variables)} variables: "
                    "pass one gradient per variable.")
            for v in trainable_variables:
                if not isinstance(v, Variable):
                    raise TypeError(f"Optimizers update Variables, received {type(v).__name__}: {v!r}")
            if not self.built:
                self.build(trainable_variables)
            else:
                self._check_variables(trainable_variables)

        grads, trainable_variables = self._filter_empty_gradients(grads, trainable_variables)
        keep = [i for i, v in enumerate(trainable_variables) if v.trainable]
        if len(keep) != len(trainable_variables):
            grads = [grads[i] for i in keep]
            trainable_variables = [trainable_variables[i] for i in keep]
        if trainable_variables:
            grads = [g if type(g) is Tensor else convert_to_tensor(g, "float32") for g in grads]
            lr = self._get_current_learning_rate()
            if self._uses_fused_update():
                self._apply_fused(grads, trainable_variables, lr)
            else:
                self._apply_python(grads, trainable_variables, lr)
        # iterations += 1, in place (Variable.assign without its conversions: this runs every step)
        counter = self._iterations._lamina_tensor
        counter._unshare()
        counter._assign(_core.scalar(float(int(counter) + 1), "int64"))

    def _check_variables(self, variables):
        unknown = [v for v in variables if v not in self._trainable_variables_indices]
        if not unknown:
            return
        if not self._uses_fused_update():  # a Keras-style subclass builds its own slots once
            raise ValueError(
                f"Unknown variable: {unknown[0]}. This optimizer can only "
                "be called for the variables it was originally built with. "
                "When working with a new set of variables, you should "
                "recreate a new optimizer instance.")
        self._track(unknown)

    def _filter_empty_gradients(self, grads, variables):
        if all(g is not None for g in grads):
            return grads, variables
        missing = [getattr(v, "path", v.name) for g, v in zip(grads, variables) if g is None]
        pairs = [(g, v) for g, v in zip(grads, variables) if g is not None]
        if not pairs:
            raise ValueError("No gradients provided for any variable.")
        warnings.warn(
            f"Gradients do not exist for variables {missing} when minimizing the loss."
            " If using `model.compile()`, did you forget to provide a `loss` argument?")
        return [g for g, _ in pairs], [v for _, v in pairs]

    def _clip_spec(self):
        """(kind, threshold) for the C++ update, with Keras's precedence and `x > 0` tests."""
        if self.clipnorm and self.clipnorm > 0:
            return "norm", float(self.clipnorm)
        if self.global_clipnorm and self.global_clipnorm > 0:
            return "global_norm", float(self.global_clipnorm)
        if self.clipvalue and self.clipvalue > 0:
            return "value", float(self.clipvalue)
        return "none", 0.0

    def _apply_fused(self, grads, variables, lr):
        wd = float(self.weight_decay) if self.weight_decay else 0.0
        clip, threshold = self._clip_spec()
        decayed = [self._use_weight_decay(v) for v in variables] if wd else None
        if decayed is None or all(decayed):
            self._fused_call(grads, variables, lr, wd, clip, threshold)
            return
        # Some variables are excluded from weight decay: two calls, one per group. A global norm
        # must still cover every gradient, so that clip is done first, over all of them.
        if clip == "global_norm":
            grads = _core.clip_by_global_norm(grads, threshold)
            clip, threshold = "none", 0.0
        for flag, rate in ((True, wd), (False, 0.0)):
            idx = [i for i, d in enumerate(decayed) if d == flag]
            if idx:
                self._fused_call([grads[i] for i in idx], [variables[i] for i in idx], lr, rate, clip,
                                 threshold)

    def _fused_call(self, grads, variables, lr, wd, clip, threshold):
        params = [v._lamina_tensor for v in variables]
        names = [name for group in self._slot_groups() for name in group]
        try:
            slot_lists = {n: [self._slots[v][n]._lamina_tensor for v in variables] for n in names}
        except KeyError:  # a slot switched on after build (momentum set later, amsgrad, ...)
            self._add_slots(variables)
            slot_lists = {n: [self._slots[v][n]._lamina_tensor for v in variables] for n in names}
        self._fused_update(params, grads, slot_lists, lr, wd, clip, threshold)

    def _apply_python(self, grads, variables, lr):
        clip, threshold = self._clip_spec()
        if clip == "norm":
            grads = _core.clip_by_norm(grads, threshold)
        elif clip == "global_norm":
            grads = _core.clip_by_global_norm(grads, threshold)
        elif clip == "value":
            grads = _core.clip_by_value(grads, threshold)
        if self.weight_decay:
            for v in variables:
                if self._use_weight_decay(v):
                    v.assign(v - v * float(self.weight_decay) * lr)
        for g, v in zip(grads, variables):
            self.update_step(g, v, lr)

    def update_step(self, gradient, variable, learning_rate):
        """Updates one variable (Keras-style subclasses override this; the built-in optimizers
        update all variables at once in C++ instead)."""
        raise NotImplementedError

    # Keras's helpers for update_step implementations.
    def assign(self, variable, value):
        variable.assign(value)

    def assign_add(self, variable, value):
        variable.assign_add(value)

    def assign_sub(self, variable, value):
        variable.assign_sub(value)

    # ------------------------------------------------------------------ weight decay exclusions
    def exclude_from_weight_decay(self, var_list=None, var_names=None):
        """Excludes variables (by object, or by a substring of their name) from weight decay.
        Call it before the optimizer is built."""
        if self.built:
            raise ValueError(
                "`exclude_from_weight_decay()` can only be configured before "
                "the optimizer is built.")
        self._exclude_from_weight_decay = set(id(v) for v in var_list) if var_list else set()
        self._exclude_from_weight_decay_pattern = (
            re.compile("|".join(set(var_names))) if var_names else None)

    def _use_weight_decay(self, variable):
        if id(variable) in self._exclude_from_weight_decay:
            return False
        pattern = self._exclude_from_weight_decay_pattern
        return pattern is None or re.search(pattern, variable.name) is None

    # ------------------------------------------------------------------ state
    def scale_loss(self, loss):
        """Returns `loss` (no loss scaling in lamina)."""
        return loss

    def finalize_variable_values(self, var_list):
        """Nothing to do (no EMA in lamina); kept for Keras's training loop protocol."""

    def set_weights(self, weights):
        """Sets the values of `variables` from a list of arrays."""
        if not self.built:
            raise ValueError(
                "You are calling `set_weights()` on an optimizer that has not "
                "yet been built. Please call "
                "`optimizer.build(trainable_variables)` to create the "
                "optimizer weights before calling `set_weights()`.")
        for variable, weight in zip(self._variables, weights):
            shape = tuple(getattr(weight, "shape", ()))
            if variable.shape != shape:
                raise ValueError(
                    f"Optimizer variable {variable.path} has shape "
                    f"{variable.shape} not compatible with provided "
                    f"weight shape {shape}.")
            variable.assign(weight)

    def save_own_variables(self, store):
        for i, variable in enumerate(self.variables):
            store[str(i)] = variable.numpy()

    def load_own_variables(self, store):
        if len(store.keys()) != len(self.variables):
            msg = (f"Skipping variable loading for optimizer '{self.name}', "
                   f"because it has {len(self.variables)} variables whereas "
                   f"the saved optimizer has {len(store.keys())} variables. ")
            if len(self.variables) == 0:
                msg += "This is likely because the optimizer has not been called/built yet."
            warnings.warn(msg, stacklevel=2)
            return
        assign_variables(self.variables, store)

    def _obj_type(self):
        return "Optimizer"

    @classmethod
    def _saving_reference(cls):
        return Optimizer(1.0, name="optimizer_reference")

    # ------------------------------------------------------------------ config
    def get_config(self):
        """The constructor arguments as a dict (Keras's keys and order)."""
        lr = self._learning_rate
        if isinstance(lr, _schedules.LearningRateSchedule):
            learning_rate = _schedules.serialize(lr)
        elif isinstance(lr, Variable):
            learning_rate = float(lr)
        else:
            learning_rate = lr
        return {
            "name": self.name,
            "learning_rate": learning_rate,
            "weight_decay": self.weight_decay,
            "clipnorm": self.clipnorm,
            "global_clipnorm": self.global_clipnorm,
            "clipvalue": self.clipvalue,
            "use_ema": self.use_ema,
            "ema_momentum": self.ema_momentum,
            "ema_overwrite_frequency": self.ema_overwrite_frequency,
            "loss_scale_factor": self.loss_scale_factor,
            "gradient_accumulation_steps": self.gradient_accumulation_steps,
        }

    @classmethod
    def from_config(cls, config, custom_objects=None):
        """Creates an optimizer from `get_config()`'s dict (a schedule dict is deserialised)."""
        config = dict(config)
        if isinstance(config.get("learning_rate"), dict):
            config["learning_rate"] = _schedules.deserialize(config["learning_rate"], custom_objects)
        return cls(**config)

    def __repr__(self):
        return f"<{type(self).__name__} name={self.name}, learning_rate={self.learning_rate:g}>"


class _Constant:
    """Initializer of slot variables (zeros, or Adagrad's initial accumulator value)."""

    def __init__(self, value):
        self.value = float(value)

    def __call__(self, shape, dtype=None):
        return _core.full(list(shape), self.value, dtype or "float32")
