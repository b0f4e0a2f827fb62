#!/usr/bin/env python
"""Bring notebooks to the conventions the rendered site needs (idempotent; `--check` only reports).

    python tools/fix_notebook_markdown.py nbs/*.ipynb          # rewrite in place
    python tools/fix_notebook_markdown.py --check nbs/*.ipynb  # exit 1 and list what would change

1. Inline math: Pandoc reads `$x $` as text, not math (no space may precede the closing `$`, nor follow the
   opening one). Such spans are trimmed.
2. In a loss notebook, a `#| export` cell that defines a function or class becomes `#| exports`: the cell is exported
   *and shown* on the page — the implementation is what a reader came for. Plumbing (imports, `register`) stays hidden.
3. The Colab badge as Markdown image-in-a-link renders as a captioned figure; it becomes an inline HTML link.
4. A pitfall written as a bold lead-in (`**3. Title.** text`) becomes a `### 3. Title` heading, so the page's
   contents list shows every pitfall.
"""
import json
import re
import sys
from pathlib import Path

LOSS_NB = re.compile(r'^[1-46]\d_')   # torch's losses in the 10s–40s, those beyond torch.nn in the 60s
BADGE = re.compile(r'\[!\[Open In Colab\]\((?P<img>[^)]+)\)\]\((?P<href>[^)]+)\)')
PITFALL = re.compile(r'^\*\*(?P<num>\d+)\.\s+(?P<title>.+?)\.?\*\*\s*(?P<rest>.*)$', re.S)
DEF = re.compile(r'^(def|class|async def)\s|^@', re.M)


def _fix_math(text: str) -> str:
    "Trim spaces just inside inline `$...$` spans, outside code spans and display math."
    out, i = [], 0
    parts = re.split(r'(`[^`]*`|\$\$.*?\$\$)', text, flags=re.S)
    for k, part in enumerate(parts):
        if k % 2:                                   # code span or display math: untouched
            out.append(part); continue
        out.append(re.sub(r'(?<![\\$])\$(?!\$)([^$\n]+?)(?<!\\)\$(?!\$)',
                          lambda m: '$' + m.group(1).strip() + '$' if m.group(1).strip() else m.group(0), part))
    return ''.join(out)


def _fix_badge(text: str) -> str:
    return BADGE.sub(lambda m: f'<a class="colab-badge" href="{m["href"]}"><img src="{m["img"]}" alt="Open In Colab"></a>',
                     text)


def _fix_pitfalls(text: str) -> str:
    "Each paragraph that opens with a bold `**N. Title.**` becomes a `### N. Title` heading and its text."
    paras = text.split('\n\n')
    for i, para in enumerate(paras):
        m = PITFALL.match(para)
        if m:
            rest = m['rest'].strip()
            if rest.startswith(','): rest = 'Each refusal comes' + rest[1:]   # "**… in both namespaces**, with a message …"
            paras[i] = f"### {m['num']}. {m['title'].rstrip('.')}" + (f"\n\n{rest}" if rest else '')
    return '\n\n'.join(paras)


def fix_cell(cell: dict, loss_nb: bool, in_pitfalls: bool = False) -> dict:
    src = ''.join(cell['source'])
    new = src
    if cell['cell_type'] == 'markdown':
        new = _fix_badge(_fix_math(src))
        if in_pitfalls: new = _fix_pitfalls(new)
    elif cell['cell_type'] == 'code' and loss_nb:
        first, _, body = src.partition('\n')
        if first.strip() == '#| export' and DEF.search(body):
            new = '#| exports\n' + body
    if new != src:
        lines = new.split('\n')
        cell['source'] = [l + '\n' for l in lines[:-1]] + [lines[-1]]
    return cell


def fix_notebook(path: Path, check: bool = False) -> bool:
    "Fix one notebook; True when it (would have) changed."
    raw = path.read_text()
    nb = json.loads(raw)
    loss_nb = bool(LOSS_NB.match(path.name))
    before = json.dumps(nb['cells'])
    in_pitfalls = False
    for c in nb['cells']:
        if c['cell_type'] == 'markdown':
            heads = re.findall(r'^## (.*)$', ''.join(c['source']), re.M)
            if heads: in_pitfalls = heads[-1].strip().lower().startswith('pitfall')
        fix_cell(c, loss_nb, in_pitfalls)
    changed = json.dumps(nb['cells']) != before
    if changed and not check:
        path.write_text(json.dumps(nb, indent=1, ensure_ascii=False) + '\n')
    return changed


if __name__ == '__main__':
    args = sys.argv[1:]
    check = '--check' in args
    paths = [Path(a) for a in args if a != '--check'] or sorted(Path(__file__).resolve().parent.parent.glob('nbs/*.ipynb'))
    changed = [p for p in paths if fix_notebook(p, check)]
    for p in changed: print(('would fix ' if check else 'fixed ') + str(p))
    sys.exit(1 if check and changed else 0)
