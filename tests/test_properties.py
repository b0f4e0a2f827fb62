"""Property tests: losses, shapes, options, magnitudes and dtypes drawn from the registry and the specs, checked against torch."""
import re
import warnings

import numpy as np
import pytest
import torch
from hypothesis import given, strategies as st

from lossbook.core import REGISTRY, losses
from lossbook.testing import Draw, Namespaced, cases, check_parity, check_raises, spec

NAMES = [i.name for i in losses()]
POINTWISE = [n for n in NAMES if spec(n).extremes]


def test_registry_is_full():
    "The registry has every loss lossbook exports, and every entry is complete."
    assert NAMES, 'no loss registered'
    for i in losses():
        sp = spec(i.name)
        assert ('reduction' in sp.grid) == bool(i.reductions), i.name   # a loss with a reduction option sweeps it
        assert callable(sp.sample) and callable(sp.invalid) and sp.invalid(), i.name
        assert i.notebook and i.zh and i.family, i.name


@given(cases(NAMES), st.sampled_from([np.float64, np.float32]))
def test_parity(case, dtype):
    "Values, dtypes, warnings and gradients of both namespaces and the criterion match torch."
    args, kwargs = case.sample()
    check_parity(case.info, args, kwargs, grid={}, dtype=dtype, seed=case.seed, quiet=True, spec_=case.spec)


@given(cases(NAMES))
def test_float32_stays_float32(case):
    "float32 in → float32 out, in the NumPy forward and gradient (as torch)."
    args, kwargs = case.sample()
    kwargs = {k: v.numpy if isinstance(v, Namespaced) else v for k, v in kwargs.items()}   # an option with a NumPy form
    args = tuple(a.astype(np.float32) if isinstance(a, np.ndarray) and a.dtype.kind == 'f' else a for a in args)
    kwargs = {k: (v.astype(np.float32) if isinstance(v, np.ndarray) and v.dtype.kind == 'f' else v) for k, v in kwargs.items()}
    with warnings.catch_warnings():
        warnings.simplefilter('ignore')
        out = case.info.numpy(*args, **kwargs)
        grads = case.info.numpy_grad(*args, **kwargs)
    assert isinstance(out, np.ndarray) and out.dtype == np.float32
    for g, name in zip(grads if isinstance(grads, tuple) else (grads,), case.info.grad_args):
        a = {**dict(zip(case.info.data_args, args)), **kwargs}[name]   # keyword-only inputs too (linear_bias)
        if not isinstance(a, np.ndarray):   # a float var: no gradient (None), as the contract says
            assert g is None, name
            continue
        assert g.dtype == np.float32 and g.shape == a.shape


@given(st.sampled_from(POINTWISE), st.sampled_from([np.float32, np.float64]), st.integers(0, 2**32 - 1))
def test_extremes(name, dtype, seed):
    "Huge, tiny, zero, infinite and nan residuals of the pointwise losses give what torch gives, in float32 and float64."
    rng = np.random.default_rng(seed)
    fi = np.finfo(dtype)
    pool = np.array([0., fi.smallest_subnormal, fi.tiny, 1e-30, 0.5, 1., 2., 1e15, 1e30, fi.max, np.inf, np.nan], dtype)
    x = rng.choice(pool, 12) * rng.choice([-1, 1], 12)
    y = rng.choice(pool, 12) * rng.choice([-1, 1], 12)
    grid = None
    plain = [{k: v for k, v in c.items() if not isinstance(v, Draw)} for c in spec(name).combos()]   # a drawn weight only scales
    if any(_order_dependent(name, x.astype(dtype), y.astype(dtype), opts) for opts in plain):
        grid = {**spec(name).grid, 'reduction': ('none',)}   # then only the elementwise losses are torch's to compare
    check_parity(name, (x.astype(dtype), y.astype(dtype)), grid=grid, dtype=dtype, seed=seed, quiet=True)


def _order_dependent(name, x, y, opts) -> bool:
    "Does the sum of torch's elementwise loss depend on the order of addition? Yes when one sign's part is ∞ (an ∞ term, or an overflow) and the other's overflows: ∞ − ∞ is nan in one order and ±∞ in another (torch's SIMD order decides)."
    with warnings.catch_warnings():
        warnings.simplefilter('ignore')
        loss = REGISTRY[name].reference_fn(torch.from_numpy(x), torch.from_numpy(y), **{**opts, 'reduction': 'none'}).double()
    big = torch.finfo(torch.from_numpy(x).dtype).max
    fin = loss[torch.isfinite(loss)]
    pos = bool((loss == np.inf).any()) or float(fin[fin > 0].sum()) > big
    neg = bool((loss == -np.inf).any()) or float(fin[fin < 0].sum()) < -big
    return pos and neg


