import { createHash } from 'node:crypto';
import { createWriteStream, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { BackupStore } from '../storage/store.js';
import { type Backup, field, type VerifyRecord } from './backup-catalogue.js';
import { openSnapshot } from './open-snapshot.js';
import { bootSnapshot, findLocalTools } from './throwaway-etcd.js';

export interface VerifyOptions {
  /** user@machine, recorded with the result. */
  by: string;
  now: () => Date;
  /** Boot it on a throwaway etcd on this machine (tools from the dir, else the PATH). */
  deep: { toolsDir: string | undefined; path: string } | undefined;
}

const num = (v: unknown): number | undefined => (v === undefined || v === '' || v === null ? undefined : Number(v));

/**
 * What the provenance and the object's own records say its sha256 and size are, and the disagreements
 * between those records. Pure.
 */
export function recordedDigest(prov: Record<string, unknown>, meta: Record<string, string>, companion: string | undefined): { sha256: string | undefined; size: number | undefined; problems: string[] } {
  const sha256 = typeof prov['sha256'] === 'string' ? prov['sha256'] : undefined;
  const size = num(prov['size']);
  const problems: string[] = [];
  if (!sha256) problems.push('the provenance records no sha256: nothing to check the object against');
  if (sha256 && meta['sha256'] && meta['sha256'] !== sha256) problems.push(`the object's metadata says sha256 ${meta['sha256']}, the provenance ${sha256}`);
  const side = companion?.trim().split(/\s+/)[0];
  if (sha256 && side && side !== sha256) problems.push(`the .sha256 companion says ${side}, the provenance ${sha256}`);
  return { sha256, size, problems };
}

/** Hash a stream into a file: sha256 and size of what was written. */
async function saveHashed(stream: NodeJS.ReadableStream, file: string): Promise<{ sha256: string; size: number }> {
  const h = createHash('sha256');
  let size = 0;
  const tap = new Transform({
    transform(chunk: Buffer, _enc, cb) {
      h.update(chunk);
      size += chunk.length;
      cb(null, chunk);
    },
  });
  await pipeline(stream, tap, createWriteStream(file, { mode: 0o600 }));
  return { sha256: h.digest('hex'), size };
}

async function companionOf(store: BackupStore, b: Backup): Promise<string | undefined> {
  const key = `${b.key}.sha256`;
  if (!b.objects.some((o) => o.key === key)) return undefined;
  try {
    let text = '';
    for await (const ch of (await store.get(key)).body as AsyncIterable<Buffer>) text += ch.toString('utf8');
    return text;
  } catch {
    return undefined;
  }
}

/**
 * Check one backup: read the stored object and compare its sha256 and size with the provenance (and the
 * object's metadata or `.sha256` companion); with `deep`, also decode it, check the snapshot's own sha256
 * when recorded, and boot it on a throwaway etcd: `snapshot status` must show the recorded revision, hash
 * and total-keys, and the booted member the recorded revision and at least one key. Never throws for what
 * it finds; the result is the record to store.
 */
export async function verifyBackup(store: BackupStore, b: Backup, opts: VerifyOptions): Promise<VerifyRecord> {
  const rec: VerifyRecord = { key: b.key, ok: false, at: opts.now().toISOString(), by: opts.by, deep: opts.deep !== undefined, problems: [] };
  const done = (problem?: string, inconclusive = false) => {
    if (problem) rec.problems.push(problem);
    if (inconclusive) rec.inconclusive = true;
    rec.ok = rec.problems.length === 0;
    return rec;
  };
  if (!b.provenance) return done(b.why ?? 'no provenance record');
  if (!b.stored) return done('the snapshot object is missing');
  let got: Awaited<ReturnType<BackupStore['hash']>>;
  try {
    got = await store.hash(b.key);
  } catch (e) {
    return done(`cannot read ${b.key}: ${(e as Error).message}`);
  }
  rec.sha256 = got.sha256;
  rec.size = got.size;
  const want = recordedDigest(b.provenance, got.meta, await companionOf(store, b));
  rec.problems.push(...want.problems);
  if (want.sha256 && (got.sha256 !== want.sha256 || (want.size !== undefined && got.size !== want.size)))
    return done(`corrupt: the object reads as sha256 ${got.sha256} (${got.size} bytes), the provenance records ${want.sha256} (${want.size ?? '?'} bytes)`);
  if (rec.problems.length || !opts.deep) return done();

  const version = field(b, 'etcd-version');
  if (!version) return done('the provenance records no etcd-version: cannot pick the etcd to boot it with', true);
  const tools = await findLocalTools(version, opts.deep);
  if (!tools.ok) return done(tools.reason, true);
  const dir = mkdtempSync(join(tmpdir(), 'runbook-verify-'));
  try {
    const opened = await openSnapshot(store, b);
    if (!opened.ok) return done(opened.reason, opened.inconclusive === true);
    const file = join(dir, 'snapshot.db');
    const plain = await saveHashed(opened.stream, file);
    const snapSha = field(b, 'snapshotSha256');
    if (snapSha && snapSha !== plain.sha256) return done(`the decoded snapshot has sha256 ${plain.sha256}, the provenance records ${snapSha}`);
    const snapSize = num(b.provenance['snapshotSize']);
    if (snapSize !== undefined && snapSize !== plain.size) return done(`the decoded snapshot has ${plain.size} bytes, the provenance records ${snapSize}`);
    const boot = await bootSnapshot(file, tools.tools, { workDir: dir, path: opts.deep.path, tag: b.runId });
    if (!boot.ok) return done(boot.reason);
    rec.snapshot = { sha256: plain.sha256, size: plain.size, revision: boot.status.revision, hash: boot.status.hash, totalKey: boot.status.totalKey };
    rec.booted = { keys: boot.keys, revision: boot.revision, etcd: `${tools.tools.version} (${tools.tools.from})` };
    const expect = (name: string, v: number) => {
      const w = num(b.provenance?.[name]);
      if (w !== undefined && w !== v) rec.problems.push(`snapshot status shows ${name} ${v}, the provenance records ${w}`);
    };
    expect('revision', boot.status.revision);
    expect('hash', boot.status.hash);
    expect('total-keys', boot.status.totalKey);
    const rev = num(b.provenance['revision']);
    if (rev !== undefined && boot.revision !== rev) rec.problems.push(`the throwaway etcd booted from it is at revision ${boot.revision}, the provenance records ${rev}`);
    if (boot.keys === 0) rec.problems.push('the throwaway etcd booted from it has no keys');
    return done();
  } catch (e) {
    return done(`deep check failed: ${(e as Error).message}`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** Where the check record goes: next to the object, never into its provenance (which stays as the upload wrote it). */
export async function recordCheck(store: BackupStore, rec: VerifyRecord): Promise<void> {
  await store.putSmall(`${rec.key}.verify.json`, `${JSON.stringify(rec, null, 2)}\n`, 'application/json');
}
