"""lossbook.torch composes as torch's own losses do: every registered loss × {torch.func.grad, vmap, vmap(grad),
jacrev, hessian, the meta device, double backward, torch.compile(fullgraph=True) of the function and of the criterion
in a fresh process, torch.autocast on CPU}.

Each check first runs the same transform on the loss's reference (torch's own function for torch's losses). Where the
reference works, lossbook's must, and must agree with it; where the reference fails, the check is skipped and says
what the reference raised. The cases come from the registry and the specs, not from a hand list.
"""
import json
import os
import subprocess
import sys
import textwrap
import warnings

import numpy as np
import pytest
import torch
import torch.func as tf

import lossbook  # noqa: F401  (registers every loss)
from lossbook.core import REGISTRY
from lossbook.testing import spec, to_torch, materialize, _for, _named

NAMES = [i.name for i in sorted(REGISTRY.values(), key=lambda i: (i.notebook, i.name))]
SHAPES = [(3, 4), (2, 3, 4), (4,), (3, 5), (4, 3, 5), (2,)]


def _case(name, seed=0):
    "(info, positional NumPy args, options): the spec's first valid option set with `reduction='mean'`, at a small shape."
    info, sp = REGISTRY[name], spec(name)
    lo, hi = sp.ndims
    shape = next(s for s in SHAPES if lo <= len(s) <= hi and (sp.shape_ok is None or sp.shape_ok(s)))
    variant = sp.all_variants()[0]
    combos = sp.combos(variants=variant)
    combo = next((c for c in combos if c.get('reduction', 'mean') == 'mean'), combos[0])
    rng = np.random.default_rng(seed)
    args, kw = sp.sample(rng, shape, 1.0, {**combo, **variant})
    opts = materialize(combo, rng, _named(info, args, kw))
    return info, tuple(args), {**kw, **opts}


class Call:
    "One loss call split into differentiable tensors (the arguments of role 'input') and everything else, held fixed."
    def __init__(self, name, dtype=torch.float64, device='cpu'):
        self.info, args, opts = _case(name)
        names = list(__import__('inspect').signature(self.info.reference_fn).parameters)
        conv = lambda a: (to_torch(a, device=device).to(dtype) if isinstance(a, np.ndarray) and a.dtype.kind == 'f'
                          else to_torch(a, device=device))
        self.named = {n: conv(a) for n, a in zip(names, args)}
        self.kw = {k: conv(_for(v, 'torch')) for k, v in opts.items()}
        self.diff = [n for n in self.named if self.info.role(n) == 'input' and torch.is_tensor(self.named[n])
                     and self.named[n].is_floating_point()]
        self.positional = list(self.named)
        # where torch's backward is not the derivative (CTC, pytorch#52241), both sides are compared through the spec's
        # `grad_through` (a log_softmax), as check_parity compares them
        gt = getattr(spec(name), 'grad_through', None)
        self.through = (lambda n, t: gt(n, t) if n in self.diff else t) if gt else (lambda n, t: t)

    def fn(self, impl, reduction=None, sum_out=False):
        "f(*diff tensors) → the loss, every other argument fixed."
        kw = dict(self.kw)
        if reduction is not None: kw['reduction'] = reduction
        def f(*diff):
            vals = dict(self.named); vals.update((n, self.through(n, d)) for n, d in zip(self.diff, diff))
            out = impl(*[vals[n] for n in self.positional], **kw)
            return out.sum() if sum_out else out
        return f

    def diff_values(self):
        return [self.named[n] for n in self.diff]

    def batched(self):
        "Two samples stacked on a new leading dimension: (f(*all positional tensors), in_dims), the second sample scaled."
        def stack(n, t):
            if not torch.is_tensor(t): return t
            other = t * 0.9 if n in self.diff else t
            return torch.stack([t, other])
        vals = [stack(n, self.named[n]) for n in self.positional]
        in_dims = tuple(0 if torch.is_tensor(v) else None for v in vals)
        return vals, in_dims

    def fn_all(self, impl, sum_out=True):
        "f(*every positional argument) → the loss (summed): for vmap over whole samples."
        def f(*vals):
            out = impl(*[self.through(n, v) for n, v in zip(self.positional, vals)], **self.kw)
            return out.sum() if sum_out else out
        return f


def _ref(info): return info.reference_fn


def _both(run, name):
    "Run `run(impl)` on the reference, then on lossbook.torch; skip when the reference fails."
    info = REGISTRY[name]
    with warnings.catch_warnings():
        warnings.simplefilter('ignore')
        try: expected = run(_ref(info))
        except Exception as e:  # noqa: BLE001 — the reference's own limits are what we compare against
            pytest.skip(f"the reference {info.reference_name} fails here too: {type(e).__name__}: {str(e)[:160]}")
        actual = run(info.torch)
    return expected, actual


