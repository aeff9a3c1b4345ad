"""The property table for tests/test_properties.py: for every op exported by `lamina.ops`, how to draw
a random call (hypothesis), its NumPy float64 reference, the Keras 3 result dtype, and (for float
ops) how to draw kink-free inputs for a finite-difference gradient check, and invalid calls.

A drawer takes `(data, special)`: `data` is hypothesis's `st.data()` object, `special` says whether
NaN / +-inf may appear among the values (finite values always include -0.0, tiny, subnormal and
large ones). It returns a `Call`:
    run()    -> the lamina result (a Tensor, or a Python value for shape/ndim/size/dtype)
    want     -> the expected value: a NumPy array computed in float64 from the values lamina sees
                (float inputs rounded to float32), or a Python value
    dtype    -> the expected lamina dtype (Keras 3's result dtype mapped to lamina's four dtypes)
    scale    -> the magnitude the error is measured against (default |want|): for sums and products
                the sum of the magnitudes of the terms, so float32 cancellation is not an error
    rtol     -> the allowed error relative to `scale`
"""
import math
from dataclasses import dataclass, field

import numpy as np
from hypothesis import assume
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import lamina
from lamina import ops

F32 = np.float32
EPS32 = float(np.finfo(np.float32).eps)
TINY32 = float(np.finfo(np.float32).tiny)
INT32_MIN, INT32_MAX = -(2 ** 31), 2 ** 31 - 1

# ---------------------------------------------------------------- values


def _edges(limit):
    vals = [0.0, -0.0, 1.0, -1.0, 0.5, 1e-30, -1e-30, 1e-40, -1e-40, 1e-5, 3.0, -7.0, -9.0, 20.0, -20.0]
    vals += [v for v in (1e15, -1e15, 1e30, -1e30, 3e38, -3e38) if abs(v) <= limit]
    return [F32(v) for v in vals]


SPECIAL = [F32(np.nan), F32(np.inf), F32(-np.inf)]


def float_elements(special=False, limit=3.4e38, lo=-8.0, hi=8.0):
    """float32 values: mostly ordinary, plus -0.0, tiny, subnormal and large ones (up to `limit`),
    plus NaN / +-inf when `special`."""
    parts = [st.floats(lo, hi, width=32), st.sampled_from(_edges(limit))]
    if special:
        parts.append(st.sampled_from(SPECIAL))
    return st.one_of(*parts)


def shapes(min_dims=0, max_dims=3, min_side=0, max_side=4):
    return hnp.array_shapes(min_dims=min_dims, max_dims=max_dims, min_side=min_side, max_side=max_side)


@st.composite
def float_arrays(draw, shape, special=False, limit=3.4e38, lo=-8.0, hi=8.0):
    """float32 arrays; with `special`, every non-empty array holds at least one NaN or +-inf."""
    shape = draw(shape) if isinstance(shape, st.SearchStrategy) else shape
    a = draw(hnp.arrays(F32, shape, elements=float_elements(special, limit, lo, hi)))
    if special and special != "mix" and a.size:  # "mix": specials only among the drawn elements
        # which special value: rotated by the size too, as hypothesis favours the first choice
        k = draw(st.integers(0, len(SPECIAL) - 1))
        a.reshape(-1)[draw(st.integers(0, a.size - 1))] = SPECIAL[(k + a.size) % len(SPECIAL)]
    return a


def int_arrays(shape, dtype=np.int32, lo=-50, hi=50):
    return hnp.arrays(dtype, shape, elements=st.integers(lo, hi))


def bool_arrays(shape):
    return hnp.arrays(np.bool_, shape, elements=st.booleans())


# ---------------------------------------------------------------- inputs of every accepted kind

# How lamina sees an input: (numpy dtype it is converted to, "weak" for Python scalars).
# Floats compute in float32, small ints become int32, uint32 int64 (backend._NUMPY_TO_LAMINA).
_NP_KINDS = {"float32": np.float32, "float64": np.float64, "float16": np.float16, "int32": np.int32,
             "int64": np.int64, "int8": np.int8, "int16": np.int16, "uint8": np.uint8,
             "uint16": np.uint16, "uint32": np.uint32, "bool": np.bool_}
_LAMINA_OF = {"float32": "float32", "float64": "float32", "float16": "float32", "int32": "int32",
              "int64": "int64", "int8": "int32", "int16": "int32", "uint8": "int32", "uint16": "int32",
              "uint32": "int64", "bool": "bool"}


@dataclass
class Arg:
    value: object      # what is passed to lamina
    seen: np.ndarray   # the values lamina computes on, as a NumPy array of `dtype`
    dtype: str         # lamina dtype of the converted input
    weak: bool = False  # a Python scalar: takes the other operand's dtype (Keras's weak types)


def _np_dtype(lamina_dtype):
    return {"float32": np.float32, "int32": np.int32, "int64": np.int64, "bool": np.bool_}[lamina_dtype]


@st.composite
def any_input(draw, shape, special=False, limit=3.4e38, kinds=None, lo=-8.0, hi=8.0):
    """An input of `shape` in any form lamina accepts: a tensor, a NumPy array of any supported
    dtype, a nested Python list, or (for shape ()) a Python scalar."""
    if kinds is None:  # with NaN / inf wanted, mostly float inputs
        kinds = ["float32", "float32", "float64", "float16", "int32", "bool"] if special else list(_NP_KINDS)
    kind = draw(st.sampled_from(kinds))
    if kind.startswith("float"):
        if kind == "float16":  # values float16 can hold (large ones would become inf)
            base = draw(float_arrays(shape, special, 6e4, lo, hi))
            with np.errstate(under="ignore"):
                base = base.astype(np.float16).astype(np.float32)
        else:
            base = draw(float_arrays(shape, special, limit, lo, hi))
    elif kind == "bool":
        base = draw(bool_arrays(shape))
    else:
        info = np.iinfo(_NP_KINDS[kind])
        base = draw(hnp.arrays(_NP_KINDS[kind], shape,
                               elements=st.integers(int(max(info.min, -50)), int(min(info.max, 50)))))
    lam = _LAMINA_OF[kind]
    seen = np.asarray(base).astype(_np_dtype(lam))
    forms = ["tensor", "numpy", "list", "scalar"] if shape == () else ["tensor", "numpy", "list"]
    if 0 in shape:
        forms.remove("list")  # an empty nested list loses its shape and dtype ([] for (0, 3))
    form = draw(st.sampled_from(forms))
    if form == "tensor":
        return Arg(ops.convert_to_tensor(np.asarray(base).astype(_NP_KINDS[kind])), seen, lam)
    if form == "numpy":
        return Arg(np.asarray(base).astype(_NP_KINDS[kind]), seen, lam)
    if form == "scalar":
        py = {"f": float, "i": int, "u": int, "b": bool}[np.dtype(_NP_KINDS[kind]).kind]
        v = py(np.asarray(base).astype(_NP_KINDS[kind])[()])
        t = {float: "float32", int: "int32", bool: "bool"}[py]
        return Arg(v, np.asarray(v).astype(_np_dtype(t)), t, weak=True)
    # a nested list: Python floats become float32, ints int32 (they are small here), bools bool
    lst = np.asarray(base).astype(_NP_KINDS[kind]).tolist()
    t = {"f": "float32", "i": "int32", "u": "int32", "b": "bool"}[np.dtype(_NP_KINDS[kind]).kind]
    return Arg(lst, np.asarray(base).astype(_np_dtype(t)), t)


_RANK = {"bool": 0, "int32": 1, "int64": 2, "float32": 3}

# Where lamina's result dtype knowingly differs from Keras 3.15 (torch backend, checked with
# keras.ops on the float32/int32/int64/bool grid). The properties expect lamina's dtype here; the
# C++ kernels decide it (reported with issue 12, not changed on this branch):
#   power(int, int), matmul(int, int): Keras int32 (int64 for int64 power), lamina float32.
# Not listed (the properties follow NumPy): Keras's result_type narrows int64 to int32 in
# maximum / minimum / matmul but not in add / subtract / multiply; lamina keeps int64 as NumPy.
LAMINA_DTYPE_DEVIATIONS = {"power": "float32", "matmul": "float32"}


def promote(*args):
    """Keras 3's result dtype of arithmetic on `args` (checked against keras.ops with the torch
    backend): bool < int32 < int64 < float32 for strong inputs; a Python scalar (weak) only lifts
    the result to its kind (an int scalar turns bool into int32, a float scalar ints into float32)."""
    strong = [a.dtype for a in args if not a.weak]
    weak = [a.dtype for a in args if a.weak]
    if strong:
        res = max(strong, key=_RANK.get)
        for w in weak:
            if w == "float32":
                res = "float32"
            elif w == "int32" and res == "bool":
                res = "int32"
        return res
    return max(weak, key=_RANK.get)


# ---------------------------------------------------------------- references


def as64(a):
    return np.asarray(a).astype(np.float64)


def np_sigmoid(x):
    with np.errstate(over="ignore"):
        return 1.0 / (1.0 + np.exp(-x))


def np_softmax(x, axis=-1):
    if axis is None:
        return np_softmax(x.reshape(-1), 0).reshape(x.shape)
    with np.errstate(invalid="ignore"):
        m = np.max(x, axis=axis, keepdims=True) if x.size else x
        e = np.exp(x - m)
        return e / e.sum(axis=axis, keepdims=True)


def np_log_softmax(x, axis=-1):
    if axis is None:
        return np_log_softmax(x.reshape(-1), 0).reshape(x.shape)
    with np.errstate(invalid="ignore", divide="ignore"):
        m = np.max(x, axis=axis, keepdims=True) if x.size else x
        return x - m - np.log(np.exp(x - m).sum(axis=axis, keepdims=True))


_erf = np.vectorize(math.erf, otypes=[np.float64])


def np_gelu(x, approximate=True):
    with np.errstate(over="ignore", invalid="ignore"):
        if approximate:
            return 0.5 * x * (1 + np.tanh(np.sqrt(2 / np.pi) * (x + 0.044715 * x ** 3)))
        return 0.5 * x * (1 + _erf(x / np.sqrt(2)))