@pytest.mark.parametrize('name', NAMES)
def test_bad_inputs_raise(name):
    "Every input torch rejects is rejected by both namespaces, with torch's exception class and a helpful message."
    for label, args, kwargs in spec(name).invalid():
        msgs = check_raises(name, args, kwargs)
        assert name in msgs['lossbook.numpy'] or 'reduction' in msgs['lossbook.numpy'], (label, msgs)


@st.composite
def shape_pairs(draw):
    "Two shapes: often broadcastable (dims set to 1 or dropped), sometimes not."
    shape = draw(st.lists(st.integers(1, 4), min_size=1, max_size=4))
    other = [draw(st.sampled_from([s, 1, s, draw(st.integers(1, 4))])) for s in shape]
    other = other[draw(st.integers(0, len(other))):]
    return (tuple(shape), tuple(other)) if draw(st.booleans()) else (tuple(other), tuple(shape))


@given(st.sampled_from([n for n in POINTWISE if REGISTRY[n].broadcast != 'exact']), shape_pairs(), st.integers(0, 2**32 - 1))
def test_broadcasting(name, shapes, seed):
    "Shapes that broadcast give torch's warning and values/gradients (summed over broadcast copies); others raise as torch."
    rng = np.random.default_rng(seed)
    x, y = rng.standard_normal(shapes[0]), rng.standard_normal(shapes[1])
    try:
        np.broadcast_shapes(*shapes)
    except ValueError:
        msgs = check_raises(name, (x, y))
        assert str(shapes[0]) in msgs['lossbook.numpy'] and str(shapes[1]) in msgs['lossbook.numpy']
        return
    grid = {k: v for k, v in spec(name).grid.items() if k != 'weight'}      # weight must have the input's shape
    check_parity(name, (x, y), grid=grid, seed=seed, quiet=True)


@given(st.sampled_from(POINTWISE), st.sampled_from(['size_average', 'reduce']), st.sampled_from([None, True, False, 'sum', 0]),
       st.sampled_from(['none', 'mean', 'sum', 'elementwise_mean']))
def test_legacy_arguments(name, which, value, reduction):
    "size_average / reduce (positional 'sum' included) and 'elementwise_mean' mean what they mean in torch, warning included."
    import inspect
    if which not in inspect.signature(REGISTRY[name].reference_fn).parameters:
        return
    x, y = np.random.default_rng(0).standard_normal((2, 3, 2))
    check_parity(name, (x, y), {which: value, 'reduction': reduction}, grid={}, quiet=True)


@given(st.sampled_from(POINTWISE), st.sampled_from([np.float16]), st.sampled_from(['mean', 'sum', 'none']))
def test_half_precision_accumulates_in_float32(name, dtype, reduction):
    "float16 losses compute and accumulate in float32 as torch's kernels do: 70,000 elements are not inf."
    x, y = np.full(70_000, 1.0, dtype), np.zeros(70_000, dtype)
    check_parity(name, (x, y), {'reduction': reduction}, grid={}, dtype=None, quiet=True, rtol=1e-3, atol=1e-3)


@pytest.mark.parametrize('name', NAMES)
def test_grad_output_shape_is_checked(name):
    "A grad_output that does not have the output's shape is refused, naming both shapes."
    info = REGISTRY[name]
    args, kw = spec(name).sample(np.random.default_rng(0), (3, 2), 1.0, {})
    red = {'reduction': 'mean'} if info.reductions else {}   # a loss without a reduction argument returns one 0-d value
    with pytest.raises(ValueError, match=r"grad_output must have the output's shape \(\), got \(3, 2\)"):
        info.numpy_grad(*args, **{**kw, **red}, grad_output=np.ones((3, 2)))   # torchvision's default is 'none'
    if 'none' not in info.reductions: return
    with warnings.catch_warnings():
        warnings.simplefilter('ignore')
        none_shape = info.numpy(*args, **kw, reduction='none').shape    # (3, 2) pointwise; (3,) for a class loss
    bad = np.ones(()) if none_shape != () else np.ones(3)   # ctc_loss's unbatched 'none' output is 0-d itself
    with pytest.raises(ValueError, match=re.escape(f"shape {none_shape}, got {bad.shape}")):
        info.numpy_grad(*args, **kw, reduction='none', grad_output=bad)


def _accepted(name, args, kwargs):
    "Does torch accept this call?"
    import lossbook.testing as T
    try:
        with warnings.catch_warnings():
            warnings.simplefilter('ignore')
            REGISTRY[name].reference_fn(*[T.to_torch(a) for a in args], **{k: T.to_torch(v) for k, v in kwargs.items()})
        return True
    except Exception:
        return False


