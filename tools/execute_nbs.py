#!/usr/bin/env python
"""Run notebooks top to bottom and save them *with* their outputs (the docs site shows only committed outputs).

    python tools/execute_nbs.py nbs/10_l1_loss.ipynb [more.ipynb ...]    # or no argument: every notebook

Cells are run the way the tests run them (`#| eval: false`, `nbdev_export()` and `#| cuda` cells without a GPU are
skipped, and keep the output they had: a long measurement committed from an earlier run stays) in one
in-process IPython shell per notebook; the first error stops and prints the failing cell. Run `nbdev_clean`
afterwards, then commit the notebook with the exported module.
"""
import sys
from pathlib import Path

from execnb.nbio import read_nb, write_nb
from execnb.shell import CaptureShell
from nbdev.process import NBProcessor
from nbdev.frontmatter import FrontmatterProc

ROOT = Path(__file__).resolve().parent.parent


def skip_flags() -> set:
    "settings.ini's tst_flags that are skipped here: `slow` cells always run, `cuda` cells where a GPU is."
    import torch
    from nbdev.config import get_config
    flags = set(get_config(path=ROOT).get('tst_flags', '').replace('|', ' ').split())   # nbdev splits on whitespace
    return flags - ({'slow'} | ({'cuda'} if torch.cuda.is_available() else set()))


def skip_cell(cell, flags: set) -> bool:
    "The cells nbdev's test runner skips: non-code, `nbdev_export()` calls, `#| eval: false`, and cells flagged with `flags`."
    if cell.cell_type != 'code' or 'nbdev_export' + '(' in cell.source: return True
    direc = getattr(cell, 'directives_', {}) or {}
    if direc.get('eval:', [''])[0].lower() == 'false': return True
    return bool(flags & direc.keys())


SVG_SETUP = ("import matplotlib as _mpl; _mpl.rcParams.update({'svg.hashsalt': 'lossbook', 'svg.fonttype': 'none', "
             "'figure.dpi': 72, 'savefig.bbox': 'tight'})")


def compact_svg(svg: str) -> str:
    "Drop matplotlib's metadata block, comments, indentation, rotations by 0° and its long font fallback list, shorten coordinates to 1 decimal, and write each repeated inline style once as a class: a fraction of the bytes, same picture."
    import re
    svg = re.sub(r'<metadata>.*?</metadata>\s*', '', svg, flags=re.S)
    svg = re.sub(r'<!--.*?-->\s*', '', svg, flags=re.S)
    svg = re.sub(r"font-family: 'DejaVu Sans'[^;\"]*sans-serif", "font-family: 'DejaVu Sans', sans-serif", svg)   # matplotlib's 12-font fallback list, on every label
    svg = re.sub(r' transform="rotate\(-0 [\d. ]+\)"', '', svg)                                   # a rotation by 0°
    svg = re.sub(r'\s*\n\s*', '\n', svg)                                                             # indentation
    svg = re.sub(r'(\d+\.\d)\d+', r'\1', svg)                                           # 0.1 pt: finer than a pixel
    if 'class="' in svg or 'style="' not in svg: return svg
    import hashlib                                                    # repeated inline styles → one class each, named per figure
    tag = 'f' + hashlib.sha1(svg.encode()).hexdigest()[:6]            # (figures inlined in one page must not share names)
    styles = {}
    svg = re.sub(r'style="([^"]*)"', lambda m: f'class="{tag}{styles.setdefault(m[1], len(styles))}"', svg)
    css = ''.join(f'.{tag}{k}{{{v}}}' for v, k in styles.items())
    return re.sub(r'(<svg[^>]*>)', lambda m: m[1] + f'<style>{css}</style>', svg, count=1)


def compact_outputs(cell) -> None:
    for out in cell.get('outputs', []):
        data = out.get('data', {})
        if 'image/svg+xml' in data:
            svg = data['image/svg+xml']
            data['image/svg+xml'] = compact_svg(''.join(svg) if isinstance(svg, list) else svg)
            data.pop('image/png', None)


def execute(path: Path) -> None:
    nb = NBProcessor(path, procs=FrontmatterProc, process=True).nb   # parses the #| directives
    shell = CaptureShell(path, mpl_format='svg')   # SVG: sharp, scales to the column, small once compacted
    shell._fname = path
    shell.set_path(path.parent.resolve())
    shell.run_cell(SVG_SETUP)                      # a fixed hash salt: re-running a notebook does not rewrite its figures
    flags = skip_flags()
    ran = set()
    for i, cell in enumerate(nb.cells):
        if not skip_cell(cell, flags):
            cell.outputs, cell.execution_count = [], None
            shell.cell(cell)
            ran.add(i)
            if shell.exc:
                sys.stderr.write(shell.prettytb(fname=path) + '\n')
                raise SystemExit(f'{path}: stopped at the failing cell above; nothing written')
    raw = read_nb(path)                       # write outputs into the untouched source (directives kept verbatim)
    for i, (c, done) in enumerate(zip(raw.cells, nb.cells)):
        if i in ran:                          # a skipped cell (`#| eval: false`, `#| cuda` without a GPU) keeps its committed output
            c.outputs, c.execution_count = done.get('outputs', []), done.get('execution_count')
            compact_outputs(c)
    write_nb(raw, path)
    print(f'executed {path}')


if __name__ == '__main__':
    paths = [Path(p) for p in sys.argv[1:]] or sorted((ROOT / 'nbs').glob('*.ipynb'))
    import lossbook.core                       # a loss notebook re-registers its own loss: give each notebook the package's
    saved = dict(lossbook.core.REGISTRY)
    for p in paths:
        execute(p)
        lossbook.core.REGISTRY.clear(); lossbook.core.REGISTRY.update(saved)
