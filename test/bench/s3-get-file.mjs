// The plain-tools baseline of the restore bench, its first half: one GET of an S3 object into a file.
//
//   node s3-get-file.mjs ENDPOINT BUCKET KEY FILE
//
// Credentials from AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY. Prints {"bytes":N,"ms":T} when done.

import { createWriteStream } from 'node:fs';
import { Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { GetObjectCommand, S3Client } from '@aws-sdk/client-s3';

const [endpoint, bucket, key, file] = process.argv.slice(2);
if (!endpoint || !bucket || !key || !file) {
  process.stderr.write('usage: s3-get-file.mjs ENDPOINT BUCKET KEY FILE\n');
  process.exit(2);
}
const started = performance.now();
const client = new S3Client({ endpoint, region: process.env.AWS_REGION ?? 'us-east-1', forcePathStyle: true, requestChecksumCalculation: 'WHEN_REQUIRED', responseChecksumValidation: 'WHEN_REQUIRED' });
const r = await client.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
let bytes = 0;
const count = new Transform({
  transform(c, _enc, cb) {
    bytes += c.length;
    cb(null, c);
  },
});
await pipeline(r.Body, count, createWriteStream(file));
process.stdout.write(`${JSON.stringify({ bytes, ms: performance.now() - started })}\n`);
