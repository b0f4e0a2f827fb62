"""The harness takes every loss shape before the loss notebooks exist.

torch's own functions are registered as stand-ins for all 21 classic functional losses and `linear_cross_entropy`, under
test-only names (`standin_<name>`, never exported), each with a test spec drawn from `lossbook.testing`'s samplers.
`check_parity`, `check_raises`, the samplers and the Hypothesis draws run over them: every shape the families need
(class dimensions, index and probability targets, class weights, `ignore_index`, two and three differentiable inputs
beside labels, a callable option, `var` of fewer dimensions and as a float, `'batchmean'`, CTC lengths as tensors and as
tuples, keyword-only arguments) must pass — and an injected error (a wrong value, a wrong gradient of either
implementation, a missing error, the wrong exception class) must be caught.
"""
import dataclasses
import inspect

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings

from lossbook.core import REDUCTIONS, REGISTRY, Criterion, register
from lossbook.testing import (SPECS, Draw, Namespaced, Spec, add_spec, cases, check_parity, check_raises, class_weight,
                              input_shaped_weight, n_classes, pointwise_invalid, sample_classes, sample_counts,
                              sample_ctc, sample_gaussian, sample_linear_ce, sample_log_probs, sample_logits,
                              sample_multi_class, sample_multilabel, sample_pairs, sample_pointwise,
                              sample_probabilities, sample_ranking, sample_signs, sample_triplets, spec)

R = REDUCTIONS
IO = {'input': 'input', 'target': 'target'}


def _np_to_t(v, grad=False):
    if isinstance(v, (np.ndarray, np.generic)):
        t = torch.from_numpy(np.array(v))
        return t.requires_grad_() if grad and t.is_floating_point() else t
    return getattr(v, 'torch_form', v)     # a NumPy distance function carries its torch twin


def _standin(name, args):
    "numpy / numpy_grad / torch implementations that are torch's own function, reached through the harness's conventions."
    ref = getattr(F, name)
    params = list(inspect.signature(ref).parameters)
    grad_args = [k for k, r in args.items() if r == 'input']

    def np_fn(*a, **k):
        return ref(*[_np_to_t(x) for x in a], **{kk: _np_to_t(v) for kk, v in k.items()}).detach().numpy()

    def np_grad(*a, grad_output=None, **k):
        named = {**dict(zip(params, a)), **k}
        t = {kk: _np_to_t(v, args.get(kk) == 'input') for kk, v in named.items()}
        pos = [t.pop(p) for p in params[:len(a)]]
        out = ref(*pos, **t)
        t.update(zip(params, pos))
        ins = [kk for kk in grad_args if torch.is_tensor(t.get(kk)) and t[kk].requires_grad]
        g = torch.ones_like(out) if grad_output is None else torch.from_numpy(np.asarray(grad_output))
        gs = dict(zip(ins, torch.autograd.grad(out, [t[kk] for kk in ins], g, allow_unused=True)))
        res = tuple(None if gs.get(kk) is None else gs[kk].numpy() for kk in grad_args)
        while len(res) > 1 and res[-1] is None and grad_args[len(res) - 1] not in named: res = res[:-1]
        return res[0] if len(res) == 1 else res

    def torch_fn(*a, **k):
        return ref(*a, **k)
    return np_fn, np_grad, torch_fn


def _criterion(name, torch_name):
    if torch_name is None: return None
    def __init__(self, **kw): Criterion.__init__(self, **kw)
    return type(torch_name, (Criterion,), {'functional': f'standin_{name}', '__init__': __init__})


# ---- option generators for the shapes of the coming families
last_dim_weight = Draw(lambda rng, a: rng.uniform(0.1, 3.0, np.shape(a['input'])[-1:]), 'last-dim weight')
linear_bias = Draw(lambda rng, a: rng.standard_normal(np.shape(a['linear_weight'])[0]), 'linear bias')


def _cos_np(x1, x2):
    n = np.maximum(np.linalg.norm(x1, axis=-1) * np.linalg.norm(x2, axis=-1), 1e-8)
    return 1 - (x1 * x2).sum(-1) / n
_cos_np.torch_form = lambda x1, x2: 1 - F.cosine_similarity(x1, x2, dim=-1)
cosine_distance = Namespaced(_cos_np, _cos_np.torch_form, 'cosine distance')

C_OK = lambda s: n_classes(s) >= 1 if len(s) else False
LAST_OK = lambda s: len(s) >= 1 and s[-1] >= 1


