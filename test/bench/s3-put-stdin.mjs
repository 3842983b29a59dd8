// The plain-tools baseline of the backup bench: stdin to one S3 object through @aws-sdk/lib-storage,
// with the runbook's part size and queue size (given by the bench, read from src/storage/s3.ts).
//
//   ssh HOST cat FILE | node s3-put-stdin.mjs ENDPOINT BUCKET KEY PART_BYTES QUEUE_SIZE
//
// Credentials from AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY. Prints {"bytes":N,"ms":T} when done.

import { Transform } from 'node:stream';
import { S3Client } from '@aws-sdk/client-s3';
import { Upload } from '@aws-sdk/lib-storage';

const [endpoint, bucket, key, part, queue] = process.argv.slice(2);
if (!endpoint || !bucket || !key || !part || !queue) {
  process.stderr.write('usage: s3-put-stdin.mjs ENDPOINT BUCKET KEY PART_BYTES QUEUE_SIZE\n');
  process.exit(2);
}
const started = performance.now();
const client = new S3Client({
  endpoint,
  region: process.env.AWS_REGION ?? 'us-east-1',
  forcePathStyle: true,
  // as the runbook's store: s3rver does not take the flexible checksums
  requestChecksumCalculation: 'WHEN_REQUIRED',
  responseChecksumValidation: 'WHEN_REQUIRED',
});
let bytes = 0;
const counted = process.stdin.pipe(
  new Transform({
    transform(c, _enc, cb) {
      bytes += c.length;
      cb(null, c);
    },
  }),
);
const up = new Upload({ client, partSize: Number(part), queueSize: Number(queue), leavePartsOnError: false, params: { Bucket: bucket, Key: key, Body: counted } });
await up.done();
process.stdout.write(`${JSON.stringify({ bytes, ms: performance.now() - started })}\n`);
