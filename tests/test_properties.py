"""Property tests: losses, shapes, options, magnitudes and dtypes drawn from the registry, checked against torch."""
import warnings

import numpy as np
import pytest
import torch
from hypothesis import given, strategies as st

import lossbook
from lossbook.core import REGISTRY, check_parity, check_raises, losses, sample_pointwise

NAMES = [i.name for i in losses()]
POINTWISE = [i.name for i in losses() if i.sample is sample_pointwise]


def test_registry_is_full():
    "The registry has every loss lossbook exports, and every entry is complete."
    assert NAMES, 'no loss registered'
    for i in losses():
        assert i.grid and 'reduction' in i.grid, i.name
        assert callable(i.sample) and callable(i.invalid) and i.invalid(), i.name
        assert i.notebook and i.zh and i.family, i.name


@st.composite
def cases(draw, names=NAMES):
    info = REGISTRY[draw(st.sampled_from(names))]
    lo, hi = info.ndims
    shape = tuple(draw(st.lists(st.integers(0, 5), min_size=lo, max_size=hi)))
    options = {k: draw(st.sampled_from(list(v))) for k, v in info.grid.items()}
    scale = 10.0 ** draw(st.integers(-3, 3))
    seed = draw(st.integers(0, 2**32 - 1))
    return info, shape, options, scale, seed


def _sample(info, shape, scale, seed):
    return info.sample(np.random.default_rng(seed), shape, scale)


@given(cases(), st.sampled_from([np.float64, np.float32]))
def test_parity(case, dtype):
    "Values, dtypes, warnings and gradients of both namespaces and the criterion match torch."
    info, shape, options, scale, seed = case
    args, kwargs = _sample(info, shape, scale, seed)
    check_parity(info, args, kwargs, grid={k: [v] for k, v in options.items()}, dtype=dtype, seed=seed, quiet=True)


@given(cases())
def test_float32_stays_float32(case):
    "float32 in → float32 out, in the NumPy forward and gradient (as torch)."
    info, shape, options, scale, seed = case
    rng = np.random.default_rng(seed)
    args, kwargs = _sample(info, shape, scale, seed)
    args = tuple(a.astype(np.float32) if a.dtype.kind == 'f' else a for a in args)
    opts = {k: (v(rng, [a.shape for a in args]).astype(np.float32) if callable(v) else v) for k, v in options.items()}
    with warnings.catch_warnings():
        warnings.simplefilter('ignore')
        out = info.numpy(*args, **kwargs, **opts)
        grads = info.numpy_grad(*args, **kwargs, **opts)
    assert isinstance(out, np.ndarray) and out.dtype == np.float32
    for g in (grads if isinstance(grads, tuple) else (grads,)):
        assert g.dtype == np.float32 and g.shape == args[0].shape


@given(st.sampled_from(POINTWISE), st.sampled_from([np.float32, np.float64]), st.integers(0, 2**32 - 1))
def test_extremes(name, dtype, seed):
    "Huge, tiny, zero, infinite and nan residuals of the pointwise losses give what torch gives, in float32 and float64."
    rng = np.random.default_rng(seed)
    fi = np.finfo(dtype)
    pool = np.array([0., fi.smallest_subnormal, fi.tiny, 1e-30, 0.5, 1., 2., 1e15, 1e30, fi.max, np.inf, np.nan], dtype)
    x = rng.choice(pool, 12) * rng.choice([-1, 1], 12)
    y = rng.choice(pool, 12) * rng.choice([-1, 1], 12)
    check_parity(name, (x.astype(dtype), y.astype(dtype)), dtype=dtype, seed=seed, quiet=True)


@pytest.mark.parametrize('name', NAMES)
def test_bad_inputs_raise(name):
    "Every input torch rejects is rejected by both namespaces, with torch's exception class and a helpful message."
    for label, args, kwargs in REGISTRY[name].invalid():
        msgs = check_raises(name, args, kwargs)
        assert name in msgs['lossbook.numpy'] or 'reduction' in msgs['lossbook.numpy'], (label, msgs)


@st.composite
def shape_pairs(draw):
    "Two shapes: often broadcastable (dims set to 1 or dropped), sometimes not."
    shape = draw(st.lists(st.integers(1, 4), min_size=1, max_size=4))
    other = [draw(st.sampled_from([s, 1, s, draw(st.integers(1, 4))])) for s in shape]
    other = other[draw(st.integers(0, len(other))):]
    return (tuple(shape), tuple(other)) if draw(st.booleans()) else (tuple(other), tuple(shape))


@given(st.sampled_from(POINTWISE), shape_pairs(), st.integers(0, 2**32 - 1))
def test_broadcasting(name, shapes, seed):
    "Shapes that broadcast give torch's warning and values/gradients (summed over broadcast copies); others raise as torch."
    info = REGISTRY[name]
    rng = np.random.default_rng(seed)
    x, y = rng.standard_normal(shapes[0]), rng.standard_normal(shapes[1])
    try:
        np.broadcast_shapes(*shapes)
    except ValueError:
        msgs = check_raises(name, (x, y))
        assert str(shapes[0]) in msgs['lossbook.numpy'] and str(shapes[1]) in msgs['lossbook.numpy']
        return
    grid = {k: v for k, v in info.grid.items() if k != 'weight'}      # weight must have the input's shape
    check_parity(name, (x, y), grid=grid, seed=seed, quiet=True)


@pytest.mark.parametrize('name', NAMES)
def test_grad_output_shape_is_checked(name):
    "A grad_output that does not have the output's shape is refused, naming both shapes."
    info = REGISTRY[name]
    (x, y), kw = info.sample(np.random.default_rng(0), (3, 2), 1.0)
    with pytest.raises(ValueError, match=r"grad_output must have the output's shape \(\), got \(3, 2\)"):
        info.numpy_grad(x, y, **kw, grad_output=np.ones((3, 2)))
    with pytest.raises(ValueError, match=r"shape \(3, 2\), got \(\)"):
        info.numpy_grad(x, y, **kw, reduction='none', grad_output=np.ones(()))
