#!/usr/bin/env python
"""Find the PyTorch issue and PR numbers cited in notebooks' markdown and make each a link to
https://github.com/pytorch/pytorch/issues/N (GitHub redirects a PR's number to the PR).

    python tools/link_pytorch_issues.py --check nbs/2*.ipynb   # list the citations not linked yet; exit 1 if any
    python tools/link_pytorch_issues.py nbs/2*.ipynb           # link them (idempotent)

Only numbers that are plainly PyTorch's are linked: `pytorch#N` and `pytorch/pytorch#N`, and a bare `#N` that follows
such a citation in the same paragraph ("pytorch/pytorch#751, #39435", "pytorch#7237, fixed in #104844"). Text inside
`code spans` and existing links is left alone.
"""
import json, re, sys
from pathlib import Path

URL = 'https://github.com/pytorch/pytorch/issues/'
# a citation not already inside a link: not preceded by '[' or '/issues/', not followed by ']' or a digit
CITED = re.compile(r'(?<![\[\w/])(?P<repo>(?:pytorch/)?pytorch)#(?P<n>\d+)(?![\]\d])')
BARE = re.compile(r'(?<![\[\w/#&])#(?P<n>\d{2,6})(?![\]\d])')
CODE_OR_LINK = re.compile(r'`[^`\n]*`|\[[^\]\n]*\]\([^)\n]*\)')


def _link_paragraph(par: str) -> str:
    # protect code spans and existing links
    kept = []
    def keep(m): kept.append(m.group(0)); return f'\x00{len(kept) - 1}\x00'
    s = CODE_OR_LINK.sub(keep, par)
    first = CITED.search(s)
    if first:
        head, tail = s[:first.start()], s[first.start():]
        tail = CITED.sub(lambda m: f'[{m.group(0)}]({URL}{m["n"]})', tail)
        tail = BARE.sub(lambda m: f'[{m.group(0)}]({URL}{m["n"]})', tail)
        s = head + tail
    return re.sub('\x00(\\d+)\x00', lambda m: kept[int(m[1])], s)


def link(md: str) -> str:
    return '\n\n'.join(_link_paragraph(p) for p in md.split('\n\n'))


def unlinked(md: str) -> list:
    s = CODE_OR_LINK.sub(' ', md)
    return [m.group(0) for m in CITED.finditer(s)]


def main(argv):
    check = '--check' in argv
    bad = 0
    for path in (a for a in argv if not a.startswith('--')):
        nb = json.loads(Path(path).read_text())
        changed = False
        for c in nb['cells']:
            if c['cell_type'] != 'markdown': continue
            src = ''.join(c['source'])
            if check:
                for u in unlinked(src): print(f'{path} {c.get("id")}: {u} is not linked'); bad += 1
                continue
            new = link(src)
            if new != src:
                for m in re.finditer(r'\[([^\]]*#\d+)\]\(' + re.escape(URL), new): print(f'{path} {c.get("id")}: {m[1]}')
                c['source'] = new.splitlines(keepends=True); changed = True
        if changed: Path(path).write_text(json.dumps(nb, indent=1, ensure_ascii=False) + '\n')
    return 1 if bad else 0


if __name__ == '__main__':
    sys.exit(main(sys.argv[1:]))
