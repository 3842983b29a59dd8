import type { Playbook, PlaybookItem } from '../model/playbook.js';

export interface ItemFilter {
  tags: string[] | undefined;
  skipTags?: string[] | undefined;
  startAt: string | undefined;
}

export type FilteredItem = { item: PlaybookItem; index: number; skip: string | undefined };

/**
 * Which items run: --start-at skips everything before the named step; --tags keeps tagged steps (and
 * 'always'); --skip-tags drops steps with any of its tags, and wins over both (as in Ansible). A tag list
 * that names nothing in the playbook is refused: a typo would silently run everything, or nothing.
 */
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
  if (f.skipTags !== undefined) {
    if (f.skipTags.length === 0) return { ok: false, message: '--skip-tags names no tag: give tag names, comma-separated (or leave --skip-tags out)' };
    const known = new Set(pb.items.flatMap((i) => (i.kind === 'step' ? i.tags : [])));
    const unknown = f.skipTags.filter((t) => !known.has(t));
    if (unknown.length)
      return { ok: false, message: `--skip-tags ${unknown.join(',')}: no step has ${unknown.length > 1 ? 'these tags' : 'this tag'} (tags in this playbook: ${[...known].join(', ') || 'none'})` };
  }
  let started = !f.startAt;
  const items = pb.items.map((item, index): FilteredItem => {
    if (!started && item.name === f.startAt) started = true;
    if (!started) return { item, index, skip: `before --start-at ${f.startAt}` };
    const skipped = item.kind === 'step' ? item.tags.filter((t) => f.skipTags?.includes(t)) : [];
    if (skipped.length) return { item, index, skip: `--skip-tags ${skipped.join(',')}` };
    if (item.kind === 'step' && f.tags && !item.tags.some((t) => t === 'always' || f.tags?.includes(t)))
      return { item, index, skip: `not tagged ${f.tags.join(',')}` };
    return { item, index, skip: undefined };
  });
  return { ok: true, items };
}
