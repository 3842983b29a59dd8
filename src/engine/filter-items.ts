import type { Playbook, PlaybookItem } from '../model/playbook.js';

export interface ItemFilter {
  tags: string[] | undefined;
  startAt: string | undefined;
}

export type FilteredItem = { item: PlaybookItem; index: number; skip: string | undefined };

/** Which items run: --start-at skips everything before the named step; --tags keeps tagged steps (and 'always'). */
export function filterItems(pb: Playbook, f: ItemFilter): { ok: true; items: FilteredItem[] } | { ok: false; message: string } {
  if (f.startAt && !pb.items.some((i) => i.name === f.startAt))
    return { ok: false, message: `--start-at: no step named '${f.startAt}' (steps: ${pb.items.map((i) => i.name).join(', ')})` };
  let started = !f.startAt;
  const items = pb.items.map((item, index): FilteredItem => {
    if (!started && item.name === f.startAt) started = true;
    if (!started) return { item, index, skip: `before --start-at ${f.startAt}` };
    if (item.kind === 'step' && f.tags && !item.tags.some((t) => t === 'always' || f.tags?.includes(t)))
      return { item, index, skip: `not tagged ${f.tags.join(',')}` };
    return { item, index, skip: undefined };
  });
  return { ok: true, items };
}
