// The restore data path against a fake transport and an in-memory bucket: one GET of the object for
// every member of a wave, each member's stdin fed at the pace of the slowest, hashes checked once.
import { createHash } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type PassThrough, Readable } from 'node:stream';
import { gzipSync } from 'node:zlib';
import * as age from 'age-encryption';
import { describe, expect, it } from 'vitest';
import { receiveCommand } from '../../src/actions/s3.js';
import { describeCommand } from '../../src/engine/describe-command.js';
import { fanOut } from '../../src/engine/fan-out.js';
import { makePlan } from '../../src/engine/plan.js';
import { runPlaybook } from '../../src/engine/run.js';
import { runS3Provenance } from '../../src/engine/run-special.js';
import { loadInventory } from '../../src/load/load-inventory.js';
import { loadPlaybook } from '../../src/load/load-playbook.js';
import type { RunEvent } from '../../src/model/events.js';
import type { Host } from '../../src/model/inventory.js';
import type { Shell } from '../../src/model/shell.js';
import { showShell } from '../../src/shell/render.js';
import { NO_KEYS } from '../../src/storage/codec.js';
import type { BackupStore } from '../../src/storage/store.js';
import type { ExecOptions, ExecOutcome } from '../../src/transport/transport.js';
import { fakeTransportWith } from '../support/fake-transport.js';

const KEY = 'etcd/c/R1/snapshot.db';
const DEST = '/var/restore/snapshot.db';
const PARTIAL = '/var/restore/.snapshot.db.runbook-partial';
const CHUNK = 64 * 1024;
/** 4 MiB: far more than a member's stdin buffer, so a member that stops reading does hold the others back. */
const SNAPSHOT = Buffer.from(Array.from({ length: 64 * CHUNK }, (_, i) => (i * 7 + (i >> 12)) & 0xff));
const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');

/** The planned command inside its wire form (`timeout … bash -c CMD`), as text. */
function innerText(s: Shell): string {
  const sub = s.sh.find((p) => 'sub' in p);
  return sub && 'sub' in sub ? showShell(sub.sub) : showShell(s);
}

/** An in-memory bucket that counts full and ranged GETs of the snapshot; `failAfter`: the body errors after that many chunks. */
function bucket(opts: { recorded?: string; failAfter?: number } = {}) {
  const gets: string[] = [];
  const prov = JSON.stringify({ sha256: opts.recorded ?? sha(SNAPSHOT), size: SNAPSHOT.length, snapshotSha256: opts.recorded ?? sha(SNAPSHOT), compression: 'none', encryption: 'none' });
  const store: BackupStore = {
    codecKeys: NO_KEYS,
    get: async (key, range) => {
      if (key === `${KEY}.json`) return { body: Readable.from([Buffer.from(prov)]), meta: {} };
      if (key !== KEY) throw new Error(`NoSuchKey ${key}`);
      gets.push(range ? 'range' : 'full');
      async function* chunks() {
        for (let i = 0; i * CHUNK < SNAPSHOT.length; i++) {
          if (opts.failAfter !== undefined && i === opts.failAfter) throw new Error('socket hang up');
          yield SNAPSHOT.subarray(i * CHUNK, (i + 1) * CHUNK);
        }
      }
      return { body: Readable.from(chunks()), meta: {} };
    },
    head: async (key) => (key === KEY || key === `${KEY}.json` ? {} : undefined),
    put: async () => ({ sha256: '', size: 0, etagVerified: false }),
    hash: async () => ({ sha256: '', size: 0, meta: {} }),
    putSmall: async () => undefined,
    list: async () => [],
    delete: async () => undefined,
  };
  return { store, gets };
}

/** Resolves when a write to this stream is refused (backpressure): the writer now waits for it. */
function blocked(input: Readable): Promise<void> {
  const w = input as unknown as { write: (c: Buffer) => boolean };
  const write = w.write.bind(w);
  return new Promise((resolve) => {
    w.write = (c: Buffer) => {
      const ok = write(c);
      if (!ok) resolve();
      return ok;
    };
  });
}

