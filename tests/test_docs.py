"""The docs build up to Quarto: nbdev's notebook processing runs, every loss page keeps its plots, the sidebar lists
every notebook. Where `quarto` is on PATH, `nbdev_docs` builds the site and every notebook gets a page."""
import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
NBS = ROOT / 'nbs'
NOTEBOOKS = sorted(p for p in NBS.glob('*.ipynb'))
LOSS_NBS = [p for p in NOTEBOOKS if p.name[:1] in '12346' and p.name[1:2].isdigit()]   # 60s: beyond torch.nn


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
    return r.stdout + r.stderr


@pytest.fixture(scope='module')
def processed(tmp_path_factory):
    "nbdev's own processing (what nbdev_docs feeds Quarto), in a copy of the project."
    proj = _copy_project(tmp_path_factory.mktemp('docs'))
    out = _run('from nbdev.quarto import refresh_quarto_yml, nbdev_sidebar; from nbdev.serve import proc_nbs\n'
               'refresh_quarto_yml(); nbdev_sidebar(); proc_nbs(n_workers=0)', proj)
    # nbdev's docs build executes import cells: a cell mixing imports with other code would run that code too
    assert 'Found cells containing imports and other code' not in out, out[out.find('Found cells'):][:600]
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
    assert sidebar == (NBS / 'sidebar.yml').read_text(), 'nbdev rewrote nbs/sidebar.yml (custom_sidebar in settings.ini)'
    r = subprocess.run([sys.executable, str(ROOT / 'tools' / 'make_sidebar.py'), '--check'], capture_output=True, text=True)
    assert r.returncode == 0, r.stdout + r.stderr


def test_sidebar_groups_the_losses_by_family():
    "Each loss page sits in its family's section, every notebook exactly once."
    from lossbook.core import losses
    sidebar = (NBS / 'sidebar.yml').read_text()
    for p in NOTEBOOKS: assert sidebar.count(p.name) == 1, p.name
    sections = re.split(r'- section: ', sidebar)[1:]
    for info in losses():
        sec = next(s for s in sections if info.notebook in s)
        assert sec.lower().startswith(f'"{info.family}'), (info.notebook, sec.splitlines()[0])
        # a loss torch.nn lacks sits in the "Beyond torch.nn" group, after torch's own losses; torch's never do
        group = sidebar[:sidebar.index(info.notebook)].rfind('- section: "Beyond torch.nn')
        assert (group >= 0) == (info.reference_package != 'torch'), (info.notebook, info.reference_package)


def test_quarto_config():
    q = (NBS / '_quarto.yml').read_text()
    assert 'sidebar.yml' in q and 'nbdev.yml' in q


QUARTO = shutil.which('quarto')
needs_quarto = pytest.mark.skipif(QUARTO is None, reason="Quarto is not on PATH: install it from https://quarto.org/docs/get-started/ "
                                  "(offline, in this project's workplace: bash ../shared/tools/build-quarto.sh)")


@pytest.fixture(scope='module')
def site(processed):
    "The site as `nbdev_docs` builds it with real Quarto (in the processed copy; README.md must come out untouched)."
    readme = (processed / 'README.md').read_text()
    r = subprocess.run(['nbdev_docs'], cwd=processed, check=True, timeout=1800, capture_output=True, text=True)
    assert (processed / 'README.md').read_text() == readme, 'nbdev_docs rewrote README.md (readme_nb in settings.ini)'
    warnings = [l for l in (r.stdout + r.stderr).splitlines() if 'WARN' in l.upper()]
    assert not warnings, 'Quarto warned:\n' + '\n'.join(warnings[:20])
    return processed / '_docs'


def _page(nb: Path) -> str:
    return 'index.html' if nb.stem == 'index' else nb.stem.split('_', 1)[1] + '.html'


def _text_outside_code(html: str) -> str:
    "The page's prose: scripts, styles, code, preformatted blocks, KaTeX-rendered math and tags removed."
    for tag in ('script', 'style', 'pre', 'code', 'head'):
        html = re.sub(rf'<{tag}\b.*?</{tag}>', ' ', html, flags=re.S)
    html = re.sub(r'<span class="math (inline|display)">.*?</span>', ' ', html, flags=re.S)
    return re.sub(r'<[^>]+>', ' ', html)