SELU_ALPHA, SELU_SCALE = 1.6732632423543772, 1.0507009873554805


def np_elu(x, alpha=1.0):
    with np.errstate(over="ignore", invalid="ignore"):
        return np.where(x > 0, x, alpha * np.expm1(np.minimum(x, 0)))


def np_selu(x):
    return SELU_SCALE * np_elu(x, SELU_ALPHA)


def np_softplus(x):
    return np.logaddexp(0.0, x)


def np_leaky_relu(x, slope=0.2):
    return np.where(x > 0, x, slope * x)


def np_relu(x):
    # NumPy's maximum propagates NaN; relu(-0.0) may be either zero
    return np.where(np.isnan(x), x, np.maximum(x, 0))


# ---------------------------------------------------------------- the call record


@dataclass
class Call:
    run: object
    want: object
    dtype: str = None
    scale: object = None
    rtol: float = 1e-5
    signed_zero: bool = False   # -0.0 versus 0.0 must match too
    note: str = ""


@dataclass
class Grad:
    """A differentiable call: fn(*tensors) with lamina, ref(*float64 arrays) with NumPy."""
    fn: object
    ref: object
    inputs: list   # float64 arrays (float32-representable)


@dataclass
class Prop:
    forward: object              # (data, special) -> Call
    grad: object = None          # data -> Grad
    errors: object = None        # data -> (thunk, exception types)
    special: bool = True         # NaN/inf property applies
    examples: float = 1.0        # weight on the profile's max_examples
    bools: object = None         # (data, special) -> Call with two bool operands
    limits: object = None        # (data, special) -> Call on integers at their limits
    edge: object = None          # (data, special) -> Call for an edge case with its own property


def f32(x):
    return np.asarray(x, np.float32).astype(np.float64)


# gradient inputs: moderate values, float32-representable
def grad_array(data, shape, lo=-2.0, hi=2.0, avoid=(), margin=0.05):
    x = data.draw(hnp.arrays(np.float64, shape, elements=st.floats(lo, hi)), label="grad input")
    for p in avoid:
        close = np.abs(x - p) < margin
        x = np.where(close, p + np.where(x >= p, 1.0, -1.0) * (margin + 0.05), x)
    x = f32(x)
    assume(all(np.all(np.abs(x - p) >= margin) for p in avoid))
    return x


def small_shape(data, min_dims=0, max_dims=3, max_side=3):
    return data.draw(shapes(min_dims, max_dims, 1, max_side), label="grad shape")


# ================================================================ unary elementwise

# name -> (NumPy float64 reference, result dtype for an int/bool input or None = float32,
#          gradient domain (lo, hi, kinks) or None, scale function for the error)
def _rel(x, want):
    return np.abs(want)


def _abs_scale(floor):
    """Error measured against max(|want|, floor): formulas whose relative accuracy in float32 is
    lost where the result is much smaller than its terms (1 + tanh(-5) in gelu, log(1 + e^x))."""
    return lambda x, want: np.maximum(np.abs(want), floor)


UNARY = {
    "exp": (np.exp, "float", (-3, 3, ()), _rel),
    "log": (np.log, "float", (0.2, 4, ()), _rel),
    "sqrt": (np.sqrt, "float", (0.2, 4, ()), _rel),
    "log1p": (np.log1p, "float", (-0.5, 3, ()), _rel),
    "tanh": (np.tanh, "float", (-3, 3, ()), _rel),
    "sigmoid": (np_sigmoid, "float", (-5, 5, ()), _rel),
    "silu": (lambda x: x * np_sigmoid(x), "float", (-5, 5, ()), _abs_scale(0)),
    "swish": (lambda x: x * np_sigmoid(x), "float", (-5, 5, ()), _abs_scale(0)),
    "gelu": (np_gelu, "float", (-4, 4, ()), None),  # scale |x|, below
    "elu": (np_elu, "float", (-3, 3, (0.0,)), _rel),
    "selu": (np_selu, "float", (-3, 3, (0.0,)), _rel),
    "leaky_relu": (np_leaky_relu, "float", (-3, 3, (0.0,)), _rel),
    "softplus": (np_softplus, "float", (-5, 5, ()), _abs_scale(EPS32)),
    "relu": (np_relu, "keep_nobool", (-3, 3, (0.0,)), _rel),
    "negative": (np.negative, "keep_nobool", (-3, 3, ()), _rel),
    "abs": (np.abs, "keep", (-3, 3, (0.0,)), _rel),
    "absolute": (np.abs, "keep", (-3, 3, (0.0,)), _rel),
    "square": (np.square, "keep_boolint", (-3, 3, ()), _rel),
    "sign": (np.sign, "keep", None, _rel),
}
_SIGNED_ZERO = {"negative", "abs", "absolute", "square", "exp", "sqrt", "tanh", "sign"}


def _unary_dtype(rule, d):
    if rule == "float":
        return "float32"
    if rule == "keep_boolint":
        return "int32" if d == "bool" else d
    return d


def unary_forward(name):
    ref, rule, _, scale_fn = UNARY[name]
    fn = getattr(ops, name)

    def draw(data, special):
        shape = data.draw(shapes(), label="shape")
        kinds = None if rule != "keep_nobool" else [k for k in _NP_KINDS if k != "bool"]
        a = data.draw(any_input(shape, special, kinds=kinds), label="x")
        dtype = _unary_dtype(rule, a.dtype)
        x = a.seen
        with np.errstate(all="ignore"):
            if dtype == "float32":
                want = ref(as64(x))
            elif dtype == "bool":
                want = ref(x.astype(np.int8)).astype(bool)  # NumPy has no bool sign/abs: via int8
            else:
                want = ref(x.astype(_np_dtype(dtype)))
        if name == "gelu":
            scale = np.abs(as64(x)) + np.abs(want)  # 0.5 x (1 + tanh(...)): absolute error ~ eps * |x|
        else:
            scale = None if dtype != "float32" else scale_fn(as64(x), want)
        return Call(lambda: fn(a.value), want, dtype, scale,
                    signed_zero=name in _SIGNED_ZERO and dtype == "float32")
    return draw


def unary_grad(name):
    ref, _, dom, _ = UNARY[name]
    fn = getattr(ops, name)
    if dom is None:
        return None
    lo, hi, kinks = dom

    def draw(data):
        x = grad_array(data, small_shape(data), lo, hi, kinks)
        return Grad(fn, ref, [x])
    return draw


# activations with a parameter
def param_forward(name, ref, param_name, values):
    fn = getattr(ops, name)

    def draw(data, special):
        shape = data.draw(shapes(), label="shape")
        a = data.draw(any_input(shape, special), label="x")
        p = data.draw(st.sampled_from(values), label=param_name)
        with np.errstate(all="ignore"):
            want = ref(as64(a.seen), p)
        scale = np.abs(as64(a.seen)) + np.abs(want) if name == "gelu" else np.abs(want)
        return Call(lambda: fn(a.value, **{param_name: p}), want, "float32", scale)
    return draw


def param_grad(name, ref, param_name, values, kinks=()):
    fn = getattr(ops, name)

    def draw(data):
        p = data.draw(st.sampled_from(values), label=param_name)
        x = grad_array(data, small_shape(data), -3, 3, kinks)
        return Grad(lambda t: fn(t, **{param_name: p}), lambda v: ref(v, p), [x])
    return draw


# ================================================================ binary elementwise


def np_power(a, b):
    """C99 / IEEE pow, as lamina and torch's tensor-tensor pow: pow(-inf, 0.5) = inf. NumPy's scalar
    path turns x ** 0.5 into sqrt(x) (nan there), so the reference always runs on 1-d arrays."""
    shape = np.broadcast_shapes(np.shape(a), np.shape(b))
    with np.errstate(all="ignore"):
        return np.power(np.atleast_1d(a), np.atleast_1d(b)).reshape(shape)


BINARY = {
    # name: (reference, dtype rule, gradient domains for (x1, x2))
    "add": (np.add, "arith", ((-2, 2, ()), (-2, 2, ()))),
    "subtract": (np.subtract, "arith", ((-2, 2, ()), (-2, 2, ()))),
    "multiply": (np.multiply, "arith", ((-2, 2, ()), (-2, 2, ()))),
    "divide": (np.divide, "float", ((-2, 2, ()), (0.3, 2, ()))),
    "true_divide": (np.divide, "float", ((-2, 2, ()), (0.3, 2, ()))),
    "power": (np_power, "float", ((0.3, 2, ()), (-2, 2, ()))),
    "maximum": (np.maximum, "arith", None),
    "minimum": (np.minimum, "arith", None),
    "equal": (np.equal, "compare", None),
    "not_equal": (np.not_equal, "compare", None),
    "less": (np.less, "compare", None),
    "less_equal": (np.less_equal, "compare", None),
    "greater": (np.greater, "compare", None),
    "greater_equal": (np.greater_equal, "compare", None),
    "logical_and": (np.logical_and, "logical", None),
    "logical_or": (np.logical_or, "logical", None),
}


def _binary_scale(name, a, b, want):
    if name in ("add", "subtract"):
        return np.abs(a) + np.abs(b)  # the sum's terms: cancellation in float32 is exact anyway
    return np.abs(want)