interface MemberBehaviour {
  /** Stop reading stdin after this many bytes and exit 1 (a full disk, a dead cat). */
  stopAfter?: number;
  /** Report this hash instead of the one of what arrived (damaged on the way). */
  lie?: string;
  /** The step's first command (the "dest already exists?" check) fails on this host. */
  refuseFirst?: boolean;
}

/** Hosts with files: `cat > PARTIAL && <sha256> < PARTIAL` (receiveCommand) reads stdin into the partial file and prints its hash; mv and rm act on the files. */
function members(behaviour: Record<string, MemberBehaviour> = {}) {
  const files = new Map<string, Map<string, Buffer>>();
  const log: string[] = [];
  const fs = (h: string) => files.get(h) ?? files.set(h, new Map()).get(h)!;
  const exited = (code: number, stdout = '', stderr = ''): ExecOutcome => ({ kind: 'exited', code, signal: null, stdout, stderr, durationMs: 1, timedOut: false });
  const exec = async (h: Host, shell: Shell, o?: ExecOptions): Promise<ExecOutcome> => {
    const cmd = innerText(shell);
    const b = behaviour[h.name] ?? {};
    log.push(`${h.name}: ${cmd.split(' ')[0]}`);
    if (cmd === innerText(receiveCommand(PARTIAL))) {
      const input = o?.input as Readable;
      const got: Buffer[] = [];
      let n = 0;
      // read as ssh's pipe does; one that stops unpipes and leaves the stream as it is (not destroyed, never drained)
      const how = await new Promise<'end' | 'stopped'>((resolve) => {
        const onData = (c: Buffer) => {
          got.push(c);
          n += c.length;
          if (b.stopAfter === undefined || n < b.stopAfter) return;
          input.off('data', onData);
          input.pause();
          resolve('stopped');
        };
        input.on('data', onData);
        input.once('end', () => resolve('end'));
      });
      if (how === 'stopped') {
        // exits only once the fan-out is held up by it (its write was refused): leaving must free the others
        if (!(input as PassThrough).writableNeedDrain) await blocked(input);
        fs(h.name).set(PARTIAL, Buffer.concat(got));
        return exited(1, '', 'cat: write error: No space left on device');
      }
      fs(h.name).set(PARTIAL, Buffer.concat(got));
      return exited(0, `${b.lie ?? sha(Buffer.concat(got))}  -\n`);
    }
    if (cmd.startsWith('chmod 600')) {
      const f = fs(h.name);
      f.set(DEST, f.get(PARTIAL) as Buffer);
      f.delete(PARTIAL);
      return exited(0);
    }
    if (cmd.startsWith('rm -f')) {
      fs(h.name).delete(PARTIAL);
      if (cmd.includes(DEST)) fs(h.name).delete(DEST);
      return exited(0);
    }
    if (cmd.startsWith('if [ -e')) return b.refuseFirst ? exited(17, '', 'refusing') : exited(0);
    return exited(0);
  };
  return { transport: fakeTransportWith(exec), files, log, fileOf: (h: string, p: string) => files.get(h)?.get(p) };
}

function setup(hosts: string[]) {
  const dir = mkdtempSync(join(tmpdir(), 'rb-fanout-'));
  writeFileSync(join(dir, 'inv.yml'), `cluster: c\nhosts:\n${hosts.map((h, i) => `  ${h}: { address: 10.0.0.${i + 1} }\n`).join('')}groups:\n  masters: [${hosts.join(', ')}]\n`);
  writeFileSync(join(dir, 'pb.yml'), `name: t\nhosts: masters\nsteps:\n  - name: fetch\n    action: s3.download\n    args: { key: "${KEY}", dest: "${DEST}", s3: { bucket: b } }\n    register: got\n`);
  const inv = loadInventory(join(dir, 'inv.yml'));
  if (!inv.ok) throw new Error(JSON.stringify(inv.problems));
  const pb = loadPlaybook(join(dir, 'pb.yml'), { inventory: inv.value });
  if (!pb.ok) throw new Error(JSON.stringify(pb.problems));
  return { inventory: inv.value, playbook: pb.value };
}

