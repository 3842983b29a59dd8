// s3.upload's proof that the store holds the bytes sent (runS3Put): the server's ETag when it is an MD5
// of them, else a full read-back. A fake store and transport, no network: which path ran is observed.
import { createHash, randomBytes } from 'node:crypto';
import { Readable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { runS3Put } from '../../src/engine/run-special.js';
import type { Command } from '../../src/model/command.js';
import type { Host } from '../../src/model/inventory.js';
import { NO_KEYS } from '../../src/storage/codec.js';
import type { BackupStore, PutResult } from '../../src/storage/store.js';
import { fakeTransportWith } from '../support/fake-transport.js';

const data = randomBytes(300_000);
const sha = createHash('sha256').update(data).digest('hex');

function world(opts: { etagVerified: boolean; readBack: Buffer }) {
  const calls: string[] = [];
  const store: BackupStore = {
    codecKeys: NO_KEYS,
    put: async (key, body): Promise<PutResult> => {
      calls.push(`put ${key}`);
      const h = createHash('sha256');
      let size = 0;
      for await (const c of body) {
        h.update(c as Buffer);
        size += (c as Buffer).length;
      }
      return { sha256: h.digest('hex'), size, etagVerified: opts.etagVerified };
    },
    hash: async (key) => {
      calls.push(`read-back ${key}`);
      return { sha256: createHash('sha256').update(opts.readBack).digest('hex'), size: opts.readBack.length, meta: {} };
    },
    get: async () => {
      throw new Error('not used');
    },
    putSmall: async (key) => {
      calls.push(`put-small ${key}`);
    },
    list: async () => [],
    head: async () => undefined,
    delete: async (key) => {
      calls.push(`delete ${key}`);
    },
  };
  const transport = {
    ...fakeTransportWith(async () => ({ kind: 'exited', code: 0, signal: null, stdout: `${data.length}\n`, stderr: '', durationMs: 1, timedOut: false })),
    stream: async () => ({ kind: 'ok' as const, stdout: Readable.from([data.subarray(0, 100_000), data.subarray(100_000)]), done: Promise.resolve({ kind: 'exited' as const, code: 0, signal: null, stdout: '', stderr: '', durationMs: 1, timedOut: false }) }),
  };
  const cmd: Extract<Command, { kind: 's3-put' }> = { kind: 's3-put', src: '/var/lib/snap.db', key: 'b/1/snapshot.db', meta: {}, endpoint: 'http://127.0.0.1:1', region: 'us-east-1', bucket: 'b', compression: 'none' };
  const host = { name: 'm1' } as Host;
  return { calls, run: () => runS3Put(cmd, { transport, host, stores: () => store }) };
}

describe('s3.upload verifies what the store holds', () => {
  it('an ETag that is the MD5 of the bytes sent: no read-back; provenance says how it was verified', async () => {
    const w = world({ etagVerified: true, readBack: Buffer.alloc(0) });
    const o = await w.run();
    expect(o.ok, o.error).toBe(true);
    expect(w.calls).toEqual(['put b/1/snapshot.db', 'put-small b/1/snapshot.db.json']);
    const prov = o.facts as Record<string, unknown>;
    expect(prov).toMatchObject({ sha256: sha, size: data.length, snapshotSha256: sha, snapshotSize: data.length, verified: true, verifiedBy: 'etag (MD5 of the bytes sent)' });
  });

  it('an ETag of another kind: the object is read back, and a match is recorded as such', async () => {
    const w = world({ etagVerified: false, readBack: data });
    const o = await w.run();
    expect(o.ok, o.error).toBe(true);
    expect(w.calls).toEqual(['put b/1/snapshot.db', 'read-back b/1/snapshot.db', 'put-small b/1/snapshot.db.json']);
    expect(o.facts).toMatchObject({ verifiedBy: 'read-back (sha256)' });
  });

  it('an ETag of another kind and a read-back that differs: the backup fails and no provenance is written', async () => {
    const w = world({ etagVerified: false, readBack: Buffer.concat([data, Buffer.from('x')]) });
    const o = await w.run();
    expect(o.ok).toBe(false);
    expect(o.error).toMatch(/verification failed: s3:\/\/b\/b\/1\/snapshot\.db reads back as sha256 [0-9a-f]{64} \(300001 bytes\), sent [0-9a-f]{64} \(300000 bytes\)/);
    expect(w.calls).not.toContain('put-small b/1/snapshot.db.json');
  });
});
