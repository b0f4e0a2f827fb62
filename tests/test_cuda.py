"""Parity on the GPU: lossbook.torch on CUDA tensors against torch's CUDA kernels (skipped without a GPU).

The same registry-driven checks as the CPU suite, with the tensors on `cuda`: values, dtypes, warnings, autograd
gradients, the criterion — and the NumPy implementation against torch's CUDA result."""
import numpy as np
import pytest
import torch

from lossbook.core import losses
from lossbook.testing import check_parity, sample_pointwise, spec

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason='needs a CUDA GPU')
INFOS = losses()


@pytest.mark.parametrize('info', INFOS, ids=[i.name for i in INFOS])
@pytest.mark.parametrize('dtype', [np.float64, np.float32])
@pytest.mark.parametrize('shape,scale', [((7,), 1.0), ((3, 4, 5), 1e3), ((), 1e-3), ((0, 2), 1.0), ((64, 257), 1.0)])
def test_cuda_parity(info, dtype, shape, scale):
    sp = spec(info.name)
    if not (sp.ndims[0] <= len(shape) <= sp.ndims[1]) or (sp.shape_ok and not sp.shape_ok(shape)):
        pytest.skip(f'{info.name} does not take shape {shape}')
    args, kwargs = spec(info.name).sample(np.random.default_rng(0), shape, scale, {})
    check_parity(info, args, kwargs, dtype=dtype, device='cuda', quiet=True)


@pytest.mark.parametrize('info', [i for i in INFOS if spec(i.name).extremes], ids=lambda i: i.name)
@pytest.mark.parametrize('dtype', [np.float64, np.float32])
def test_cuda_extremes(info, dtype):
    fi = np.finfo(dtype)
    pool = np.array([0., fi.smallest_subnormal, fi.tiny, 0.5, 1., 2., 1e30, fi.max, np.inf, np.nan], dtype)
    x = np.concatenate([pool, -pool, pool]); y = np.concatenate([pool[::-1], pool, -pool[::-1]])
    check_parity(info, (x, y), dtype=dtype, device='cuda', quiet=True)