def binary_forward(name, bools=False):
    """`bools`: both operands bool (test_bool_inputs); otherwise never both bool."""
    ref, rule, _ = BINARY[name]
    fn = getattr(ops, name)

    def draw(data, special):
        s1, s2 = data.draw(hnp.mutually_broadcastable_shapes(num_shapes=2, max_dims=3, min_side=0, max_side=4),
                           label="shapes").input_shapes
        kinds = ["bool"] if bools else None
        # NaN / inf forced into one operand or both (NaN in x1 only and in x2 only differ for maximum)
        forced = data.draw(st.sampled_from([0, 1, 2]), label="special in") if special else None
        a = data.draw(any_input(s1, special and ("mix" if forced == 1 else True), kinds=kinds), label="x1")
        b = data.draw(any_input(s2, special and ("mix" if forced == 0 else True), kinds=kinds), label="x2")
        # bool with bool has its own property (Keras: bool results; NumPy and Keras refuse bool - bool)
        assume(bools or not (a.dtype == "bool" and b.dtype == "bool"))
        if rule in ("compare", "logical"):
            dtype = "bool"
            common = promote(a, b)
            with np.errstate(all="ignore"):
                if rule == "compare":
                    x, y = a.seen.astype(_np_dtype(common)), b.seen.astype(_np_dtype(common))
                else:
                    x, y = a.seen, b.seen
                want = ref(x, y)
            return Call(lambda: fn(a.value, b.value), want, dtype)
        dtype = "float32" if rule == "float" else promote(a, b)
        dtype = LAMINA_DTYPE_DEVIATIONS.get(name, dtype)
        with np.errstate(all="ignore"):
            if dtype == "float32":
                x, y = as64(a.seen), as64(b.seen)
            else:
                x, y = a.seen.astype(_np_dtype(dtype)), b.seen.astype(_np_dtype(dtype))
            want = ref(x, y)
        scale = _binary_scale(name, as64(a.seen), as64(b.seen), as64(want)) if dtype == "float32" else None
        return Call(lambda: fn(a.value, b.value), want, dtype, scale,
                    signed_zero=name in ("multiply", "divide", "true_divide") and dtype == "float32")
    return draw


def binary_grad(name):
    ref, _, doms = BINARY[name]
    fn = getattr(ops, name)

    def draw(data):
        s1, s2 = data.draw(hnp.mutually_broadcastable_shapes(num_shapes=2, max_dims=3, min_side=1, max_side=3),
                           label="shapes").input_shapes
        if doms is None:  # maximum / minimum: no ties (no derivative there)
            full = np.broadcast_shapes(s1, s2)
            a = grad_array(data, s1)
            b = grad_array(data, s2)
            gap = np.broadcast_to(b, full) - np.broadcast_to(a, full)
            assume(np.all(np.abs(gap) > 0.05))
            return Grad(fn, ref, [a, b])
        (lo1, hi1, k1), (lo2, hi2, k2) = doms
        return Grad(fn, ref, [grad_array(data, s1, lo1, hi1, k1), grad_array(data, s2, lo2, hi2, k2)])
    return draw


def binary_errors(name):
    fn = getattr(ops, name)

    def draw(data):
        s1 = data.draw(shapes(1, 3, 2, 4), label="s1")
        d = data.draw(st.integers(0, len(s1) - 1), label="axis")
        s2 = list(s1)
        s2[d] = s1[d] + data.draw(st.integers(1, 3))  # neither equal nor 1: not broadcastable
        return (lambda: fn(np.zeros(s1, np.float32), np.zeros(s2, np.float32))), (ValueError,)
    return draw


# ---------------------------------------------------------------- integers at their limits

LIMIT_OPS = {"add", "subtract", "multiply", "maximum", "minimum", "equal", "not_equal", "less", "less_equal",
             "greater", "greater_equal"}


def int_limits(name):
    """Integer inputs at and next to their type's limits: results wrap around in two's complement
    (NumPy with the same dtype, Keras with the torch backend); abs(INT_MIN) is INT_MIN."""
    fn = getattr(ops, name)
    ref = getattr(np, {"absolute": "abs"}.get(name, name))

    def elements(dt):
        info = np.iinfo(dt)
        return st.sampled_from([int(info.min), int(info.min) + 1, -1, 0, 1, int(info.max) - 1, int(info.max)])

    def draw(data, special):
        dt = data.draw(st.sampled_from([np.int32, np.int64]), label="dtype")
        if name in BINARY:
            s1, s2 = data.draw(hnp.mutually_broadcastable_shapes(num_shapes=2, max_dims=2, min_side=0, max_side=3)).input_shapes
            a = data.draw(hnp.arrays(dt, s1, elements=elements(dt)), label="x1")
            b = data.draw(hnp.arrays(dt, s2, elements=elements(dt)), label="x2")
            with np.errstate(all="ignore"):
                want = ref(a, b)
            return Call(lambda: fn(a, b), np.asarray(want), "bool" if want.dtype == bool else np.dtype(dt).name)
        x = data.draw(hnp.arrays(dt, shapes(0, 2, 0, 4), elements=elements(dt)), label="x")
        with np.errstate(all="ignore"):
            want = ref(x, dtype=dt) if name == "sum" else ref(x)
        return Call(lambda: fn(x), np.asarray(want), np.dtype(dt).name)
    return draw


# ================================================================ other elementwise


def logical_not_forward(data, special):
    shape = data.draw(shapes(), label="shape")
    a = data.draw(any_input(shape, special), label="x")
    return Call(lambda: ops.logical_not(a.value), np.logical_not(a.seen), "bool")


def where_forward(data, special):
    s = data.draw(hnp.mutually_broadcastable_shapes(num_shapes=3, max_dims=3, min_side=0, max_side=3),
                  label="shapes").input_shapes
    c = data.draw(any_input(s[0], special), label="condition")
    a = data.draw(any_input(s[1], special), label="x1")
    b = data.draw(any_input(s[2], special), label="x2")
    dtype = promote(a, b)
    want = np.where(c.seen.astype(bool), a.seen.astype(_np_dtype(dtype)), b.seen.astype(_np_dtype(dtype)))
    return Call(lambda: ops.where(c.value, a.value, b.value), want, dtype, signed_zero=True)


def where_grad(data):
    s = data.draw(hnp.mutually_broadcastable_shapes(num_shapes=3, max_dims=3, min_side=1, max_side=3),
                  label="shapes").input_shapes
    cond = data.draw(bool_arrays(s[0]), label="condition")
    return Grad(lambda a, b: ops.where(cond, a, b), lambda a, b: np.where(cond, a, b),
                [grad_array(data, s[1]), grad_array(data, s[2])])


def clip_forward(data, special):
    shape = data.draw(shapes(), label="shape")
    a = data.draw(any_input(shape, special), label="x")
    lo = data.draw(st.one_of(st.integers(-5, 5), st.floats(-5, 5, width=32)), label="x_min")
    # x_min <= x_max: lamina refuses x_min > x_max with a ValueError (test_errors.py; NumPy and
    # Keras give x_max there), clip_errors below
    hi = data.draw(st.one_of(st.integers(math.ceil(lo), 5), st.floats(lo, 5, width=32)), label="x_max")
    # Keras: result_type(x, x_min, x_max) with the bounds as weak scalars
    bounds = [Arg(v, np.asarray(v), "float32" if isinstance(v, float) else "int32", weak=True) for v in (lo, hi)]
    dtype = promote(a, *bounds)
    if dtype == "bool":
        dtype = "int32"
    x = a.seen.astype(_np_dtype(dtype)) if dtype != "float32" else as64(a.seen)
    with np.errstate(invalid="ignore"):
        want = np.clip(x, lo, hi)
    want = np.asarray(want).astype(_np_dtype(dtype)) if dtype != "float32" else want
    return Call(lambda: ops.clip(a.value, lo, hi), want, dtype)


def where_errors(data):
    shape = data.draw(shapes(1, 3, 2, 4), label="shape")
    other = tuple(d + 1 for d in shape)
    return (lambda: ops.where(np.ones(shape, bool), np.zeros(shape, np.float32), np.zeros(other, np.float32))), \
        (ValueError,)


def clip_errors(data):
    lo = data.draw(st.floats(-5, 5), label="x_min")
    hi = data.draw(st.floats(-6, lo, exclude_max=True), label="x_max")
    return (lambda: ops.clip(np.zeros(3, np.float32), lo, hi)), (ValueError,)


def clip_grad(data):
    lo = float(f32(data.draw(st.floats(-1.5, -0.3), label="x_min")))
    hi = float(f32(data.draw(st.floats(0.3, 1.5), label="x_max")))
    x = grad_array(data, small_shape(data), -2, 2, (lo, hi))
    return Grad(lambda t: ops.clip(t, lo, hi), lambda v: np.clip(v, lo, hi), [x])


# ================================================================ reductions


@st.composite
def axis_arg(draw, ndim, allow_tuple=True):
    """None, an int (possibly negative) or a tuple of distinct axes."""
    if ndim == 0:
        return None
    choices = [st.none(), st.integers(-ndim, ndim - 1)]
    if allow_tuple:
        # a non-empty tuple (axis=() reduces nothing in NumPy but everything in torch: not drawn)
        choices.append(st.lists(st.integers(0, ndim - 1), unique=True, min_size=1, max_size=ndim).map(
            lambda ax: tuple(a - ndim if i % 2 else a for i, a in enumerate(ax))))
    return draw(st.one_of(*choices))


def _np_axis(axis):
    return axis if axis is None or isinstance(axis, int) else tuple(axis)


def _empty_reduction(shape, axis):
    if axis is None:
        return math.prod(shape) == 0
    axes = (axis,) if isinstance(axis, int) else axis
    return any(shape[a] == 0 for a in axes) or (math.prod(shape) == 0 and not axes and False)


REDUCE = {
    # name: (reference on the seen array, result dtype rule)
    "sum": (np.sum, "sum"),
    "mean": (np.mean, "float"),
    "max": (np.max, "keep"),
    "min": (np.min, "keep"),
}


def reduce_forward(name):
    ref, rule = REDUCE[name]
    fn = getattr(ops, name)

    def draw(data, special):
        shape = data.draw(shapes(), label="shape")
        a = data.draw(any_input(shape, special, limit=1e30), label="x")
        axis = data.draw(axis_arg(len(shape)), label="axis")
        keepdims = data.draw(st.booleans(), label="keepdims")
        if name in ("max", "min") and _empty_reduction(shape, axis):
            # NumPy: "zero-size array to reduction operation maximum which has no identity"
            return Call(lambda: fn(a.value, axis=axis, keepdims=keepdims), ValueError)
        dtype = {"sum": "int32" if a.dtype == "bool" else a.dtype, "float": "float32", "keep": a.dtype}[rule]
        with np.errstate(all="ignore"):
            if dtype == "float32":
                x = as64(a.seen)
                want = ref(x, axis=_np_axis(axis), keepdims=keepdims)
                scale = (np.sum if name == "sum" else np.mean)(np.abs(x), axis=_np_axis(axis), keepdims=keepdims) \
                    if name in ("sum", "mean") else None
            else:
                # integer sums wrap around in their dtype (Keras, NumPy with dtype=)
                x = a.seen.astype(_np_dtype(dtype))
                want = ref(x, axis=_np_axis(axis), keepdims=keepdims, **({"dtype": x.dtype} if name == "sum" else {}))
                scale = None
        return Call(lambda: fn(a.value, axis=axis, keepdims=keepdims), np.asarray(want), dtype, scale)
    return draw


