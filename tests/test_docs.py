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
    sys.path.insert(0, str(ROOT / 'tools')); import make_sidebar   # the family → section title tables
    sidebar = (NBS / 'sidebar.yml').read_text()
    for p in NOTEBOOKS: assert sidebar.count(p.name) == 1, p.name
    sections = re.split(r'- section: ', sidebar)[1:]
    for info in losses():
        sec = next(s for s in sections if info.notebook in s)
        titles = make_sidebar.FAMILIES if info.reference_package == 'torch' else make_sidebar.BEYOND_FAMILIES
        assert sec.startswith(f'"{titles[info.family]}"'), (info.notebook, info.family, sec.splitlines()[0])
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


# --- what a reader sees ------------------------------------------------------------------------------------------------

def test_no_control_characters_in_markdown():
    "A TeX command typed into a JSON string loses its backslash (\\b of \\beta is a backspace, \\f of \\frac a form feed, \\r of \\right a line break): no control characters, and no line that starts with what is left of \\frac or \\right."
    for p in NOTEBOOKS:
        for c in json.loads(p.read_text())['cells']:
            if c['cell_type'] != 'markdown': continue
            s = ''.join(c['source'])
            bad = re.search(r'[\x00-\x08\x0b-\x1f]|^(rac\b|rac\{|ight[)\]|.])', s, flags=re.M)
            assert not bad, f"{p.name} cell {c.get('id')}: {s[max(0, bad.start() - 40):bad.end() + 20]!r}"


def _raw_markdown(html: str) -> list:
    "Markdown or TeX that reached a page as text: a link's `](http`, `_{`/`^{` outside math, a link inside a code comment."
    text = _text_outside_code(html)
    hits = [text[max(0, m.start() - 40):m.end() + 30] for m in re.finditer(r'\]\(https?:|_\{|\^\{', text)]
    hits += re.findall(r'<span class="co">[^<]*\]\(https?:[^<]*</span>', html)
    return hits


def _dead_links(site: Path, page: str, ids: dict) -> list:
    "Internal hrefs of `page` whose file or `#anchor` does not exist in the built site."
    dead = []
    for href in re.findall(r'href="([^"]+)"', (site / page).read_text()):
        if re.match(r'(https?:|mailto:|javascript:|data:)', href): continue
        f, _, anchor = href.partition('#')
        target = f or page
        if not (site / target).exists(): dead.append(href); continue
        if anchor and target.endswith('.html') and anchor not in ids.setdefault(target, set(re.findall(r'\sid="([^"]+)"', (site / target).read_text()))):
            dead.append(href)
    return dead


def test_the_page_checks_can_fail(tmp_path):
    "The raw-markdown and dead-link checks, on a deliberately broken page."
    broken = ('<html><body><main><p>See [cross_entropy](https://x.io) and Σ_{i≠y} here</p>'
              '<pre><code><span class="co"># as in [`f`](https://lossbook.github.io/x.html#f)</span></code></pre>'
              '<a href="nowhere.html">a</a><a href="#missing">b</a><span id="here"></span><a href="#here">c</a></main></body></html>')
    (tmp_path / 'page.html').write_text(broken)
    assert len(_raw_markdown(broken)) == 3
    assert _dead_links(tmp_path, 'page.html', {}) == ['nowhere.html', '#missing']


@needs_quarto
def test_no_raw_markdown_or_tex_on_any_page(site):
    for p in NOTEBOOKS:
        hits = _raw_markdown((site / _page(p)).read_text())
        assert not hits, f'{_page(p)}: {hits[:3]}'


@needs_quarto
def test_every_internal_link_and_anchor_resolves(site):
    ids = {}
    for p in NOTEBOOKS:
        dead = _dead_links(site, _page(p), ids)
        assert not dead, f'{_page(p)}: {dead[:8]}'


# --- in a browser: headless Chromium at 1280 × 800, KaTeX from the npm registry (the pages load it from a CDN) -------

CHROMIUM = next((shutil.which(b) for b in ('chromium', 'chromium-browser', 'google-chrome') if shutil.which(b)), None)
needs_browser = pytest.mark.skipif(QUARTO is None or CHROMIUM is None or shutil.which('npm') is None,
                                   reason='needs Quarto, Chromium (Debian: apt-get install chromium) and npm')

