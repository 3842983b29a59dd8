import { createHash } from 'node:crypto';
import { createWriteStream, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import type { Command, CommandOutcome, LocalOp, Parse } from '../model/command.js';
import type { Host } from '../model/inventory.js';
import { checkCluster, parseClusterFacts, parseEtcdJson, parseKeyCount, parseSnapshotStatus, hexId } from '../facts/etcd-json.js';
import { editFlags } from '../facts/manifest-edit.js';
import { parseEtcdTools } from '../facts/etcd-tools.js';
import { compareMinor } from '../actions/etcd-version.js';
import type { BackupStore, StoreLocation } from '../storage/store.js';
import { readJsonObject, scanBackups } from './backup-catalogue.js';
import { retention } from './retention.js';
import type { Transport } from '../transport/transport.js';
import { sh } from '../shell/build.js';
import { filledText } from '../shell/fill.js';
import type { ProgressFactory } from './progress.js';

export type StoreFactory = (loc: StoreLocation) => BackupStore;

export interface SpecialContext {
  transport: Transport;
  host: Host;
  stores: StoreFactory;
  /** Progress of a long transfer, as throttled events of the step on this host. */
  progress?: ProgressFactory | undefined;
}

type Outcome = Omit<CommandOutcome, 'durationMs' | 'attempts'>;

const fail = (error: string, stdout = '', stderr = ''): Outcome => ({ ok: false, exitCode: 1, signal: null, stdout, stderr, error });
const done = (stdout: string, facts?: unknown): Outcome => ({ ok: true, exitCode: 0, signal: null, stdout, stderr: '', facts });

/** Why a snapshot must not be restored by etcd `restoreWith`: written by a newer major.minor. Pure. */
export function snapshotTooNew(facts: unknown, restoreWith: unknown, writtenBy: unknown): string | undefined {
  const text = (v: unknown) => (typeof v === 'string' && v !== '' ? v : typeof v === 'number' ? String(v) : undefined);
  const using = text(restoreWith);
  if (using === undefined) return undefined;
  const own = text((facts as { version?: unknown } | undefined)?.version);
  for (const [v, by] of [[own, 'its own status'], [text(writtenBy), "the backup's provenance"]] as const) {
    if (v !== undefined && (compareMinor(v, using) ?? 0) > 0) return `the snapshot was written by etcd ${v} (${by}), newer than the etcd ${using} that would restore it: refusing it before anything is stopped`;
  }
  return undefined;
}

/** Turn stdout into facts and check what they must show. Pure. */
export function applyParse(p: Parse, stdout: string): { ok: true; facts: unknown } | { ok: false; facts: unknown; reason: string } {
  try {
    switch (p.parser) {
      case 'etcd-cluster': {
        const facts = parseClusterFacts(stdout, p.endpoints);
        if (!p.expect) return { ok: true, facts };
        const c = checkCluster(facts, p.expect);
        return c.ok ? { ok: true, facts } : { ok: false, facts, reason: c.reason };
      }
      case 'snapshot-status': {
        const facts = parseSnapshotStatus(stdout);
        const why = snapshotTooNew(facts, p.restoreWith, p.writtenBy);
        return why ? { ok: false, facts, reason: why } : { ok: true, facts };
      }
      case 'etcd-tools': {
        const r = parseEtcdTools(stdout, p.forced);
        if (!r.ok) return { ok: false, facts: undefined, reason: r.reason };
        if (p.complete && r.facts.missing.length > 0)
          return { ok: false, facts: r.facts, reason: `etcd ${r.facts.version} (${r.facts.source}): this host has no ${r.facts.missing.join(', ')} of that version; give a tools dir (-e etcd_tools_dir=DIR with DIR/${r.facts.version}/{${r.facts.missing.join(',')}} and SHA256SUMS) or name them in the inventory` };
        return { ok: true, facts: r.facts };
      }
      case 'key-count': {
        const facts = parseKeyCount(stdout);
        const { count } = facts;
        // an expectation registered by an earlier step arrives as text: it must be a count
        const want = (v: unknown): number | undefined | string => {
          if (v === undefined || v === null || v === '') return undefined;
          const n = Number(v);
          return Number.isInteger(n) && n >= 0 ? n : `the expected key count '${String(v)}' is not a count`;
        };
        const equals = want(p.expect?.equals);
        const min = want(p.expect?.min);
        if (typeof equals === 'string') return { ok: false, facts, reason: equals };
        if (typeof min === 'string') return { ok: false, facts, reason: min };
        if (equals !== undefined && count !== equals) return { ok: false, facts, reason: `${count} keys, want exactly ${equals}` };
        if (min !== undefined && count < min) return { ok: false, facts, reason: `${count} keys, want at least ${min}` };
        return { ok: true, facts };
      }
      case 'member-add': {
        const o = parseEtcdJson(stdout) as { member?: { ID?: unknown }; members?: { ID?: unknown; name?: string; peerURLs?: string[] }[] };
        const id = hexId(o.member?.ID);
        if (!id) return { ok: false, facts: {}, reason: 'member add printed no member id' };
        // --initial-cluster for a member joining an existing cluster must list exactly the current members
        const initial_cluster = (o.members ?? [])
          .map((m) => (hexId(m.ID) === id ? `${p.name}=${p.peerUrl}` : `${m.name ?? ''}=${m.peerURLs?.[0] ?? ''}`))
          .join(',');
        return { ok: true, facts: { id, initial_cluster } };
      }
    }
  } catch (e) {
    return { ok: false, facts: undefined, reason: `cannot parse the output: ${(e as Error).message}` };
  }
}

export async function runEdit(c: Extract<Command, { kind: 'edit' }>, ctx: SpecialContext): Promise<Outcome> {
  const read = await ctx.transport.exec(ctx.host, sh`cat -- ${c.path}`, { root: true });
  if (read.kind !== 'exited') return fail(read.kind === 'unreachable' ? `unreachable: ${read.message}` : `connection lost: ${read.message}`);
  if (read.code !== 0) return fail(`cannot read ${c.path}: ${read.stderr.trim()}`);
  const r = editFlags(read.stdout, c.style, c.edits);
  if (!r.ok) return fail(`${c.path}: ${r.message}`);
  if (!r.changed) return done(`${c.path}: already as wanted`);
  const mode = await ctx.transport.exec(ctx.host, sh`stat -c %a -- ${c.path}`, { root: true });
  const m = mode.kind === 'exited' && mode.code === 0 ? Number.parseInt(mode.stdout.trim(), 8) : 0o600;
  const up = await ctx.transport.upload(ctx.host, c.path, Buffer.from(r.text, 'utf8'), m);
  if (up.kind !== 'done') return fail(`${up.kind === 'unreachable' ? 'unreachable' : 'write failed'}: ${up.message}`);
  return done(`${c.path}: edited`);
}

export async function runS3Put(c: Extract<Command, { kind: 's3-put' }>, ctx: SpecialContext): Promise<Outcome> {
  const store = ctx.stores({ endpoint: c.endpoint, region: c.region, bucket: c.bucket });
  const s = await ctx.transport.stream(ctx.host, sh`cat -- ${c.src}`, { root: true, deadlineS: 6 * 3600 });
  if (s.kind !== 'ok') return fail(`unreachable: ${s.message}`);
  let put: { sha256: string; size: number };
  try {
    put = await store.put(c.key, s.stdout, Object.fromEntries(Object.entries(c.meta).map(([k, v]) => [k, filledText(v)])));
  } catch (e) {
    s.stdout.destroy();
    return fail(`upload to s3://${c.bucket}/${c.key} failed: ${(e as Error).message}`);
  }
  const end = await s.done;
  if (end.kind !== 'exited' || end.code !== 0) {
    await store.delete(c.key).catch(() => undefined);
    return fail(`reading ${c.src} on the host failed (${end.kind === 'exited' ? `exit ${end.code}: ${end.stderr.trim()}` : end.message}); the partial object was deleted`);
  }
  const back = await store.hash(c.key);
  if (back.sha256 !== put.sha256 || back.size !== put.size) {
    return fail(`verification failed: s3://${c.bucket}/${c.key} reads back as sha256 ${back.sha256} (${back.size} bytes), sent ${put.sha256} (${put.size} bytes)`);
  }
  const provenance = { ...c.meta, key: c.key, sha256: put.sha256, size: put.size, verified: true, uploadedAt: new Date().toISOString() };
  await store.putSmall(`${c.key}.json`, `${JSON.stringify(provenance, null, 2)}\n`, 'application/json');
  return done(JSON.stringify(provenance), provenance);
}

/** The provenance record written next to a backup (KEY.json), or {} when there is none. */
async function provenanceOf(store: BackupStore, key: string): Promise<Record<string, unknown>> {
  const r = await readJsonObject(store, `${key}.json`);
  return r.ok ? r.value : {};
}

async function expectedSha(store: BackupStore, key: string, given: string | undefined): Promise<string | undefined> {
  if (given) return given;
  const meta = await store.head(key);
  if (meta?.['sha256']) return meta['sha256'];
  const sha = (await provenanceOf(store, key))['sha256'];
  return typeof sha === 'string' ? sha : undefined;
}

/** Read the whole object on this machine and check its sha256 against the recorded one; touches no host. */
export async function runS3Verify(op: Extract<LocalOp, { op: 's3-verify' }>, stores: StoreFactory): Promise<Outcome> {
  const store = stores({ endpoint: op.endpoint, region: op.region, bucket: op.bucket });
  const want = await expectedSha(store, op.key, filledText(op.sha256));
  if (!want) return fail(`s3://${op.bucket}/${op.key} has no recorded sha256 (no metadata, no provenance): refusing an unverifiable snapshot`);
  let got: { sha256: string; size: number };
  try {
    got = await store.hash(op.key);
  } catch (e) {
    return fail(`cannot read s3://${op.bucket}/${op.key}: ${(e as Error).message}`);
  }
  if (got.sha256 !== want) return fail(`sha256 mismatch for s3://${op.bucket}/${op.key}: it reads as ${got.sha256}, recorded ${want}. The object is corrupt or was replaced: refusing it before any host is touched`);
  const facts = { key: op.key, sha256: want, size: got.size, provenance: await provenanceOf(store, op.key) };
  return done(JSON.stringify(facts), facts);
}

export async function runS3Get(c: Extract<Command, { kind: 's3-get' }>, ctx: SpecialContext): Promise<Outcome> {
  const store = ctx.stores({ endpoint: c.endpoint, region: c.region, bucket: c.bucket });
  const want = await expectedSha(store, c.key, filledText(c.sha256));
  if (!want) return fail(`s3://${c.bucket}/${c.key} has no recorded sha256 (no metadata, no provenance): refusing to restore an unverifiable snapshot`);
  const dir = mkdtempSync(join(tmpdir(), 'runbook-get-'));
  const local = join(dir, 'object');
  try {
    const h = createHash('sha256');
    let obj: Awaited<ReturnType<BackupStore['get']>>;
    try {
      obj = await store.get(c.key);
    } catch (e) {
      return fail(`cannot read s3://${c.bucket}/${c.key}: ${(e as Error).message}`);
    }
    obj.body.on('data', (d: Buffer) => h.update(d));
    await pipeline(obj.body, createWriteStream(local, { mode: 0o600 }));
    const got = h.digest('hex');
    if (got !== want) return fail(`sha256 mismatch for s3://${c.bucket}/${c.key}: got ${got}, recorded ${want}. The object is corrupt or was replaced: refusing to use it; nothing was copied to ${ctx.host.name}`);
    const up = await ctx.transport.uploadFile(ctx.host, local, c.dest, 0o600);
    if (up.kind !== 'done') return fail(`${up.kind === 'unreachable' ? 'unreachable' : 'copy failed'}: ${up.message}`);
    const check = await ctx.transport.exec(ctx.host, sh`sha256sum -- ${c.dest}`, { root: true, deadlineS: 3600 });
    const onHost = check.kind === 'exited' ? check.stdout.split(/\s+/)[0] : undefined;
    if (onHost !== want) return fail(`after copying, ${c.dest} on ${ctx.host.name} has sha256 ${onHost ?? '(unreadable)'}, want ${want}`);
    return done(JSON.stringify({ key: c.key, sha256: want, dest: c.dest }), { key: c.key, sha256: want, dest: c.dest });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/**
 * Retention: one backup is one run's folder (snapshot, /etc/kubernetes archive, provenance). Keep the
 * newest N and anything younger than D days; never delete the last verified snapshot (`retention`,
 * shared with `runbook snapshots prune`).
 */
export async function runS3Prune(op: Extract<LocalOp, { op: 's3-prune' }>, stores: StoreFactory, now = Date.now()): Promise<Outcome> {
  const store = stores({ endpoint: op.endpoint, region: op.region, bucket: op.bucket });
  const verdicts = retention(await scanBackups(store, op.prefix), { keepLast: op.keepLast, maxAgeDays: op.maxAgeDays, now });
  for (const v of verdicts) if (!v.keep) for (const o of v.item.objects) await store.delete(o.key);
  const report = { kept: verdicts.filter((v) => v.keep).map((v) => v.item.folder), deleted: verdicts.filter((v) => !v.keep).map((v) => v.item.folder) };
  return done(JSON.stringify(report), report);
}
