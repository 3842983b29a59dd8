import { createHash, type Hash } from 'node:crypto';
import type { Stage } from './codec.js';

/**
 * The MD5s an S3 server's ETag is made of, computed while the bytes stream past: of the whole object (a
 * single PUT on AWS; s3rver and some others for multipart too) and of each part, cut as lib-storage cuts
 * them (every `partSize` bytes, the rest in the last part), for AWS's multipart ETag
 * `md5(md5(part 1) ‖ … ‖ md5(part N))-N`. A match is the server's own proof that it holds exactly these
 * bytes; anything else (SSE-KMS, SSE-C and other schemes are not MD5s) proves nothing either way.
 */
export function etagHashes(partSize: number): { stage: Stage; matches: (etag: string) => boolean; candidates: () => string[] } {
  const whole = createHash('md5');
  const parts: Buffer[] = [];
  let part: Hash = createHash('md5');
  let inPart = 0;
  let total = 0;
  let done: string[] | undefined;
  const candidates = (): string[] => {
    if (done) return done;
    // a last part that is still open (or an empty object's only part) ends here
    if (inPart > 0 || parts.length === 0) parts.push(part.digest());
    const n = parts.length;
    done = [whole.digest('hex'), ...(n > 1 ? [`${createHash('md5').update(Buffer.concat(parts)).digest('hex')}-${n}`] : [])];
    return done;
  };
  return {
    stage: async function* (source) {
      for await (const c of source) {
        whole.update(c);
        total += c.length;
        let at = 0;
        while (at < c.length) {
          // a part closes only when more bytes follow it (lib-storage: `while (length > partSize)`)
          if (inPart === partSize) {
            parts.push(part.digest());
            part = createHash('md5');
            inPart = 0;
          }
          const take = Math.min(partSize - inPart, c.length - at);
          part.update(c.subarray(at, at + take));
          inPart += take;
          at += take;
        }
        yield c;
      }
    },
    matches: (etag) => candidates().includes(etag.replace(/"/g, '').toLowerCase()),
    candidates,
  };
}
