// uploadParts (src/storage/multipart.ts) against a recording sink: how the bytes are cut, how many parts
// are on the wire at once (held by the test, released in order: no timing), bounded buffers, abort on
// failure, and when the ETags prove what the server holds.
import { createHash, randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { type PartSink, uploadParts } from '../../src/storage/multipart.js';
import { MAX_PARTS, partSizeFor } from '../../src/storage/s3.js';

const PART = 64 * 1024;
const md5hex = (b: Buffer) => createHash('md5').update(b).digest('hex');

/** A sink that records every request; parts resolve at once with their MD5 as ETag unless told otherwise. */
function recorder(opts: { etag?: (n: number, body: Buffer) => string; failPart?: number; hold?: boolean } = {}) {
  const log: string[] = [];
  const parts = new Map<number, Buffer>();
  const buffers = new Set<ArrayBufferLike>();
  let single: Buffer | undefined;
  const held: (() => void)[] = [];
  let onWire = 0;
  let maxOnWire = 0;
  const sink: PartSink = {
    single: async (body, md5) => {
      expect(md5.toString('hex')).toBe(md5hex(body));
      single = Buffer.from(body);
      log.push(`single ${body.length}`);
      return `"${md5hex(body)}"`;
    },
    create: async () => {
      log.push('create');
      return 'U1';
    },
    part: async (id, n, body, md5) => {
      expect(id).toBe('U1');
      expect(md5.toString('hex')).toBe(md5hex(body));
      buffers.add(body.buffer);
      onWire++;
      maxOnWire = Math.max(maxOnWire, onWire);
      log.push(`part ${n} ${body.length}`);
      // the bytes are copied now: the buffer goes back to the pool once this part is done
      parts.set(n, Buffer.from(body));
      if (opts.hold) await new Promise<void>((r) => held.push(r));
      onWire--;
      if (opts.failPart === n) throw new Error(`part ${n}: connection reset`);
      return opts.etag ? opts.etag(n, body) : `"${md5hex(body)}"`;
    },
    complete: async (_id, list) => {
      log.push(`complete ${list.map((p) => p.n).join(',')}`);
    },
    abort: async () => {
      log.push('abort');
    },
  };
  const stored = () => single ?? Buffer.concat([...parts.entries()].sort((a, b) => a[0] - b[0]).map(([, b]) => b));
  return { sink, log, stored, held, maxOnWire: () => maxOnWire, buffers };
}

async function* chunks(data: Buffer, size: number) {
  for (let i = 0; i < data.length; i += size) yield data.subarray(i, i + size);
}

describe('uploadParts', () => {
  const table: [number, string[]][] = [
    [0, ['single 0']],
    [1, ['single 1']],
    [PART, [`single ${PART}`]],
    [PART + 1, ['create', `part 1 ${PART}`, 'part 2 1', 'complete 1,2']],
    [2 * PART, ['create', `part 1 ${PART}`, `part 2 ${PART}`, 'complete 1,2']],
    [3 * PART + 7, ['create', `part 1 ${PART}`, `part 2 ${PART}`, `part 3 ${PART}`, 'part 4 7', 'complete 1,2,3,4']],
  ];
  for (const [size, want] of table) {
    it(`${size} bytes, fed in odd 10 007-byte chunks: ${want.join(' · ')}`, async () => {
      const data = randomBytes(size);
      const r = recorder();
      const out = await uploadParts(chunks(data, 10_007), r.sink, { partSize: PART, inFlight: 4 });
      expect(r.log).toEqual(want);
      expect(r.stored().equals(data)).toBe(true);
      expect(out.etagVerified).toBe(true);
    });
  }

  it('keeps exactly inFlight parts on the wire, no more, and reuses inFlight buffers (the one being filled among them) whatever the size', async () => {
    const data = randomBytes(20 * PART + 3);
    const r = recorder({ hold: true });
    const up = uploadParts(chunks(data, 4096), r.sink, { partSize: PART, inFlight: 4 });
    // release held parts one at a time, oldest first, until the upload finishes
    let finished = false;
    void up.then(() => {
      finished = true;
    });
    while (!finished) {
      await new Promise((res) => setImmediate(res));
      r.held.shift()?.();
    }
    const out = await up;
    expect(r.maxOnWire()).toBe(4);
    expect(out.maxInFlight).toBe(4);
    expect(out.parts).toBe(21);
    expect(r.buffers.size).toBe(4);
    expect(r.stored().equals(data)).toBe(true);
  });

  it('a failed part aborts the upload and throws; nothing is completed', async () => {
    const r = recorder({ failPart: 2 });
    await expect(uploadParts(chunks(randomBytes(5 * PART), 8192), r.sink, { partSize: PART, inFlight: 2 })).rejects.toThrow('part 2: connection reset');
    expect(r.log.at(-1)).toBe('abort');
    expect(r.log.some((l) => l.startsWith('complete'))).toBe(false);
  });

  it('a source that fails mid-way aborts the upload and throws', async () => {
    const r = recorder();
    async function* broken() {
      yield randomBytes(3 * PART);
      throw new Error('ssh channel closed');
    }
    await expect(uploadParts(broken(), r.sink, { partSize: PART, inFlight: 4 })).rejects.toThrow('ssh channel closed');
    expect(r.log[0]).toBe('create');
    expect(r.log.at(-1)).toBe('abort');
  });

  it('an object that fills maxParts parts exactly is uploaded; one byte more is refused before that last part, and aborted', async () => {
    const fits = recorder();
    const out = await uploadParts(chunks(randomBytes(3 * PART), 8192), fits.sink, { partSize: PART, inFlight: 2, maxParts: 3 });
    expect(out.parts).toBe(3);
    expect(fits.log.at(-1)).toBe('complete 1,2,3');
    const over = recorder();
    await expect(uploadParts(chunks(randomBytes(3 * PART + 1), 8192), over.sink, { partSize: PART, inFlight: 2, maxParts: 3 })).rejects.toThrow(`the object does not fit in 3 parts of ${PART} bytes`);
    expect(over.log.filter((l) => l.startsWith('part'))).toEqual([`part 1 ${PART}`, `part 2 ${PART}`]);
    expect(over.log.at(-1)).toBe('abort');
  });

  it('an ETag that is not the MD5 of its part (SSE-KMS, other servers) proves nothing: etagVerified is false', async () => {
    const r = recorder({ etag: (n, body) => (n === 2 ? '"0f343b0931126a20f133d67c2b018a3b"' : `"${md5hex(body)}"`) });
    const out = await uploadParts(chunks(randomBytes(3 * PART), 9999), r.sink, { partSize: PART, inFlight: 4 });
    expect(out.etagVerified).toBe(false);
  });
});

describe('partSizeFor: S3 parts of 5 MiB, bigger only when the source would not fit in 10,000 of them', () => {
  const MiB = 1024 * 1024;
  const table: [number | undefined, number][] = [
    [undefined, 5 * MiB],
    [0, 5 * MiB],
    [2 ** 30, 5 * MiB],
    [8 * 2 ** 30, 5 * MiB],
    [48 * 2 ** 30, 5 * MiB],
    [50 * 2 ** 30, 6 * MiB],
    [5 * 2 ** 40, 530 * MiB],
  ];
  for (const [size, want] of table) {
    it(`${size ?? 'unknown'} bytes: parts of ${want / MiB} MiB`, () => {
      expect(partSizeFor(size)).toBe(want);
      // with 1% to spare for what encoding adds
      if (size) expect(MAX_PARTS * partSizeFor(size)).toBeGreaterThanOrEqual(size * 1.01);
    });
  }
});
