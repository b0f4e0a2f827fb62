"""The public API contract of ../shared/ANATOMY.md: names, signatures, namespaces, criteria, no torch loss inside."""
import ast
import inspect
import itertools
import re
import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F

import lossbook
import lossbook.numpy
import lossbook.torch
from lossbook.core import losses
from lossbook.testing import spec

ROOT = Path(__file__).resolve().parent.parent
INFOS = losses()
IDS = [i.name for i in INFOS]


def _params(fn):
    return [(p.name, p.default, p.kind) for p in inspect.signature(fn).parameters.values()]


def beyond(info):
    "A loss torch.nn lacks (focal, Dice, …): checked against the library people take it from, not torch.nn.functional."
    return info.reference_package != 'torch'


def _reference(info):
    "torch.nn.functional.<name> for torch's losses; for a loss beyond torch.nn, its registered reference (torchvision's, …)."
    if beyond(info):
        assert not hasattr(F, info.name), f"{info.name} is in torch.nn.functional: register it against torch's"
        return info.reference_fn
    return getattr(F, info.name)


@pytest.mark.parametrize('info', INFOS, ids=IDS)
def test_namespaces(info):
    assert getattr(lossbook.numpy, info.name) is info.numpy
    assert getattr(lossbook.numpy, info.name + '_grad') is info.numpy_grad
    assert getattr(lossbook.torch, info.name) is info.torch
    assert getattr(lossbook, info.criterion.__name__) is info.criterion
    for ns in (lossbook.numpy, lossbook.torch):
        assert info.name in ns.__all__
    assert info.criterion.__name__ in lossbook.__all__


@pytest.mark.parametrize('info', INFOS, ids=IDS)
def test_signatures_match_torch(info):
    """Same argument names, order, kinds and defaults as torch.nn.functional — the legacy size_average / reduce included
    (beyond torch.nn: as the reference's function; a criterion without a reference class takes that function's options)."""
    want = _params(_reference(info))
    assert _params(info.numpy) == want
    assert _params(info.torch) == want
    grad = _params(info.numpy_grad)
    assert grad[:-1] == want and grad[-1][:2] == ('grad_output', None)
    if info.reference_criterion is None:   # torchvision has no FocalLoss class: lossbook's takes the function's options
        assert beyond(info), info.name
        ctor = [(n, d) for n, d, k in want if info.role(n) in ('option', 'weight')]   # class weights too, as torch's criteria
    else:
        ctor = [(n, d) for n, d, k in _params(info.reference_criterion.__init__) if n != 'self']
    got = [(n, d) for n, d, k in _params(info.criterion.__init__) if n != 'self']
    if info.reference_criterion is None:   # a criterion that holds parameters (pml's ArcFaceLoss: W) takes their sizes first
        got = got[len(_sizes(info.criterion)):]
    assert got == ctor


def _sizes(criterion) -> list:
    "The leading required constructor arguments of a criterion that holds parameters (num_classes, embedding_size): [] for the rest."
    params = [p for n, p in inspect.signature(criterion.__init__).parameters.items() if n != 'self']
    return [p.name for p in itertools.takewhile(lambda p: p.default is p.empty and p.kind == p.POSITIONAL_OR_KEYWORD, params)]


@pytest.mark.parametrize('info', INFOS, ids=IDS)
def test_docstrings(info):
    for fn in (info.numpy, info.numpy_grad, info.torch, info.criterion):
        assert fn.__doc__ and fn.__doc__.strip(), fn


@pytest.mark.parametrize('info', INFOS, ids=IDS)
def test_device_and_dtype_kept(info):
    args, kw = spec(info.name).sample(np.random.default_rng(0), (3, 4), 1.0, {})
    for dt in (torch.float32, torch.float64):
        # class indices stay integers; a third array (gaussian_nll_loss's var) takes the dtype too
        targs = [(torch.from_numpy(a).to(dt) if a.dtype.kind == 'f' else torch.from_numpy(a)) if isinstance(a, np.ndarray) else a
                 for a in args]
        out = info.torch(*targs, **kw)
        assert out.dtype == dt and out.device == torch.device('cpu')


def _dotted(node):
    parts = []
    while isinstance(node, ast.Attribute): parts.append(node.attr); node = node.value
    if isinstance(node, ast.Name): parts.append(node.id)
    return '.'.join(reversed(parts))