def _pointwise_bad(has_weight):
    "The pointwise bad inputs, less the list / None targets: torch's AttributeError there is what lossbook turns into a TypeError."
    return lambda: [c for c in pointwise_invalid(has_weight)() if isinstance(c[1][1], np.ndarray)]


def _bad(*cases):
    return lambda: list(cases)


x23, y23 = np.zeros((2, 3)), np.ones((2, 3))
STANDINS = {
    # name: (roles, criterion, spec kwargs, registration kwargs)
    'l1_loss': ({**IO, 'weight': 'weight'}, 'L1Loss', dict(sample=sample_pointwise, grid={'reduction': R, 'weight': (None, input_shaped_weight)},
                invalid=_pointwise_bad(True), extremes=True), {}),
    'mse_loss': ({**IO, 'weight': 'weight'}, 'MSELoss', dict(sample=sample_pointwise, grid={'reduction': R, 'weight': (None, input_shaped_weight)},
                 invalid=_pointwise_bad(True), extremes=True), {}),
    'smooth_l1_loss': (IO, 'SmoothL1Loss', dict(sample=sample_pointwise, grid={'reduction': R, 'beta': (0.0, 0.5)},
                       invalid=_pointwise_bad(False)), {}),
    'huber_loss': ({**IO, 'weight': 'weight'}, 'HuberLoss', dict(sample=sample_pointwise, grid={'reduction': R, 'delta': (0.5, 2.0)},
                   invalid=_pointwise_bad(True)), {}),
    'cross_entropy': ({**IO, 'weight': 'const'}, 'CrossEntropyLoss', dict(
        sample=sample_classes, ndims=(1, 4), shape_ok=C_OK, variants={'target': ('index', 'probs')},
        valid=lambda c: not (c.get('target') == 'probs' and c.get('ignore_index') != -100),   # torch: not for probabilities
        grid={'reduction': R, 'weight': (None, class_weight), 'ignore_index': (-100, 1), 'label_smoothing': (0.0, 0.2)},
        invalid=_bad(("class index out of range", (x23, np.array([0, 3])), {}),
                     ("negative class index", (x23, np.array([0, -2])), {}),
                     ("weight of the wrong length", (x23, np.array([0, 1])), {'weight': np.ones(4)}),
                     ("a probability target of the wrong shape", (x23, np.ones((2, 4)) / 4), {}),
                     ("batch sizes that disagree", (x23, np.array([0, 1, 2])), {}),
                     ("label_smoothing above 1", (x23, np.array([0, 1])), {'label_smoothing': 1.5}))), {'broadcast': 'none'}),
    'nll_loss': ({'input': 'input', 'target': 'label', 'weight': 'const'}, 'NLLLoss', dict(
        sample=sample_classes, ndims=(1, 4), shape_ok=C_OK,
        grid={'reduction': R, 'weight': (None, class_weight), 'ignore_index': (-100, 0)},
        invalid=_bad(("class index out of range", (x23, np.array([0, 3])), {}),
                     ("a float target", (x23, np.array([0., 1.])), {}),
                     ("a 0-d input", (np.zeros(()), np.array(0)), {}))), {'broadcast': 'none'}),
    'binary_cross_entropy': ({**IO, 'weight': 'const'}, 'BCELoss', dict(
        sample=sample_probabilities, grid={'reduction': R, 'weight': (None, input_shaped_weight)},
        invalid=_bad(("a target of another shape", (np.full((2, 1), .5), np.full(2, .5)), {}),
                     ("an input above 1", (np.array([1.5]), np.array([1.])), {}))), {'broadcast': 'exact'}),
    'binary_cross_entropy_with_logits': ({**IO, 'weight': 'const', 'pos_weight': 'const'}, 'BCEWithLogitsLoss', dict(
        sample=sample_logits, ndims=(1, 3), shape_ok=LAST_OK,
        grid={'reduction': R, 'weight': (None, input_shaped_weight), 'pos_weight': (None, last_dim_weight)},
        invalid=_bad(("a target of another shape", (np.zeros((2, 1)), np.zeros(2)), {}),)), {'broadcast': 'exact'}),
    'kl_div': (IO, 'KLDivLoss', dict(sample=sample_log_probs, grid={'reduction': R + ('batchmean',), 'log_target': (False, True)},
               invalid=_bad(("unknown reduction", (x23, y23), {'reduction': 'avg'}),)),
               {'reductions': R + ('batchmean',), 'broadcast': 'silent'}),
    'poisson_nll_loss': (IO, 'PoissonNLLLoss', dict(sample=sample_counts, grid={'reduction': R, 'log_input': (True, False), 'full': (False, True)},
                         invalid=_bad(("unknown reduction", (x23, y23), {'reduction': 'avg'}),)), {'broadcast': 'silent'}),
    'gaussian_nll_loss': ({'input': 'input', 'target': 'target', 'var': 'input'}, 'GaussianNLLLoss', dict(
        sample=sample_gaussian, ndims=(2, 3), variants={'var': ('full', 'last1', 'dropped', 'float')},
        grid={'reduction': R, 'full': (False, True)},
        invalid=_bad(("a negative var", (x23, y23, -np.ones((2, 3))), {}),
                     ("var of a shape that does not fit", (x23, y23, np.ones((3,))), {}))), {'broadcast': 'silent'}),
    'margin_ranking_loss': ({'input1': 'input', 'input2': 'input', 'target': 'target'}, 'MarginRankingLoss', dict(
        sample=sample_ranking, ndims=(0, 1), grid={'reduction': R, 'margin': (0.0, 0.5)},
        invalid=_bad(("inputs of different sizes", (np.zeros(2), np.zeros(3), np.ones(2)), {}),)), {'broadcast': 'none'}),
    'hinge_embedding_loss': ({'input': 'input', 'target': 'label'}, 'HingeEmbeddingLoss', dict(
        sample=sample_signs, grid={'reduction': R, 'margin': (1.0, 0.5)},
        invalid=_bad(("unknown reduction", (x23, y23), {'reduction': 'avg'}),)), {'broadcast': 'silent'}),
    'multilabel_margin_loss': ({'input': 'input', 'target': 'label'}, 'MultiLabelMarginLoss', dict(
        sample=sample_multilabel, ndims=(1, 2), shape_ok=LAST_OK, grid={'reduction': R},
        invalid=_bad(("a target of another shape", (x23, np.zeros((2, 2), np.int64)), {}),)), {'broadcast': 'none'}),
    'soft_margin_loss': ({'input': 'input', 'target': 'label'}, 'SoftMarginLoss', dict(
        sample=sample_signs, grid={'reduction': R},
        invalid=_bad(("unknown reduction", (x23, y23), {'reduction': 'avg'}),)), {'broadcast': 'silent'}),
    'multilabel_soft_margin_loss': ({**IO, 'weight': 'weight'}, 'MultiLabelSoftMarginLoss', dict(
        sample=sample_logits, ndims=(2, 2), shape_ok=LAST_OK, grid={'reduction': R, 'weight': (None, last_dim_weight)},
        invalid=_bad(("unknown reduction", (x23, y23), {'reduction': 'avg'}),)), {'broadcast': 'none'}),
    'cosine_embedding_loss': ({'input1': 'input', 'input2': 'input', 'target': 'label'}, 'CosineEmbeddingLoss', dict(
        sample=sample_pairs, ndims=(1, 2), shape_ok=LAST_OK, grid={'reduction': R, 'margin': (0.0, 0.5)},
        invalid=_bad(("inputs of different sizes", (x23, np.zeros((2, 4)), np.ones(2)), {}),)), {'broadcast': 'none'}),
    'multi_margin_loss': ({'input': 'input', 'target': 'label', 'weight': 'const'}, 'MultiMarginLoss', dict(
        sample=sample_multi_class, ndims=(1, 2), shape_ok=LAST_OK,
        grid={'reduction': R, 'p': (1, 2), 'margin': (1.0, 0.5), 'weight': (None, last_dim_weight)},
        invalid=_bad(("p = 3", (x23, np.array([0, 1])), {'p': 3}),
                     ("class index out of range", (x23, np.array([0, 5])), {}))), {'broadcast': 'none'}),
    'triplet_margin_loss': ({'anchor': 'input', 'positive': 'input', 'negative': 'input'}, 'TripletMarginLoss', dict(
        sample=sample_triplets, ndims=(1, 2), shape_ok=LAST_OK,
        grid={'reduction': R, 'margin': (1.0, 0.5), 'p': (2.0, 1.0), 'swap': (False, True)},
        invalid=_bad(("inputs of different dimensions", (x23, x23, np.zeros(3)), {}),)), {'broadcast': 'none'}),
    'triplet_margin_with_distance_loss': ({'anchor': 'input', 'positive': 'input', 'negative': 'input'}, 'TripletMarginWithDistanceLoss', dict(
        sample=sample_triplets, ndims=(1, 2), shape_ok=LAST_OK,
        grid={'reduction': R, 'distance_function': (None, cosine_distance), 'margin': (1.0, 0.5), 'swap': (False, True)},
        invalid=_bad(("a negative margin", (x23, x23, x23), {'margin': -1.0}),)), {'broadcast': 'none'}),
    'ctc_loss': ({'log_probs': 'input', 'targets': 'label', 'input_lengths': 'lengths', 'target_lengths': 'lengths'}, 'CTCLoss', dict(
        sample=sample_ctc, ndims=(2, 3), shape_ok=lambda s: s[0] >= 1 and s[-1] >= 3 and (len(s) == 2 or s[1] >= 1),
        variants={'lengths': ('tensor', 'tuple'), 'targets': ('padded', 'concatenated')},
        grid={'reduction': R, 'blank': (0, 2), 'zero_infinity': (False, True)},
        invalid=_bad(("blank out of range", (np.log(np.full((4, 1, 3), 1 / 3)), np.array([[1]]), np.array([4]), np.array([1])), {'blank': 3}),)),
        {'broadcast': 'none'}),
    'linear_cross_entropy': ({'input': 'input', 'linear_weight': 'input', 'target': 'label', 'linear_bias': 'input', 'weight': 'const'}, None, dict(
        sample=sample_linear_ce, ndims=(3, 3), shape_ok=lambda s: s[2] >= 1,
        grid={'reduction': R, 'linear_bias': (None, linear_bias), 'label_smoothing': (0.0, 0.1)},
        invalid=_bad(("class index out of range", (np.zeros((2, 3)), np.zeros((4, 3)), np.array([0, 4])), {}),)), {'broadcast': 'none'}),
}
NAMES = [f'standin_{n}' for n in STANDINS]