async function restore(opts: { hosts?: string[]; forks?: number; store: BackupStore; transport: ReturnType<typeof members>['transport'] }) {
  const { inventory, playbook } = setup(opts.hosts ?? ['m1', 'm2', 'm3']);
  const events: RunEvent[] = [];
  const run = { id: 'R', dir: '/tmp', user: 'u', started: 'now', commit: 'x' };
  const planned = makePlan({ playbook, inventory, extraVars: {}, limit: undefined, run, tags: undefined, startAt: undefined });
  if (!planned.ok) throw new Error(planned.message);
  const out = await runPlaybook({
    program: planned.plan,
    playbook,
    inventory,
    extraVars: {},
    run,
    forks: opts.forks ?? 10,
    noRollback: true,
    transport: opts.transport,
    emit: (e) => events.push(e),
    confirm: async () => true,
    signal: new AbortController().signal,
    stores: () => opts.store,
    journaled: async () => undefined,
  });
  const results = Object.fromEntries(
    events.flatMap((e) => (e.type === 'host.result' && e.final ? [[e.result.host, e.result.status === 'failed' ? `failed: ${e.result.message}` : e.result.status]] : [])),
  ) as Record<string, string>;
  return { out, events, results };
}

describe('restore data path: one read of the object, fanned out to every member', () => {
  it('one GET for three members; each writes and hashes what it received in one pass; one progress line', async () => {
    const b = bucket();
    const m = members();
    const { out, results, events } = await restore({ store: b.store, transport: m.transport });
    expect(out.status).toBe('ok');
    expect(results).toEqual({ m1: 'changed', m2: 'changed', m3: 'changed' });
    expect(b.gets).toEqual(['full']);
    for (const h of ['m1', 'm2', 'm3']) {
      expect(m.fileOf(h, DEST)?.equals(SNAPSHOT)).toBe(true);
      expect(m.fileOf(h, PARTIAL)).toBeUndefined();
      // no second read of the written file on the member
      expect(m.log.filter((l) => l.startsWith(`${h}: sha256sum`))).toEqual([]);
    }
    const progress = events.filter((e) => e.type === 'transfer.progress');
    expect(new Set(progress.map((e) => e.type === 'transfer.progress' && `${e.host} ${e.what}`))).toEqual(new Set(['m1 download snapshot.db (one fetch for m1, m2, m3)']));
  });

  it("the member's command is the plan's: stdin into the partial, then the sha256 of that file by openssl where the host has it (sha256sum otherwise)", () => {
    const want = `umask 077 && cat > ${PARTIAL} && if command -v openssl >/dev/null 2>&1; then openssl dgst -sha256 -r < ${PARTIAL}; else sha256sum < ${PARTIAL}; fi`;
    expect(showShell(receiveCommand(PARTIAL))).toBe(want);
    expect(describeCommand({ kind: 's3-get', endpoint: '', region: 'r', bucket: 'b', key: KEY, dest: DEST, sha256: undefined })).toContain(`on the host: ${want} → renamed into place`);
  });

  it('a member that stops reading mid-way fails alone, its partial removed; the others complete from the same GET', async () => {
    const b = bucket();
    const m = members({ m2: { stopAfter: 6 * CHUNK } });
    const { results } = await restore({ store: b.store, transport: m.transport });
    expect(results['m1']).toBe('changed');
    expect(results['m3']).toBe('changed');
    expect(results['m2']).toMatch(/^failed: writing \/var\/restore\/\.snapshot\.db\.runbook-partial on m2 failed: cat: write error/);
    expect(b.gets).toEqual(['full']);
    expect(m.fileOf('m2', PARTIAL)).toBeUndefined();
    expect(m.fileOf('m2', DEST)).toBeUndefined();
    for (const h of ['m1', 'm3']) expect(m.fileOf(h, DEST)?.equals(SNAPSHOT)).toBe(true);
  });

  it('a member whose copy hashes differently fails alone (damaged on the way), nothing left there', async () => {
    const b = bucket();
    const m = members({ m3: { lie: 'f'.repeat(64) } });
    const { results } = await restore({ store: b.store, transport: m.transport });
    expect(results).toMatchObject({ m1: 'changed', m2: 'changed' });
    expect(results['m3']).toMatch(/^failed: m3 received and wrote .* with sha256 f{64}, want [0-9a-f]{64}: the copy was damaged on the way; nothing was left on m3$/);
    expect(m.fileOf('m3', PARTIAL)).toBeUndefined();
    expect(m.fileOf('m3', DEST)).toBeUndefined();
  });

  it('an object whose sha256 is not the recorded one: every member fails, every partial is discarded, nothing renamed', async () => {
    const b = bucket({ recorded: 'a'.repeat(64) });
    const m = members();
    const { results } = await restore({ store: b.store, transport: m.transport });
    for (const h of ['m1', 'm2', 'm3']) {
      expect(results[h]).toMatch(new RegExp(`^failed: sha256 mismatch for s3://b/${KEY}: got [0-9a-f]{64}, recorded a{64}\\. The object is corrupt or was replaced: refusing to use it; nothing was left on ${h}$`));
      expect(m.fileOf(h, PARTIAL)).toBeUndefined();
      expect(m.fileOf(h, DEST)).toBeUndefined();
    }
    expect(m.log.filter((l) => l.includes('chmod'))).toEqual([]);
    expect(b.gets).toEqual(['full']);
  });

  it('a gzip backup is decoded once for all; one with a flipped byte is reported as corrupt (its sha256), not as bad gzip', async () => {
    const gz = gzipSync(SNAPSHOT);
    const gzStore = (object: Buffer) => {
      const gets: string[] = [];
      const prov = JSON.stringify({ sha256: sha(gz), size: gz.length, snapshotSha256: sha(SNAPSHOT), snapshotSize: SNAPSHOT.length, compression: 'gzip', encryption: 'none' });
      const store: BackupStore = {
        ...bucket().store,
        get: async (key) => {
          if (key === `${KEY}.json`) return { body: Readable.from([Buffer.from(prov)]), meta: {} };
          gets.push('full');
          return { body: Readable.from(Array.from({ length: Math.ceil(object.length / CHUNK) }, (_, i) => object.subarray(i * CHUNK, (i + 1) * CHUNK))), meta: {} };
        },
      };
      return { store, gets };
    };
    const good = gzStore(gz);
    const m = members();
    const ok = await restore({ store: good.store, transport: m.transport });
    expect(ok.results).toEqual({ m1: 'changed', m2: 'changed', m3: 'changed' });
    for (const h of ['m1', 'm2', 'm3']) expect(m.fileOf(h, DEST)?.equals(SNAPSHOT)).toBe(true);
    expect(good.gets).toEqual(['full']);
    const bad = Buffer.from(gz);
    bad[Math.floor(bad.length / 3)]! ^= 0x01;
    const flipped = gzStore(bad);
    const m2 = members();
    const no = await restore({ store: flipped.store, transport: m2.transport });
    for (const h of ['m1', 'm2', 'm3']) {
      expect(no.results[h]).toMatch(new RegExp(`^failed: sha256 mismatch for s3://b/${KEY}: got ${sha(bad)}, recorded ${sha(gz)}\\. The object is corrupt or was replaced: refusing to use it; nothing was left on ${h}$`));
      expect(m2.fileOf(h, PARTIAL)).toBeUndefined();
      expect(m2.fileOf(h, DEST)).toBeUndefined();
    }
    expect(flipped.gets).toEqual(['full']);
  });

  it('S3 failing mid-stream fails every member with the reason, partials discarded', async () => {
    const b = bucket({ failAfter: 10 });
    const m = members();
    const { results } = await restore({ store: b.store, transport: m.transport });
    for (const h of ['m1', 'm2', 'm3']) {
      expect(results[h]).toBe(`failed: reading s3://b/${KEY}: socket hang up; nothing was left on ${h}`);
      expect(m.fileOf(h, PARTIAL)).toBeUndefined();
    }
    expect(b.gets).toEqual(['full']);
  });

  it('a host whose step ends before the fetch (its first command fails) is not waited for: the others share one GET', async () => {
    const b = bucket();
    const m = members({ m1: { refuseFirst: true } });
    const { results } = await restore({ store: b.store, transport: m.transport });
    expect(results['m1']).toMatch(/^failed: exit 17/);
    expect(results).toMatchObject({ m2: 'changed', m3: 'changed' });
    expect(b.gets).toEqual(['full']);
  });

  it('with --forks 2 the hosts go in waves: one GET per wave, every member gets the whole snapshot', async () => {
    const b = bucket();
    const m = members();
    const { results } = await restore({ store: b.store, transport: m.transport, forks: 2 });
    expect(results).toEqual({ m1: 'changed', m2: 'changed', m3: 'changed' });
    expect(b.gets).toEqual(['full', 'full']);
    for (const h of ['m1', 'm2', 'm3']) expect(m.fileOf(h, DEST)?.equals(SNAPSHOT)).toBe(true);
  });
});

