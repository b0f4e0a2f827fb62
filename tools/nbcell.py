#!/usr/bin/env python
"""Read or write one notebook cell's source by its id, so a cell can be edited as a plain file.

    python tools/nbcell.py list nbs/00_core.ipynb                 # index, id, type, first line of every cell
    python tools/nbcell.py get  nbs/00_core.ipynb f59e88ab > c.py  # the cell's source
    python tools/nbcell.py set  nbs/00_core.ipynb f59e88ab < c.py  # replace it (outputs of a code cell are cleared)
    python tools/nbcell.py add  nbs/00_core.ipynb f59e88ab code < c.py   # a new cell after f59e88ab ('code'|'markdown')
    python tools/nbcell.py del  nbs/00_core.ipynb f59e88ab

The notebook is rewritten in nbdev_clean's layout (one-space indent); run the notebook and nbdev_clean afterwards.
"""
import json, sys, uuid
from pathlib import Path


def _load(p): return json.loads(Path(p).read_text())


def _save(p, nb): Path(p).write_text(json.dumps(nb, indent=1, ensure_ascii=False) + '\n')


def _find(nb, cid):
    for i, c in enumerate(nb['cells']):
        if c.get('id') == cid: return i
    sys.exit(f"no cell with id {cid}")


def _src(text): return text.splitlines(keepends=True)


def main(argv):
    cmd, path = argv[0], argv[1]
    nb = _load(path)
    if cmd == 'list':
        for i, c in enumerate(nb['cells']):
            first = ''.join(c['source']).split('\n')[:2]
            print(i, c.get('id'), c['cell_type'], ' | '.join(first)[:110])
        return
    cid = argv[2]
    if cmd == 'get':
        sys.stdout.write(''.join(nb['cells'][_find(nb, cid)]['source'])); return
    if cmd == 'del':
        del nb['cells'][_find(nb, cid)]; _save(path, nb); return
    text = sys.stdin.read().rstrip('\n')
    if cmd == 'set':
        c = nb['cells'][_find(nb, cid)]
        c['source'] = _src(text)
        if c['cell_type'] == 'code': c['outputs'], c['execution_count'] = [], None
    elif cmd == 'add':
        kind = argv[3]
        c = {'cell_type': kind, 'id': uuid.uuid4().hex[:8], 'metadata': {}, 'source': _src(text)}
        if kind == 'code': c.update(outputs=[], execution_count=None)
        nb['cells'].insert(_find(nb, cid) + 1, c)
        print(c['id'])
    _save(path, nb)


if __name__ == '__main__': main(sys.argv[1:])
