import { Readable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { runS3Prune } from '../../src/engine/run-special.js';
import { NO_KEYS } from '../../src/storage/codec.js';
import type { BackupStore, StoredObject } from '../../src/storage/store.js';

/** An in-memory bucket. */
function memStore(objects: Record<string, { body: string; at: number }>): BackupStore & { keys: () => string[] } {
  const store: BackupStore & { keys: () => string[] } = {
    keys: () => Object.keys(objects).sort(),
    codecKeys: NO_KEYS,
    put: async () => ({ sha256: '', size: 0, etagVerified: false }),
    hash: async () => ({ sha256: '', size: 0, meta: {} }),
    get: async (key) => {
      const o = objects[key];
      if (!o) throw new Error(`no ${key}`);
      return { body: Readable.from([Buffer.from(o.body)]), meta: {} };
    },
    putSmall: async () => undefined,
    list: async (prefix): Promise<StoredObject[]> =>
      Object.entries(objects)
        .filter(([k]) => k.startsWith(prefix))
        .map(([key, o]) => ({ key, size: o.body.length, lastModified: new Date(o.at) })),
    head: async () => ({}),
    delete: async (key) => {
      delete objects[key];
    },
  };
  return store;
}

const DAY = 86_400_000;
const NOW = 100 * DAY;

function backup(run: string, ageDays: number, verified: boolean): Record<string, { body: string; at: number }> {
  const at = NOW - ageDays * DAY;
  return {
    [`etcd/c/${run}/snapshot.db`]: { body: 'db', at },
    [`etcd/c/${run}/snapshot.db.json`]: { body: JSON.stringify({ kind: 'etcd-snapshot', verified }), at },
    [`etcd/c/${run}/etc-kubernetes.tar.gz`]: { body: 'tgz', at },
    [`etcd/c/${run}/etc-kubernetes.tar.gz.json`]: { body: JSON.stringify({ kind: 'etc-kubernetes', verified: true }), at },
  };
}

const op = (keepLast: number, maxAgeDays?: number) => ({ op: 's3-prune' as const, endpoint: '', region: 'r', bucket: 'b', prefix: 'etcd/c/', keepLast, maxAgeDays });

describe('retention', () => {
  it('counts a backup as a run folder (snapshot + archive), keeps the newest N and the young ones', async () => {
    const s = memStore({ ...backup('r1', 40, true), ...backup('r2', 35, true), ...backup('r3', 20, true), ...backup('r4', 2, true), ...backup('r5', 1, true) });
    const out = await runS3Prune(op(2, 30), () => s, NOW);
    expect(out.ok).toBe(true);
    expect(out.facts).toEqual({ kept: ['etcd/c/r5/', 'etcd/c/r4/', 'etcd/c/r3/'], deleted: ['etcd/c/r2/', 'etcd/c/r1/'] });
    expect(s.keys().filter((k) => k.includes('/r1/') || k.includes('/r2/'))).toEqual([]);
    expect(s.keys().filter((k) => k.includes('/r3/'))).toHaveLength(4);
  });

  it('never deletes the only verified snapshot, however old', async () => {
    const s = memStore({ ...backup('old', 90, true), ...backup('new1', 2, false), ...backup('new2', 1, false) });
    const out = await runS3Prune(op(1), () => s, NOW);
    expect(out.facts).toEqual({ kept: ['etcd/c/new2/', 'etcd/c/old/'], deleted: ['etcd/c/new1/'] });
  });
});
