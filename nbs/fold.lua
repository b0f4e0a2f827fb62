-- Quarto filter (nbs/_quarto.yml: filters): close the source fold of a cell marked `#| classes: fold-closed`.
-- nbdev gives every `#| exports` cell `code-fold: show` ("Exported source", open), and a second `code-fold` option in
-- the cell would be a duplicate YAML key, which Quarto refuses. Loss pages use the mark on their argument-checking
-- helpers (`_ce_args`, …), so a reader meets the public functions first and can still open the helpers.
function Div(div)
  if not div.classes:includes('fold-closed') then return nil end
  return div:walk({CodeBlock = function(cb)
    if cb.attributes['code-fold'] == 'show' then cb.attributes['code-fold'] = 'true'; return cb end
  end})
end