def reduce_grad(name):
    ref, _ = REDUCE[name]
    fn = getattr(ops, name)

    def draw(data):
        shape = small_shape(data, 1)
        axis = data.draw(axis_arg(len(shape)), label="axis")
        keepdims = data.draw(st.booleans(), label="keepdims")
        x = grad_array(data, shape)
        if name in ("max", "min"):  # no ties
            flat = np.sort(x.reshape(-1))
            assume(np.all(np.diff(flat) > 0.02))
        return Grad(lambda t: fn(t, axis=axis, keepdims=keepdims),
                    lambda v: ref(v, axis=_np_axis(axis), keepdims=keepdims), [x])
    return draw


def reduce_errors(name):
    fn = getattr(ops, name)

    def draw(data):
        # rank >= 1: axis 0 / -1 of a 0-d tensor is an error in NumPy but accepted by torch
        shape = data.draw(shapes(1, 3, 1, 3), label="shape")
        bad = data.draw(st.one_of(st.integers(len(shape), len(shape) + 3), st.integers(-len(shape) - 3, -len(shape) - 1)))
        return (lambda: fn(np.zeros(shape, np.float32), axis=bad)), (ValueError, IndexError)
    return draw


def arg_forward(name):
    fn = getattr(ops, name)
    ref = getattr(np, name)

    def draw(data, special):
        shape = data.draw(shapes(), label="shape")
        a = data.draw(any_input(shape, special), label="x")
        axis = data.draw(axis_arg(len(shape), allow_tuple=False), label="axis")
        keepdims = data.draw(st.booleans(), label="keepdims")
        if _empty_reduction(shape, axis) or (axis is not None and len(shape) == 0):
            return Call(lambda: fn(a.value, axis=axis, keepdims=keepdims), ValueError)
        x = a.seen
        # NumPy: the index of the first NaN, else of the first extreme (ties -> first)
        want = ref(x, axis=axis, keepdims=keepdims)
        return Call(lambda: fn(a.value, axis=axis, keepdims=keepdims), np.asarray(want), "int32")
    return draw


# ================================================================ softmax family


def softmax_forward(name):
    fn = getattr(ops, name)
    ref = np_softmax if name == "softmax" else np_log_softmax

    def draw(data, special):
        shape = data.draw(shapes(), label="shape")
        a = data.draw(any_input(shape, special, limit=1e30), label="x")
        nd = len(shape)
        axis = data.draw(st.one_of(st.none(), st.integers(-nd, nd - 1)) if nd else st.none(), label="axis")
        x = as64(a.seen)
        want = ref(x, axis)
        if name == "softmax":
            scale = np.maximum(np.abs(want), EPS32) if x.size else None  # exp(x - max) to float32 accuracy
        else:
            with np.errstate(invalid="ignore"):
                # x - max(x) - log(sum): absolute error ~ eps * |x|, and log(sum) with sum >= 1 has
                # absolute error ~ eps (torch and TensorFlow compute it so too): a 2e-7 floor
                scale = np.abs(want) + np.abs(x) + 0.02
        return Call(lambda: fn(a.value, axis=axis), want, "float32", scale)
    return draw


def softmax_grad(name):
    fn = getattr(ops, name)
    ref = np_softmax if name == "softmax" else np_log_softmax

    def draw(data):
        shape = small_shape(data, 1)
        axis = data.draw(st.one_of(st.none(), st.integers(-len(shape), len(shape) - 1)), label="axis")
        return Grad(lambda t: fn(t, axis=axis), lambda v: ref(v, axis), [grad_array(data, shape)])
    return draw


# ================================================================ matmul, dense


@st.composite
def matmul_shapes(draw, min_side=0):
    """Shapes that NumPy's matmul accepts: 1-D promotion and broadcast batch dimensions."""
    m, k, n = (draw(st.integers(min_side, 4)) for _ in range(3))
    batch = draw(hnp.mutually_broadcastable_shapes(num_shapes=2, max_dims=2, min_side=min_side, max_side=3))
    b1, b2 = batch.input_shapes
    a = draw(st.sampled_from([(k,), (*b1, m, k)]))
    b = draw(st.sampled_from([(k,), (*b2, k, n)]))
    return a, b


def matmul_forward(data, special):
    s1, s2 = data.draw(matmul_shapes(), label="shapes")
    a = data.draw(any_input(s1, special, limit=1e15), label="x1")
    b = data.draw(any_input(s2, special, limit=1e15), label="x2")
    dtype = LAMINA_DTYPE_DEVIATIONS.get("matmul", promote(a, b))
    x, y = as64(a.seen), as64(b.seen)
    with np.errstate(all="ignore"):
        want = np.matmul(x, y)
        scale = np.matmul(np.abs(np.nan_to_num(x, posinf=0, neginf=0)), np.abs(np.nan_to_num(y, posinf=0, neginf=0)))
    return Call(lambda: ops.matmul(a.value, b.value), want, dtype, scale)


def matmul_grad(data):
    s1, s2 = data.draw(matmul_shapes(min_side=1), label="shapes")
    return Grad(ops.matmul, np.matmul, [grad_array(data, s1), grad_array(data, s2)])


def matmul_errors(data):
    k = data.draw(st.integers(1, 4))
    a = (data.draw(st.integers(1, 3)), k)
    b = (k + data.draw(st.integers(1, 3)), 2)
    return (lambda: ops.matmul(np.zeros(a, np.float32), np.zeros(b, np.float32))), (ValueError,)


def np_dense(x, k, b=None, relu=False):
    with np.errstate(all="ignore"):
        out = x @ k + (0 if b is None else b)
    return np_relu(out) if relu else out


def dense_forward(data, special, zero_k=False):
    """`zero_k`: 0 input features (test_edge_cases): the result is the bias on every row."""
    lead = data.draw(shapes(1, 3, 0, 3), label="batch dims")
    k = 0 if zero_k else data.draw(st.integers(1, 4), label="in")
    n = data.draw(st.integers(0, 4), label="units")
    x = data.draw(float_arrays((*lead, k), special, 1e15), label="x")
    w = data.draw(float_arrays((k, n), special, 1e15), label="kernel")
    b = data.draw(st.one_of(st.none(), float_arrays((n,), special, 1e15)), label="bias")
    act = data.draw(st.sampled_from(["linear", "relu"]), label="activation")
    x64, w64 = as64(x), as64(w)
    want = np_dense(x64, w64, None if b is None else as64(b), act == "relu")
    with np.errstate(all="ignore"):
        scale = np.abs(np.nan_to_num(x64)) @ np.abs(np.nan_to_num(w64)) + (0 if b is None else np.abs(np.nan_to_num(as64(b))))
    return Call(lambda: ops.dense(x, w, b, act), want, "float32", scale)


def dense_grad(data):
    lead = data.draw(shapes(1, 2, 1, 3), label="batch dims")
    k, n = data.draw(st.integers(1, 3)), data.draw(st.integers(1, 3))
    act = data.draw(st.sampled_from(["linear", "relu"]), label="activation")
    x, w, b = grad_array(data, (*lead, k)), grad_array(data, (k, n)), grad_array(data, (n,))
    if act == "relu":
        assume(np.all(np.abs(x @ w + b) > 0.05))
    return Grad(lambda *t: ops.dense(*t, activation=act), lambda *v: np_dense(*v, relu=act == "relu"), [x, w, b])


def dense_errors(data):
    k = data.draw(st.integers(1, 4))
    return (lambda: ops.dense(np.zeros((2, k), np.float32), np.zeros((k + 1, 3), np.float32))), (ValueError,)


# ================================================================ convolution and pooling (NHWC)

from test_ops import _np_windows, np_conv, np_max_pool, np_xent_logits, np_xent_probs  # noqa: E402


def np_avg_pool(x, pool, strides, padding="valid"):
    """Mean over each window's positions inside the input (padding not counted); NaN propagates."""
    s = _np_windows(x, pool, strides, (1, 1), padding, 0.0)[0]
    n = _np_windows(np.ones_like(x), pool, strides, (1, 1), padding, 0.0)[0]
    with np.errstate(invalid="ignore"):
        return s.sum(0) / n.sum(0)


@st.composite
def window_args(draw, min_side=1):
    n = draw(st.integers(0, 2))
    h, w = draw(st.integers(min_side, 6)), draw(st.integers(min_side, 6))
    c = draw(st.integers(1, 3))
    kh, kw = draw(st.integers(1, 3)), draw(st.integers(1, 3))
    padding = draw(st.sampled_from(["valid", "same"]))
    if padding == "valid":
        assume(kh <= h and kw <= w)
    strides = (draw(st.integers(1, 3)), draw(st.integers(1, 3)))
    return (n, h, w, c), (kh, kw), strides, padding


def conv_forward(data, special):
    xs, (kh, kw), strides, padding = data.draw(window_args(), label="geometry")
    f = data.draw(st.integers(1, 3), label="filters")
    dil = data.draw(st.sampled_from([(1, 1), (2, 1)]) if strides == (1, 1) else st.just((1, 1)), label="dilation")
    if padding == "valid":
        assume((kh - 1) * dil[0] + 1 <= xs[1] and (kw - 1) * dil[1] + 1 <= xs[2])
    x = data.draw(float_arrays(xs, special, 1e15), label="x")
    k = data.draw(float_arrays((kh, kw, xs[3], f), special, 1e15), label="kernel")
    b = data.draw(st.one_of(st.none(), float_arrays((f,), special, 1e15)), label="bias")
    act = data.draw(st.sampled_from(["linear", "relu"]), label="activation")
    x64, k64 = as64(x), as64(k)
    b64 = None if b is None else as64(b)
    with np.errstate(all="ignore"):
        want = np_conv(x64, k64, b64, strides, padding, dil)
        if act == "relu":
            want = np_relu(want)
        scale = np_conv(np.abs(np.nan_to_num(x64)), np.abs(np.nan_to_num(k64)), None, strides, padding, dil)
    return Call(lambda: ops.conv(x, k, strides=strides, padding=padding, dilation_rate=dil, bias=b,
                                 activation=act), want, "float32", scale)


