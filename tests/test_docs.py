"""The docs build up to Quarto: nbdev's notebook processing runs, every loss page keeps its plots, the sidebar lists
every notebook. Where `quarto` is on PATH, `nbdev_docs` builds the site and every notebook gets a page."""
import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
NBS = ROOT / 'nbs'
NOTEBOOKS = sorted(p for p in NBS.glob('*.ipynb'))
LOSS_NBS = [p for p in NOTEBOOKS if p.name[:1] in '1234' and p.name[1:2].isdigit()]


def _images(nb):
    return sum('image/png' in o.get('data', {}) or 'image/svg+xml' in o.get('data', {})
               for c in nb['cells'] if c['cell_type'] == 'code' for o in c.get('outputs', []))


def _copy_project(tmp):
    dst = tmp / 'proj'
    shutil.copytree(ROOT, dst, ignore=shutil.ignore_patterns('.git', '.venv*', '_proc', '_docs', '__pycache__',
                                                             '*.egg-info', '.pytest_cache', '.hypothesis'))
    return dst


def _run(code, cwd):
    r = subprocess.run([sys.executable, '-c', code], cwd=cwd, capture_output=True, text=True, timeout=900)
    assert r.returncode == 0, r.stdout + r.stderr
    return r.stdout


@pytest.fixture(scope='module')
def processed(tmp_path_factory):
    "nbdev's own processing (what nbdev_docs feeds Quarto), in a copy of the project."
    proj = _copy_project(tmp_path_factory.mktemp('docs'))
    _run('from nbdev.quarto import refresh_quarto_yml, nbdev_sidebar; from nbdev.serve import proc_nbs\n'
         'refresh_quarto_yml(); nbdev_sidebar(); proc_nbs(n_workers=0)', proj)
    return proj


def test_every_loss_notebook_has_committed_plots():
    assert LOSS_NBS, 'no loss notebooks'
    missing = [p.name for p in LOSS_NBS if not _images(json.loads(p.read_text()))]
    assert not missing, f'no plot output committed in {missing}'


def test_processed_pages_keep_their_plots(processed):
    for p in LOSS_NBS:
        out = processed / '_proc' / p.name
        assert out.exists(), f'{p.name} was not processed'
        assert _images(json.loads(out.read_text())), f'{p.name} lost its plots in processing'


def test_processed_pages_document_the_exports(processed):
    "nbdev renders a show_doc for each exported implementation and the criterion: the API reaches each loss page."
    from lossbook.core import losses
    for info in losses():
        nb = json.loads((processed / '_proc' / info.notebook).read_text())
        rendered = ''.join(''.join(o.get('data', {}).get('text/markdown', []))
                           for c in nb['cells'] if 'show_doc' in ''.join(c['source']) for o in c.get('outputs', []))
        for obj in (info.numpy, info.numpy_grad, info.torch, info.criterion):
            assert f'### {obj.__name__}' in rendered, f'{info.notebook}: no rendered show_doc for {obj.__name__}'


def test_sidebar_lists_every_notebook(processed):
    sidebar = (processed / 'nbs' / 'sidebar.yml').read_text()
    for p in NOTEBOOKS:
        assert p.name in sidebar, f'{p.name} missing from the sidebar'
    assert sidebar == (NBS / 'sidebar.yml').read_text(), 'nbs/sidebar.yml is stale: run nbdev_sidebar()'


def test_quarto_config():
    q = (NBS / '_quarto.yml').read_text()
    assert 'sidebar.yml' in q and 'nbdev.yml' in q


@pytest.mark.skipif(shutil.which('quarto') is None, reason='Quarto is not installed (https://quarto.org)')
def test_nbdev_docs_builds_a_page_per_notebook(processed):
    subprocess.run(['nbdev_docs'], cwd=processed, check=True, timeout=1800)
    docs = processed / '_docs'
    for p in NOTEBOOKS:
        page = 'index.html' if p.stem == 'index' else p.stem.split('_', 1)[1] + '.html'
        assert (docs / page).exists(), page
