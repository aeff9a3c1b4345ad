"""Property-based tests (hypothesis) of every op exported by `lamina.ops` against NumPy float64.

For each op (table: tests/properties_ops.py) hypothesis draws random shapes (0-size dimensions and
scalars included), broadcasting operands, values with -0.0, subnormal, tiny and large numbers, inputs
of every accepted form and dtype (tensors; NumPy float32/float64/float16/int8..uint32/int64/bool
arrays; nested lists; Python scalars), and checks:
  test_forward       values (finite inputs) and Keras 3's result dtype
  test_special       the same with NaN / +-inf among the values: NaN propagates as in NumPy
  test_bool_inputs   binary ops on two bool operands (Keras's dtype: bool for add/multiply/...)
  test_int_limits    integer ops at INT32_MIN / INT32_MAX: two's-complement wrap-around, as NumPy
                     and Keras (never undefined behaviour)
  test_gradient      tape gradients against central finite differences of the float64 reference,
                     on kink-free inputs
  test_errors        invalid shapes / arguments raise ValueError (IndexError / TypeError where NumPy
                     and Keras do), never a crash
Tolerance: errors are measured against the float32 rounding of the float64 reference, relative
(rtol 1e-5, about 80 float32 ulps) to a per-op scale: |result| by default; the sum of the terms'
magnitudes for sums and products (cancellation in float32 is not an error); |x| for formulas whose
float32 relative accuracy is inherently lost where the result is tiny compared with the input (gelu,
log_softmax), float32 eps for softplus/softmax results below eps.
Run more examples with HYPOTHESIS_PROFILE=dev (see tests/conftest.py).
"""
import inspect
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import lamina
from lamina import ops
from properties_ops import PROPS, TINY32, Call, any_input, shapes

# Known defects: (op, property) pairs xfailed (strict=False) with the reason, one entry each, to be
# deleted when the fix lands. Both are empty: every defect this net found during issue 12 (NaN
# dropped, bool rules, conversions, dense with 0 features, sigmoid's accuracy, sign(nan), log of
# subnormals, abs(-0.0)) is fixed. Add an entry only for a defect with an open issue.
KNOWN_DEFECTS = set()
XFAIL_REASON = "known defect (see the open issues)"
NEW_DEFECTS = {}

# Result dtypes where lamina knowingly differs from Keras: properties_ops.LAMINA_DTYPE_DEVIATIONS.

OP_NAMES = sorted(PROPS)

# The NumPy references overflow and meet NaN on purpose
pytestmark = pytest.mark.filterwarnings("ignore::RuntimeWarning")


def _params(kind, names):
    out = []
    for n in names:
        if (n, kind) in KNOWN_DEFECTS:
            out.append(pytest.param(n, marks=pytest.mark.xfail(strict=False, reason=XFAIL_REASON)))
        elif (n, kind) in NEW_DEFECTS:
            out.append(pytest.param(n, marks=pytest.mark.xfail(strict=False, reason=NEW_DEFECTS[n, kind])))
        else:
            out.append(n)
    return out


def _examples(weight=1.0):
    return max(1, int(round(settings().max_examples * weight)))


# ---------------------------------------------------------------- coverage


def test_every_op_has_a_property():
    """A new op in lamina.ops cannot be forgotten: every exported name has a table entry, and every
    public function defined in lamina.ops is exported."""
    exported = set(ops.__all__)
    defined = {n for n, f in vars(ops).items()
               if inspect.isfunction(f) and not n.startswith("_") and f.__module__ == "lamina.ops"}
    assert defined <= exported, f"public functions missing from __all__: {sorted(defined - exported)}"
    missing = sorted(exported - set(PROPS))
    assert not missing, f"ops without a property entry in tests/properties_ops.py: {missing}"
    stale = sorted(set(PROPS) - exported)
    assert not stale, f"property entries for names lamina.ops does not export: {stale}"


def test_known_defects_name_real_properties():
    kinds = {"forward", "special", "bool_inputs", "int_limits", "edge", "grad", "errors"}
    for op, kind in [*KNOWN_DEFECTS, *NEW_DEFECTS]:
        assert op in PROPS and kind in kinds, (op, kind)