describe('fanOut: who shares a fetch, decided without timers', () => {
  const source = (chunks: string[]) => async () => ({ ok: true as const, value: { body: Readable.from(chunks.map((c) => Buffer.from(c))), verdict: () => ({ ok: true as const, value: 'v' }) } });
  const drain = async (r: Readable) => {
    let s = '';
    for await (const c of r as AsyncIterable<Buffer>) s += c.toString();
    return s;
  };

  it('starts only once every expected host joined or left; a late joiner (a retry, a host not in the wave) gets none', async () => {
    const f = fanOut(['a', 'b', 'c']);
    let opened = 0;
    const open = async (ms: string[]) => {
      opened++;
      expect(ms).toEqual(['a', 'c']);
      return source(['x', 'y'])();
    };
    const a = f.join('a', 'k', open);
    const c = f.join('c', 'k', open);
    expect(opened).toBe(0);
    // b's step ended without reaching the fetch: the wave is complete
    f.leave('b');
    const [sa, sc] = await Promise.all([a, c]);
    expect(await Promise.all([drain(sa!.input), drain(sc!.input)])).toEqual(['xy', 'xy']);
    expect(await sa!.result).toEqual({ ok: true, value: 'v' });
    expect(opened).toBe(1);
    expect(f.join('a', 'k', open)).toBeUndefined();
    expect(f.join('d', 'k', open)).toBeUndefined();
  });

  it('hosts fetching different objects (another id) each get their own read', async () => {
    const f = fanOut(['a', 'b']);
    const seen: string[][] = [];
    const open = (body: string) => async (ms: string[]) => {
      seen.push(ms);
      return source([body])();
    };
    const [sa, sb] = await Promise.all([f.join('a', 'one', open('1')), f.join('b', 'two', open('2'))]);
    expect(await Promise.all([drain(sa!.input), drain(sb!.input)])).toEqual(['1', '2']);
    expect(seen).toEqual([['a'], ['b']]);
  });

  it('an open that fails fails every member with its message, and their inputs end', async () => {
    const f = fanOut(['a', 'b']);
    const open = async () => ({ ok: false as const, message: 'no key to decrypt it' });
    const [sa, sb] = await Promise.all([f.join('a', 'k', open), f.join('b', 'k', open)]);
    expect(await Promise.all([drain(sa!.input), drain(sb!.input)])).toEqual(['', '']);
    expect(await sa!.result).toEqual({ ok: false, message: 'no key to decrypt it' });
    expect(await sb!.result).toEqual({ ok: false, message: 'no key to decrypt it' });
  });
});

