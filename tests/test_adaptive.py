"""AdaptiveLogSoftmaxWithLoss is a module with parameters, not a torch.nn.functional loss: it is not in lossbook.REGISTRY,
so the registry-driven tests do not see it. Here: parity with torch.nn.AdaptiveLogSoftmaxWithLoss over random
configurations — (output, loss), log_prob, predict, and the gradients of the input and of every parameter — from the
module (tensors and NumPy arrays), lossbook.numpy and lossbook.torch; and torch's errors from both namespaces."""
import inspect
import warnings

import numpy as np
import pytest
import torch
from hypothesis import given, strategies as st

import lossbook
import lossbook.numpy as lnp
import lossbook.torch as lt


@st.composite
def configs(draw):
    n_classes = draw(st.integers(2, 16))
    cutoffs = sorted(draw(st.sets(st.integers(1, n_classes - 1), min_size=1, max_size=3)))
    return dict(in_features=draw(st.integers(1, 9)), n_classes=n_classes, cutoffs=cutoffs,
                div_value=draw(st.sampled_from([1.0, 1.5, 2.0, 4.0, 8.0])), head_bias=draw(st.booleans()))


def _pair(cfg, seed, dtype):
    "torch's module and lossbook's, built from the same seed: the same parameters (asserted through load_state_dict too)."
    torch.manual_seed(seed)
    ref = torch.nn.AdaptiveLogSoftmaxWithLoss(**cfg, dtype=dtype)
    torch.manual_seed(seed)
    mine = lossbook.AdaptiveLogSoftmaxWithLoss(**cfg, dtype=dtype)
    assert list(mine.state_dict()) == list(ref.state_dict())
    for (k, a), b in zip(mine.state_dict().items(), ref.state_dict().values()):
        assert a.shape == b.shape and a.dtype == b.dtype and torch.equal(a, b), k
    mine.load_state_dict(ref.state_dict())
    with torch.no_grad():   # weights of unit scale: gradients well above float32 noise
        for p in ref.parameters(): p.normal_()
    mine.load_state_dict(ref.state_dict())
    return ref, mine


def _data(cfg, rng, batch, dtype):
    shape = (batch, cfg['in_features']) if batch is not None else (cfg['in_features'],)
    x = rng.standard_normal(shape).astype(dtype)
    n = batch if batch is not None else 1
    tail = rng.integers(cfg['cutoffs'][-1], cfg['n_classes'], n)   # every other sample in the last cluster
    y = np.where(rng.random(n) < 0.5, rng.integers(0, cfg['n_classes'], n), tail)
    return x, (y if batch is not None else np.asarray(y[0]))


@given(cfg=configs(), batch=st.one_of(st.none(), st.integers(0, 7)), seed=st.integers(0, 2**16),
       dtype=st.sampled_from([np.float64, np.float32]))