# ---------------------------------------------------------------- comparison


def _assert_matches(call: Call, got):
    want = call.want
    if isinstance(want, np.generic):
        want = np.asarray(want)
    if isinstance(want, type) and issubclass(want, BaseException):
        raise AssertionError(f"expected {want.__name__}, got a result {got!r}")
    if not isinstance(want, np.ndarray):
        assert got == want, f"{got!r} != {want!r}"
        return
    if call.dtype is not None:
        assert isinstance(got, lamina.Tensor), f"expected a lamina Tensor, got {type(got).__name__}"
        assert got.dtype == call.dtype, f"dtype {got.dtype}, expected {call.dtype} (Keras 3)"
    g = np.asarray(got)
    assert g.shape == want.shape, f"shape {g.shape}, expected {want.shape}"
    if want.dtype.kind != "f":
        np.testing.assert_array_equal(g, want)
        return
    g = g.astype(np.float64)
    with np.errstate(over="ignore"):
        w = want.astype(np.float32).astype(np.float64)  # float32's overflow and underflow
    nan_w, nan_g = np.isnan(w), np.isnan(g)
    bad = nan_w != nan_g
    assert not bad.any(), f"NaN mismatch at {np.argwhere(bad)[:5].tolist()}: got {g[bad][:5]}, expected {w[bad][:5]}"
    inf = np.isinf(w) | np.isinf(g)
    bad = inf & (g != w)
    assert not bad.any(), f"inf mismatch at {np.argwhere(bad)[:5].tolist()}: got {g[bad][:5]}, expected {w[bad][:5]}"
    fin = ~(nan_w | inf)
    scale = np.abs(want) if call.scale is None else np.broadcast_to(np.asarray(call.scale, np.float64), want.shape)
    scale = np.nan_to_num(scale, nan=0.0)
    tol = call.rtol * scale + 2 * TINY32   # 2 * FLT_MIN: subnormal results may be flushed
    err = np.abs(g - w)
    bad = fin & ~(err <= tol)
    assert not bad.any(), (f"values differ at {np.argwhere(bad)[:5].tolist()}: got {g[bad][:5]}, "
                           f"expected {w[bad][:5]} (tolerance {tol[bad][:5]})")
    if call.signed_zero:
        z = fin & (w == 0) & (g == 0)
        bad = z & (np.signbit(g) != np.signbit(w))
        assert not bad.any(), f"sign of zero differs at {np.argwhere(bad)[:5].tolist()}"


def _check(call: Call):
    want = call.want
    if isinstance(want, type) and issubclass(want, BaseException):
        with pytest.raises(want):
            call.run()
        return
    _assert_matches(call, call.run())


# ---------------------------------------------------------------- forward properties


def _run_forward(name, special, weight=1.0):
    prop = PROPS[name]

    @settings(max_examples=_examples(weight * prop.examples))
    @given(data=st.data())
    def prop_test(data):
        _check(prop.forward(data, special))

    prop_test()


@pytest.mark.parametrize("name", _params("forward", OP_NAMES))
def test_forward(name):
    _run_forward(name, special=False)


SPECIAL_NAMES = [n for n in OP_NAMES if PROPS[n].special]


@pytest.mark.parametrize("name", _params("special", SPECIAL_NAMES))
def test_special(name):
    _run_forward(name, special=True)


BOOL_NAMES = [n for n in OP_NAMES if PROPS[n].bools]


@pytest.mark.parametrize("name", _params("bool_inputs", BOOL_NAMES))
def test_bool_inputs(name):
    """Keras 3: add / multiply / maximum / minimum of two bools are bool (logical or / and),
    comparisons and logical ops bool, divide float32."""
    prop = PROPS[name]

    @settings(max_examples=_examples(0.5))
    @given(data=st.data())
    def prop_test(data):
        _check(prop.bools(data, False))

    prop_test()


LIMIT_NAMES = [n for n in OP_NAMES if PROPS[n].limits]


@pytest.mark.parametrize("name", _params("int_limits", LIMIT_NAMES))
def test_int_limits(name):
    prop = PROPS[name]

    @settings(max_examples=_examples(0.5))
    @given(data=st.data())
    def prop_test(data):
        _check(prop.limits(data, False))

    prop_test()


