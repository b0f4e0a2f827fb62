"""tools/benchmark.py cannot rot: its quick mode runs every column for every loss (a smoke test, no timing asserted),
and the committed results the benchmark page shows cover every registered loss."""
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / 'tools'))

from lossbook.core import REGISTRY, losses


def test_quick_benchmark_runs_every_column(capsys):
    import benchmark
    rows = benchmark.main(['--quick'])
    assert [r['loss'] for r in rows] == [i.name for i in losses()]
    for r in rows:
        for k in ('native_ms', 'eager', 'np_fwd', 'np_fwd_grad', 'np_mem', 'held', 'held_native'):
            assert r[k] >= 0, (r['loss'], k)
    out = capsys.readouterr().out
    assert 'torch' in out and '| loss |' in out


def test_compiled_column_runs():
    import benchmark
    rows = benchmark.main(['--losses', 'mse_loss', '--sizes', '64', '--repeat', '1'])
    assert rows[0]['compiled'] > 0 and rows[0]['compile_s'] > 0


def test_committed_results_cover_every_loss():
    run = json.loads((ROOT / 'nbs' / 'benchmark.json').read_text())
    assert {r['loss'] for r in run['rows']} == set(REGISTRY)
    assert set(run['goals']) == {'eager', 'compiled', 'np_fwd', 'np_mem'}