def test_parity_with_torch(cfg, batch, seed, dtype):
    tdt = torch.float64 if dtype == np.float64 else torch.float32
    tol = {} if dtype == np.float64 else dict(rtol=2e-4, atol=2e-5)
    ref, mine = _pair(cfg, seed, tdt)
    rng = np.random.default_rng(seed)
    x, y = _data(cfg, rng, batch, dtype)
    xt, yt = torch.tensor(x, requires_grad=True), torch.tensor(y)
    xm = xt.detach().clone().requires_grad_()
    a, b = ref(xt, yt), mine(xm, yt)
    assert type(b).__name__ == 'ASMoutput' and b._fields == ('output', 'loss')
    torch.testing.assert_close(b.output, a.output, **tol)
    torch.testing.assert_close(b.loss, a.loss, equal_nan=True, **tol)
    # NumPy path: the module on arrays, and lossbook.numpy with the parameters as arrays
    c = mine(x, y)
    assert isinstance(c.output, np.ndarray) and c.output.dtype == dtype and c.loss.dtype == dtype and c.loss.shape == ()
    torch.testing.assert_close(torch.from_numpy(np.asarray(c.output)), a.output.detach(), **tol)
    torch.testing.assert_close(torch.from_numpy(c.loss), a.loss.detach(), equal_nan=True, **tol)
    if batch == 0: return                          # loss nan: nothing to differentiate
    # gradients of input and every parameter for J = Σ g·output + gl·loss
    g = torch.tensor(rng.standard_normal(np.shape(y)).astype(dtype)); gl = float(rng.standard_normal())
    params_ref, params_mine = list(ref.parameters()), list(mine.parameters())
    ga = torch.autograd.grad((a.output * g).sum() + gl * a.loss, [xt] + params_ref, allow_unused=True)
    gb = torch.autograd.grad((b.output * g).sum() + gl * b.loss, [xm] + params_mine, allow_unused=True)
    for u, v, p in zip(ga, gb, [xt] + params_ref):
        assert (u is None) == (v is None)              # an unused cluster gets no gradient, in both
        if u is not None: torch.testing.assert_close(v, u, **tol)
    W = mine.weights(numpy=True)
    gn = lnp.adaptive_log_softmax_grad(x, y, **W, grad_output=g.numpy(), grad_loss=gl)
    flat = [gn.input, gn.head_weight] + ([gn.head_bias] if cfg['head_bias'] else []) + [w for pq in gn.tail_weights for w in pq]
    for u, v, p in zip(ga, flat, [xt] + params_ref):
        want = torch.zeros_like(p) if u is None else u
        assert v.dtype == dtype and v.shape == tuple(p.shape)
        torch.testing.assert_close(torch.from_numpy(v), want.detach(), **tol)
    # the default upstream gradient is that of the loss
    gdef = lnp.adaptive_log_softmax_grad(x, y, **W)
    (gx,) = torch.autograd.grad(ref(xt, yt).loss, [xt])
    torch.testing.assert_close(torch.from_numpy(gdef.input), gx, **tol)
    if batch is None: return
    # log_prob and predict
    torch.testing.assert_close(mine.log_prob(xm), ref.log_prob(xt), **tol)
    torch.testing.assert_close(torch.from_numpy(mine.log_prob(x)), ref.log_prob(xt).detach(), **tol)
    assert torch.equal(mine.predict(xt.detach()), ref.predict(xt.detach()))
    if dtype == np.float64:    # in float32, a near-tie may resolve differently after a different summation order
        assert np.array_equal(mine.predict(x), ref.predict(xt.detach()).numpy())


def test_namespaces_and_signatures():
    assert 'AdaptiveLogSoftmaxWithLoss' in lossbook.__all__
    for name in ('adaptive_log_softmax', 'adaptive_log_softmax_grad', 'adaptive_log_softmax_log_prob', 'adaptive_log_softmax_predict'):
        assert name in lnp.__all__ and getattr(lnp, name).__doc__
    for name in ('adaptive_log_softmax', 'adaptive_log_softmax_log_prob', 'adaptive_log_softmax_predict'):
        assert name in lt.__all__ and getattr(lt, name).__doc__
    ctor = lambda c: [(p.name, p.default) for p in inspect.signature(c.__init__).parameters.values()]
    assert ctor(lossbook.AdaptiveLogSoftmaxWithLoss) == ctor(torch.nn.AdaptiveLogSoftmaxWithLoss)
    assert [p.name for p in inspect.signature(lnp.adaptive_log_softmax).parameters.values()] == \
           [p.name for p in inspect.signature(lt.adaptive_log_softmax).parameters.values()]


