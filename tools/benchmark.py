#!/usr/bin/env python
"""Speed of lossbook against torch's native losses, as ratios measured in one run (never a timed test).

    python tools/benchmark.py                  # every registered loss, 1e3 and 1e6 elements, float32, CPU
    python tools/benchmark.py --sizes 1000000 --dtype float64 --device cuda --losses mse_loss huber_loss

For each loss and size it times, with each loss's default options and inputs from the registry's sampler:
  torch    `torch.nn.functional.<f>`, forward + backward (the reference, ratio 1)
  lb.torch `lossbook.torch.<f>`, forward + backward through autograd
  lb.numpy `lossbook.numpy.<f>` + `lossbook.numpy.<f>_grad` (CPU only)
and prints the median of `--repeat` runs of each and the ratio to torch. Ratios are what to compare between
machines; the absolute times depend on the machine (two cores here).
"""
import argparse
import statistics
import time
import warnings

import numpy as np
import torch

import lossbook
from lossbook.core import REGISTRY, losses


def _median_time(fn, repeat, sync):
    fn()                                           # warm up (allocations, dispatch caches)
    times = []
    for _ in range(repeat):
        sync(); t = time.perf_counter(); fn(); sync()
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def bench(info, n, dtype, device, repeat):
    (x, y), kw = info.sample(np.random.default_rng(0), (n,), 1.0)
    x, y = x.astype(dtype), y.astype(dtype)
    tx = torch.from_numpy(x).to(device).requires_grad_()
    ty = torch.from_numpy(y).to(device)
    sync = torch.cuda.synchronize if device.startswith('cuda') else (lambda: None)

    def fwd_bwd(f):
        def run():
            tx.grad = None
            f(tx, ty, **kw).backward()
        return run

    res = {'torch': _median_time(fwd_bwd(info.torch_functional), repeat, sync),
           'lb.torch': _median_time(fwd_bwd(info.torch), repeat, sync)}
    if device == 'cpu':
        res['lb.numpy'] = _median_time(lambda: (info.numpy(x, y, **kw), info.numpy_grad(x, y, **kw)), repeat, sync)
    return res


def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('--losses', nargs='*', default=None, help='functional names (default: every registered loss)')
    ap.add_argument('--sizes', nargs='*', type=int, default=[1_000, 1_000_000])
    ap.add_argument('--dtype', default='float32', choices=['float32', 'float64'])
    ap.add_argument('--device', default='cpu')
    ap.add_argument('--repeat', type=int, default=20)
    a = ap.parse_args()
    infos = [REGISTRY[n] for n in a.losses] if a.losses else losses()
    print(f'torch {torch.__version__}, numpy {np.__version__}, lossbook {lossbook.__version__}, '
          f'{a.dtype}, {a.device}, {torch.get_num_threads()} threads, median of {a.repeat}')
    print(f"{'loss':<16}{'n':>10}{'torch':>12}{'lb.torch':>12}{'ratio':>8}{'lb.numpy':>12}{'ratio':>8}")
    with warnings.catch_warnings():
        warnings.simplefilter('ignore')
        for info in infos:
            for n in a.sizes:
                r = bench(info, n, np.dtype(a.dtype), a.device, a.repeat)
                ref = r['torch']
                line = f"{info.name:<16}{n:>10}{ref * 1e6:>10.0f}µs{r['lb.torch'] * 1e6:>10.0f}µs{r['lb.torch'] / ref:>7.1f}×"
                if 'lb.numpy' in r: line += f"{r['lb.numpy'] * 1e6:>10.0f}µs{r['lb.numpy'] / ref:>7.1f}×"
                print(line)


if __name__ == '__main__':
    main()