def conv_grad(data):
    xs, (kh, kw), strides, padding = data.draw(window_args(), label="geometry")
    xs = (max(xs[0], 1),) + xs[1:]
    f = data.draw(st.integers(1, 2), label="filters")
    x, k, b = grad_array(data, xs), grad_array(data, (kh, kw, xs[3], f)), grad_array(data, (f,))
    return Grad(lambda *t: ops.conv(t[0], t[1], strides=strides, padding=padding, bias=t[2]),
                lambda *v: np_conv(v[0], v[1], v[2], strides, padding), [x, k, b])


def conv_errors(data):
    bad = data.draw(st.sampled_from(["rank", "channels"]))
    if bad == "rank":
        return (lambda: ops.conv(np.zeros((4, 4, 2), np.float32), np.zeros((2, 2, 2, 1), np.float32))), (ValueError,)
    return (lambda: ops.conv(np.zeros((1, 4, 4, 2), np.float32), np.zeros((2, 2, 3, 1), np.float32))), (ValueError,)


def pool_forward(name):
    fn = getattr(ops, name)
    ref = np_max_pool if name == "max_pool" else np_avg_pool

    def draw(data, special):
        xs, pool, strides, padding = data.draw(window_args(), label="geometry")
        x = data.draw(float_arrays(xs, special, 1e30), label="x")
        with np.errstate(all="ignore"):
            want = ref(as64(x), pool, strides, padding)
            scale = np.abs(want) if name == "max_pool" else \
                np_avg_pool(np.abs(np.nan_to_num(as64(x), posinf=0, neginf=0)), pool, strides, padding)
        return Call(lambda: fn(x, pool, strides=strides, padding=padding), want, "float32", scale)
    return draw


def pool_grad(name):
    fn = getattr(ops, name)
    ref = np_max_pool if name == "max_pool" else np_avg_pool

    def draw(data):
        xs, pool, strides, padding = data.draw(window_args(), label="geometry")
        xs = (max(xs[0], 1),) + xs[1:]
        if name == "max_pool":  # distinct values: no ties inside a window
            n = math.prod(xs)
            perm = data.draw(st.permutations(list(range(n))), label="order")
            x = f32(np.asarray(perm, np.float64).reshape(xs) * 0.1 - n * 0.05)
        else:
            x = grad_array(data, xs)
        return Grad(lambda t: fn(t, pool, strides=strides, padding=padding),
                    lambda v: ref(v, pool, strides, padding), [x])
    return draw


def pool_errors(name):
    fn = getattr(ops, name)

    def draw(data):
        bad = data.draw(st.sampled_from(["rank", "window", "zero"]))
        if bad == "rank":
            return (lambda: fn(np.zeros((4, 4, 2), np.float32), 2)), (ValueError,)
        if bad == "zero":
            return (lambda: fn(np.zeros((1, 4, 4, 2), np.float32), 0)), (ValueError,)
        return (lambda: fn(np.zeros((1, 2, 2, 1), np.float32), 3, padding="valid")), (ValueError,)
    return draw


# ================================================================ losses


def xent_forward(data, special):
    batch = data.draw(shapes(0, 2, 0, 3), label="batch")
    c = data.draw(st.integers(1, 4), label="classes")
    from_logits = data.draw(st.booleans(), label="from_logits")
    labels = data.draw(hnp.arrays(data.draw(st.sampled_from([np.int32, np.int64]), label="label dtype"), batch,
                                  elements=st.integers(0, c - 1)), label="labels")
    if from_logits:
        z = data.draw(float_arrays((*batch, c), special, 1e30), label="logits")
        want = np_xent_logits(labels, as64(z)) if z.size else np.zeros(batch)
        scale = np.abs(want) + np.max(np.abs(as64(z)), axis=-1) if z.size else None
    else:
        z = data.draw(hnp.arrays(F32, (*batch, c), elements=st.floats(0.125, 1.0, width=32)), label="probs")
        want = np_xent_probs(labels, as64(z)) if z.size else np.zeros(batch)
        # -log(p) for p near 1 in float32 (1 - 1e-7 is not representable): absolute error ~ eps32
        scale = np.maximum(np.abs(want), 0.05)
    return Call(lambda: ops.sparse_categorical_crossentropy(labels, z, from_logits=from_logits), want, "float32", scale)


def xent_grad(data):
    batch = data.draw(shapes(1, 2, 1, 3), label="batch")
    c = data.draw(st.integers(1, 4), label="classes")
    labels = data.draw(hnp.arrays(np.int32, batch, elements=st.integers(0, c - 1)), label="labels")
    if data.draw(st.booleans(), label="from_logits"):
        return Grad(lambda z: ops.sparse_categorical_crossentropy(labels, z, from_logits=True),
                    lambda z: np_xent_logits(labels, z), [grad_array(data, (*batch, c))])
    return Grad(lambda p: ops.sparse_categorical_crossentropy(labels, p),
                lambda p: np_xent_probs(labels, p), [grad_array(data, (*batch, c), 0.1, 1.0)])


def xent_errors(data):
    c = data.draw(st.integers(1, 4))
    bad = data.draw(st.sampled_from([c, c + 3, -1]))
    return (lambda: ops.sparse_categorical_crossentropy(np.array([bad]), np.zeros((1, c), np.float32),
                                                        from_logits=True)), (IndexError, ValueError)


# ================================================================ shapes and indexing


@st.composite
def reshape_target(draw, shape):
    """A shape with the same size (one entry may be -1 when the size is not 0)."""
    n = math.prod(shape)
    if n == 0:
        dims = draw(st.lists(st.integers(0, 3), min_size=1, max_size=3).filter(lambda d: 0 in d))
        return tuple(dims)
    dims = []
    rest = n
    for _ in range(draw(st.integers(0, 3))):
        divisors = [d for d in range(1, rest + 1) if rest % d == 0]
        d = draw(st.sampled_from(divisors))
        dims.append(d)
        rest //= d
    dims.append(rest)
    dims = draw(st.permutations(dims))
    if draw(st.booleans()):
        dims[draw(st.integers(0, len(dims) - 1))] = -1
    return tuple(dims)


def reshape_forward(data, special):
    shape = data.draw(shapes(), label="shape")
    a = data.draw(any_input(shape, special), label="x")
    new = data.draw(reshape_target(shape), label="newshape")
    return Call(lambda: ops.reshape(a.value, new), a.seen.reshape(new), a.dtype, signed_zero=True)


def reshape_grad(data):
    shape = small_shape(data, 0)
    new = data.draw(reshape_target(shape), label="newshape")
    return Grad(lambda t: ops.reshape(t, new), lambda v: v.reshape(new), [grad_array(data, shape)])


def reshape_errors(data):
    shape = data.draw(shapes(1, 3, 1, 4), label="shape")
    n = math.prod(shape)
    bad = data.draw(st.sampled_from([(n + 1,), (-1, -1), (n, -2), (0, -1)] if n > 1 else [(n + 1,), (-1, -1), (n, -2)]))
    return (lambda: ops.reshape(np.zeros(shape, np.float32), bad)), (ValueError,)


def transpose_forward(data, special):
    shape = data.draw(shapes(), label="shape")
    a = data.draw(any_input(shape, special), label="x")
    nd = len(shape)
    axes = data.draw(st.one_of(st.none(), st.permutations(list(range(nd))).flatmap(
        lambda p: st.tuples(*[st.sampled_from([i, i - nd]) for i in p]) if nd else st.just(()))), label="axes")
    return Call(lambda: ops.transpose(a.value, axes), np.transpose(a.seen, axes), a.dtype, signed_zero=True)


def transpose_grad(data):
    shape = small_shape(data, 1)
    axes = tuple(data.draw(st.permutations(list(range(len(shape)))), label="axes"))
    return Grad(lambda t: ops.transpose(t, axes), lambda v: np.transpose(v, axes), [grad_array(data, shape)])


def transpose_errors(data):
    shape = data.draw(shapes(2, 3, 1, 3), label="shape")
    nd = len(shape)
    bad = data.draw(st.sampled_from([tuple(range(nd - 1)), (0,) * nd, tuple(range(1, nd + 1))]))
    return (lambda: ops.transpose(np.zeros(shape, np.float32), bad)), (ValueError, IndexError)


def broadcast_to_forward(data, special):
    target = data.draw(shapes(0, 4, 0, 3), label="target")
    k = data.draw(st.integers(0, len(target)), label="rank")
    bs = tuple(data.draw(st.sampled_from([1, d])) for d in target[len(target) - k:])
    a = data.draw(any_input(bs, special), label="x")
    return Call(lambda: ops.broadcast_to(a.value, target), np.broadcast_to(a.seen, target), a.dtype, signed_zero=True)


def broadcast_to_grad(data):
    bs = small_shape(data, 0)
    target = (data.draw(st.integers(1, 3)),) + tuple(data.draw(st.sampled_from([d, 2])) if d == 1 else d for d in bs)
    return Grad(lambda t: ops.broadcast_to(t, target), lambda v: np.broadcast_to(v, target), [grad_array(data, bs)])


def broadcast_to_errors(data):
    shape = data.draw(shapes(1, 3, 2, 4), label="shape")
    target = tuple(d + 1 for d in shape)
    return (lambda: ops.broadcast_to(np.zeros(shape, np.float32), target)), (ValueError,)


def expand_dims_forward(data, special):
    shape = data.draw(shapes(), label="shape")
    a = data.draw(any_input(shape, special), label="x")
    rank = len(shape) + 1
    axis = data.draw(st.integers(-rank, rank - 1), label="axis")
    return Call(lambda: ops.expand_dims(a.value, axis), np.expand_dims(a.seen, axis), a.dtype, signed_zero=True)