def _backward_ok(name, args, kwargs):
    "Does torch's own backward run here? (It fails for huber_loss on mixed dtypes, pytorch#76646: nothing to compare.)"
    import lossbook.testing as T
    t = [T.to_torch(a, True) for a in args]
    try:
        with warnings.catch_warnings():
            warnings.simplefilter('ignore')
            REGISTRY[name].reference_fn(*t, **{k: T.to_torch(v) for k, v in kwargs.items()}).sum().backward()
        return True
    except RuntimeError:
        return False


DTYPES = [np.bool_, np.uint8, np.int32, np.int64, np.float16, np.float32, np.float64]


@given(st.sampled_from(POINTWISE), st.sampled_from(DTYPES), st.sampled_from(DTYPES), st.sampled_from([(), (3,), (2, 3)]),
       st.sampled_from([(), (3,)]), st.sampled_from(['none', 'mean', 'sum']), st.booleans(), st.integers(0, 2**32 - 1))
def test_dtypes_and_zero_dim_operands(name, dx, dy, sx, sy, reduction, weighted, seed):
    "Any pair of dtypes and a 0-d operand: torch's promotion (broadcast first), its int64 sums, and what it refuses."
    rng = np.random.default_rng(seed)
    x, y = (rng.integers(0, 3, s).astype(d) if np.dtype(d).kind in 'biu' else rng.standard_normal(s).astype(d)
            for s, d in ((sx, dx), (sy, dy)))
    kwargs = {'reduction': reduction}
    if weighted and 'weight' in spec(name).grid:
        kwargs['weight'] = rng.uniform(0.5, 2, sx)
    if not _accepted(name, (x, y), kwargs):
        check_raises(name, (x, y), kwargs)
        return
    floating = all(np.dtype(d).kind == 'f' for d in (dx, dy)) and _backward_ok(name, (x, y), kwargs)
    tol = {'rtol': 2e-3, 'atol': 2e-3} if np.float16 in (dx, dy) else {}
    if tol and 'weight' in kwargs and reduction == 'mean':
        # A weight-normalised mean of a broadcast 0-d weight does not depend on it: its gradient is 0 as the difference of
        # two terms of size loss / w, each rounded in half precision — noise of about 1e-3 · loss / w on either side.
        loss = float(REGISTRY[name].numpy(x.astype(np.float64), y.astype(np.float64), **kwargs))
        tol['atol'] = max(tol['atol'], 4e-3 * abs(loss) / float(np.min(kwargs['weight'])))
    check_parity(name, (x, y), kwargs, grid={}, dtype=None, quiet=True, grads=floating, seed=seed, **tol)


@given(st.sampled_from(POINTWISE), st.integers(0, 2**32 - 1), st.sampled_from(['none', 'mean', 'sum']))
def test_second_derivatives(name, seed, reduction):
    "Hessian-vector products through lossbook.torch match torch's double backward — ties (d = 0) included."
    rng = np.random.default_rng(seed)
    x = rng.standard_normal(12); y = np.where(rng.random(12) < 0.3, x, rng.standard_normal(12))
    opts = {'reduction': reduction, **{k: rng.choice(v[1:]) for k, v in spec(name).grid.items() if k in ('beta', 'delta')}}
    def hvp(f):
        t = torch.tensor(x, requires_grad=True)
        out = f(t, torch.tensor(y), **opts)
        g, = torch.autograd.grad(out, t, torch.ones_like(out), create_graph=True)
        if not g.requires_grad: return None    # a loss linear in the input (kl_div): its second derivative is 0
        v = torch.from_numpy(np.random.default_rng(seed + 1).standard_normal(12))
        return torch.autograd.grad((g * v).sum(), t, allow_unused=True)[0]
    ref, ours = hvp(REGISTRY[name].reference_fn), hvp(REGISTRY[name].torch)
    ref = torch.zeros(12, dtype=torch.float64) if ref is None else ref
    ours = torch.zeros(12, dtype=torch.float64) if ours is None else ours
    torch.testing.assert_close(ours, ref)


@pytest.mark.parametrize('name,option', [('huber_loss', 'delta'), ('smooth_l1_loss', 'beta')])
@pytest.mark.parametrize('dtype', [np.float32, np.float64])
def test_infinite_threshold(name, option, dtype):
    "delta = inf (or beyond float32's range) is ½d² everywhere, with finite gradients, as in torch."
    x, y = np.array([-3., 0., 0.5, 2e3]), np.zeros(4)
    for value in (float('inf'), 3.5e38):
        check_parity(name, (x, y), {option: value}, grid={'reduction': ('none', 'mean', 'sum')}, dtype=dtype, quiet=True)
