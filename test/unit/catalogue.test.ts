import { createHash } from 'node:crypto';
import { Readable } from 'node:stream';
import { Chalk } from 'chalk';
import { describe, expect, it } from 'vitest';
import { type Backup, orderBackups, scanBackups } from '../../src/engine/backup-catalogue.js';
import { retention } from '../../src/engine/retention.js';
import { recordedDigest, verifyBackup } from '../../src/engine/verify-backup.js';
import { formatBackupTable, formatPrune } from '../../src/report/backup-table.js';
import type { BackupStore, StoredObject } from '../../src/storage/store.js';
import { NO_KEYS } from '../../src/storage/codec.js';

const DAY = 86_400_000;
const NOW = Date.parse('2026-12-01T00:00:00Z');
const sha = (s: string) => createHash('sha256').update(s).digest('hex');

/** An in-memory bucket: the fake BackupStore. */
function memStore(objects: Record<string, { body: string; at: number; meta?: Record<string, string> }>): BackupStore & { keys: () => string[] } {
  return {
    codecKeys: NO_KEYS,
    keys: () => Object.keys(objects).sort(),
    put: async () => ({ sha256: '', size: 0, etagVerified: false }),
    hash: async (key) => {
      const o = objects[key];
      if (!o) throw new Error(`NoSuchKey ${key}`);
      return { sha256: sha(o.body), size: Buffer.byteLength(o.body), meta: o.meta ?? {} };
    },
    get: async (key) => {
      const o = objects[key];
      if (!o) throw new Error(`NoSuchKey ${key}`);
      return { body: Readable.from([Buffer.from(o.body)]), meta: o.meta ?? {} };
    },
    putSmall: async (key, body) => {
      objects[key] = { body, at: NOW };
    },
    list: async (prefix): Promise<StoredObject[]> =>
      Object.entries(objects)
        .filter(([k]) => k.startsWith(prefix))
        .map(([key, o]) => ({ key, size: Buffer.byteLength(o.body), lastModified: new Date(o.at) })),
    head: async (key) => objects[key]?.meta,
    delete: async (key) => {
      delete objects[key];
    },
  };
}

interface Opts {
  ageDays: number;
  verified?: boolean;
  provenance?: 'ok' | 'missing' | 'garbage';
  body?: string;
  extra?: Record<string, unknown>;
}

function backup(run: string, o: Opts): Record<string, { body: string; at: number }> {
  const at = NOW - o.ageDays * DAY;
  const body = o.body ?? `snapshot of ${run}`;
  const k = `etcd/c/${run}/snapshot.db`;
  const prov = { kind: 'etcd-snapshot', cluster: 'c', member: 'm-1', 'etcd-version': '3.5.16', revision: '42', 'total-keys': '17', 'taken-at': new Date(at).toISOString(), key: k, sha256: sha(body), size: Buffer.byteLength(body), verified: o.verified ?? true, ...o.extra };
  const out: Record<string, { body: string; at: number }> = {
    [k]: { body, at },
    [`etcd/c/${run}/etc-kubernetes.tar.gz`]: { body: 'tgz', at },
    [`etcd/c/${run}/etc-kubernetes.tar.gz.json`]: { body: JSON.stringify({ kind: 'etc-kubernetes', verified: true }), at },
  };
  if (o.provenance !== 'missing') out[`${k}.json`] = { body: o.provenance === 'garbage' ? '{"kind": "etcd-snap' : JSON.stringify(prov), at };
  return out;
}

const plain = new Chalk({ level: 0 });

