"""Every notebook runs top to bottom, as nbdev's test runner runs it; a failing assert names the notebook and the cell."""
import os
import sys
from pathlib import Path

import pytest
from execnb.shell import CaptureShell
from nbdev.frontmatter import FrontmatterProc
from nbdev.process import NBProcessor

import lossbook.core

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / 'tools'))
from execute_nbs import skip_cell, skip_flags   # one definition of which cells run, shared with the tool

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = sorted((ROOT / 'nbs').glob('*.ipynb'))


@pytest.mark.parametrize('nb', NOTEBOOKS, ids=[p.name for p in NOTEBOOKS])
def test_notebook(nb, monkeypatch):
    monkeypatch.setenv('IN_TEST', '1')
    saved = dict(lossbook.core.REGISTRY)   # a notebook re-registers its own loss: restore the package's afterwards
    try:
        parsed = NBProcessor(nb, procs=FrontmatterProc, process=True).nb
        shell = CaptureShell(nb)
        flags = skip_flags()
        cwd = os.getcwd()
        os.chdir(nb.parent)
        try: shell.run_all(parsed, exc_stop=True, preproc=lambda c: skip_cell(c, flags))
        except Exception: pass   # shell.exc holds it; prettytb shows the cell
        finally: os.chdir(cwd)
        if shell.exc:
            pytest.fail(shell.prettytb(fname=nb.relative_to(ROOT)), pytrace=False)
    finally:
        lossbook.core.REGISTRY.clear(); lossbook.core.REGISTRY.update(saved)
        import matplotlib.pyplot as plt; plt.close('all')


LOSS_NBS = [p for p in NOTEBOOKS if p.name[:1] in '12346' and p.name[1:2].isdigit()]   # 60s: the losses beyond torch.nn
BOOK_NBS = [p for p in NOTEBOOKS if p.name[:1] in '578' and p.name[1:2].isdigit()]


@pytest.mark.parametrize('nb', LOSS_NBS + BOOK_NBS, ids=[p.name for p in LOSS_NBS + BOOK_NBS])
def test_sections_set_up_what_they_use(nb):
    "No cell reads a loop variable or an rng that another section left behind (the worked examples excepted)."
    from check_sections import cross_section_reads
    assert not cross_section_reads(nb), cross_section_reads(nb)
