/**
 * Retention of backups, one decision for `s3.prune` (backup.yml) and `runbook snapshots prune`: keep the
 * newest `keepLast` and anything younger than `maxAgeDays`; whatever that would delete, the newest
 * verified backup is never deleted (so a run of bad backups can never take the last good one with it). Pure.
 */
export interface RetentionRule {
  keepLast: number;
  maxAgeDays: number | undefined;
  now: number;
}

export interface RetentionVerdict<T> {
  item: T;
  keep: boolean;
  why: string;
}

const DAY = 86_400_000;

/** Every item with its verdict and the reason, newest first. */
export function retention<T extends { time: number; verified: boolean }>(items: T[], rule: RetentionRule): RetentionVerdict<T>[] {
  const sorted = [...items].sort((a, b) => b.time - a.time);
  const age = (t: T) => `${((rule.now - t.time) / DAY).toFixed(1)} days old`;
  const out: RetentionVerdict<T>[] = sorted.map((item, i) => {
    if (i < rule.keepLast) return { item, keep: true, why: `one of the newest ${rule.keepLast}` };
    if (rule.maxAgeDays !== undefined && rule.now - item.time < rule.maxAgeDays * DAY) return { item, keep: true, why: `younger than ${rule.maxAgeDays} days (${age(item)})` };
    return { item, keep: false, why: rule.maxAgeDays === undefined ? `not one of the newest ${rule.keepLast}` : `not one of the newest ${rule.keepLast}, and ${age(item)} (≥ ${rule.maxAgeDays})` };
  });
  if (!out.some((v) => v.keep && v.item.verified)) {
    const newest = out.find((v) => v.item.verified);
    if (newest) {
      newest.keep = true;
      newest.why = 'the newest verified backup: never deleted';
    }
  }
  return out;
}
