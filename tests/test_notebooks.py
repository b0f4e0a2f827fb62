"""Every notebook runs top to bottom, as nbdev's test runner runs it; a failing assert names the notebook and the cell."""
import os
from pathlib import Path

import pytest
import torch
from execnb.shell import CaptureShell
from nbdev.config import get_config
from nbdev.frontmatter import FrontmatterProc
from nbdev.process import NBProcessor

import lossbook.core

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = sorted((ROOT / 'nbs').glob('*.ipynb'))


def _flags():
    "settings.ini's tst_flags: `slow` cells run here too; `cuda` cells only where a GPU is."
    flags = set(get_config(path=ROOT).get('tst_flags', '').split('|')) - {''}
    run = {'slow'} | ({'cuda'} if torch.cuda.is_available() else set())
    return flags - run


def _skip(cell, skip_flags):
    "The cells nbdev's test_nb skips: `#| eval: false`, `nbdev_export()` calls, and flagged cells."
    if cell.cell_type != 'code' or 'nbdev_export' + '(' in cell.source: return True
    direc = getattr(cell, 'directives_', {}) or {}
    if direc.get('eval:', [''])[0].lower() == 'false': return True
    return bool(skip_flags & direc.keys())


@pytest.mark.parametrize('nb', NOTEBOOKS, ids=[p.name for p in NOTEBOOKS])
def test_notebook(nb, monkeypatch):
    monkeypatch.setenv('IN_TEST', '1')
    saved = dict(lossbook.core.REGISTRY)   # a notebook re-registers its own loss: restore the package's afterwards
    try:
        parsed = NBProcessor(nb, procs=FrontmatterProc, process=True).nb
        shell = CaptureShell(nb)
        skip_flags = _flags()
        cwd = os.getcwd()
        os.chdir(nb.parent)
        try: shell.run_all(parsed, exc_stop=True, preproc=lambda c: _skip(c, skip_flags))
        except Exception: pass   # shell.exc holds it; prettytb shows the cell
        finally: os.chdir(cwd)
        if shell.exc:
            pytest.fail(shell.prettytb(fname=nb.relative_to(ROOT)), pytrace=False)
    finally:
        lossbook.core.REGISTRY.clear(); lossbook.core.REGISTRY.update(saved)
        import matplotlib.pyplot as plt; plt.close('all')
