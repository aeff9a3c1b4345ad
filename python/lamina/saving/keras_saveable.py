"""`KerasSaveable`: the base of what a weights file holds state for (layers, models, optimizers),
as Keras 3's class of the same name.

Saving knows these objects only through this protocol, so it never imports the classes (they sit
above it): `_obj_type()` says which kind of saveable an object is, `_saving_reference()` gives a
plain instance of that kind's base class (the attributes it has are the base's internals, which
the walk of a model skips), and `save_own_variables(store)` / `load_own_variables(store)`, where
a subclass has them, write and read the object's own state, as in Keras (a user's class may
override them).
"""
import numpy as np

__all__ = ["KerasSaveable", "assign_variables"]


class KerasSaveable:

    def _obj_type(self):
        """The kind of saveable: "Layer", "Model", "Sequential", "Functional" or "Optimizer"."""
        raise NotImplementedError(f"{type(self).__name__} must implement `_obj_type()`")

    @classmethod
    def _saving_reference(cls):
        """A plain instance of the base class `_obj_type()` names (built once per kind, with fixed
        names so that it takes no automatic name from the user's objects)."""
        raise NotImplementedError(f"{cls.__name__} must implement `_saving_reference()`")


def assign_variables(variables, store):
    """Assigns `store["0"]`, `store["1"]`, ... to `variables`, all or none: every value is checked
    first (its shape, and for an integer variable that it holds whole numbers, which a cast would
    otherwise truncate or wrap silently), then all are assigned."""
    values = []
    for i, variable in enumerate(variables):
        value = np.asarray(store[str(i)])
        if tuple(value.shape) != tuple(variable.shape):
            raise ValueError(f"The variable '{variable.path}' has shape {tuple(variable.shape)}, but the file "
                             f"holds shape {tuple(value.shape)} for it.")
        if value.dtype.kind == "f" and variable.dtype != "float32":
            if not np.all(np.isfinite(value)) or not np.array_equal(value, np.round(value)):
                raise ValueError(f"The variable '{variable.path}' is {variable.dtype}, but the file holds "
                                 "non-integer values for it.")
        values.append(value)
    for variable, value in zip(variables, values):
        variable.assign(value)
