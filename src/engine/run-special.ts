import { once } from 'node:events';
import { PassThrough } from 'node:stream';
import { partialOf, receiveCommand } from '../actions/s3.js';
import type { Command, CommandOutcome, LocalOp, Parse, S3Settings } from '../model/command.js';
import { AGE_HEADER_BYTES, type BackupKeys, DecodeError, ageKeysOpen, decodeChain, encodeChain, formatOf, tap, through } from '../storage/codec.js';
import type { Host } from '../model/inventory.js';
import { checkCluster, parseClusterFacts, parseEtcdJson, parseKeyCount, parseSnapshotStatus, hexId } from '../facts/etcd-json.js';
import { editFlags } from '../facts/manifest-edit.js';
import { parseEtcdTools } from '../facts/etcd-tools.js';
import { compareMinor } from '../actions/etcd-version.js';
import type { BackupStore, PutResult, StoreLocation } from '../storage/store.js';
import { readJsonObject, scanBackups } from './backup-catalogue.js';
import { retention } from './retention.js';
import type { Transport } from '../transport/transport.js';
import { sh } from '../shell/build.js';
import { filledText } from '../shell/fill.js';
import { type ProgressFactory, progressStage } from './progress.js';
import { type FanOut, type FetchResult, type OpenFetch, type Seat, fanOut } from './fan-out.js';

export type StoreFactory = (loc: StoreLocation) => BackupStore;