def _close(a, b, **tol):
    if isinstance(a, (tuple, list)):
        assert len(a) == len(b)
        for x, y in zip(a, b): _close(x, y, **tol)
        return
    torch.testing.assert_close(a, b, equal_nan=True, **tol)


@pytest.mark.parametrize('name', NAMES)
def test_grad(name):
    c = Call(name)
    argnums = tuple(range(len(c.diff)))
    exp, act = _both(lambda impl: tf.grad(c.fn(impl, sum_out=True), argnums=argnums)(*c.diff_values()), name)
    _close(act, exp)


@pytest.mark.parametrize('name', NAMES)
def test_vmap(name):
    c = Call(name)
    vals, in_dims = c.batched()
    exp, act = _both(lambda impl: tf.vmap(c.fn_all(impl, sum_out=False), in_dims=in_dims)(*vals), name)
    _close(act, exp)


@pytest.mark.parametrize('name', NAMES)
def test_vmap_grad(name):
    "Per-sample gradients, as DP-SGD and influence functions take them."
    c = Call(name)
    vals, in_dims = c.batched()
    argnums = tuple(c.positional.index(n) for n in c.diff)
    exp, act = _both(lambda impl: tf.vmap(tf.grad(c.fn_all(impl), argnums=argnums), in_dims=in_dims)(*vals), name)
    _close(act, exp)


@pytest.mark.parametrize('name', NAMES)
def test_jacrev(name):
    c = Call(name)
    red = 'none' if 'none' in c.info.reductions else None
    exp, act = _both(lambda impl: tf.jacrev(c.fn(impl, reduction=red), argnums=0)(*c.diff_values()), name)
    _close(act, exp)


@pytest.mark.parametrize('name', NAMES)
def test_hessian(name):
    c = Call(name)
    exp, act = _both(lambda impl: tf.hessian(c.fn(impl, sum_out=True), argnums=0)(*c.diff_values()), name)
    _close(act, exp)


@pytest.mark.parametrize('name', NAMES)
def test_meta(name):
    c = Call(name)
    meta = lambda t: t.to('meta') if torch.is_tensor(t) else t
    c.named = {k: meta(v) for k, v in c.named.items()}
    c.kw = {k: meta(v) for k, v in c.kw.items()}
    info = REGISTRY[name]
    if info.reference_package != 'torch':   # a library's own limits on meta (pml's boolean indexing) do not excuse lossbook's
        cpu = Call(name)
        exp = cpu.fn(info.torch)(*cpu.diff_values())   # meta must give what the same call gives on the CPU
        with warnings.catch_warnings():
            warnings.simplefilter('ignore')
            act = c.fn(info.torch)(*c.diff_values())
    else: exp, act = _both(lambda impl: c.fn(impl)(*c.diff_values()), name)
    assert act.device.type == 'meta', f"lossbook.torch.{name} returned a tensor on {act.device}"
    assert (act.shape, act.dtype) == (exp.shape, exp.dtype), f"meta: {act.shape} {act.dtype}, torch {exp.shape} {exp.dtype}"


@pytest.mark.parametrize('name', NAMES)
def test_double_backward(name):
    "Hessian-vector products agree with the reference, and gradgradcheck passes in float64."
    c = Call(name)
    def hvp(impl):
        xs = [x.detach().requires_grad_() for x in c.diff_values()]
        out = c.fn(impl, sum_out=True)(*xs)
        gs = torch.autograd.grad(out, xs, create_graph=True)
        vs = [torch.linspace(-1, 1, g.numel(), dtype=g.dtype).reshape(g.shape) for g in gs]
        if not any(g.requires_grad for g in gs): raise RuntimeError("the gradient has no graph: no double backward")
        return torch.autograd.grad(sum((g * v).sum() for g, v in zip(gs, vs)), xs, allow_unused=True, materialize_grads=True)
    exp, act = _both(hvp, name)
    _close(act, exp)
    xs = [x.detach().requires_grad_() for x in c.diff_values()]
    try: torch.autograd.gradgradcheck(c.fn(_ref(REGISTRY[name]), sum_out=True), xs)
    except Exception as e:   # noqa: BLE001 — a reference whose backward is not the derivative (CIoU's α under no_grad)
        pytest.skip(f"gradgradcheck fails on the reference {REGISTRY[name].reference_name} too: {str(e).splitlines()[0][:120]}")
    assert torch.autograd.gradgradcheck(c.fn(REGISTRY[name].torch, sum_out=True), xs)


