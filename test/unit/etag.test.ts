// The MD5s an S3 ETag is made of, computed while streaming (src/storage/etag.ts): a table of sizes around
// the part boundary, each checked against an independent computation over lib-storage's own cut of the
// bytes into parts (the parts it really sends, captured from a fake S3 client).
import { createHash, randomBytes } from 'node:crypto';
import { Readable } from 'node:stream';
import { CompleteMultipartUploadCommand, CreateMultipartUploadCommand, PutObjectCommand, S3Client, UploadPartCommand } from '@aws-sdk/client-s3';
import { Upload } from '@aws-sdk/lib-storage';
import { describe, expect, it } from 'vitest';
import { etagHashes } from '../../src/storage/etag.js';

const PART = 5 * 1024 * 1024; // lib-storage's minimum part size

/** The parts lib-storage sends for these bytes (a client that answers every command without a network). */
async function partsSent(data: Buffer, chunk: number): Promise<Buffer[]> {
  const client = new S3Client({ region: 'us-east-1', credentials: { accessKeyId: 'x', secretAccessKey: 'y' } });
  const sent: Buffer[] = [];
  client.send = (async (cmd: unknown) => {
    if (cmd instanceof PutObjectCommand || cmd instanceof UploadPartCommand) {
      sent.push(Buffer.from(cmd.input.Body as Uint8Array));
      return { ETag: '"x"' };
    }
    if (cmd instanceof CreateMultipartUploadCommand) return { UploadId: 'u' };
    if (cmd instanceof CompleteMultipartUploadCommand) return { ETag: '"y"' };
    return {};
  }) as S3Client['send'];
  const pieces = Array.from({ length: Math.ceil(data.length / chunk) }, (_, i) => data.subarray(i * chunk, (i + 1) * chunk));
  await new Upload({ client, partSize: PART, queueSize: 1, params: { Bucket: 'b', Key: 'k', Body: Readable.from(pieces) } }).done();
  return sent;
}

const md5 = (b: Buffer) => createHash('md5').update(b).digest();

describe('etagHashes', () => {
  const sizes = [0, 1, PART - 1, PART, PART + 1, 2 * PART, 2 * PART + 7, 3 * PART - 1];
  for (const size of sizes) {
    it(`${size} bytes (in 64 KiB and odd 100 003-byte chunks)`, async () => {
      const data = randomBytes(size);
      for (const chunk of [64 * 1024, 100_003]) {
        const parts = await partsSent(data, chunk);
        expect(Buffer.concat(parts).equals(data)).toBe(true);
        const e = etagHashes(PART);
        const pieces = Array.from({ length: Math.ceil(size / chunk) }, (_, i) => data.subarray(i * chunk, (i + 1) * chunk));
        for await (const _ of e.stage(Readable.from(pieces))) {
          // hashed by the stage
        }
        const whole = md5(data).toString('hex');
        const multipart = `${createHash('md5').update(Buffer.concat(parts.map(md5))).digest('hex')}-${parts.length}`;
        // a single PUT's ETag is the whole MD5; a multipart's is AWS's MD5 of the parts' MD5s (or the whole MD5, as s3rver does)
        expect(e.candidates()).toEqual(parts.length > 1 ? [whole, multipart] : [whole]);
        expect(e.matches(`"${whole}"`)).toBe(true);
        if (parts.length > 1) expect(e.matches(`"${multipart.toUpperCase()}"`)).toBe(true);
        // one byte off is no match; nor is an ETag of another kind (SSE-KMS ETags are not MD5s)
        expect(e.matches(md5(Buffer.concat([data, Buffer.from('x')])).toString('hex'))).toBe(false);
        expect(e.matches('"0123456789abcdef0123456789abcde"')).toBe(false);
      }
    });
  }
});
