#!/usr/bin/env python
"""Speed and memory of lossbook against torch's native losses, as ratios measured in one run (never a timed test).

    python tools/benchmark.py                         # every registered loss at 4·10⁶ float32 elements, CPU
    python tools/benchmark.py --losses huber_loss --sizes 1000000 --dtype float64
    python tools/benchmark.py --json nbs/benchmark.json   # also write the results the benchmark page shows
    python tools/benchmark.py --quick                 # tiny sizes, one repetition: a smoke test (pytest runs it)

For each loss (default options, inputs from its test spec's sampler) and size, in one process:

  native      F.<f> forward + backward (beyond torch.nn: the registered reference, e.g. torchvision's): ratio 1
  eager       lossbook.torch.<f> forward + backward, through autograd          goal ≤ 3×
  compiled    torch.compile(lossbook.torch.<f>) forward + backward             goal ≤ 1.2×  (compile time apart)
  np fwd      lossbook.numpy.<f> against F.<f>'s forward (no grad)             goal ≤ 2×
  np fwd+grad lossbook.numpy.<f> + <f>_grad against native forward + backward
  np mem      peak extra memory of the NumPy forward + gradient (tracemalloc), in multiples of the input's size   goal ≤ 4×
  held        memory the autograd graph keeps for backward beyond the inputs, lossbook.torch and native, in multiples
              of the input's size (saved_tensors_hooks)

Times are medians of `--repeat` runs, the implementations interleaved and their order reversed every other run, so
that drift and caches hit every column alike. Ratios are what compare between machines; the absolute times depend on
the machine, which the header names.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import time
import tracemalloc
import warnings

import numpy as np
import torch

import lossbook
from lossbook.core import REGISTRY, losses
from lossbook.testing import spec

GOALS = {'eager': 3.0, 'compiled': 1.2, 'np_fwd': 2.0, 'np_mem': 4.0}


def _inputs(info, n, dtype):
    sp = spec(info.name)
    shape = sp.bench_shape(n) if sp.bench_shape else (n,)
    args, kw = sp.sample(np.random.default_rng(0), shape, 1.0, {})
    args = tuple(a.astype(dtype) if isinstance(a, np.ndarray) and a.dtype.kind == 'f' else a for a in args)
    return args, kw


def _timed(fns: dict, repeat: int) -> dict:
    "Median seconds of each function, interleaved, the order reversed every other repetition."
    times = {k: [] for k in fns}
    for f in fns.values(): f()                     # warm up: allocations, dispatch caches, compiled graphs
    order = list(fns)
    for r in range(repeat):
        for k in (order if r % 2 == 0 else order[::-1]):
            t = time.perf_counter(); fns[k](); times[k].append(time.perf_counter() - t)
    return {k: statistics.median(v) for k, v in times.items()}


def _held_bytes(fn, inputs) -> int:
    "Bytes the autograd graph of one call of `fn` keeps alive for backward beyond the inputs (each storage counted once)."
    own = {t.untyped_storage().data_ptr() for t in inputs if torch.is_tensor(t)}
    seen = {}
    def pack(t):
        try:
            ptr = t.untyped_storage().data_ptr()
            if ptr not in own: seen[ptr] = t.untyped_storage().nbytes()
        except Exception: pass
        return t
    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        out = fn()
    del out
    return sum(seen.values())


def _np_peak(fn) -> int:
    "Peak bytes NumPy allocates while `fn` runs, above what was allocated before."
    tracemalloc.start(); tracemalloc.reset_peak()
    base = tracemalloc.get_traced_memory()[0]
    fn()
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return peak - base


# Losses whose compiled column is not measured, and why (the page shows the reason in place of a ratio).
NOT_COMPILED = {'ctc_loss': 'not measured: inductor unrolls the Python loop over time, and T = 200 steps did not finish '
                            'compiling in 5 minutes (torch.compile(fullgraph=True, backend="eager") traces it)'}


def bench(info, n: int, dtype, repeat: int, compile_: bool = True) -> dict:
    args, kw = _inputs(info, n, dtype)
    grad_i = [i for i, name in enumerate(info.data_args) if info.role(name) == 'input' and i < len(args)]
    def tensors():
        return [torch.from_numpy(a).requires_grad_(i in grad_i) if isinstance(a, np.ndarray) else a for i, a in enumerate(args)]
    targs = tensors()
    nograd = [t.detach() if torch.is_tensor(t) else t for t in targs]

    probe = info.torch_functional(*tensors(), **kw)
    forward_only = not (torch.is_tensor(probe) and probe.requires_grad)   # a reference without autograd (scikit-learn's)

    def fwd_bwd(f):
        def run():
            for i in grad_i: targs[i].grad = None
            out = f(*targs, **kw)
            if not forward_only:   # else every column times the forward alone, so the ratios compare like with like
                (out if out.dim() == 0 else out.sum()).backward()   # torchvision's losses default to reduction='none'
        return run

    fns = {'native': fwd_bwd(info.torch_functional), 'eager': fwd_bwd(info.torch)}
    res = {'loss': info.name, 'n': n, 'shape': list(np.shape(args[0])), 'dtype': str(np.dtype(dtype))}
    if forward_only: res['forward_only'] = f'{info.reference_package} has no gradient: forward only'
    if info.name in NOT_COMPILED: compile_, res['compiled_note'] = False, NOT_COMPILED[info.name]
    if compile_:
        torch._dynamo.reset()
        compiled = torch.compile(info.torch)
        t = time.perf_counter(); fwd_bwd(compiled)(); res['compile_s'] = time.perf_counter() - t
        fns['compiled'] = fwd_bwd(compiled)
    with torch.no_grad():
        fns['native_fwd'] = lambda: info.torch_functional(*nograd, **kw)
    fns['np_fwd'] = lambda: info.numpy(*args, **kw)
    fns['np_fwd_grad'] = lambda: (info.numpy(*args, **kw), info.numpy_grad(*args, **kw))
    t = _timed(fns, repeat)
    res['native_ms'] = 1e3 * t['native']
    res['eager'] = t['eager'] / t['native']
    if compile_: res['compiled'] = t['compiled'] / t['native']
    res['np_fwd'] = t['np_fwd'] / t['native_fwd']
    res['np_fwd_grad'] = t['np_fwd_grad'] / t['native']
    in_bytes = sum(a.nbytes for a in args if isinstance(a, np.ndarray))
    res['np_mem'] = _np_peak(lambda: (info.numpy(*args, **kw), info.numpy_grad(*args, **kw))) / in_bytes
    t1, t2 = tensors(), tensors()
    res['held'] = _held_bytes(lambda: info.torch(*t1, **kw), t1) / in_bytes
    res['held_native'] = _held_bytes(lambda: info.torch_functional(*t2, **kw), t2) / in_bytes
    return res


def header(repeat: int) -> str:
    return (f"{platform.machine()} {platform.processor() or platform.platform()}, {os.cpu_count()} cores; "
            f"torch {torch.__version__} ({torch.get_num_threads()} threads), numpy {np.__version__}, "
            f"lossbook {lossbook.__version__}; median of {repeat}")


def table(rows: list) -> str:
    "A Markdown table of the results, each ratio marked ✓ within its goal and ✗ over it."
    def mark(r, k):
        if k not in r: return '—'
        return f"{r[k]:.2f}× {'✓' if r[k] <= GOALS[k] else '✗'}"
    out = ['| loss | shape | native fwd+bwd | eager | compiled | NumPy fwd | NumPy fwd+grad | NumPy peak mem | graph holds (lossbook / native) |',
           '|---|---|---|---|---|---|---|---|---|']
    for r in rows:
        out.append(f"| `{r['loss']}`{' (forward only)' if r.get('forward_only') else ''} | {' × '.join(map(str, r.get('shape', [r['n']])))} | {r['native_ms']:.2f} ms | {mark(r, 'eager')} | {mark(r, 'compiled')} | "
                   f"{mark(r, 'np_fwd')} | {r['np_fwd_grad']:.2f}× | {mark(r, 'np_mem')} | {r['held']:.2f}× / {r['held_native']:.2f}× |")
    return '\n'.join(out)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('--losses', nargs='*', default=None, help='functional names (default: every registered loss)')
    ap.add_argument('--sizes', nargs='*', type=int, default=[4_000_000])
    ap.add_argument('--dtype', default='float32', choices=['float32', 'float64'])
    ap.add_argument('--repeat', type=int, default=15)
    ap.add_argument('--no-compile', action='store_true', help='skip the torch.compile column')
    ap.add_argument('--quick', action='store_true', help='1000 elements, 1 repetition, no compile: a smoke test')
    ap.add_argument('--json', default=None, help='write the results (and the header) to this file')
    ap.add_argument('--update', action='store_true',
                    help="with --json and --losses: replace those losses' rows in the file, keep the others")
    a = ap.parse_args(argv)
    if a.quick: a.sizes, a.repeat, a.no_compile = [1000], 1, True
    infos = [REGISTRY[n] for n in a.losses] if a.losses else losses()
    print(header(a.repeat))
    rows = []
    with warnings.catch_warnings():
        warnings.simplefilter('ignore')
        for info in infos:
            for n in a.sizes:
                rows.append(bench(info, n, np.dtype(a.dtype), a.repeat, not a.no_compile))
                r = rows[-1]
                print(f"{r['loss']:<16}{n:>10,}  native {r['native_ms']:8.2f} ms  eager {r['eager']:5.2f}×  "
                      + (f"compiled {r['compiled']:5.2f}× ({r['compile_s']:.1f} s to compile)  " if 'compiled' in r else '')
                      + f"np fwd {r['np_fwd']:5.2f}×  np fwd+grad {r['np_fwd_grad']:5.2f}×  np mem {r['np_mem']:4.1f}×  "
                      f"held {r['held']:.2f}× (native {r['held_native']:.2f}×)", flush=True)
    print()
    print(table(rows))
    if a.json:
        if a.update and os.path.exists(a.json):
            with open(a.json) as f: old = json.load(f)['rows']
            order = {i.name: k for k, i in enumerate(losses())}
            rows = sorted([r for r in old if r['loss'] not in {r['loss'] for r in rows} and r['loss'] in order] + rows,
                          key=lambda r: (order[r['loss']], r.get('n', 0)))
        with open(a.json, 'w') as f:
            json.dump({'header': header(a.repeat), 'goals': GOALS, 'rows': rows}, f, indent=1)
    return rows


if __name__ == '__main__':
    main()