TORCH_LOSSES = {n for n in dir(F) if n.endswith('_loss') or n in ('cross_entropy', 'binary_cross_entropy',
                                                                    'binary_cross_entropy_with_logits', 'kl_div')}


def test_no_torch_loss_in_from_scratch_code():
    "The loss modules are written from primitives: no call of a torch loss, no torch._C, no nn.*Loss."
    hits = []
    for p in [*(ROOT / 'lossbook' / 'losses').glob('*.py'), ROOT / 'lossbook' / 'torch.py']:
        for node in ast.walk(ast.parse(p.read_text())):
            name = _dotted(node.func) if isinstance(node, ast.Call) else _dotted(node) if isinstance(node, ast.Attribute) else ''
            last = name.rsplit('.', 1)[-1]
            if ('_C' in name.split('.') or (last in TORCH_LOSSES and name != last) or name.endswith('ctc_loss')
                    or (re.fullmatch(r'\w*Loss', last) and name.startswith(('nn.', 'torch.nn.')))):
                hits.append(f'{p.name}:{node.lineno}: {name}')
    assert not hits, hits


def test_criterion_is_a_module_and_dispatches():
    crit = lossbook.L1Loss(reduction='sum')
    assert isinstance(crit, torch.nn.Module) and repr(crit) == repr(torch.nn.L1Loss(reduction='sum')) == 'L1Loss()'
    x, y = np.array([1., -2.]), np.array([0., 0.])
    assert isinstance(crit(x, y), np.ndarray)
    assert isinstance(crit(torch.from_numpy(x), torch.from_numpy(y)), torch.Tensor)
    crit.reduction = 'none'                      # options are live attributes, as in torch
    assert crit(x, y).shape == (2,)
    with pytest.raises(TypeError, match='not a mix'):
        crit(x, torch.from_numpy(y))


def test_every_loss_notebook_is_registered():
    "A loss notebook whose module lossbook/__init__ does not import would be missed by every registry-driven test."
    notebooks = sorted(p.name for p in (ROOT / 'nbs').glob('*.ipynb') if re.match(r'[1-46]\d_', p.name))   # 60s: beyond torch.nn
    assert notebooks == sorted({i.notebook for i in INFOS} | set(MODULES))   # one notebook may register a family (61: GIoU, DIoU, CIoU)
    for nb, name in MODULES.items():   # not in the registry (no torch.nn.functional twin): exported, and tested on its own
        assert name in lossbook.__all__ and (ROOT / 'tests' / 'test_adaptive.py').exists()


# Loss notebooks whose subject is a torch.nn module with parameters and no torch.nn.functional form: the registry (whose
# tests call F.<name>) does not list them; tests/test_adaptive.py checks them against the torch module.
MODULES = {'28_adaptive_log_softmax.ipynb': 'AdaptiveLogSoftmaxWithLoss'}


@pytest.mark.parametrize('info', INFOS, ids=IDS)
def test_every_loss_has_a_spec_and_roles(info):
    sp = spec(info.name)
    if info.reductions:   # (a loss with no option at all, timm's soft-target CE, has an empty grid)
        assert 'reduction' in sp.grid and set(sp.grid['reduction']) <= set(info.reductions)
    else:   # no reduction argument (the Lovász losses, timm's soft-target and JSD losses: one scalar, their own mean)
        assert 'reduction' not in sp.grid and 'reduction' not in inspect.signature(info.numpy).parameters, info.name
        assert 'reduction' not in inspect.signature(info.torch).parameters, info.name
    assert sp.invalid(), info.name
    params = inspect.signature(info.reference_fn).parameters
    assert set(info.args) <= set(params), set(info.args) - set(params)
    assert info.grad_args and all(info.role(a) == 'input' for a in info.grad_args)


def test_import_carries_no_test_fixtures():
    "`import lossbook` loads neither the harness, the specs, hypothesis nor a reference package (torchvision); it has a docstring."
    code = ('import sys, lossbook; bad = sorted(m for m in sys.modules if m.startswith(("lossbook.testing", "lossbook.specs", '
            '"hypothesis", "fastcore", "torchvision", "_lossbook_ext"))); assert not bad, bad; assert lossbook.__doc__')
    subprocess.run([sys.executable, '-c', code], check=True)


