#!/usr/bin/env python
"""Generate README.md from nbs/index.ipynb, without Quarto.

    python tools/make_readme.py           # write README.md
    python tools/make_readme.py --check   # exit 1 if README.md is not what index.ipynb gives

`nbdev_readme` needs Quarto; this renders the same landing page as GitHub-flavoured Markdown from the notebook's
committed outputs (it runs nothing): markdown cells as they are, code cells as ```python blocks with `#|` directives
removed, `#| hide` cells left out, `#| echo: false` cells reduced to their output, text outputs as plain blocks and
Markdown outputs (tables) inline.
"""
import json
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
NB, README = ROOT / 'nbs' / 'index.ipynb', ROOT / 'README.md'
HEADER = '<!-- Generated from nbs/index.ipynb by tools/make_readme.py: edit the notebook, not this file. -->\n\n'
_directive = re.compile(r'^\s*#\s*\|\s*(.*)$')


def _directives(src: str) -> dict:
    out = {}
    for line in src.splitlines():
        m = _directive.match(line)
        if m:
            k, _, v = m.group(1).partition(' ')
            out[k.rstrip(':')] = v.strip()
    return out


def _text(x) -> str:
    return ''.join(x) if isinstance(x, list) else x


def render(nb: dict) -> str:
    parts = []
    for cell in nb['cells']:
        src = _text(cell['source'])
        if cell['cell_type'] == 'markdown':
            parts.append(src.strip())
            continue
        if cell['cell_type'] != 'code':
            continue
        d = _directives(src)
        if 'hide' in d or 'default_exp' in d:
            continue
        code = '\n'.join(l for l in src.splitlines() if not _directive.match(l)).strip()
        if code and d.get('echo') != 'false':
            parts.append(f'```python\n{code}\n```')
        for out in cell.get('outputs', []):
            if out.get('output_type') == 'stream' and out.get('name') == 'stdout':
                parts.append(f"```\n{_text(out['text']).rstrip()}\n```")
            elif 'data' in out:
                data = out['data']
                if 'text/markdown' in data:
                    parts.append(_text(data['text/markdown']).strip())
                elif 'text/plain' in data and 'image/png' not in data:
                    parts.append(f"```\n{_text(data['text/plain']).rstrip()}\n```")
    return HEADER + '\n\n'.join(p for p in parts if p) + '\n'


def main(argv) -> int:
    text = render(json.loads(NB.read_text(encoding='utf-8')))
    if '--check' in argv:
        if not README.exists() or README.read_text(encoding='utf-8') != text:
            print('README.md is stale: it differs from what nbs/index.ipynb gives. Run `python tools/make_readme.py`.')
            return 1
        print('README.md is in step with nbs/index.ipynb')
        return 0
    README.write_text(text, encoding='utf-8')
    print(f'wrote {README.relative_to(ROOT)}')
    return 0


if __name__ == '__main__':
    sys.exit(main(sys.argv[1:]))
