"""A loss that torch.nn does not have registers like any other and runs the standard parity suite against its own
reference: here the pinball (quantile) loss, with a reference written in this file (no torch loss behind it), a NumPy
forward and analytic gradient, a torch version and a criterion. This is the path the "Beyond torch.nn" chapters take
(focal, Dice, InfoNCE, … checked against torchvision, MONAI, pytorch-metric-learning)."""
import numpy as np
import pytest
import torch
from hypothesis import given, settings

from lossbook.core import (REGISTRY, Criterion, pointwise_args, reduce_loss, reduce_grad, register, check_option, scalar,
                           NP, TORCH, losses)
from lossbook.testing import Spec, add_spec, check_parity, check_raises, sample_pointwise, cases, spec, parity_suite
from lossbook import testing as T

NAME = 'test_pinball_loss'


def pinball_reference(input, target, alpha=0.5, reduction='mean'):
    "The reference, as a practitioner writes it (sklearn's mean_pinball_loss, elementwise): α·d for d ≥ 0, (α − 1)·d below, d = y − x."
    if not 0 <= alpha <= 1: raise ValueError(f"alpha must be in [0, 1], got {alpha}")
    if reduction not in ('none', 'mean', 'sum'): raise ValueError(f"{reduction} is not a valid value for reduction")
    d = target - input
    loss = torch.maximum(alpha * d, (alpha - 1) * d)
    return loss if reduction == 'none' else loss.mean() if reduction == 'mean' else loss.sum()


def _args(fn, xp, input, target, alpha, reduction):
    a = scalar(fn, 'alpha', alpha)
    check_option(fn, 'alpha', a, 0 <= a <= 1, 'in [0, 1]', 'alpha must be in [0, 1]')
    return pointwise_args(fn, xp, input, target, reduction=reduction, broadcast='silent'), a


def pinball_loss(input, target, alpha=0.5, reduction='mean'):
    p, a = _args('pinball_loss', NP, input, target, alpha, reduction)
    d = p.target - p.input
    return reduce_loss(np.maximum(a * d, (a - 1) * d), p.reduction, dtype=p.dtype)


def pinball_loss_grad(input, target, alpha=0.5, reduction='mean', grad_output=None):
    p, a = _args('pinball_loss_grad', NP, input, target, alpha, reduction)
    d = p.target - p.input
    g = reduce_grad('pinball_loss_grad', grad_output, d.shape, d.dtype, p.reduction)
    dl_dx = np.where(a * d >= (a - 1) * d, -a, 1 - a)            # ∂/∂x of max(α·d, (α − 1)·d), torch.maximum's tie rule below
    dl_dx = np.where(a * d == (a - 1) * d, 0.5 * (-a + (1 - a)), dl_dx)   # torch.maximum splits the gradient at a tie
    return (g * dl_dx).astype(np.asarray(input).dtype, copy=False)


def pinball_loss_torch(input, target, alpha=0.5, reduction='mean'):
    p, a = _args('pinball_loss', TORCH, input, target, alpha, reduction)
    d = p.target - p.input
    return reduce_loss(torch.maximum(a * d, (a - 1) * d), p.reduction, dtype=p.dtype)


class PinballLoss(Criterion):
    "The quantile loss as a criterion."
    def __init__(self, alpha=0.5, reduction='mean'):
        super().__init__(alpha=alpha, reduction=reduction)


@pytest.fixture(scope='module', autouse=True)
def pinball():
    info = register(name=NAME, criterion=PinballLoss, family='test', zh='分位数损失', numpy=pinball_loss,
                    numpy_grad=pinball_loss_grad, torch=pinball_loss_torch, broadcast='silent',
                    reference=pinball_reference, reference_package='tests/test_reference.py')
    add_spec(Spec(NAME, sample_pointwise, grid={'reduction': ('none', 'mean', 'sum'), 'alpha': (0.1, 0.5, 0.9)},
                  invalid=lambda: [("alpha above 1", (np.zeros(3), np.ones(3)), {'alpha': 1.5}),
                                   ("unknown reduction", (np.zeros(3), np.ones(3)), {'reduction': 'avg'})]))
    yield info
    REGISTRY.pop(NAME, None); T.SPECS.pop(NAME, None)


def test_registered_with_its_own_reference(pinball):
    assert pinball.reference_fn is pinball_reference and pinball.reference_criterion is None
    assert pinball.reference_name.endswith('pinball_reference')
    assert pinball.data_args == ('input', 'target')
    assert pinball in losses('test')
    assert PinballLoss.functional == NAME and PinballLoss()(np.zeros(2), np.ones(2)) == 0.5


def test_standard_parity_suite():
    "parity_suite: values, dtypes, warnings, NumPy VJP and autograd against the reference over the spec's whole grid, on 0-d,\n    1-d, 2-d, 4-d and empty inputs in float64 and float32; the bad inputs; the compiled function."
    n = parity_suite(NAME, quiet=True)
    assert n == {'shapes': 5, 'option sets': 90, 'bad inputs': 2, 'compiled': 1}, n
    check_parity(NAME, (np.zeros(4), np.zeros(4)), quiet=True)   # every residual a tie


def test_half_of_l1_at_the_median():
    "The identity the chapter asserts: at α = ½ the pinball loss is half the L1 loss."
    x, y = np.random.default_rng(1).standard_normal((2, 7))
    np.testing.assert_allclose(pinball_loss(x, y, 0.5), 0.5 * REGISTRY['l1_loss'].numpy(x, y))


@settings(max_examples=40)
@given(cases(names=[NAME]))
def test_property_tests_draw_it(case):
    args, kwargs = case.sample()
    check_parity(NAME, args, kwargs, grid={}, quiet=True)