_PROBE = '''<script>
window.addEventListener('load', () => setTimeout(() => {
  const main = (document.querySelector('main') || document.body).getBoundingClientRect();
  const out = {overflow: [], katexErrors: [], height: document.documentElement.scrollHeight, main: main.width};
  for (const el of document.querySelectorAll('.katex-display, div.sourceCode, div.cell-output pre')) {
    if (el.scrollWidth > el.clientWidth + 1 || el.getBoundingClientRect().right > main.right + 1)
      out.overflow.push((el.className || el.tagName) + ': ' + el.textContent.slice(0, 80));
  }
  for (const el of document.querySelectorAll('main p > code, main li > code')) {   // inline code sticking out of its paragraph
    if (el.getBoundingClientRect().right > el.parentElement.getBoundingClientRect().right + 16)   // (its padding and a hanging space at a wrap: ~10 px)
      out.overflow.push('CODE: ' + el.textContent.slice(0, 80));
  }
  for (const el of document.querySelectorAll('.katex-error')) out.katexErrors.push(el.textContent.slice(0, 80));
  const pre = document.createElement('pre'); pre.id = 'lossbook-probe'; pre.textContent = JSON.stringify(out);
  document.body.appendChild(pre);
}, 1500));
</script>'''


@pytest.fixture(scope='module')
def katex(site, tmp_path_factory):
    "The KaTeX that _quarto.yml pins, from the npm registry, copied into the built site as katex/."
    url = re.search(r'url: "(https://cdn\.jsdelivr\.net/npm/katex@([\d.]+)/dist/)"', (NBS / '_quarto.yml').read_text())
    tmp = tmp_path_factory.mktemp('katex')
    r = subprocess.run(['npm', 'pack', f'katex@{url[2]}'], cwd=tmp, capture_output=True, text=True, timeout=300)
    if r.returncode: pytest.skip(f'npm pack katex failed: {r.stderr[-300:]}')
    subprocess.run(['tar', 'xzf', next(tmp.glob('katex-*.tgz')).name], cwd=tmp, check=True)
    shutil.copytree(tmp / 'package' / 'dist', site / 'katex', dirs_exist_ok=True)
    return url[1]


def _probe(site: Path, page: str, cdn: str, inject: str = '') -> dict:
    "Load `page` in headless Chromium at 1280 × 800 (KaTeX served from the site) and return what the probe measured."
    html = (site / page).read_text().replace(cdn, 'katex/').replace('</body>', inject + _PROBE + '</body>')
    probe = site / f'_probe_{page}'
    probe.write_text(html)
    r = subprocess.run([CHROMIUM, '--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
                        '--disable-background-networking', '--disable-component-update', '--disable-sync',
                        f'--user-data-dir={site.parent / "chromium-profile"}', '--window-size=1280,800',
                        '--virtual-time-budget=10000', '--dump-dom', probe.as_uri()],
                       capture_output=True, text=True, timeout=120)
    m = re.search(r'<pre id="lossbook-probe">(.*?)</pre>', r.stdout, flags=re.S)
    assert m, f'{page}: the probe did not report (chromium: {r.stderr[-300:]})'
    import html as _html
    return json.loads(_html.unescape(m[1]))


@pytest.fixture(scope='module')
def measured(site, katex):
    return {_page(p): _probe(site, _page(p), katex) for p in NOTEBOOKS}


@needs_browser
def test_the_browser_checks_can_fail(site, katex):
    "A deliberately broken page: an equation wider than the column and a KaTeX parse error are both reported."
    wide = ' + '.join(f'\\frac{{a_{{{i}}}}}{{b_{{{i}}}}}' for i in range(60))
    got = _probe(site, 'l1_loss.html', katex, inject=f'<main><p><span class="math display">{wide}</span>'
                                                      '<span class="math inline">\\frac{1}{\\beta</span></p></main>')
    assert got['overflow'] and got['katexErrors'], got
    long_code = '<code style="white-space: pre">' + 'lovasz_softmax(input, target, per_image=False) ' * 6 + '</code>'
    got = _probe(site, 'l1_loss.html', katex, inject=f'<main><ul><li>{long_code}</li></ul></main>')   # inline code, unbroken
    assert any(o.startswith('CODE') for o in got['overflow']), got


@needs_browser
def test_no_math_or_code_wider_than_its_column(measured):
    "At 1280 px no display equation, code cell or output overflows the body column (it would be cut or scroll)."
    bad = {page: m['overflow'] for page, m in measured.items() if m['overflow']}
    assert not bad, bad


@needs_browser
def test_no_katex_errors(measured):
    bad = {page: m['katexErrors'] for page, m in measured.items() if m['katexErrors']}
    assert not bad, bad


@needs_browser
def test_the_body_column_is_wide_at_1280(measured):
    "The body column is at least 760 px at a 1280 px window (Quarto's default layout leaves 663)."
    assert all(m['main'] >= 760 for m in measured.values()), {p: m['main'] for p, m in measured.items()}