def test_criterion_keywords_legacy_and_namespaces():
    x, y = np.array([1., 3.]), np.zeros(2)
    tx, ty = torch.from_numpy(x), torch.from_numpy(y)
    assert float(lossbook.MSELoss()(input=x, target=y)) == float(torch.nn.MSELoss()(input=tx, target=ty))
    assert float(lossbook.MSELoss()(x, target=y)) == 5.0
    with pytest.warns(UserWarning, match="size_average and reduce args will be deprecated"):
        crit = lossbook.MSELoss('sum')                 # 'sum' is size_average: torch maps it to 'mean'
    assert crit.reduction == 'mean' and float(crit(x, y)) == 5.0
    with pytest.raises(TypeError, match="unexpected keyword argument 'inputs'"):
        lossbook.MSELoss()(inputs=x, target=y)
    with pytest.raises(TypeError, match="missing 1 required positional argument: 'target'"):
        lossbook.MSELoss()(x)
    # forward has torch's own signature: help() shows it, and torch's argument names work
    for info in lossbook.losses():
        ref = info.reference_criterion
        if ref is None or info.criterion is lossbook.LinearCrossEntropyLoss: continue
        assert list(inspect.signature(info.criterion.forward).parameters) == list(inspect.signature(ref.forward).parameters), info.name
    assert float(lossbook.PoissonNLLLoss()(log_input=torch.zeros(2), target=torch.ones(2))) == 1.0
    # an array option follows the namespace of the first array argument
    w = np.array([1., 3.])
    class _W(lossbook.L1Loss):                   # its forward and functions come with the class, not from a name
        __init__ = lossbook.core.Criterion.__init__
    assert float(_W(reduction='mean', weight=torch.tensor(w))(x, y)) == float(F.l1_loss(tx, ty, weight=torch.tensor(w)))
    assert float(_W(reduction='mean', weight=w)(tx, ty)) == float(F.l1_loss(tx, ty, weight=torch.tensor(w)))


@pytest.mark.parametrize('info', INFOS, ids=IDS)
def test_criterion_scripts_and_compiles(info):
    "torch.jit.script(criterion) runs (its dispatch is jit-ignored); torch.compile(fullgraph=True) traces it without a graph break."
    args, kw = spec(info.name).sample(np.random.default_rng(0), (4, 3), 1.0, {})
    t = [torch.from_numpy(a) if isinstance(a, np.ndarray) else a for a in args]   # (input, target) or (input, target, var)
    ct = t
    if 'linear_weight' in info.args:   # a criterion with parameters: built from linear_weight's shape, torch's weights copied in
        x, W, y = t
        ref_crit = info.reference_criterion(W.shape[-1], W.shape[0], dtype=W.dtype)
        crit = info.criterion(W.shape[-1], W.shape[0], dtype=W.dtype)
        crit.load_state_dict(ref_crit.state_dict())
        ct = (x, y)
        ref = ref_crit(*ct)
    elif _sizes(info.criterion):   # a criterion holding parameters and no reference class: scripted and compiled in its notebook
        crit = None
    else:
        ctor = inspect.signature(info.criterion.__init__).parameters.values()
        if any(p.default is p.empty and p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD) for p in list(ctor)[1:]):
            pytest.skip(f"{info.criterion.__name__}'s constructor needs arguments (as its reference's): its notebook scripts and compiles it")
        crit = info.criterion()
        ref = info.reference_criterion()(*t) if info.reference_criterion is not None else _reference(info)(*t)   # same defaults
    if crit is not None:
        torch.testing.assert_close(torch.jit.script(crit)(*ct), ref)
        torch._dynamo.reset()
        torch.testing.assert_close(torch.compile(crit, fullgraph=True, backend='eager')(*ct), ref)
    torch.testing.assert_close(torch.compile(info.torch, fullgraph=True, backend='eager')(*t), _reference(info)(*t))


def test_tensor_options_are_buffers():
    class _Probe(lossbook.core.Criterion):
        functional = 'l1_loss'
    crit = _Probe(reduction='mean', weight=torch.ones(3))
    assert 'weight' in dict(crit.named_buffers()) and crit.options['weight'] is crit.weight