def _width_px(img: Path) -> float:
    "An output figure's width in CSS pixels (SVG's width attribute in pt or px; PNG's header)."
    data = img.read_bytes()
    if img.suffix == '.svg':
        w = re.search(rb'<svg[^>]*\swidth="([\d.]+)(pt|px)?"', data)
        return float(w[1]) * (4 / 3 if w[2] == b'pt' else 1)
    return int.from_bytes(data[16:20], 'big')        # PNG IHDR width


@needs_quarto
def test_nbdev_docs_builds_a_page_per_notebook(site):
    for p in NOTEBOOKS:
        assert (site / _page(p)).exists(), _page(p)


@needs_quarto
def test_search_indexes_every_page(site):
    "The site's search index (search.json) has every page, loss pages by their criterion's name."
    from lossbook.core import losses
    index = json.loads((site / 'search.json').read_text())
    hrefs = {e['href'].split('#')[0] for e in index}
    for p in NOTEBOOKS: assert _page(p) in hrefs, f'{_page(p)} is not in the search index'
    text = ' '.join(e.get('title', '') + ' ' + e.get('text', '') for e in index)
    for info in losses(): assert info.criterion.__name__ in text, info.criterion.__name__


@needs_quarto
def test_no_figure_wider_than_the_column(site):
    "Every output figure fits the body column (grid.body-width in _quarto.yml), and CSS scales images down besides."
    column = int(re.search(r'body-width:\s*(\d+)px', (NBS / '_quarto.yml').read_text())[1])
    assert 'max-width: 100%' in (NBS / 'styles.css').read_text()
    for p in LOSS_NBS + [NBS / '80_benchmark.ipynb']:
        html = (site / _page(p)).read_text()
        imgs = re.findall(r'<img src="([^"]+_files/figure-html/[^"]+)"', html)
        assert imgs, f'{_page(p)}: no figures'
        for src in imgs:
            assert _width_px(site / src) <= column, f'{_page(p)}: {src} is {_width_px(site / src):.0f}px wide, the column {column}px'


@needs_quarto
def test_every_loss_page_shows_its_code(site):
    "The NumPy forward, its gradient and the torch version are on the page as code (#| exports), not just a signature."
    from lossbook.core import losses
    for info in losses():
        html = re.sub(r'<[^>]+>', '', (site / _page(NBS / info.notebook)).read_text())
        for fn in (info.numpy, info.numpy_grad, info.torch):
            body = re.search(rf'def {fn.__name__}\(.*?\breturn\b', html, flags=re.S)
            assert body, f'{info.notebook}: the code of {fn.__name__} is not shown'
        assert 'Exported source' in html


@needs_quarto
def test_no_raw_math_and_katex_pinned(site):
    "Every $…$ span became math (none left as text); KaTeX comes from a pinned version, never @latest."
    for p in NOTEBOOKS:
        html = (site / _page(p)).read_text()
        stray = [m for m in re.finditer(r'\$', _text_outside_code(html))]
        assert not stray, f'{_page(p)}: raw $ left in the text: {_text_outside_code(html)[max(0, stray[0].start() - 60):stray[0].start() + 60]!r}'
        if 'katex' in html:
            assert '@latest' not in html and re.search(r'katex@\d+\.\d+\.\d+', html), _page(p)


@needs_quarto
def test_pitfalls_are_headings_and_the_badge_is_inline(site):
    for p in LOSS_NBS:
        html = (site / _page(p)).read_text()
        toc = html[html.index('id="TOC"'):]
        toc = toc[:toc.index('</nav>')]
        pitfalls = toc[toc.index('#pitfalls'):]
        assert re.search(r'>1\. ', pitfalls), f'{_page(p)}: pitfalls are not in the page contents (### N. Title)'
        assert not re.search(r'<figure[^>]*>(?:(?!</figure>).)*colab-badge', html, flags=re.S), f'{_page(p)}: the Colab badge is a figure'


def test_notebooks_follow_the_site_conventions():
    "Inline math without inner spaces, implementations shown (#| exports), pitfalls as headings, an inline Colab badge."
    r = subprocess.run([sys.executable, str(ROOT / 'tools' / 'fix_notebook_markdown.py'), '--check', *map(str, NOTEBOOKS)],
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stdout + '\nrun: python tools/fix_notebook_markdown.py nbs/*.ipynb'


def test_every_loss_page_links_the_chooser():
    "Every loss page (and the adaptive softmax's) points to the chooser from its See also section."
    for p in LOSS_NBS:
        md = ' '.join(''.join(c['source']) for c in json.loads(p.read_text())['cells'] if c['cell_type'] == 'markdown')
        assert '50_which_loss.ipynb' in md, p.name