def test_extremes():
    "Inputs of ±1e4 (logits far apart): finite log-probabilities and gradients, as torch's."
    for dt in (torch.float32, torch.float64):
        ref, mine = _pair(dict(in_features=4, n_classes=9, cutoffs=[2, 5], div_value=2.0, head_bias=True), 0, dt)
        x = torch.tensor([[1e4, -1e4, 0, 3], [-1e4, 1e4, 1e4, -2], [0, 0, 0, 0]], dtype=dt, requires_grad=True)
        y = torch.tensor([0, 4, 8])
        a, b = ref(x, y), mine(x, y)
        torch.testing.assert_close(b.output, a.output)
        (ga,) = torch.autograd.grad(a.loss, [x]); (gb,) = torch.autograd.grad(b.loss, [x])
        torch.testing.assert_close(gb, ga)
        W = mine.weights(numpy=True)
        torch.testing.assert_close(torch.from_numpy(lnp.adaptive_log_softmax(x.detach().numpy(), y.numpy(), **W).output), a.output.detach())
        torch.testing.assert_close(torch.from_numpy(lnp.adaptive_log_softmax_grad(x.detach().numpy(), y.numpy(), **W).input), ga)


def _raises_like_torch(ref_call, *calls):
    with pytest.raises(Exception) as ref:
        ref_call()
    for call in calls:
        with pytest.raises(type(ref.value)):
            call()


@pytest.mark.parametrize('cutoffs', [[], [3, 2], [0, 3], [3, 10], [3, 3], [2.5], [3, 12]])
def test_bad_cutoffs(cutoffs):
    _raises_like_torch(lambda: torch.nn.AdaptiveLogSoftmaxWithLoss(8, 10, cutoffs),
                       lambda: lossbook.AdaptiveLogSoftmaxWithLoss(8, 10, cutoffs),
                       lambda: lnp.adaptive_log_softmax(np.zeros((2, 8)), np.zeros(2, np.int64), np.zeros((4, 8)), [], cutoffs, 10),
                       lambda: lt.adaptive_log_softmax(torch.zeros(2, 8), torch.zeros(2, dtype=torch.long), torch.zeros(4, 8), [], cutoffs, 10))


BAD = {
    'target out of range': (np.zeros((3, 8)), np.array([0, 4, 10])),
    'negative target': (np.zeros((3, 8)), np.array([0, -1, 2])),
    'batch sizes differ': (np.zeros((3, 8)), np.array([0, 1])),
    '2-d target': (np.zeros((3, 8)), np.zeros((3, 1), np.int64)),
    '3-d input, 1-d target': (np.zeros((1, 3, 8)), np.array([0])),
    '2-d input, 0-d target': (np.zeros((3, 8)), np.array(1)),
    'features do not fit (head)': (np.zeros((3, 7)), np.array([0, 1, 2])),
    'features do not fit (tail)': (np.zeros((3, 7)), np.array([0, 7, 2])),
    'float target': (np.zeros((3, 8)), np.array([0., 1., 2.])),
    'uint8 target': (np.zeros((3, 8)), np.array([0, 1, 2], np.uint8)),
    'float32 input, float64 module': (np.zeros((3, 8), np.float32), np.array([0, 1, 2])),
}


@pytest.mark.parametrize('case', BAD, ids=list(BAD))
def test_bad_input(case):
    x, y = BAD[case]
    ref = torch.nn.AdaptiveLogSoftmaxWithLoss(8, 10, [3, 6], div_value=2.0).double()
    mine = lossbook.AdaptiveLogSoftmaxWithLoss(8, 10, [3, 6], div_value=2.0).double()
    W = mine.weights(numpy=True)
    _raises_like_torch(lambda: ref(torch.from_numpy(x), torch.from_numpy(y)),
                       lambda: mine(torch.from_numpy(x), torch.from_numpy(y)),
                       lambda: mine(x, y),
                       lambda: lnp.adaptive_log_softmax(x, y, **W),
                       lambda: lnp.adaptive_log_softmax_grad(x, y, **W))


def test_log_prob_and_predict_want_2d():
    ref = torch.nn.AdaptiveLogSoftmaxWithLoss(8, 10, [3, 6]).double()
    mine = lossbook.AdaptiveLogSoftmaxWithLoss(8, 10, [3, 6]).double()
    for meth in ('log_prob', 'predict'):
        x = torch.zeros(8, dtype=torch.float64)
        _raises_like_torch(lambda: getattr(ref, meth)(x), lambda: getattr(mine, meth)(x), lambda: getattr(mine, meth)(x.numpy()))