def expand_dims_grad(data):
    shape = small_shape(data)
    axis = data.draw(st.integers(-len(shape) - 1, len(shape)), label="axis")
    return Grad(lambda t: ops.expand_dims(t, axis), lambda v: np.expand_dims(v, axis), [grad_array(data, shape)])


def expand_dims_errors(data):
    shape = data.draw(shapes(0, 3, 1, 3), label="shape")
    bad = data.draw(st.sampled_from([len(shape) + 1, -len(shape) - 2]))
    return (lambda: ops.expand_dims(np.zeros(shape, np.float32), bad)), (ValueError, IndexError)


def squeeze_forward(data, special):
    shape = data.draw(hnp.array_shapes(min_dims=0, max_dims=4, min_side=0, max_side=3).map(
        lambda s: tuple(1 if i % 2 == 0 else d for i, d in enumerate(s))), label="shape")
    a = data.draw(any_input(shape, special), label="x")
    ones = [i for i, d in enumerate(shape) if d == 1]
    axis = data.draw(st.one_of(st.none(), st.sampled_from(ones).map(lambda i: i - len(shape) if i % 2 else i))
                     if ones else st.none(), label="axis")
    return Call(lambda: ops.squeeze(a.value, axis), np.squeeze(a.seen, axis), a.dtype, signed_zero=True)


def squeeze_grad(data):
    shape = small_shape(data, 1) + (1,)
    return Grad(lambda t: ops.squeeze(t, -1), lambda v: np.squeeze(v, -1), [grad_array(data, shape)])


def squeeze_errors(data):
    shape = data.draw(shapes(1, 3, 0, 4).filter(lambda s: any(d != 1 for d in s)), label="shape")
    axis = data.draw(st.sampled_from([i for i, d in enumerate(shape) if d != 1]))  # sizes 0 and > 1
    return (lambda: ops.squeeze(np.zeros(shape, np.float32), axis)), (ValueError,)


@st.composite
def joinable(draw, special, same_shape):
    shape = draw(shapes(1 if not same_shape else 0, 3, 0, 3))
    count = draw(st.integers(1, 3))
    nd = len(shape)
    axis = draw(st.integers(-nd, nd - 1)) if not same_shape else draw(st.integers(-nd - 1, nd))
    shapes_ = []
    for _ in range(count):
        s = list(shape)
        if not same_shape:
            s[axis] = draw(st.integers(0, 3))
        shapes_.append(tuple(s))
    args = [draw(any_input(s, special)) for s in shapes_]
    return args, axis


def concatenate_forward(data, special):
    args, axis = data.draw(joinable(special, False), label="inputs")
    dtype = promote(*args)
    want = np.concatenate([a.seen.astype(_np_dtype(dtype)) for a in args], axis)
    return Call(lambda: ops.concatenate([a.value for a in args], axis), want, dtype, signed_zero=True)


def concatenate_grad(data):
    shape = small_shape(data, 1)
    other = (data.draw(st.integers(1, 3)),) + shape[1:]
    return Grad(lambda a, b: ops.concatenate([a, b], 0), lambda a, b: np.concatenate([a, b], 0),
                [grad_array(data, shape), grad_array(data, other)])


def concatenate_errors(data):
    shape = data.draw(shapes(2, 3, 1, 3), label="shape")
    other = (shape[0] + 1,) * len(shape)
    return (lambda: ops.concatenate([np.zeros(shape, np.float32), np.zeros(other, np.float32)], axis=len(shape) - 1)), \
        (ValueError,)


def stack_forward(data, special):
    args, axis = data.draw(joinable(special, True), label="inputs")
    dtype = promote(*args)
    want = np.stack([a.seen.astype(_np_dtype(dtype)) for a in args], axis)
    return Call(lambda: ops.stack([a.value for a in args], axis), want, dtype, signed_zero=True)


def stack_grad(data):
    shape = small_shape(data)
    return Grad(lambda a, b: ops.stack([a, b], -1), lambda a, b: np.stack([a, b], -1),
                [grad_array(data, shape), grad_array(data, shape)])


def stack_errors(data):
    shape = data.draw(shapes(1, 3, 1, 3), label="shape")
    return (lambda: ops.stack([np.zeros(shape, np.float32), np.zeros(shape + (2,), np.float32)])), (ValueError,)


def take_forward(data, special):
    shape = data.draw(shapes(), label="shape")
    a = data.draw(any_input(shape, special), label="x")
    nd = len(shape)
    axis = data.draw(st.one_of(st.none(), st.integers(-nd, nd - 1)) if nd else st.none(), label="axis")
    n = math.prod(shape) if axis is None else shape[axis]
    ishape = data.draw(shapes(0, 2, 0, 3), label="indices shape")
    if n == 0:
        ishape = data.draw(shapes(1, 2, 0, 3).filter(lambda s: 0 in s), label="empty indices")
    idx = data.draw(hnp.arrays(data.draw(st.sampled_from([np.int32, np.int64])), ishape,
                               elements=st.integers(-n, max(n - 1, -n))), label="indices")
    return Call(lambda: ops.take(a.value, idx, axis=axis), np.take(a.seen, idx, axis=axis), a.dtype, signed_zero=True)


def take_grad(data):
    shape = small_shape(data, 1)
    axis = data.draw(st.integers(0, len(shape) - 1), label="axis")
    idx = data.draw(hnp.arrays(np.int32, data.draw(shapes(0, 2, 1, 3)), elements=st.integers(0, shape[axis] - 1)))
    return Grad(lambda t: ops.take(t, idx, axis=axis), lambda v: np.take(v, idx, axis=axis), [grad_array(data, shape)])


def take_errors(data):
    n = data.draw(st.integers(0, 4))
    bad = data.draw(st.sampled_from([n, n + 5, -n - 1]))
    # NumPy: IndexError "index 5 is out of bounds for axis 0 with size 3"
    return (lambda: ops.take(np.zeros((n, 2), np.float32), np.array([bad]), axis=0)), (IndexError,)


def slice_forward(data, special):
    shape = data.draw(shapes(), label="shape")
    a = data.draw(any_input(shape, special), label="x")
    start = [data.draw(st.integers(0, d)) for d in shape]
    size = [data.draw(st.sampled_from([-1, data.draw(st.integers(0, d - s))])) for d, s in zip(shape, start)]
    idx = tuple(builtins_slice(s, d if n == -1 else s + n) for s, n, d in zip(start, size, shape))
    return Call(lambda: ops.slice(a.value, start, size), a.seen[idx], a.dtype, signed_zero=True)


builtins_slice = slice


def slice_grad(data):
    shape = small_shape(data, 1)
    start = [data.draw(st.integers(0, d - 1)) for d in shape]
    size = [data.draw(st.integers(1, d - s)) for d, s in zip(shape, start)]
    idx = tuple(builtins_slice(s, s + n) for s, n in zip(start, size))
    return Grad(lambda t: ops.slice(t, start, size), lambda v: v[idx], [grad_array(data, shape)])


def slice_errors(data):
    shape = data.draw(shapes(1, 3, 1, 3), label="shape")
    d = data.draw(st.integers(0, len(shape) - 1))
    start, size = [0] * len(shape), list(shape)
    size[d] += 1
    return (lambda: ops.slice(np.zeros(shape, np.float32), start, size)), (ValueError,)


# ================================================================ creation, conversion, casts

DTYPE_NAMES = st.sampled_from([None, "float32", "int32", "int64", "bool", "float64", "int8", "uint8", "uint32", "int16"])
_STD = {None: None, "float64": "float32", "int8": "int32", "uint8": "int32", "int16": "int32", "uint32": "int64"}


def _std(d):
    return _STD.get(d, d)


def fill_forward(name):
    fn = getattr(ops, name)
    value = {"zeros": 0, "ones": 1}[name]

    def draw(data, special):
        shape = data.draw(st.one_of(shapes(), st.integers(0, 4)), label="shape")
        dtype = data.draw(DTYPE_NAMES, label="dtype")
        want_dtype = _std(dtype) or "float32"
        want = np.full(shape, value, _np_dtype(want_dtype))
        return Call(lambda: fn(shape, dtype=dtype), want, want_dtype)
    return draw


def fill_errors(name):
    fn = getattr(ops, name)

    def draw(data):
        # sizes past int64 (issue 12: a pybind "incompatible function arguments" TypeError)
        bad = data.draw(st.sampled_from([(2, -1), (-3,), (2 ** 63,), (2 ** 62, 2 ** 62), (2 ** 64 + 1, 0)]))
        return (lambda: fn(bad)), (ValueError,)
    return draw


def full_forward(data, special):
    shape = data.draw(st.one_of(shapes(), st.integers(0, 4)), label="shape")
    v = data.draw(st.one_of(st.integers(-100, 100), st.booleans(), float_elements(special).map(float)), label="value")
    dtype = data.draw(DTYPE_NAMES, label="dtype")
    default = "bool" if isinstance(v, bool) else "int32" if isinstance(v, int) else "float32"
    want_dtype = _std(dtype) or default
    with np.errstate(invalid="ignore"):
        if want_dtype != "float32":
            assume(math.isfinite(v))
        if want_dtype in ("int32", "int64"):
            # a fill the dtype cannot hold raises ValueError (as torch; NumPy casts it to garbage):
            # tests/test_hardening_core.py tests that
            info = np.iinfo(want_dtype)
            assume(info.min <= np.trunc(v) <= info.max)
        want = np.full(shape, np.trunc(v) if want_dtype in ("int32", "int64") else v).astype(_np_dtype(want_dtype))
    return Call(lambda: ops.full(shape, v, dtype=dtype), want, want_dtype, signed_zero=True)


def like_forward(name):
    fn = getattr(ops, name)

    def draw(data, special):
        shape = data.draw(shapes(), label="shape")
        a = data.draw(any_input(shape, special), label="x")
        dtype = data.draw(DTYPE_NAMES, label="dtype")
        want_dtype = _std(dtype) or a.dtype
        if name == "full_like":
            v = data.draw(st.one_of(st.integers(-100, 100), st.floats(-100, 100, width=32)), label="fill")
            want = np.full(shape, v).astype(_np_dtype(want_dtype))
            return Call(lambda: fn(a.value, v, dtype=dtype), want, want_dtype)
        want = np.full(shape, 0 if name == "zeros_like" else 1, _np_dtype(want_dtype))
        return Call(lambda: fn(a.value, dtype=dtype), want, want_dtype)
    return draw