@pytest.mark.parametrize('info', INFOS, ids=IDS)
def test_sparse_and_none_refused_as_torch(info):
    "A sparse tensor is refused with torch's exception class; None where an array is required names the argument."
    args, kw = spec(info.name).sample(np.random.default_rng(0), (4, 3), 1.0, {})
    t = [torch.from_numpy(a) if isinstance(a, np.ndarray) else a for a in args]
    sparse = [t[0].to_sparse()] + t[1:]
    try:   # kl_div's composite (xlogy(y, y) - y * x) takes a sparse input beside a dense target: sparsify every float then
        with warnings.catch_warnings():
            warnings.simplefilter('ignore')
            info.reference_fn(*sparse, **kw)
        sparse = [a.to_sparse() if torch.is_tensor(a) and a.is_floating_point() else a for a in t]
    except Exception:
        pass
    with pytest.raises(Exception) as ref:
        info.reference_fn(*sparse, **kw)
    with pytest.raises(type(ref.value), match='sparse'):
        info.torch(*sparse, **kw)
    with pytest.raises(TypeError, match=f"argument '{info.data_args[1]}' must be a NumPy array, not NoneType"):
        info.numpy(args[0], None, *args[2:], **kw)


def test_modules_compile_without_warnings():
    "No generated module has an invalid escape (a notebook's LaTeX description becomes the module docstring)."
    import warnings
    for f in sorted((Path(__file__).resolve().parent.parent / 'lossbook').rglob('*.py')):
        with warnings.catch_warnings():
            warnings.simplefilter('error')
            compile(f.read_text(), str(f), 'exec')


def test_namespaces_are_generated_from_the_registry():
    "The import cells of 90/91/92 are what tools/make_namespaces.py writes from the registry (a new loss edits one notebook)."
    import subprocess, sys
    r = subprocess.run([sys.executable, str(ROOT / 'tools' / 'make_namespaces.py'), '--check'], capture_output=True, text=True)
    assert r.returncode == 0, r.stdout + r.stderr


def test_help_tells_the_package_not_nn_module():
    """help(lossbook) is the package's story and an index (not every criterion's inherited nn.Module methods); a criterion's
    help() shows its torch-form docstring; an instance still lists everything nn.Module has (tab completion)."""
    import pydoc
    text = pydoc.render_doc(lossbook, renderer=pydoc.plaintext)
    n_criteria = len({i.criterion for i in lossbook.core.losses()})   # each criterion's own docstring (~85 lines), no more
    assert len(text.splitlines()) < 100 * n_criteria + 600, (len(text.splitlines()), n_criteria)
    assert 'register_forward_pre_hook' not in text
    for info in lossbook.core.losses():
        doc = pydoc.render_doc(info.criterion, renderer=pydoc.plaintext)
        if not issubclass(info.criterion, lossbook.core.Criterion):   # LinearCrossEntropyLoss: a module with its own layer
            assert info.criterion.__doc__ and 'register_forward_pre_hook' not in doc; continue
        assert 'Args:' in doc and 'Shape:' in doc and info.description.split(':')[0][:20] in doc, info.criterion.__name__
    m = lossbook.MSELoss()
    assert {'to', 'double', 'parameters', 'forward', 'state_dict'} <= set(dir(m))


def _run_doctest(text, name):
    import doctest
    parser, runner = doctest.DocTestParser(), doctest.DocTestRunner(optionflags=doctest.NORMALIZE_WHITESPACE)
    test = parser.get_doctest(text, {}, name, None, 0)
    with warnings.catch_warnings():
        warnings.simplefilter('ignore')
        runner.run(test, out=lambda s: None)
    return runner.summarize(verbose=False)


@pytest.mark.parametrize('info', [i for i in losses() if issubclass(i.criterion, lossbook.core.Criterion)], ids=lambda i: i.name)
def test_criterion_docstring_example_runs_and_is_torchs(info):
    """Each criterion's docstring has an Example that runs (doctest); the same lines with torch's criterion print the
    same number (a loss beyond torch.nn is checked against its reference by the parity tests instead)."""
    doc = info.criterion.__doc__
    assert info.example and all(l.strip() in doc for l in info.example.strip().splitlines()), 'no Example in the docstring'
    r = _run_doctest(doc, f'{info.criterion.__name__} docstring')
    assert r.attempted and not r.failed, f'{info.criterion.__name__}: {r}'
    name = info.criterion.__name__
    if hasattr(torch.nn, name):
        r = _run_doctest(info.example.replace(f'lossbook.{name}(', f'torch.nn.{name}('), f'torch.nn.{name} example')
        assert r.attempted and not r.failed, f'torch.nn.{name} prints another number: {r}'
