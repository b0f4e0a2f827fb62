#!/usr/bin/env python
"""Find cells that read a name another section left behind (a loop variable, an `rng`), so each section sets up what it uses.

    python tools/check_sections.py nbs/1*.ipynb      # prints each offending read; exit 1 if any

A name may be read across sections only if it was defined on purpose where a loss is defined: an import, an exported
cell, or the worked examples of the NumPy / torch / criterion sections (`x`, `y` of the NumPy section's example).
"""
import ast
import builtins
import json
import sys

ON_PURPOSE = ('top', 'NumPy', 'torch, from scratch', 'The criterion', 'The criteria')   # (a page with several losses: 'The criteria')


def _names(src):
    src = '\n'.join(l for l in src.splitlines() if not l.lstrip().startswith(('%', '!')))
    try: tree = ast.parse(src)
    except SyntaxError: return set(), set()
    stores, loads = set(), set()
    for n in ast.walk(tree):
        if isinstance(n, ast.Name): (stores if isinstance(n.ctx, ast.Store) else loads).add(n.id)
        elif isinstance(n, (ast.FunctionDef, ast.ClassDef)): stores.add(n.name)
        elif isinstance(n, (ast.Import, ast.ImportFrom)): stores.update((a.asname or a.name).split('.')[0] for a in n.names)
        elif isinstance(n, ast.arg): stores.add(n.arg)
    return stores, loads


def cross_section_reads(path) -> list:
    "Reads of a name defined only in another `##` section (not an import, an export or a worked example)."
    section, defined, out = 'top', {}, []
    for c in json.load(open(path))['cells']:
        src = ''.join(c['source'])
        if c['cell_type'] == 'markdown':
            section = next((l[3:].strip() for l in src.splitlines() if l.startswith('## ')), section)
            continue
        stores, loads = _names(src)
        purposeful = src.startswith('#| export') or section in ON_PURPOSE
        for n in sorted(loads - stores):
            if n in defined and not defined[n][1] and defined[n][0] != section and not hasattr(builtins, n):
                out.append(f"{path}: section [{section}] reads {n!r} left behind by section [{defined[n][0]}]")
        for n in stores:
            if n not in defined or not defined[n][1]: defined[n] = (section, purposeful)
    return out


if __name__ == '__main__':
    bad = [line for p in sys.argv[1:] for line in cross_section_reads(p)]
    print('\n'.join(bad) or 'every section sets up what it uses')
    sys.exit(1 if bad else 0)