EDGE_NAMES = [n for n in OP_NAMES if PROPS[n].edge]


@pytest.mark.parametrize("name", _params("edge", EDGE_NAMES))
def test_edge_cases(name):
    """Edge cases with their own property (dense with 0 input features: the bias on every row)."""
    prop = PROPS[name]

    @settings(max_examples=_examples(0.3))
    @given(data=st.data())
    def prop_test(data):
        _check(prop.edge(data, False))

    prop_test()


# ---------------------------------------------------------------- gradients


def _numeric_grad(ref, vals, i, cot, eps=1e-4):
    """d sum(ref(vals) * cot) / d vals[i] by central differences, all in float64."""
    x = np.array(vals[i], dtype=np.float64)
    g = np.zeros_like(x)
    flat, gflat = x.reshape(-1), g.reshape(-1)
    for j in range(flat.size):
        old = flat[j]
        vals_p, vals_m = list(vals), list(vals)
        flat[j] = old + eps
        vals_p[i] = x.copy()
        flat[j] = old - eps
        vals_m[i] = x.copy()
        flat[j] = old
        fp = np.sum(np.asarray(ref(*vals_p), np.float64) * cot)
        fm = np.sum(np.asarray(ref(*vals_m), np.float64) * cot)
        gflat[j] = (fp - fm) / (2 * eps)
    return g


GRAD_NAMES = [n for n in OP_NAMES if PROPS[n].grad]
GRAD_RTOL, GRAD_ATOL = 1e-4, 2e-5


@pytest.mark.parametrize("name", _params("grad", GRAD_NAMES))
def test_gradient(name):
    """The tape's gradient of sum(op(x) * c) against central differences (eps 1e-4) of the float64
    reference. Inputs are moderate (|x| <= 2..5) and kept 0.05 away from kinks and ties. Tolerance
    1e-4 relative + 2e-5 absolute: float32 chains of a few ops (~1e-6) plus the differences'
    truncation error (eps^2 * f''' ~ 1e-7); a wrong formula is off by far more."""
    prop = PROPS[name]

    @settings(max_examples=_examples(0.6))
    @given(data=st.data())
    def prop_test(data):
        g = prop.grad(data)
        vals = [np.asarray(v, np.float64) for v in g.inputs]
        with np.errstate(all="ignore"):
            expected = np.asarray(g.ref(*vals), np.float64)
        cot = np.random.default_rng(expected.size).uniform(-1, 1, size=expected.shape)
        cot = cot.astype(np.float32).astype(np.float64)
        tensors = [ops.convert_to_tensor(v.astype(np.float32)) for v in vals]
        with lamina.GradientTape() as tape:
            tape.watch(tensors)
            out = g.fn(*tensors)
            loss = ops.sum(ops.multiply(out, cot.astype(np.float32)))
        grads = tape.gradient(loss, tensors)
        for i, got in enumerate(grads):
            want = _numeric_grad(g.ref, vals, i, cot)
            assert got is not None, f"no gradient for input {i}"
            assert tuple(got.shape) == vals[i].shape and got.dtype == "float32"
            np.testing.assert_allclose(np.asarray(got), want, rtol=GRAD_RTOL, atol=GRAD_ATOL,
                                       err_msg=f"gradient of input {i}")

    prop_test()


# ---------------------------------------------------------------- errors


ERROR_NAMES = [n for n in OP_NAMES if PROPS[n].errors]


@pytest.mark.parametrize("name", _params("errors", ERROR_NAMES))
def test_errors(name):
    """Invalid shapes and arguments raise a Python exception of NumPy's / Keras's type (ValueError
    for shapes) with a message, never a crash or pybind's "incompatible function arguments"."""
    prop = PROPS[name]

    @settings(max_examples=_examples(0.4))
    @given(data=st.data())
    def prop_test(data):
        thunk, excs = prop.errors(data)
        with pytest.raises(excs) as info:
            thunk()
        # a message for a person, not pybind's signature dump
        assert str(info.value) and "incompatible function arguments" not in str(info.value)

    prop_test()
