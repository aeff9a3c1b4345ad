"""Utilities (`keras.utils` names)."""
import random as _random

import numpy as _np

from lamina import _core

__all__ = ["clear_session", "set_random_seed"]


def set_random_seed(seed):
    """Seeds lamina's generator, NumPy's global generator and Python's `random`, for reproducible runs."""
    if not isinstance(seed, int) or isinstance(seed, bool):
        raise ValueError(f"Expected `seed` argument to be an integer. Received: seed={seed!r}")
    if seed < 0:
        raise ValueError(f"Expected `seed` to be non-negative. Received: seed={seed}")
    _random.seed(seed)
    _np.random.seed(seed % (2 ** 32))
    _core.set_random_seed(seed)


def clear_session(free_memory=True):
    """Forgets the automatic names handed out so far: the next Dense is `dense` again (as
    `keras.utils.clear_session()`). Existing layers and models keep their names and weights."""
    from lamina.utils import naming

    naming.reset_uids()
    naming.reset_name_scopes()