def arange_forward(data, special):
    kind = data.draw(st.sampled_from(["int", "float"]), label="kind")
    if kind == "int":
        start, stop = data.draw(st.integers(-20, 20)), data.draw(st.integers(-20, 20))
        step = data.draw(st.integers(-5, 5).filter(bool))
        want = np.arange(start, stop, step).astype(np.int32)
        dtype = "int32"
    else:
        start, stop = (float(data.draw(st.floats(-20, 20, width=32))) for _ in range(2))
        step = float(data.draw(st.sampled_from([0.25, 0.5, -0.5, 1.0, 2.0, -3.0])))
        want = np.arange(start, stop, step)
        dtype = "float32"
    if data.draw(st.booleans(), label="stop only"):
        return Call(lambda: ops.arange(stop), np.arange(stop).astype(_np_dtype(dtype)), dtype)
    return Call(lambda: ops.arange(start, stop, step), want, dtype)


def arange_errors(data):
    bad = data.draw(st.sampled_from([(0, 5, 0), (0, float("nan"), 1), (0, float("inf"), 1), (float("nan"), 3, 1)]))
    return (lambda: ops.arange(*bad)), (ValueError,)


def one_hot_forward(data, special):
    shape = data.draw(shapes(0, 2, 0, 3), label="shape")
    n = data.draw(st.integers(0, 4), label="num_classes")
    x = data.draw(hnp.arrays(data.draw(st.sampled_from([np.int32, np.int64])), shape, elements=st.integers(-1, n + 1)),
                  label="x")
    axis = data.draw(st.integers(-1, len(shape)), label="axis")
    dtype = data.draw(st.sampled_from([None, "float32", "int32", "bool"]), label="dtype")
    want = (x[..., None] == np.arange(n)).astype(_np_dtype(dtype or "float32"))  # out of range: all zeros (Keras/TF)
    if axis != -1:
        want = np.moveaxis(want, -1, axis)
    return Call(lambda: ops.one_hot(x, n, axis=axis, dtype=dtype), want, dtype or "float32")


def one_hot_errors(data):
    n = data.draw(st.integers(-5, -1))
    return (lambda: ops.one_hot(np.array([0, 1]), n)), (ValueError,)


def cast_forward(data, special):
    shape = data.draw(shapes(), label="shape")
    a = data.draw(any_input(shape, special, lo=-1e6, hi=1e6), label="x")
    dtype = data.draw(DTYPE_NAMES.filter(bool), label="dtype")
    to = _std(dtype)
    x = a.seen
    if to in ("int32", "int64") and a.dtype == "float32":
        # float -> int truncates toward zero (C, NumPy, Keras); NaN, inf and values outside the
        # target's range have no defined result anywhere: not drawn
        with np.errstate(invalid="ignore"):
            assume(np.all(np.isfinite(x)) and np.all(np.abs(x) < 2 ** 31))
        want = np.trunc(x).astype(_np_dtype(to))
    else:
        want = x.astype(_np_dtype(to))
    return Call(lambda: ops.cast(a.value, dtype), want, to, signed_zero=True)


def cast_grad(data):
    return Grad(lambda t: ops.cast(t, "float32"), lambda v: v, [grad_array(data, small_shape(data))])


def cast_errors(data):
    bad = data.draw(st.sampled_from(["complex64", "string", "object"]))
    return (lambda: ops.cast(np.zeros(2, np.float32), bad)), (TypeError,)


def convert_to_tensor_forward(data, special):
    shape = data.draw(shapes(), label="shape")
    a = data.draw(any_input(shape, special), label="x")
    dtype = data.draw(st.sampled_from([None, "float32", "int64", "bool"]), label="dtype")
    if dtype in ("int64",) and a.dtype == "float32":
        assume(np.all(np.isfinite(a.seen)) and np.all(np.abs(a.seen) < 2 ** 31))
        want = np.trunc(a.seen).astype(np.int64)
    else:
        want = a.seen.astype(_np_dtype(dtype or a.dtype))
    return Call(lambda: ops.convert_to_tensor(a.value, dtype=dtype), want, dtype or a.dtype, signed_zero=True)


def convert_to_tensor_errors(data):
    bad = data.draw(st.sampled_from(["complex", "object", "ragged", "uint64_big", "str"]))
    if bad == "complex":
        return (lambda: ops.convert_to_tensor(np.zeros(2, np.complex64))), (TypeError,)
    if bad == "object":
        return (lambda: ops.convert_to_tensor(np.array([object()], dtype=object))), (TypeError,)
    if bad == "ragged":
        return (lambda: ops.convert_to_tensor([[1, 2], [3]])), (ValueError,)
    if bad == "str":
        return (lambda: ops.convert_to_tensor("abc")), (TypeError,)
    # uint64 values that int64 cannot hold (issue 12: they wrapped to negative numbers)
    v = data.draw(st.integers(2 ** 63, 2 ** 64 - 1))
    return (lambda: ops.convert_to_tensor(np.array([v], np.uint64))), (ValueError,)


def convert_to_numpy_forward(data, special):
    shape = data.draw(shapes(), label="shape")
    a = data.draw(any_input(shape, special), label="x")
    got = ops.convert_to_tensor(a.value)

    def run():
        out = ops.convert_to_numpy(got)
        assert isinstance(out, np.ndarray) and out.dtype == _np_dtype(a.dtype)
        return out
    return Call(run, a.seen, None, signed_zero=True)


def info_forward(name):
    def draw(data, special):
        shape = data.draw(shapes(), label="shape")
        a = data.draw(any_input(shape, special), label="x")
        want = {"shape": tuple(a.seen.shape), "ndim": a.seen.ndim, "size": a.seen.size, "dtype": a.dtype}[name]
        return Call(lambda: getattr(ops, name)(a.value), want)
    return draw


# ================================================================ the table: every op in lamina.ops

PROPS = {}
for _n in UNARY:
    PROPS[_n] = Prop(unary_forward(_n), unary_grad(_n))
PROPS["gelu"] = Prop(param_forward("gelu", np_gelu, "approximate", [True, False]),
                     param_grad("gelu", np_gelu, "approximate", [True, False]))
PROPS["elu"] = Prop(param_forward("elu", np_elu, "alpha", [1.0, 0.5, 2.0]),
                    param_grad("elu", np_elu, "alpha", [1.0, 0.5, 2.0], (0.0,)))
PROPS["leaky_relu"] = Prop(param_forward("leaky_relu", np_leaky_relu, "negative_slope", [0.2, 0.01, 0.5]),
                           param_grad("leaky_relu", np_leaky_relu, "negative_slope", [0.2, 0.01, 0.5], (0.0,)))
for _n in BINARY:
    PROPS[_n] = Prop(binary_forward(_n), binary_grad(_n) if BINARY[_n][2] is not None or _n in ("maximum", "minimum")
                     else None, binary_errors(_n),
                     bools=None if _n in ("subtract", "power") else binary_forward(_n, bools=True),
                     limits=int_limits(_n) if _n in LIMIT_OPS else None)
for _n in ("abs", "absolute", "negative", "square", "sign"):
    PROPS[_n].limits = int_limits(_n)
PROPS["sum"] = Prop(reduce_forward("sum"), reduce_grad("sum"), reduce_errors("sum"), limits=int_limits("sum"))
PROPS["logical_not"] = Prop(logical_not_forward)
PROPS["where"] = Prop(where_forward, where_grad, where_errors)
PROPS["clip"] = Prop(clip_forward, clip_grad, clip_errors)
for _n in REDUCE:
    if _n in PROPS:
        continue
    PROPS[_n] = Prop(reduce_forward(_n), reduce_grad(_n), reduce_errors(_n))
for _n in ("argmax", "argmin"):
    PROPS[_n] = Prop(arg_forward(_n), None, reduce_errors(_n))
for _n in ("softmax", "log_softmax"):
    PROPS[_n] = Prop(softmax_forward(_n), softmax_grad(_n), reduce_errors(_n))
PROPS["matmul"] = Prop(matmul_forward, matmul_grad, matmul_errors)
PROPS["dense"] = Prop(dense_forward, dense_grad, dense_errors,
                      edge=lambda data, special: dense_forward(data, special, zero_k=True))
PROPS["conv"] = Prop(conv_forward, conv_grad, conv_errors)
for _n in ("max_pool", "average_pool"):
    PROPS[_n] = Prop(pool_forward(_n), pool_grad(_n), pool_errors(_n))
PROPS["sparse_categorical_crossentropy"] = Prop(xent_forward, xent_grad, xent_errors)
for _n in ("reshape", "transpose", "broadcast_to", "expand_dims", "squeeze", "concatenate", "stack", "take", "slice"):
    PROPS[_n] = Prop(globals()[_n + "_forward"], globals()[_n + "_grad"], globals()[_n + "_errors"])
for _n in ("zeros", "ones"):
    PROPS[_n] = Prop(fill_forward(_n), None, fill_errors(_n), special=False)
PROPS["full"] = Prop(full_forward, None, fill_errors("zeros"))
for _n in ("zeros_like", "ones_like", "full_like"):
    PROPS[_n] = Prop(like_forward(_n), special=False)
PROPS["arange"] = Prop(arange_forward, None, arange_errors, special=False)
PROPS["one_hot"] = Prop(one_hot_forward, None, one_hot_errors, special=False)
PROPS["cast"] = Prop(cast_forward, cast_grad, cast_errors)
PROPS["convert_to_tensor"] = Prop(convert_to_tensor_forward, None, convert_to_tensor_errors)
PROPS["convert_to_numpy"] = Prop(convert_to_numpy_forward)
for _n in ("shape", "ndim", "size", "dtype"):
    PROPS[_n] = Prop(info_forward(_n), special=False)


# ================================================================ batch normalisation