describe('the backup catalogue', () => {
  it('lists newest verified first, then the unverified by time; a backup with no or bad provenance is listed with the reason', async () => {
    const s = memStore({
      ...backup('r1', { ageDays: 5 }),
      ...backup('r2', { ageDays: 1, verified: false }),
      ...backup('r3', { ageDays: 3 }),
      ...backup('r4', { ageDays: 0.5, provenance: 'missing' }),
      ...backup('r5', { ageDays: 2, provenance: 'garbage' }),
      'etcd/c/only-archive/etc-kubernetes.tar.gz': { body: 'x', at: NOW },
    });
    const list = orderBackups(await scanBackups(s, 'etcd/c/'));
    expect(list.map((b) => [b.runId, b.verified])).toEqual([
      ['r3', true],
      ['r1', true],
      ['r4', false],
      ['r2', false],
      ['r5', false],
    ]);
    expect(list.find((b) => b.runId === 'r4')?.why).toBe('no provenance record (snapshot.db.json is missing)');
    expect(list.find((b) => b.runId === 'r5')?.why).toMatch(/^provenance unreadable: etcd\/c\/r5\/snapshot.db.json is not valid JSON/);
    expect(list.find((b) => b.runId === 'r2')?.why).toBe('the upload was not verified');
    expect(list[0]?.compression).toBe('none');
  });

  it('a failed check record makes a backup unverified; the encoding fields are read', async () => {
    const s = memStore({
      ...backup('good', { ageDays: 1, extra: { compression: 'gzip', encryption: 'age' } }),
      ...backup('bad', { ageDays: 0 }),
      'etcd/c/bad/snapshot.db.verify.json': { body: JSON.stringify({ key: 'etcd/c/bad/snapshot.db', ok: false, at: '2026-11-30T10:00:00Z', problems: ['corrupt: x'] }), at: NOW },
    });
    const [first, second] = orderBackups(await scanBackups(s, 'etcd/c/'));
    expect(first).toMatchObject({ runId: 'good', verified: true, compression: 'gzip', encryption: 'age' });
    expect(second).toMatchObject({ runId: 'bad', verified: false, why: 'verify failed at 2026-11-30T10:00:00Z: corrupt: x' });
  });

  it('renders the table: short sha256, size, flags, the reason', async () => {
    const s = memStore({ ...backup('20261130-010000-aaaaaa', { ageDays: 1, extra: { compression: 'gzip' } }), ...backup('20261130-020000-bbbbbb', { ageDays: 0.5, provenance: 'missing' }) });
    const table = formatBackupTable(orderBackups(await scanBackups(s, 'etcd/c/')), plain);
    console.log(table);
    const lines = table.trimEnd().split('\n');
    expect(lines[0]).toMatch(/^RUN_ID\s+CLUSTER\s+TAKEN\s+MEMBER\s+ETCD\s+REVISION\s+KEYS\s+SIZE\s+SHA256\s+VERIFIED\s+ENCRYPTED\s+COMPRESSED\s+NOTE$/);
    expect(lines[1]).toContain(`20261130-010000-aaaaaa  c        2026-11-30 00:00:00Z  m-1     3.5.16  42        17    34 B  ${sha('snapshot of 20261130-010000-aaaaaa').slice(0, 12)}  yes (upload)  no         gzip`);
    expect(lines[2]).toMatch(/^20261130-020000-bbbbbb\s+-\s+2026-11-30 12:00:00Z\s+-\s+-\s+-\s+-\s+34 B\s+-\s+no\s+no\s+no\s+no provenance record/);
    // every column starts at the same offset on every line
    const col = (l: string | undefined) => l?.indexOf('2026-11-30') ?? -1;
    expect(col(lines[1])).toBe(lines[0]?.indexOf('TAKEN'));
    expect(col(lines[2])).toBe(lines[0]?.indexOf('TAKEN'));
  });
});

const item = (id: string, ageDays: number, verified: boolean) => ({ id, time: NOW - ageDays * DAY, verified });

