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
  if (f.tags !== undefined) {
    const tags = f.tags.filter((t) => t !== '');
    if (tags.length === 0) return { ok: false, message: '--tags names no tag: give tag names, comma-separated (or leave --tags out)' };
    const known = new Set(pb.items.flatMap((i) => (i.kind === 'step' ? i.tags : [])));
    if (!tags.some((t) => known.has(t)))
      return { ok: false, message: `--tags ${tags.join(',')} matches no step: nothing would run (tags in this playbook: ${[...known].join(', ') || 'none'})` };
  }
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