def np_batch_normalization(x, mean, var, axis, offset=None, scale=None, eps=1e-3):
    s = [1] * x.ndim
    s[axis] = -1
    with np.errstate(all="ignore"):
        y = (x - mean.reshape(s)) / np.sqrt(var.reshape(s) + eps)
        y = y if scale is None else y * scale.reshape(s)
        return y if offset is None else y + offset.reshape(s)


def np_batch_moments(x, axis):
    axes = tuple(d for d in range(x.ndim) if d != axis % x.ndim)
    with np.errstate(all="ignore"):
        return x.mean(axes), x.var(axes)


def _norm_geometry(data, min_side=0):
    shape = data.draw(shapes(1, 4, min_side, 4), label="shape")
    axis = data.draw(st.integers(-len(shape), len(shape) - 1), label="axis")
    return shape, axis


def _channel_vector(data, special, c, label, lo=-8.0):
    return data.draw(float_arrays((c,), special, 1e15, lo=lo), label=label)


def _norm_scale(x, mean, var, axis, offset, scale, eps):
    """The magnitude of the terms: (|x| + |mean|) |scale| / sqrt(var + eps) + |offset|."""
    a = lambda v: None if v is None else np.abs(np.nan_to_num(as64(v)))  # noqa: E731
    with np.errstate(all="ignore"):
        return np.nan_to_num(np_batch_normalization(a(x), -a(mean), np.abs(as64(var)), axis, a(offset), a(scale), eps))


def batch_normalization_forward(data, special):
    shape, axis = _norm_geometry(data)
    c = shape[axis]
    a = data.draw(any_input(shape, special, limit=1e15), label="x")
    mean = _channel_vector(data, special, c, "mean")
    var = _channel_vector(data, special, c, "variance", lo=0.0)
    offset = data.draw(st.one_of(st.none(), float_arrays((c,), special, 1e15)), label="offset")
    scale = data.draw(st.one_of(st.none(), float_arrays((c,), special, 1e15)), label="scale")
    eps = data.draw(st.sampled_from([1e-3, 0.1]), label="epsilon")
    x = as64(a.seen)
    opt = lambda v: None if v is None else as64(v)  # noqa: E731
    want = np_batch_normalization(x, as64(mean), as64(var), axis, opt(offset), opt(scale), eps)
    return Call(lambda: ops.batch_normalization(a.value, mean, var, axis, offset, scale, eps), want, "float32",
                _norm_scale(x, mean, var, axis, offset, scale, eps))


def batch_norm_forward(data, special):
    """The layer's step: batch statistics while training (an empty batch raises), else the moving ones."""
    shape, axis = _norm_geometry(data)
    c = shape[axis]
    training = data.draw(st.booleans(), label="training")
    x = data.draw(float_arrays(shape, special, 1e15), label="x")
    gamma = data.draw(st.one_of(st.none(), float_arrays((c,), special, 1e15)), label="gamma")
    beta = data.draw(st.one_of(st.none(), float_arrays((c,), special, 1e15)), label="beta")
    mm, mv = _channel_vector(data, special, c, "moving_mean"), _channel_vector(data, special, c, "moving_var", 0.0)
    x64, opt = as64(x), (lambda v: None if v is None else as64(v))  # noqa: E731
    if training:
        if x.size == 0:
            want = ValueError
            return Call(lambda: ops.batch_norm(x, gamma, beta, ops.zeros((c,)), ops.ones((c,)), axis, training=True),
                        want)
        mean, var = np_batch_moments(x64, axis)
    else:
        mean, var = as64(mm), as64(mv)
    want = np_batch_normalization(x64, mean, var, axis, opt(beta), opt(gamma))
    run = lambda: ops.batch_norm(x, gamma, beta, ops.convert_to_tensor(mm.copy()),  # noqa: E731
                                 ops.convert_to_tensor(mv.copy()), axis, 0.99, 1e-3, training)
    return Call(run, want, "float32", _norm_scale(x64, mean, var, axis, beta, gamma, 1e-3))


def batch_normalization_grad(data):
    shape, axis = _norm_geometry(data, min_side=1)
    c = shape[axis]
    x, mean, offset, scale = (grad_array(data, s) for s in (shape, (c,), (c,), (c,)))
    var = grad_array(data, (c,), lo=0.2, hi=2.0)
    return Grad(lambda *t: ops.batch_normalization(t[0], t[1], t[2], axis, t[3], t[4]),
                lambda *v: np_batch_normalization(v[0], v[1], v[2], axis, v[3], v[4]), [x, mean, var, offset, scale])


def batch_norm_grad(data):
    shape, axis = _norm_geometry(data, min_side=2)
    c = shape[axis]
    x, gamma, beta = grad_array(data, shape), grad_array(data, (c,)), grad_array(data, (c,))
    assume(np.all(np_batch_moments(x, axis)[1] > 0.1))  # the gradient grows as 1 / sqrt(variance)

    def ref(xx, gg, bb):
        mean, var = np_batch_moments(xx, axis)
        return np_batch_normalization(xx, mean, var, axis, bb, gg)

    return Grad(lambda *t: ops.batch_norm(t[0], t[1], t[2], ops.zeros((c,)), ops.ones((c,)), axis, training=True),
                ref, [x, gamma, beta])


def batch_normalization_errors(data):
    shape, axis = _norm_geometry(data, min_side=1)
    c = shape[axis]
    x = np.zeros(shape, np.float32)
    bad = data.draw(st.sampled_from(["mean", "axis", "epsilon"]), label="what")
    if bad == "axis":
        return (lambda: ops.batch_normalization(x, np.zeros(c), np.ones(c), len(shape))), (IndexError,)
    if bad == "epsilon":
        return (lambda: ops.batch_normalization(x, np.zeros(c), np.ones(c), axis, epsilon=0.0)), (ValueError,)
    return (lambda: ops.batch_normalization(x, np.zeros(c + 1), np.ones(c), axis)), (ValueError,)


def batch_norm_errors(data):
    shape, axis = _norm_geometry(data, min_side=1)
    c = shape[axis]
    x = np.zeros(shape, np.float32)
    return (lambda: ops.batch_norm(x, np.ones(c + 1), None, ops.zeros((c,)), ops.ones((c,)), axis)), (ValueError,)


PROPS["batch_normalization"] = Prop(batch_normalization_forward, batch_normalization_grad, batch_normalization_errors)
PROPS["batch_norm"] = Prop(batch_norm_forward, batch_norm_grad, batch_norm_errors)


def np_layer_normalization(x, gamma, beta, axis, eps=1e-7):
    axes = tuple(sorted(a % x.ndim for a in axis))
    s = [x.shape[d] if d in axes else 1 for d in range(x.ndim)]
    with np.errstate(all="ignore"):
        mean, var = x.mean(axes, keepdims=True), x.var(axes, keepdims=True)
        y = (x - mean) / np.sqrt(var + eps)
        y = y if gamma is None else y * gamma.reshape(s)
        return y if beta is None else y + beta.reshape(s)


@st.composite
def layer_norm_geometry(draw, min_side=0):
    shape = draw(shapes(1, 4, min_side, 4), label="shape")
    nd = len(shape)
    axis = draw(st.lists(st.integers(-nd, nd - 1), min_size=1, max_size=nd, unique_by=lambda a: a % nd), label="axis")
    return shape, axis, tuple(shape[a] for a in sorted(a % nd for a in axis))


def layer_normalization_forward(data, special):
    shape, axis, pshape = data.draw(layer_norm_geometry(), label="geometry")
    a = data.draw(any_input(shape, special, limit=1e15), label="x")
    gamma = data.draw(st.one_of(st.none(), float_arrays(pshape, special, 1e15)), label="gamma")
    beta = data.draw(st.one_of(st.none(), float_arrays(pshape, special, 1e15)), label="beta")
    eps = data.draw(st.sampled_from([None, 1e-3]), label="epsilon")
    x, opt = as64(a.seen), (lambda v: None if v is None else as64(v))  # noqa: E731
    want = np_layer_normalization(x, opt(gamma), opt(beta), axis, 1e-7 if eps is None else eps)
    # the magnitude of the terms: (|x| + |mean|) / sqrt(variance + eps) |gamma| + |beta|
    axes = tuple(sorted(d % x.ndim for d in axis))
    s = [x.shape[d] if d in axes else 1 for d in range(x.ndim)]
    with np.errstate(all="ignore"):
        xf = np.nan_to_num(x)
        std = np.sqrt(xf.var(axes, keepdims=True) + (1e-7 if eps is None else eps))
        scale = (np.abs(xf) + np.abs(xf.mean(axes, keepdims=True))) / std
        scale = np.nan_to_num(scale * (1 if gamma is None else np.abs(np.nan_to_num(as64(gamma))).reshape(s))
                              + (0 if beta is None else np.abs(np.nan_to_num(as64(beta))).reshape(s)))
    return Call(lambda: ops.layer_normalization(a.value, gamma, beta, axis, eps), want, "float32", scale)


def layer_normalization_grad(data):
    shape, axis, pshape = data.draw(layer_norm_geometry(min_side=2), label="geometry")
    x, gamma, beta = grad_array(data, shape), grad_array(data, pshape), grad_array(data, pshape)
    axes = tuple(sorted(a % len(shape) for a in axis))
    assume(np.all(x.var(axes) > 0.1))  # the gradient grows as 1 / sqrt(variance)
    return Grad(lambda *t: ops.layer_normalization(*t, axis=axis),
                lambda *v: np_layer_normalization(*v, axis), [x, gamma, beta])


def layer_normalization_errors(data):
    shape, axis, pshape = data.draw(layer_norm_geometry(min_side=1), label="geometry")
    x = np.zeros(shape, np.float32)
    if data.draw(st.booleans(), label="bad axis"):
        return (lambda: ops.layer_normalization(x, axis=len(shape))), (IndexError,)
    return (lambda: ops.layer_normalization(x, np.ones(pshape + (2,), np.float32), axis=axis)), (ValueError,)


PROPS["layer_normalization"] = Prop(layer_normalization_forward, layer_normalization_grad, layer_normalization_errors)
