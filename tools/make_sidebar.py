#!/usr/bin/env python
"""Write nbs/sidebar.yml: the site's sidebar with the loss pages grouped by family (from the registry).

    python tools/make_sidebar.py           # write nbs/sidebar.yml
    python tools/make_sidebar.py --check   # exit 1 if nbs/sidebar.yml is not what the notebooks and registry give

nbdev's own `nbdev_sidebar` lists the notebooks flat; settings.ini sets `custom_sidebar = True` so that nbdev leaves
this file alone. Every notebook in nbs/ appears exactly once: the index first, the loss pages by family in notebook
order (torch's in the 10s–40s, then the "Beyond torch.nn" group of the 60s), then the book pages (50s, 70s, 80s), then
the core, the harness and the namespaces.
"""
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
NBS = ROOT / 'nbs'
FAMILIES = {'regression': 'Regression — 回归', 'classification': 'Classification — 分类',
            'likelihood': 'Likelihood — 似然', 'margin': 'Margin — 间隔', 'embedding': 'Embedding — 嵌入',
            'sequence': 'Sequence — 序列'}
# The losses torch.nn lacks (notebooks 60s, checked against torchvision, MONAI, …): one "Beyond torch.nn" group, by family.
BEYOND = 'Beyond torch.nn — torch.nn 之外'
BEYOND_FAMILIES = {'dense': 'Detection & segmentation — 检测与分割',
                   'multilabel': 'Multi-label — 多标签',
                   'representation': 'Representation learning — 表示学习',
                   'classification': 'Soft targets & consistency — 软标签与一致性',
                   'regression': 'Quantile regression — 分位数回归'}


MODULE_FAMILY = {'28': 'classification'}   # 28_adaptive_log_softmax: the adaptive softmax, beside cross-entropy


def sidebar() -> str:
    sys.path.insert(0, str(ROOT))
    from lossbook.core import losses
    notebooks = sorted(p.name for p in NBS.glob('*.ipynb') if not p.name.startswith('_'))
    by_family, beyond = {}, {}
    for info in losses():
        (by_family if info.reference_package == 'torch' else beyond).setdefault(info.family, set()).add(info.notebook)
    for nb in notebooks:   # a loss page that registers no functional (the adaptive softmax module) joins its number's family
        if nb[:1] in '12346' and nb[1:2].isdigit() and not any(nb in v for d in (by_family, beyond) for v in d.values()):
            by_family.setdefault(MODULE_FAMILY[nb[:2]], set()).add(nb)   # a KeyError: add the page's family here
    placed = {'index.ipynb'}
    out = ['website:', '  sidebar:', '    contents:', '      - index.ipynb']
    def section(title, nbs, indent='      '):
        nbs = [n for n in notebooks if n in nbs and n not in placed]
        if not nbs: return
        out.extend([f'{indent}- section: "{title}"', f'{indent}  contents:'] + [f'{indent}    - {n}' for n in nbs])
        placed.update(nbs)
    for fam, title in FAMILIES.items(): section(title, by_family.get(fam, ()))
    for fam in sorted(set(by_family) - set(FAMILIES)): section(fam.capitalize(), by_family[fam])
    if beyond:
        out.extend([f'      - section: "{BEYOND}"', '        contents:'])
        for fam in [*BEYOND_FAMILIES, *sorted(set(beyond) - set(BEYOND_FAMILIES))]:
            if fam in beyond: section(BEYOND_FAMILIES.get(fam, FAMILIES.get(fam, fam.capitalize())), beyond[fam], indent='          ')
    section('The book — 指南', {n for n in notebooks if n[:1] in '578' and n[1:2].isdigit()})
    section('Under the hood — 内部', set(notebooks) - placed)
    return '\n'.join(out) + '\n'


if __name__ == '__main__':
    want = sidebar()
    path = NBS / 'sidebar.yml'
    if '--check' in sys.argv[1:]:
        if path.read_text() != want:
            print('nbs/sidebar.yml is stale: run python tools/make_sidebar.py'); sys.exit(1)
    else:
        path.write_text(want); print(f'wrote {path}')