@pytest.mark.parametrize('name', NAMES)
@pytest.mark.parametrize('inputs', ['float32', 'bfloat16'])
def test_autocast_cpu(name, inputs):
    "Under torch.autocast('cpu', bfloat16) the result has the reference's dtype and, at bfloat16's tolerance, its value."
    c = Call(name, dtype=torch.float32 if inputs == 'float32' else torch.bfloat16)
    def run(impl):
        with torch.autocast('cpu', dtype=torch.bfloat16):
            return c.fn(impl)(*c.diff_values())
    exp, act = _both(run, name)
    assert act.dtype == exp.dtype, f"autocast: lossbook.torch gives {act.dtype}, the reference {exp.dtype}"
    _close(act.float(), exp.float(), rtol=3e-2, atol=3e-2)


# --- torch.compile(fullgraph=True) in a fresh process: the criterion first (its first use), then the function ---------

_COMPILE_SCRIPT = textwrap.dedent('''
    import json, sys, warnings
    import torch
    sys.path.insert(0, {tests!r})
    from test_compose import Call
    import lossbook
    from lossbook.core import REGISTRY
    warnings.simplefilter('ignore')
    results = {{}}
    def attempt(f):
        try: return f(), None
        except Exception as e: return None, f"{{type(e).__name__}}: {{str(e)[:300]}}"
    for name in {names!r}:
        info = REGISTRY[name]
        c = Call(name)
        r = results[name] = {{}}
        torch._dynamo.reset()
        opts = {{k: v for k, v in c.kw.items()}}
        crit_cls = info.criterion
        def crit(impl_crit):
            m = impl_crit(**{{k: v for k, v in opts.items() if k in info.criterion_options}})
            return torch.compile(m, fullgraph=True, backend='aot_eager')(*c.named.values())
        exp, err = attempt(lambda: info.reference_fn(*c.named.values(), **opts))
        if err: r['reference'] = err; continue
        ref_crit = info.reference_criterion
        if ref_crit is not None:
            got, err = attempt(lambda: crit(ref_crit))
            r['criterion_reference'] = err
            if not err:
                got, err = attempt(lambda: crit(crit_cls))
                r['criterion'] = err or ('' if torch.allclose(got, exp, equal_nan=True) else f'value {{got}} != {{exp}}')
        torch._dynamo.reset()
        got, err = attempt(lambda: torch.compile(info.reference_fn, fullgraph=True, backend='aot_eager')(*c.named.values(), **opts))
        r['function_reference'] = err
        if not err:
            got, err = attempt(lambda: torch.compile(info.torch, fullgraph=True, backend='aot_eager')(*c.named.values(), **opts))
            r['function'] = err or ('' if torch.allclose(got, exp, equal_nan=True) else f'value {{got}} != {{exp}}')
        # with gradients: the compiled graph's backward (the Functions' jvp twins are not traced) against the eager reference's
        def grads(f):
            xs = {{n: (t.detach().requires_grad_() if n in c.diff else t) for n, t in c.named.items()}}
            out = f(*[c.through(n, v) for n, v in xs.items()], **opts).sum()
            return torch.autograd.grad(out, [xs[n] for n in c.diff])
        if not c.diff: continue
        torch._dynamo.reset()
        gexp, err = attempt(lambda: grads(info.reference_fn))
        if not err: _, err = attempt(lambda: grads(torch.compile(info.reference_fn, fullgraph=True, backend='aot_eager')))
        r['backward_reference'] = err
        if not err:
            torch._dynamo.reset()
            got, err = attempt(lambda: grads(torch.compile(info.torch, fullgraph=True, backend='aot_eager')))
            r['backward'] = err or ('' if all(torch.allclose(a, b, equal_nan=True) for a, b in zip(got, gexp))
                                    else f'gradient {{got}} != {{gexp}}')
    print('RESULTS' + json.dumps(results))
''')


@pytest.fixture(scope='module')
def compiled():
    "One fresh interpreter compiles every criterion (before any eager call of it) and every function."
    script = _COMPILE_SCRIPT.format(tests=os.path.dirname(__file__), names=NAMES)
    p = subprocess.run([sys.executable, '-c', script], capture_output=True, text=True, timeout=1200)
    line = next((l for l in p.stdout.splitlines() if l.startswith('RESULTS')), None)
    assert line, f"the compile subprocess failed:\n{p.stdout[-3000:]}\n{p.stderr[-3000:]}"
    return json.loads(line[len('RESULTS'):])


@pytest.mark.parametrize('name', NAMES)
@pytest.mark.parametrize('what', ['function', 'criterion', 'backward'])
def test_compile_fullgraph(compiled, name, what):
    r = compiled[name]
    if r.get('reference'): pytest.skip(f"the reference fails eagerly: {r['reference']}")
    if what == 'criterion' and 'criterion_reference' not in r: pytest.skip("the reference has no criterion")
    if what == 'backward' and 'backward_reference' not in r: pytest.skip("no differentiable argument")
    ref_err = r.get(f'{what}_reference')
    if ref_err: pytest.skip(f"the reference does not compile with fullgraph=True either: {ref_err}")
    assert not r[what], f"torch.compile(fullgraph=True) of lossbook's {what}: {r[what]}"