@pytest.fixture(scope='module', autouse=True)
def standins():
    "Register every stand-in (and its spec) for this module's tests; remove them afterwards."
    for name, (roles, crit, spec_kw, reg_kw) in STANDINS.items():
        np_fn, np_grad, torch_fn = _standin(name, roles)
        register(name=f'standin_{name}', reference=name, criterion=_criterion(name, crit), family='test', zh='替身',
                 numpy=np_fn, numpy_grad=np_grad, torch=torch_fn, args=roles, **reg_kw)
        add_spec(Spec(f'standin_{name}', **spec_kw))
    yield
    for n in NAMES:
        REGISTRY.pop(n, None); SPECS.pop(n, None)


def test_every_functional_loss_has_a_stand_in():
    "All 21 classic functional losses and linear_cross_entropy: the harness is tested on every shape torch has."
    want = {n for n in dir(F) if n.endswith('_loss')} | {'cross_entropy', 'binary_cross_entropy',
                                                         'binary_cross_entropy_with_logits', 'kl_div', 'linear_cross_entropy'}
    assert want == set(STANDINS), want ^ set(STANDINS)


@pytest.mark.parametrize('name', NAMES)
def test_stand_in_parity_over_the_grid(name):
    "check_parity over the whole grid (every valid option combination, every variant) on a typical shape."
    sp = spec(name)
    shapes = {1: (5,), 2: (4, 3), 3: (6, 2, 4), 4: (3, 4, 2, 2)}
    shape = {'standin_ctc_loss': (8, 2, 4), 'standin_linear_cross_entropy': (5, 3, 4)}.get(name, shapes[max(sp.ndims[0], min(2, sp.ndims[1]))])
    for i, var in enumerate(sp.all_variants()):
        rng = np.random.default_rng(i)
        for combo in sp.combos(variants=var):
            args, kw = sp.sample(rng, shape, 1.0, {**combo, **var})
            check_parity(name, args, kw, grid={k: [v] for k, v in combo.items()}, seed=i, quiet=True)


