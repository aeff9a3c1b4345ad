"""Automatic names: `dense`, `dense_1`, ... unique in the process, as Keras makes them."""
import collections
import re

_uids = collections.defaultdict(int)


def to_snake_case(name):
    """`MaxPooling2D` -> `max_pooling2d`, `Conv2D` -> `conv2d` (Keras's rule)."""
    name = re.sub(r"\W+", "", name)
    name = re.sub("(.)([A-Z][a-z]+)", r"\1_\2", name)
    return re.sub("([a-z])([A-Z])", r"\1_\2", name).lower()


def get_uid(prefix):
    """How many times `prefix` has been asked for in this process (1 the first time)."""
    _uids[prefix] += 1
    return _uids[prefix]


def auto_name(prefix):
    """`prefix` the first time, then `prefix_1`, `prefix_2`, ..."""
    uid = get_uid(prefix)
    return prefix if uid == 1 else f"{prefix}_{uid - 1}"


def reset_uids():
    """Forgets every name handed out (used by `clear_session`)."""
    _uids.clear()
