"""The GitHub workflows: they pin nbdev 2, install CPU torch first, run the README's test command and publish the
site; where check-jsonschema and zizmor are installed (`pip install check-jsonschema zizmor`), they lint clean."""
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent
WF = ROOT / '.github' / 'workflows'


def _steps(name):
    wf = yaml.safe_load((WF / name).read_text())
    return [s for job in wf['jobs'].values() for s in job.get('steps', [])]


def _runs(name):
    return '\n'.join(s.get('run', '') for s in _steps(name))


def test_test_workflow():
    runs = _runs('test.yaml')
    assert 'torch==' in runs and 'download.pytorch.org/whl/cpu' in (WF / 'test.yaml').read_text()
    assert runs.index('torch==') < runs.index('pip install -e ".[dev]"'), 'CPU torch must come first'
    for cmd in ('nbdev_export', 'nbdev_clean', 'git status --porcelain', 'tools/make_readme.py --check', 'pytest'):
        assert cmd in runs, cmd


def test_deploy_workflow():
    text = (WF / 'deploy.yaml').read_text()
    for piece in ('quarto-dev/quarto-actions/setup', 'nbdev_docs', 'actions/upload-pages-artifact', 'actions/deploy-pages'):
        assert piece in text, piece


@pytest.mark.parametrize('name', ['test.yaml', 'deploy.yaml'])
def test_nbdev_stays_at_2(name):
    "nbdev 3 refuses settings.ini: nbdev comes only from the dev extra, which pins it."
    assert 'pip install -U nbdev' not in _runs(name) and 'pip install nbdev' not in _runs(name)
    assert 'nbdev==2.' in (ROOT / 'settings.ini').read_text()


@pytest.mark.skipif(not (shutil.which('check-jsonschema') and shutil.which('zizmor')),
                    reason='check-jsonschema and zizmor are not installed')
def test_workflows_lint_clean():
    files = sorted(str(p) for p in WF.glob('*.yaml'))
    subprocess.run(['check-jsonschema', '--builtin-schema', 'vendor.github-workflows', *files], check=True)
    subprocess.run(['zizmor', '--offline', str(WF)], check=True)