@needs_quarto
def test_search_index_answers_readers_questions(site):
    "Each question a reader asked (issue 19) has a page section in the search index holding every word of the query."
    index = json.loads((site / 'search.json').read_text())
    blob = [(e['href'], (e.get('title', '') + ' ' + e.get('section', '') + ' ' + e.get('text', '')).lower()) for e in index]
    for query, page in [('multi-label imbalance', 'which_loss'), ('pos_weight imbalance', 'binary_cross_entropy_with_logits'),
                        ('NaN float16', 'stability_lab'), ('ignore_index mean', 'what_mean_divides_by')]:
        hits = [h for h, t in blob if all(w in t for w in query.lower().split())]
        assert any(h.startswith(page) for h in hits), (query, hits[:5])


@needs_browser
def test_loss_pages_are_not_too_long(measured):
    "At 1280 px, with its folds closed, no loss page is taller than 21,000 px: parity and long pitfall cells are folded, never deleted."
    pages = {_page(p) for p in LOSS_NBS}
    long = {page: m['height'] for page, m in measured.items() if page in pages and m['height'] > 21_000}
    assert not long, long


@needs_quarto
def test_cells_marked_fold_closed_are_folded(site):
    "nbdev opens every exported cell's source (`code-fold: show`); nbs/fold.lua closes those marked `#| classes: fold-closed`."
    marked = 0
    for p in NOTEBOOKS:
        html = (site / _page(p)).read_text()
        for m in re.finditer(r'<div id="[^"]*" class="cell fold-closed">\s*(<details[^>]*>)', html):
            marked += 1
            assert 'open' not in m[1], f'{_page(p)}: a fold-closed cell opens: {m[0][:120]}'
    assert marked, 'no cell is marked `#| classes: fold-closed`'


def test_cited_pytorch_issues_are_links():
    "Every `pytorch#N` cited in a notebook's prose links to github.com/pytorch/pytorch/issues/N (tools/link_pytorch_issues.py)."
    r = subprocess.run([sys.executable, str(ROOT / 'tools' / 'link_pytorch_issues.py'), '--check', *map(str, NOTEBOOKS)],
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stdout[-2000:] + '\nrun: python tools/link_pytorch_issues.py nbs/*.ipynb'


def test_every_figure_has_alt_text():
    "Every committed figure comes from a cell that says what it shows (`#| fig-alt: ...`, Quarto's alt text)."
    missing = []
    for p in NOTEBOOKS:
        for c in json.loads(p.read_text())['cells']:
            if c['cell_type'] != 'code': continue
            if any(k.startswith('image/') for o in c.get('outputs', []) for k in o.get('data', {})):
                alt = re.search(r'^#\| fig-alt: (\S.*)$', ''.join(c['source']), flags=re.M)
                # (Quarto reads a `%` in alt text as a broken URI escape and warns)
                if not alt or '%' in alt[1]: missing.append(f"{p.name} {c.get('id')}")
    assert not missing, missing


def _figure_cells_calling_private_functions(nb_path) -> list[str]:
    "Figure cells (committed image output) of `nb_path` that call a private `_name(...)` from lossbook."
    import lossbook
    private = {n for name, mod in list(sys.modules.items()) if name == 'lossbook.core' or name.startswith('lossbook.losses.')
               for n in dir(mod) if n.startswith('_') and not n.startswith('__')}
    bad = []
    for c in json.loads(Path(nb_path).read_text())['cells']:
        if c['cell_type'] != 'code' or not any(k.startswith('image/') for o in c.get('outputs', []) for k in o.get('data', {})):
            continue
        called = set(re.findall(r'(?<![\w.])(_[A-Za-z]\w*)\s*\(', ''.join(c['source'])))
        if called & private: bad.append(f"{Path(nb_path).name} {c.get('id')}: {sorted(called & private)}")
    return bad


def test_figure_cells_call_only_public_functions(tmp_path):
    "A reader can copy a figure's code: it calls lossbook's public functions, never a private helper (`_np_alpha`, …)."
    bad = [b for p in NOTEBOOKS for b in _figure_cells_calling_private_functions(p)]
    assert not bad, bad
    nb = {'cells': [{'cell_type': 'code', 'id': 'x', 'source': ["a = _ctc_args('x', 'numpy')\n"],
                     'outputs': [{'data': {'image/png': ''}}]}]}
    (tmp_path / 'broken.ipynb').write_text(json.dumps(nb))
    assert _figure_cells_calling_private_functions(tmp_path / 'broken.ipynb'), "the check must catch a private call"