describe('retention decisions', () => {
  const table: { name: string; items: ReturnType<typeof item>[]; keepLast: number; maxAgeDays?: number; kept: string[]; why?: Record<string, string> }[] = [
    { name: 'newest N only', items: [item('a', 1, true), item('b', 2, true), item('c', 3, true)], keepLast: 2, kept: ['a', 'b'], why: { c: 'not one of the newest 2' } },
    { name: 'young ones are kept past N', items: [item('a', 1, true), item('b', 10, true), item('c', 40, true)], keepLast: 1, maxAgeDays: 30, kept: ['a', 'b'], why: { b: 'younger than 30 days (10.0 days old)', c: 'not one of the newest 1, and 40.0 days old (≥ 30)' } },
    { name: 'the newest verified one survives a run of bad backups', items: [item('bad1', 1, false), item('bad2', 2, false), item('good', 50, true), item('older', 60, true)], keepLast: 2, maxAgeDays: 7, kept: ['bad1', 'bad2', 'good'], why: { good: 'the newest verified backup: never deleted' } },
    { name: 'no verified backup at all: plain retention', items: [item('x', 1, false), item('y', 2, false)], keepLast: 1, kept: ['x'] },
    { name: 'order of the input does not matter', items: [item('old', 9, true), item('new', 1, true)], keepLast: 1, kept: ['new'] },
  ];
  for (const t of table)
    it(t.name, () => {
      const v = retention(t.items, { keepLast: t.keepLast, maxAgeDays: t.maxAgeDays, now: NOW });
      expect(v.filter((x) => x.keep).map((x) => x.item.id)).toEqual(t.kept);
      for (const [id, why] of Object.entries(t.why ?? {})) expect(v.find((x) => x.item.id === id)?.why).toBe(why);
    });

  it('renders the prune table', async () => {
    const s = memStore({ ...backup('keep-me', { ageDays: 1 }), ...backup('drop-me', { ageDays: 9 }) });
    const out = formatPrune(retention(await scanBackups(s, 'etcd/c/'), { keepLast: 1, maxAgeDays: undefined, now: NOW }), plain);
    expect(out).toMatch(/^\s+RUN_ID\s+TAKEN\s+STATE\s+OBJECTS\s+WHY\n/);
    expect(out).toMatch(/keep\s+keep-me\s+2026-11-30 00:00:00Z\s+verified\s+4\s+one of the newest 1\n/);
    expect(out).toMatch(/DELETE\s+drop-me\s+2026-11-22 00:00:00Z\s+verified\s+4\s+not one of the newest 1\n/);
  });
});

describe('verify (without --deep)', () => {
  const verify = async (objects: Record<string, { body: string; at: number; meta?: Record<string, string> }>) => {
    const s = memStore(objects);
    const [b] = await scanBackups(s, 'etcd/c/');
    return verifyBackup(s, b as Backup, { by: 'sre@jump', now: () => new Date(NOW), deep: undefined });
  };

  it('a good object passes, with what it read', async () => {
    const r = await verify(backup('r', { ageDays: 1 }));
    expect(r).toMatchObject({ ok: true, sha256: sha('snapshot of r'), size: 13, by: 'sre@jump', deep: false, problems: [] });
  });

  it('a corrupted object is reported as corrupt', async () => {
    const objs = backup('r', { ageDays: 1 });
    (objs['etcd/c/r/snapshot.db'] as { body: string }).body = 'snapshot of R';
    const r = await verify(objs);
    expect(r.ok).toBe(false);
    expect(r.problems[0]).toMatch(/^corrupt: the object reads as sha256 [0-9a-f]{64} \(13 bytes\), the provenance records [0-9a-f]{64} \(13 bytes\)$/);
  });

  it('a companion or metadata that disagrees with the provenance fails', () => {
    expect(recordedDigest({ sha256: 'a'.repeat(64), size: 3 }, { sha256: 'b'.repeat(64) }, undefined).problems).toEqual([`the object's metadata says sha256 ${'b'.repeat(64)}, the provenance ${'a'.repeat(64)}`]);
    expect(recordedDigest({ sha256: 'a'.repeat(64) }, {}, `${'c'.repeat(64)}  snapshot.db\n`).problems).toEqual([`the .sha256 companion says ${'c'.repeat(64)}, the provenance ${'a'.repeat(64)}`]);
    expect(recordedDigest({}, {}, undefined).problems).toEqual(['the provenance records no sha256: nothing to check the object against']);
  });

  it('no provenance: fails with the reason, never passes', async () => {
    const r = await verify(backup('r', { ageDays: 1, provenance: 'missing' }));
    expect(r).toMatchObject({ ok: false, problems: ['no provenance record (snapshot.db.json is missing)'] });
  });
});
