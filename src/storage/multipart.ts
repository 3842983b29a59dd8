import { createHash } from 'node:crypto';

/** The requests a multipart upload needs; s3.ts implements them with the SDK (the one importer of it). */
export interface PartSink {
  /** One PUT of the whole object (it fits in one part). Returns the ETag. */
  single(body: Buffer, md5: Buffer): Promise<string | undefined>;
  create(): Promise<string>;
  /** Returns the part's ETag. */
  part(uploadId: string, n: number, body: Buffer, md5: Buffer): Promise<string | undefined>;
  complete(uploadId: string, parts: { n: number; etag: string }[]): Promise<void>;
  abort(uploadId: string): Promise<void>;
}

export interface MultipartResult {
  parts: number;
  /** Every part's (or the single PUT's) ETag is the MD5 of its bytes: the server hashed what it was sent. */
  etagVerified: boolean;
  /** The most parts that were on the wire at once (the bench reads it; 1 for a single PUT). */
  maxInFlight: number;
}

const md5Of = (b: Buffer) => createHash('md5').update(b).digest();
const isMd5Etag = (etag: string | undefined, md5: Buffer) => etag !== undefined && etag.replace(/"/g, '').toLowerCase() === md5.toString('hex');

/**
 * Stream into fixed part buffers and upload up to `inFlight` parts at once, each with its Content-MD5 (a
 * server that checks it refuses a damaged part). Memory is bounded: `inFlight` buffers of `partSize` (the one
 * being filled among them), reused, whatever the object's size. On any failure the multipart upload is aborted (no parts left to pay
 * for) and the error is thrown; so is an object that needs more than `maxParts` parts.
 */
export async function uploadParts(source: AsyncIterable<Uint8Array>, sink: PartSink, opts: { partSize: number; inFlight: number; maxParts?: number }): Promise<MultipartResult> {
  const free: Buffer[] = [];
  let allocated = 0;
  const done: { n: number; etag: string }[] = [];
  const running = new Set<Promise<void>>();
  let failure: unknown;
  // `inFlight` buffers in all: the one being filled is one of them, so with every buffer on the wire the
  // source waits (the SSH channel's window holds it) until a part is done
  const take = async (): Promise<Buffer> => {
    while (free.length === 0 && allocated >= opts.inFlight) await Promise.race(running);
    if (failure) throw failure;
    const b = free.pop();
    if (b) return b;
    allocated++;
    return Buffer.allocUnsafe(opts.partSize);
  };
  let buf = await take();
  let filled = 0;
  let uploadId: string | undefined;
  let n = 0;
  let verified = true;
  let inFlightNow = 0;
  let maxInFlight = 0;

  const send = (body: Buffer, len: number) => {
    const id = uploadId as string;
    const partNo = ++n;
    const bytes = body.subarray(0, len);
    const md5 = md5Of(bytes);
    inFlightNow++;
    maxInFlight = Math.max(maxInFlight, inFlightNow);
    const p = sink.part(id, partNo, bytes, md5).then(
      (etag) => {
        if (!isMd5Etag(etag, md5)) verified = false;
        done.push({ n: partNo, etag: etag ?? '' });
      },
      (e: unknown) => {
        failure ??= e;
      },
    );
    const tracked = p.finally(() => {
      inFlightNow--;
      running.delete(tracked);
      free.push(body);
    });
    running.add(tracked);
  };

  try {
    for await (const chunk of source) {
      let at = 0;
      while (at < chunk.length) {
        // a full buffer is sent only when more bytes follow (the last part may be full, or the only one)
        if (filled === opts.partSize) {
          // a full part with more bytes after it, when the last part allowed is that one: the object does not fit
          if (opts.maxParts !== undefined && n + 1 >= opts.maxParts) throw new Error(`the object does not fit in ${opts.maxParts} parts of ${opts.partSize} bytes (more than ${opts.maxParts * opts.partSize} bytes); nothing was kept`);
          uploadId ??= await sink.create();
          // (no wait here: `take` gave this buffer only once fewer than `inFlight` parts were on the wire)
          if (failure) throw failure;
          send(buf, filled);
          buf = await take();
          filled = 0;
        }
        const k = Math.min(opts.partSize - filled, chunk.length - at);
        buf.set(chunk.subarray(at, at + k), filled);
        filled += k;
        at += k;
      }
    }
    if (uploadId === undefined) {
      // it fits in one part: one PUT
      const bytes = buf.subarray(0, filled);
      const md5 = md5Of(bytes);
      const etag = await sink.single(bytes, md5);
      return { parts: 1, etagVerified: isMd5Etag(etag, md5), maxInFlight: 1 };
    }
    if (failure) throw failure;
    send(buf, filled);
    await Promise.all(running);
    if (failure) throw failure;
    await sink.complete(uploadId, done.sort((a, b) => a.n - b.n));
    return { parts: n, etagVerified: verified, maxInFlight };
  } catch (e) {
    await Promise.all(running);
    if (uploadId !== undefined) await sink.abort(uploadId).catch(() => undefined);
    throw e;
  }
}
