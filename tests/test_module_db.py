"""torch's own test data for its loss modules (`torch.testing._internal.common_modules.module_db`, shipped in the
wheel; it imports `expecttest`): every loss module's sample inputs give lossbook's criterion torch's values, and every
error input is refused by lossbook's criterion at the same stage (construction or forward) with an instance of the
exception class torch raises."""
import re
import warnings

import numpy as np
import pytest
import torch

import lossbook

common_modules = pytest.importorskip('torch.testing._internal.common_modules', reason='needs expecttest (a dev extra)')
module_db, ModuleErrorEnum = common_modules.module_db, common_modules.ModuleErrorEnum

LOSSES = [m for m in module_db if hasattr(lossbook, m.module_cls.__name__) and m.module_cls.__name__.endswith('Loss')]


def _ours(m):
    return getattr(lossbook, m.module_cls.__name__)


def test_every_loss_module_of_torch_is_covered():
    theirs = {m.module_cls.__name__ for m in module_db if m.module_cls.__module__.startswith('torch.nn.modules.loss')}
    assert theirs and theirs <= {m.module_cls.__name__ for m in LOSSES}, theirs - {m.module_cls.__name__ for m in LOSSES}


def _build(cls, ctor, torch_module=None):
    m = cls(*ctor.args, **ctor.kwargs)
    if torch_module is not None and list(torch_module.state_dict()):   # LinearCrossEntropyLoss: torch's random Linear
        m.load_state_dict(torch_module.state_dict())
    return m


@pytest.mark.parametrize('m', LOSSES, ids=lambda m: m.module_cls.__name__)
@pytest.mark.parametrize('dtype', [torch.float64, torch.float32])
def test_module_inputs(m, dtype):
    "torch's sample inputs for the module: lossbook's criterion gives its value (and the same dtype and shape)."
    samples = m.module_inputs_func(m, device='cpu', dtype=dtype, requires_grad=False, training=False)
    assert samples
    tol = {} if dtype == torch.float64 else dict(rtol=1e-4, atol=1e-5)
    for s in samples:
        if s.forward_input is None: continue
        with warnings.catch_warnings():
            warnings.simplefilter('ignore')
            torch.manual_seed(0)
            theirs = m.module_cls(*s.constructor_input.args, **s.constructor_input.kwargs)
            ours = _build(_ours(m), s.constructor_input, theirs)
            args, kw = s.forward_input.args, s.forward_input.kwargs
            exp = theirs(*args, **kw)
            got = ours(*args, **kw)
        torch.testing.assert_close(got, exp, equal_nan=True, **tol,
                                   msg=lambda msg: f"{m.module_cls.__name__}{s.constructor_input.kwargs}: {msg}")


def _errors():
    for m in LOSSES:
        if m.module_error_inputs_func is None: continue
        for i, e in enumerate(m.module_error_inputs_func(m, device='cpu', dtype=torch.float64, requires_grad=False, training=False)):
            yield pytest.param(m, e, id=f"{m.module_cls.__name__}-{i}")


@pytest.mark.parametrize('m,e', list(_errors()))
def test_module_error_inputs(m, e):
    "torch's error inputs: lossbook raises at the same stage, an instance of torch's exception class."
    mi, cls = e.module_error_input, _ours(m)
    # torch itself, first: the data is right about torch 2.13
    with pytest.raises(e.error_type, match=e.error_regex):
        mod = m.module_cls(*mi.constructor_input.args, **mi.constructor_input.kwargs)
        if e.error_on == ModuleErrorEnum.FORWARD_ERROR: mod(*mi.forward_input.args, **mi.forward_input.kwargs)
    if e.error_on == ModuleErrorEnum.CONSTRUCTION_ERROR:
        with pytest.raises(e.error_type):
            cls(*mi.constructor_input.args, **mi.constructor_input.kwargs)
        return
    ours = cls(*mi.constructor_input.args, **mi.constructor_input.kwargs)   # must construct, as torch's does
    with pytest.raises(e.error_type):
        ours(*mi.forward_input.args, **mi.forward_input.kwargs)
