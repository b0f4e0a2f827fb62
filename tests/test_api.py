"""The public API contract of ../shared/ANATOMY.md: names, signatures, namespaces, criteria, no torch loss inside."""
import ast
import inspect
import re
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F

import lossbook
import lossbook.numpy
import lossbook.torch
from lossbook.core import losses

ROOT = Path(__file__).resolve().parent.parent
INFOS = losses()
IDS = [i.name for i in INFOS]
DEPRECATED = {'size_average', 'reduce'}


def _params(fn):
    return [(p.name, p.default) for p in inspect.signature(fn).parameters.values() if p.name not in DEPRECATED]


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
    "Same argument names, order and defaults as torch.nn.functional, without size_average / reduce."
    want = _params(getattr(F, info.name))
    assert _params(info.numpy) == want
    assert _params(info.torch) == want
    assert _params(info.numpy_grad) == want + [('grad_output', None)]
    ctor = [(n, d) for n, d in _params(info.torch_criterion.__init__) if n != 'self']
    assert [(n, d) for n, d in _params(info.criterion.__init__) if n != 'self'] == ctor


@pytest.mark.parametrize('info', INFOS, ids=IDS)
def test_docstrings(info):
    for fn in (info.numpy, info.numpy_grad, info.torch, info.criterion):
        assert fn.__doc__ and fn.__doc__.strip(), fn


@pytest.mark.parametrize('info', INFOS, ids=IDS)
def test_device_and_dtype_kept(info):
    (x, y), kw = info.sample(np.random.default_rng(0), (3, 4), 1.0)
    for dt in (torch.float32, torch.float64):
        out = info.torch(torch.from_numpy(x).to(dt), torch.from_numpy(y).to(dt), **kw)
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
    assert isinstance(crit, torch.nn.Module) and repr(crit) == "L1Loss(reduction='sum')"
    x, y = np.array([1., -2.]), np.array([0., 0.])
    assert isinstance(crit(x, y), np.ndarray)
    assert isinstance(crit(torch.from_numpy(x), torch.from_numpy(y)), torch.Tensor)
    crit.reduction = 'none'                      # options are live attributes, as in torch
    assert crit(x, y).shape == (2,)
    with pytest.raises(TypeError, match='not a mix'):
        crit(x, torch.from_numpy(y))


def test_every_loss_notebook_is_registered():
    "A loss notebook whose module lossbook/__init__ does not import would be missed by every registry-driven test."
    notebooks = sorted(p.name for p in (ROOT / 'nbs').glob('*.ipynb') if re.match(r'[1-4]\d_', p.name))
    assert notebooks == sorted(i.notebook for i in INFOS)


def test_tensor_options_are_buffers():
    class _Probe(lossbook.core.Criterion):
        functional = 'l1_loss'
    crit = _Probe(reduction='mean', weight=torch.ones(3))
    assert 'weight' in dict(crit.named_buffers()) and crit.options['weight'] is crit.weight