describe('s3.provenance: the rehearsal refuses early without reading the object', () => {
  const op = (sha256?: string) => ({ op: 's3-provenance' as const, endpoint: '', region: 'r', bucket: 'b', key: KEY, sha256 });
  /** A bucket with the object (its bytes) and a record (text, or absent); counts what was read of the object. */
  function withRecord(object: Buffer | undefined, record: string | undefined, keys = NO_KEYS) {
    const reads: string[] = [];
    const store: BackupStore = {
      ...bucket().store,
      codecKeys: keys,
      head: async (k) => (k === KEY && object ? {} : k === `${KEY}.json` && record !== undefined ? {} : undefined),
      get: async (k, range) => {
        if (k === `${KEY}.json` && record !== undefined) return { body: Readable.from([Buffer.from(record)]), meta: {} };
        if (k !== KEY || !object) throw new Error('NoSuchKey');
        reads.push(range ? `bytes ${range.start}-${range.end}` : 'full');
        return { body: Readable.from([range ? object.subarray(range.start, range.end + 1) : object]), meta: {} };
      },
    };
    return { stores: () => store, reads };
  }

  it.each([
    ['no object', undefined, '{}', undefined, /is not there \(or cannot be read\): refusing it before any host is touched$/],
    ['a record that does not read', SNAPSHOT, '{not json', undefined, /its provenance record .*snapshot\.db\.json is not valid JSON.*: refusing it before any host is touched$/],
    ['no sha256 recorded anywhere', SNAPSHOT, '{}', undefined, /has no recorded sha256 \(no metadata, no provenance\): refusing it/],
    ['a sha256 given that is neither recorded one', SNAPSHOT, JSON.stringify({ sha256: 'a'.repeat(64), snapshotSha256: 'b'.repeat(64), compression: 'gzip' }), 'c'.repeat(64), /the sha256 given, c{64}, is neither the recorded one of the object \(a{64}\) nor of the snapshot in it \(b{64}\)/],
    ['an age backup and no key', SNAPSHOT, JSON.stringify({ sha256: 'a'.repeat(64), encryption: 'age', recipients: ['age1xyz'] }), undefined, /encrypted with age to age1xyz; no key to decrypt it: set RUNBOOK_AGE_IDENTITY_FILE/],
  ] as const)('%s', async (_, object, record, given, want) => {
    const b = withRecord(object, record);
    const r = await runS3Provenance(op(given), b.stores);
    expect(r.ok).toBe(false);
    expect(r.error).toMatch(want);
    expect(b.reads).toEqual([]);
  });

  it('an age backup: the right key opens its header from one ranged read of 64 KiB, a wrong key is refused saying so', async () => {
    const [mine, other] = [await age.generateIdentity(), await age.generateIdentity()];
    const e = new age.Encrypter();
    e.addRecipient(await age.identityToRecipient(mine));
    const object = Buffer.from(await e.encrypt(SNAPSHOT));
    const record = JSON.stringify({ sha256: sha(object), size: object.length, snapshotSha256: sha(SNAPSHOT), snapshotSize: SNAPSHOT.length, compression: 'none', encryption: 'age', 'etcd-version': '3.5.9' });
    const keys = (id: string) => ({ ...NO_KEYS, identities: [id], sources: { ...NO_KEYS.sources, identities: '/keys/backup.agekey' } });
    const good = withRecord(object, record, keys(mine));
    const ok = await runS3Provenance(op(), good.stores);
    expect(ok.error).toBeUndefined();
    expect(ok.facts).toMatchObject({ sha256: sha(object), snapshotSha256: sha(SNAPSHOT), encryption: 'age', provenance: { 'etcd-version': '3.5.9' }, checked: 'record' });
    expect(good.reads).toEqual([`bytes 0-${64 * 1024 - 1}`]);
    const bad = withRecord(object, record, keys(other));
    const no = await runS3Provenance(op(), bad.stores);
    expect(no.error).toMatch(/cannot decrypt the backup \(age\): .*Tried identities from \/keys\/backup\.agekey: none of them opens it: refusing it before any host is touched$/);
  });
});