@pytest.mark.parametrize('name', NAMES)
def test_stand_in_bad_inputs(name):
    for label, args, kwargs in spec(name).invalid():
        check_raises(name, args, kwargs)


@settings(max_examples=int(__import__('os').environ.get('LOSSBOOK_EXAMPLES', 200)))
@given(cases(NAMES))
def test_stand_in_hypothesis(case):
    "The Hypothesis strategy draws every stand-in's shapes, options and variants, and check_parity holds on each draw."
    args, kwargs = case.sample()
    check_parity(case.info, args, kwargs, grid={}, seed=case.seed, quiet=True, spec_=case.spec)


# ---- the harness catches injected errors, for every shape

def _case(name):
    sp = spec(name)
    shape = {'standin_ctc_loss': (8, 2, 4), 'standin_linear_cross_entropy': (5, 3, 4)}.get(name, (4, 3) if sp.ndims[1] >= 2 else (5,))
    combo = {k: v[0] for k, v in sp.grid.items()}
    return sp.sample(np.random.default_rng(0), shape, 1.0, combo) + ({k: [v] for k, v in combo.items()},)


@pytest.mark.parametrize('name', NAMES)
def test_wrong_value_is_caught(name):
    info = REGISTRY[name]
    args, kw, grid = _case(name)
    bad = dataclasses.replace(info, numpy=lambda *a, **k: info.numpy(*a, **k) * 1.001 + 1e-3)
    with pytest.raises(AssertionError, match='lossbook.numpy value'):
        check_parity(bad, args, kw, grid=grid, quiet=True, spec_=spec(name))
    bad = dataclasses.replace(info, torch=lambda *a, **k: info.torch(*a, **k) * 1.001 + 1e-3)
    with pytest.raises(AssertionError, match='lossbook.torch value'):
        check_parity(bad, args, kw, grid=grid, quiet=True, spec_=spec(name))


