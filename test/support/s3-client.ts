import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { Agent } from 'node:https';
import { NodeHttpHandler } from '@smithy/node-http-handler';
import { GetObjectCommand, HeadObjectCommand, PutObjectCommand, S3Client } from '@aws-sdk/client-s3';

export interface S3Where {
  endpoint: string;
  bucket: string;
  region: string;
  accessKeyId: string;
  secretAccessKey: string;
  /** For an https endpoint signed by a lab CA. */
  caFile?: string | undefined;
}

/** Test-side reads of the lab's S3 server, independent of the product's store. */
export function s3Helpers(w: S3Where) {
  const c = new S3Client({
    endpoint: w.endpoint,
    region: w.region,
    forcePathStyle: true,
    credentials: { accessKeyId: w.accessKeyId, secretAccessKey: w.secretAccessKey },
    requestChecksumCalculation: 'WHEN_REQUIRED',
    responseChecksumValidation: 'WHEN_REQUIRED',
    ...(w.caFile ? { requestHandler: new NodeHttpHandler({ httpsAgent: new Agent({ ca: readFileSync(w.caFile) }) }) } : {}),
  });
  const bytes = async (key: string) => Buffer.from(await (await c.send(new GetObjectCommand({ Bucket: w.bucket, Key: key }))).Body!.transformToByteArray());
  return {
    bytes,
    getText: async (key: string) => (await bytes(key)).toString('utf8'),
    sha256: async (key: string) => createHash('sha256').update(await bytes(key)).digest('hex'),
    exists: async (key: string) => c.send(new HeadObjectCommand({ Bucket: w.bucket, Key: key })).then(() => true, () => false),
    put: async (key: string, body: Buffer) => {
      await c.send(new PutObjectCommand({ Bucket: w.bucket, Key: key, Body: body }));
    },
  };
}