export interface SpecialContext {
  transport: Transport;
  host: Host;
  stores: StoreFactory;
  /** Progress of a long transfer, as throttled events of the step on this host. */
  progress?: ProgressFactory | undefined;
  /** The step's shared fetches on this wave of hosts: an s3-get joins it (one read for every member). */
  fanOut?: FanOut | undefined;
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
        const read = parseKeyCount(stdout);
        const { count } = read;
        if (p.bump !== undefined && read.revision < p.bump) return { ok: false, facts: read, reason: `revision ${read.revision} is below the restore's bump of ${p.bump}` };
        const facts = p.bump === undefined ? read : { ...read, revision: read.revision - p.bump };
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

const locOf = (c: { endpoint: string; region: string; bucket: string; s3?: StoreLocation | S3Settings | undefined }): StoreLocation => ({ ...(c.s3 ?? {}), endpoint: c.endpoint, region: c.region, bucket: c.bucket });

/** The recipients and passphrase an upload encrypts to: planned public keys, and the run-time sources they name. */
function encryptionOf(to: string[], keys: BackupKeys): { recipients: string[]; passphrase: string | undefined } | string {
  const recipients: string[] = [];
  let passphrase: string | undefined;
  for (const r of to) {
    if (r === 'passphrase') {
      if (!keys.passphrase) return "encrypt_to says 'passphrase' but RUNBOOK_AGE_PASSPHRASE is not set";
      passphrase = keys.passphrase;
    } else if (r === 'recipients-file') {
      if (keys.recipientsFile.length === 0) return "encrypt_to says 'recipients-file' but RUNBOOK_AGE_RECIPIENTS_FILE is not set or names no recipient";
      recipients.push(...keys.recipientsFile);
    } else recipients.push(r);
  }
  return { recipients: [...new Set(recipients)], passphrase };
}

export async function runS3Put(c: Extract<Command, { kind: 's3-put' }>, ctx: SpecialContext): Promise<Outcome> {
  const store = ctx.stores(locOf(c));
  const enc = encryptionOf(c.encryptTo ?? [], store.codecKeys);
  if (typeof enc === 'string') return fail(`${enc}: nothing was uploaded`);
  const compression = c.compression ?? 'none';
  const encryption = enc.recipients.length > 0 || enc.passphrase !== undefined ? 'age' : 'none';
  // the size first, for the progress (bytes, rate, ETA); a size that cannot be read only loses the percentage
  const st = await ctx.transport.exec(ctx.host, sh`stat -c %s -- ${c.src}`, { root: true });
  const total = st.kind === 'exited' && st.code === 0 && /^\d+$/.test(st.stdout.trim()) ? Number(st.stdout.trim()) : undefined;
  const s = await ctx.transport.stream(ctx.host, sh`cat -- ${c.src}`, { root: true, deadlineS: 6 * 3600 });
  if (s.kind !== 'ok') return fail(`unreachable: ${s.message}`);
  const encode = encodeChain({ compression, recipients: enc.recipients, passphrase: enc.passphrase });
  // stored as is, the snapshot's hash is the stored object's (the store computes it): no second pass over the bytes
  const raw = encode.length > 0 ? tap() : undefined;
  const body = through(s.stdout, [progressStage(ctx.progress?.(`upload ${c.src.slice(c.src.lastIndexOf('/') + 1)}`, total)), ...(raw ? [raw.stage] : []), ...encode]);
  let put: PutResult;
  try {
    put = await store.put(c.key, body, Object.fromEntries(Object.entries(c.meta).map(([k, v]) => [k, filledText(v)])), { sizeHint: total });
  } catch (e) {
    s.stdout.destroy();
    return fail(`upload to s3://${c.bucket}/${c.key} failed: ${(e as Error).message}`);
  }
  const end = await s.done;
  if (end.kind !== 'exited' || end.code !== 0) {
    await store.delete(c.key).catch(() => undefined);
    return fail(`reading ${c.src} on the host failed (${end.kind === 'exited' ? `exit ${end.code}: ${end.stderr.trim()}` : end.message}); the partial object was deleted`);
  }
  // the server's ETag is the MD5 of exactly what was sent: verified without reading 1 GiB back; any other
  // kind of ETag (SSE-KMS, other servers) and the object is read back and hashed, as before
  if (!put.etagVerified) {
    const back = await store.hash(c.key);
    if (back.sha256 !== put.sha256 || back.size !== put.size) {
      return fail(`verification failed: s3://${c.bucket}/${c.key} reads back as sha256 ${back.sha256} (${back.size} bytes), sent ${put.sha256} (${put.size} bytes)`);
    }
  }
  const snap = raw ? raw.result() : put;
  // sha256/size are of the stored object (what older verify code checks); the snapshot's own are beside them
  const provenance = {
    ...c.meta,
    key: c.key,
    sha256: put.sha256,
    size: put.size,
    snapshotSha256: snap.sha256,
    snapshotSize: snap.size,
    compression,
    encryption,
    ...(encryption === 'age' ? { recipients: enc.passphrase !== undefined ? ['passphrase (scrypt)'] : enc.recipients } : {}),
    verified: true,
    verifiedBy: put.etagVerified ? 'etag (MD5 of the bytes sent)' : 'read-back (sha256)',
    uploadedAt: new Date().toISOString(),
  };
  await store.putSmall(`${c.key}.json`, `${JSON.stringify(provenance, null, 2)}\n`, 'application/json');
  return done(JSON.stringify(provenance), provenance);
}

/** The provenance record written next to a backup (KEY.json), or {} when there is none. */
export async function provenanceOf(store: BackupStore, key: string): Promise<Record<string, unknown>> {
  const r = await readJsonObject(store, `${key}.json`);
  return r.ok ? r.value : {};
}

/** The stored object's recorded sha256: its metadata (older backups), else the provenance. */
async function expectedSha(store: BackupStore, key: string, given: string | undefined, prov: Record<string, unknown>): Promise<string | undefined> {
  if (given && formatOf(prov).compression === 'none' && formatOf(prov).encryption === 'none') return given;
  const meta = await store.head(key);
  if (meta?.['sha256']) return meta['sha256'];
  const sha = prov['sha256'];
  return typeof sha === 'string' ? sha : undefined;
}

/** The raw snapshot's sha256 as recorded (new records), else the stored one when it is stored as is. */
function snapshotShaOf(prov: Record<string, unknown>, stored: string): string | undefined {
  if (typeof prov['snapshotSha256'] === 'string') return prov['snapshotSha256'];
  const f = formatOf(prov);
  return f.compression === 'none' && f.encryption === 'none' ? stored : undefined;
}

/**
 * Read the whole object on this machine: its sha256 against the recorded one and, when it is encrypted or
 * compressed, decoded on the fly with the keys at hand and the snapshot's own sha256 checked. Touches no host,
 * so a wrong or missing key fails here, in the rehearsal, before anything is changed.
 */
export async function runS3Verify(op: Extract<LocalOp, { op: 's3-verify' }>, stores: StoreFactory): Promise<Outcome> {
  const store = stores(locOf(op));
  const prov = await provenanceOf(store, op.key);
  const want = await expectedSha(store, op.key, filledText(op.sha256), prov);
  const where = `s3://${op.bucket}/${op.key}`;
  if (!want) return fail(`${where} has no recorded sha256 (no metadata, no provenance): refusing an unverifiable snapshot`);
  const chain = decodeChain(prov, store.codecKeys);
  if (!chain.ok) return fail(`${where}: ${chain.message}: refusing it before any host is touched`);
  const stored = tap();
  const raw = tap();
  // one read: the stored bytes are hashed in full even when decoding stops early, so a corrupt object is
  // reported as corrupt and a wrong key as a wrong key
  let decodeErr: Error | undefined;
  try {
    const obj = await store.get(op.key);
    const feed = new PassThrough();
    feed.on('error', () => undefined);
    const decoding = (async () => {
      try {
        for await (const _ of through(feed, [...chain.stages, raw.stage])) {
          // hashed by the tap
        }
      } catch (e) {
        decodeErr = e as Error;
      }
    })();
    for await (const c of stored.stage(obj.body)) {
      if (decodeErr || feed.destroyed) continue;
      if (!feed.write(c)) await Promise.race([once(feed, 'drain').catch(() => undefined), decoding]);
    }
    feed.end();
    await decoding;
  } catch (e) {
    return fail(`cannot read ${where}: ${(e as Error).message}: refusing it before any host is touched`);
  }
  const got = stored.result();
  if (got.sha256 !== want) return fail(`sha256 mismatch for ${where}: it reads as ${got.sha256}, recorded ${want}. The object is corrupt or was replaced: refusing it before any host is touched`);
  if (decodeErr) return fail(`${where}: ${decodeErr.message}: refusing it before any host is touched`);
  const snap = raw.result();
  const wantSnap = snapshotShaOf(prov, want);
  if (wantSnap !== undefined && snap.sha256 !== wantSnap) return fail(`${where} decodes to a snapshot with sha256 ${snap.sha256}, recorded ${wantSnap}: refusing it before any host is touched`);
  const given = filledText(op.sha256);
  if (given && given !== got.sha256 && given !== snap.sha256) return fail(`${where}: neither the object (${got.sha256}) nor the snapshot in it (${snap.sha256}) has the sha256 given, ${given}: refusing it before any host is touched`);
  const facts = { key: op.key, sha256: want, size: got.size, snapshotSha256: snap.sha256, snapshotSize: snap.size, ...formatOf(prov), provenance: prov };
  return done(JSON.stringify(facts), facts);
}

/**
 * The rehearsal's first look at a backup, without reading the object (the download reads it once, hashed
 * as it streams): it is there, its provenance record reads, a sha256 is recorded (and is the one given, if
 * one is), and when it is encrypted the keys at hand open its age header (a ranged read of its first bytes).
 * Touches no host: a missing object or key, a wrong key, an unreadable record fail here, before any host is.
 * The facts are `s3-verify`'s, from the record (`checked: 'record'`).
 */
export async function runS3Provenance(op: Extract<LocalOp, { op: 's3-provenance' }>, stores: StoreFactory): Promise<Outcome> {
  const store = stores(locOf(op));
  const where = `s3://${op.bucket}/${op.key}`;
  const refuse = (why: string) => fail(`${why}: refusing it before any host is touched`);
  let meta: Record<string, string> | undefined;
  let recordMeta: Record<string, string> | undefined;
  try {
    [meta, recordMeta] = await Promise.all([store.head(op.key), store.head(`${op.key}.json`)]);
  } catch (e) {
    return refuse(`cannot read ${where}: ${(e as Error).message}`);
  }
  if (meta === undefined) return refuse(`${where} is not there (or cannot be read)`);
  // a backup made before provenance records has none (its sha256 is in the object's metadata); one that is there must read
  let prov: Record<string, unknown> = {};
  if (recordMeta !== undefined) {
    const r = await readJsonObject(store, `${op.key}.json`);
    if (!r.ok) return refuse(`${where}: its provenance record ${r.reason}`);
    prov = r.value;
  }
  const recorded = meta['sha256'] ?? (typeof prov['sha256'] === 'string' ? prov['sha256'] : undefined);
  const given = filledText(op.sha256);
  const f = formatOf(prov);
  const plain = f.compression === 'none' && f.encryption === 'none';
  // as the download decides it (`expectedSha`): a plain object is checked against the sha256 given, if one is
  const want = given && plain ? given : recorded;
  if (!want) return refuse(`${where} has no recorded sha256 (no metadata, no provenance)`);
  const snapshotSha256 = snapshotShaOf(prov, want);
  if (given && given !== want && given !== snapshotSha256) return refuse(`${where}: the sha256 given, ${given}, is neither the recorded one of the object (${want}) nor of the snapshot in it (${snapshotSha256 ?? 'not recorded'})`);
  const chain = decodeChain(prov, store.codecKeys);
  if (!chain.ok) return refuse(`${where}: ${chain.message}`);
  if (f.encryption === 'age') {
    let head = Buffer.alloc(0);
    try {
      const obj = await store.get(op.key, { start: 0, end: AGE_HEADER_BYTES - 1 });
      const parts: Buffer[] = [];
      for await (const ch of obj.body as AsyncIterable<Buffer>) parts.push(ch);
      head = Buffer.concat(parts);
    } catch (e) {
      return refuse(`cannot read ${where}: ${(e as Error).message}`);
    }
    const why = await ageKeysOpen(head, store.codecKeys);
    if (why) return refuse(`${where}: ${why}`);
  }
  const num = (v: unknown) => (typeof v === 'number' ? v : undefined);
  const facts = { key: op.key, sha256: want, size: num(prov['size']), snapshotSha256, snapshotSize: num(prov['snapshotSize']) ?? (plain ? num(prov['size']) : undefined), ...f, provenance: prov, checked: 'record' };
  return done(JSON.stringify(facts), facts);
}

/** What a shared fetch found: the recorded hashes it matched, and the format it decoded. */
interface Fetched {
  sha256: string;
  snapshotSha256: string;
  format: ReturnType<typeof formatOf>;
}

const baseName = (k: string) => k.slice(k.lastIndexOf('/') + 1);

/**
 * The fetch of one s3-get, done once for every member that shares it: S3 → sha256 of the stored object →
 * age -d? → gunzip? → sha256 of the snapshot (the same hash when nothing is decoded) → the members. Its
 * verdict (read after the last byte) checks both hashes against the recorded ones.
 */
function openS3Get(c: Extract<Command, { kind: 's3-get' }>, ctx: SpecialContext): OpenFetch<Fetched> {
  return async (members) => {
    const store = ctx.stores(locOf(c));
    const where = `s3://${c.bucket}/${c.key}`;
    const prov = await provenanceOf(store, c.key);
    const want = await expectedSha(store, c.key, filledText(c.sha256), prov);
    if (!want) return { ok: false, message: `${where} has no recorded sha256 (no metadata, no provenance): refusing to restore an unverifiable snapshot` };
    const chain = decodeChain(prov, store.codecKeys);
    if (!chain.ok) return { ok: false, message: `${where}: ${chain.message}` };
    let obj: Awaited<ReturnType<BackupStore['get']>>;
    try {
      obj = await store.get(c.key);
    } catch (e) {
      return { ok: false, message: `cannot read ${where}: ${(e as Error).message}` };
    }
    const stored = tap();
    // stored as is: the snapshot is the object, one hash serves for both
    const raw = chain.stages.length > 0 ? tap() : stored;
    const total = typeof prov['size'] === 'number' ? prov['size'] : undefined;
    const what = members.length > 1 ? `download ${baseName(c.key)} (one fetch for ${members.join(', ')})` : `download ${baseName(c.key)}`;
    const storedBytes = through(obj.body, [progressStage(ctx.progress?.(what, total)), stored.stage]);
    const mismatch = (got: string) => `sha256 mismatch for ${where}: got ${got}, recorded ${want}. The object is corrupt or was replaced: refusing to use it`;
    const stages = chain.stages;
    const body = stages.length === 0 ? plainBody() : decodedBody();
    async function* plainBody(): AsyncIterable<Uint8Array> {
      try {
        yield* storedBytes;
      } catch (e) {
        throw new Error(`reading ${where}: ${(e as Error).message}`);
      }
    }
    // decoding is fed from the stored bytes, which are hashed in full even when decoding stops early: a corrupt
    // object is reported as corrupt (not as bad gzip), a wrong key as a wrong key (as `s3.verify` does)
    async function* decodedBody(): AsyncIterable<Uint8Array> {
      const feed = new PassThrough();
      feed.on('error', () => undefined);
      let stop: () => void = () => undefined;
      const stopped = new Promise<void>((r) => (stop = r));
      let decodeFailed = false;
      const pump = (async () => {
        for await (const ch of storedBytes) {
          if (decodeFailed) continue;
          if (!feed.write(ch)) await Promise.race([once(feed, 'drain').catch(() => undefined), stopped]);
        }
        feed.end();
      })().then(
        () => undefined,
        (e: unknown) => {
          feed.destroy(e as Error);
          return e as Error;
        },
      );
      let finished = false;
      try {
        yield* through(feed, [...stages, raw.stage]);
        finished = true;
      } catch (e) {
        decodeFailed = true;
        stop();
        const readErr = await pump;
        if (readErr) throw new Error(`reading ${where}: ${readErr.message}`);
        const got = stored.result().sha256;
        if (got !== want) throw new Error(mismatch(got));
        throw new Error(`${e instanceof DecodeError ? `${where}: ` : `reading ${where}: `}${(e as Error).message}`);
      } finally {
        // no member reads any more: stop the GET
        if (!finished && !decodeFailed) {
          decodeFailed = true;
          stop();
          storedBytes.destroy();
        }
      }
      const readErr = await pump;
      if (readErr) throw new Error(`reading ${where}: ${readErr.message}`);
    }
    const verdict = (): FetchResult<Fetched> => {
      const got = stored.result().sha256;
      const snap = raw.result().sha256;
      const wantSnap = snapshotShaOf(prov, want);
      const given = filledText(c.sha256);
      if (given && given !== got && given !== snap) return { ok: false, message: `${where}: neither the object (${got}) nor the snapshot in it (${snap}) has the sha256 given, ${given}: refusing to use it` };
      if (got !== want) return { ok: false, message: mismatch(got) };
      if (wantSnap !== undefined && snap !== wantSnap) return { ok: false, message: `${where} decodes to a snapshot with sha256 ${snap}, recorded ${wantSnap}: refusing to use it` };
      return { ok: true, value: { sha256: want, snapshotSha256: snap, format: formatOf(prov) } };
    };
    return { ok: true, value: { body, verdict } };
  };
}

/**
 * Fetch, decode and stream to the host, sharing one read of the object with every member of the wave that
 * runs the same download (`ctx.fanOut`; alone otherwise). On the host, the bytes go into the hidden partial
 * file, which is then hashed as written (`receiveCommand`); renamed into place only when the shared fetch's
 * hashes are the recorded ones and the host's is the snapshot's. Nothing of it lands on this machine's disk.
 */
export async function runS3Get(c: Extract<Command, { kind: 's3-get' }>, ctx: SpecialContext): Promise<Outcome> {
  const id = JSON.stringify([locOf(c), c.key, filledText(c.sha256) ?? '']);
  const open = openS3Get(c, ctx);
  const seat = (await (ctx.fanOut?.join(ctx.host.name, id, open) ?? fanOut([ctx.host.name]).join(ctx.host.name, id, open))) as Seat<Fetched>;
  const partial = partialOf(c.dest);
  const on = ctx.host.name;
  const wrote = await ctx.transport.exec(ctx.host, receiveCommand(partial), { root: true, input: seat.input, deadlineS: 6 * 3600 });
  // this member stopped reading: the others go on without it
  seat.leave();
  const discard = () => ctx.transport.exec(ctx.host, sh`rm -f -- ${partial}`, { root: true });
  if (wrote.kind !== 'exited' || wrote.code !== 0) {
    await discard();
    const why = wrote.kind === 'exited' ? wrote.stderr.trim() || `exit ${wrote.code}` : wrote.message;
    return fail(`writing ${partial} on ${on} failed: ${why}`);
  }
  const r = await seat.result;
  if (!r.ok) {
    await discard();
    return fail(`${r.message}; nothing was left on ${on}`);
  }
  const onHost = wrote.stdout.split(/\s+/)[0] ?? '';
  if (onHost !== r.value.snapshotSha256) {
    await discard();
    return fail(`${on} received and wrote ${partial} with sha256 ${onHost || '(none)'}, want ${r.value.snapshotSha256}: the copy was damaged on the way; nothing was left on ${on}`);
  }
  const mv = await ctx.transport.exec(ctx.host, sh`chmod 600 -- ${partial} && mv -f -- ${partial} ${c.dest}`, { root: true });
  if (mv.kind !== 'exited' || mv.code !== 0) return fail(`moving ${partial} to ${c.dest} on ${on} failed: ${mv.kind === 'exited' ? mv.stderr.trim() : mv.message}`);
  const facts = { key: c.key, sha256: r.value.sha256, snapshotSha256: r.value.snapshotSha256, dest: c.dest, ...r.value.format, sharedWith: seat.members };
  return done(JSON.stringify(facts), facts);
}

/**
 * Retention: one backup is one run's folder (snapshot, /etc/kubernetes archive, provenance). Keep the
 * newest N and anything younger than D days; never delete the last verified snapshot (`retention`,
 * shared with `runbook snapshots prune`).
 */
export async function runS3Prune(op: Extract<LocalOp, { op: 's3-prune' }>, stores: StoreFactory, now = Date.now()): Promise<Outcome> {
  const store = stores(locOf(op));
  const verdicts = retention(await scanBackups(store, op.prefix), { keepLast: op.keepLast, maxAgeDays: op.maxAgeDays, now });
  for (const v of verdicts) if (!v.keep) for (const o of v.item.objects) await store.delete(o.key);
  const report = { kept: verdicts.filter((v) => v.keep).map((v) => v.item.folder), deleted: verdicts.filter((v) => !v.keep).map((v) => v.item.folder) };
  return done(JSON.stringify(report), report);
}