@pytest.mark.parametrize('name', NAMES)
def test_wrong_gradient_is_caught(name):
    info = REGISTRY[name]
    args, kw, grid = _case(name)
    def scaled(*a, **k):
        g = info.numpy_grad(*a, **k)
        return tuple(None if x is None else 1.01 * x + 1e-3 for x in g) if isinstance(g, tuple) else 1.01 * g + 1e-3
    with pytest.raises(AssertionError, match='lossbook.numpy gradient'):
        check_parity(dataclasses.replace(info, numpy_grad=scaled), args, kw, grid=grid, quiet=True, spec_=spec(name))
    first = info.grad_args[0]
    def wrong_backward(*a, **k):
        out = info.torch(*a, **k)
        x = dict(zip(inspect.signature(info.reference_fn).parameters, a))[first]
        return out + 0.01 * (x - x.detach()).sum()      # same value, a different gradient
    with pytest.raises(AssertionError, match=f"lossbook.torch gradient of '{first}'"):
        check_parity(dataclasses.replace(info, torch=wrong_backward), args, kw, grid=grid, quiet=True, spec_=spec(name))


@pytest.mark.parametrize('name', NAMES)
def test_missing_error_and_wrong_class_are_caught(name):
    info = REGISTRY[name]
    label, args, kwargs = spec(name).invalid()[0]
    def swallow(*a, **k):
        try: return info.numpy(*a, **k)
        except Exception: return np.zeros(())
    with pytest.raises(AssertionError, match='accepts what torch rejects'):
        check_raises(dataclasses.replace(info, numpy=swallow), args, kwargs)
    class Unrelated(Exception): pass
    def wrong_class(*a, **k): raise Unrelated('no')
    with pytest.raises(AssertionError, match='raised Unrelated'):
        check_raises(dataclasses.replace(info, torch=wrong_class), args, kwargs)


def test_plot_helpers_take_any_shape():
    "loss_curve for a loss whose output is per row and whose gradient is not input-shaped: cross-entropy against the logit margin."
    from lossbook.core import loss_curve, plot_loss
    m = np.linspace(-4, 4, 9)
    make = lambda m: (np.stack([m, np.zeros_like(m)], 1), np.zeros(len(m), np.int64))   # logits (m, 0), class 0
    y, dy = loss_curve('standin_cross_entropy', m, make_args=make, element=lambda out, g: (out, g[:, 0]))
    np.testing.assert_allclose(y, np.log1p(np.exp(-m)))           # softplus(−m)
    np.testing.assert_allclose(dy, -1 / (1 + np.exp(m)))           # σ(m) − 1
    y1, d2 = loss_curve('standin_margin_ranking_loss', m, make_args=lambda m: (m, np.zeros_like(m), np.ones_like(m)), wrt='input2')
    np.testing.assert_allclose(d2, (m <= 0).astype(float))         # ∂/∂input2 of max(0, −(x1 − x2)): torch's clamp passes 1 at 0
    fig = plot_loss(m, {'ce': (y, dy)}, xlabel='logit margin')
    assert fig.axes[0].get_xlabel() == 'logit margin'
    import matplotlib.pyplot as plt; plt.close(fig)
