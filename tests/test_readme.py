"""README.md is generated from nbs/index.ipynb, and its quick start is what .ci/run runs."""
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_readme_is_in_step_with_index():
    r = subprocess.run([sys.executable, 'tools/make_readme.py', '--check'], cwd=ROOT, capture_output=True, text=True)
    assert r.returncode == 0, r.stdout + r.stderr


def test_quick_start_is_what_ci_runs():
    readme, ci = (ROOT / 'README.md').read_text(), (ROOT / '.ci' / 'run').read_text()
    for cmd in ('pip install -e ".[dev]"', 'pytest'):
        assert f'\n{cmd}\n' in readme, f'README quick start lacks {cmd!r}'
    assert 'pip install -e ".[dev]"' in ci and 'pytest' in ci
