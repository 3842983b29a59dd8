import { createHash } from 'node:crypto';
import type { Readable } from 'node:stream';
import {
  AbortMultipartUploadCommand,
  CompleteMultipartUploadCommand,
  CreateMultipartUploadCommand,
  DeleteObjectCommand,
  GetObjectCommand,
  HeadObjectCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  S3Client,
  UploadPartCommand,
} from '@aws-sdk/client-s3';
import type { BackupStore, PutResult, StoredObject, StoreLocation } from './store.js';

const PART = 8 * 1024 * 1024;

/**
 * The one importer of @aws-sdk. Checksums are computed only when required: with the SDK's defaults
 * a streamed upload is sent with aws-chunked framing that some S3-compatible stores keep inside the
 * object. Every upload is verified by its sha256 instead.
 */
export class S3Store implements BackupStore {
  private readonly client: S3Client;
  private readonly bucket: string;

  constructor(loc: StoreLocation) {
    this.bucket = loc.bucket;
    this.client = new S3Client({
      region: loc.region,
      ...(loc.endpoint ? { endpoint: loc.endpoint, forcePathStyle: true } : {}),
      requestChecksumCalculation: 'WHEN_REQUIRED',
      responseChecksumValidation: 'WHEN_REQUIRED',
    });
  }

  async put(key: string, body: Readable, meta: Record<string, string>): Promise<PutResult> {
    const hash = createHash('sha256');
    let size = 0;
    let buf: Buffer[] = [];
    let buffered = 0;
    let uploadId: string | undefined;
    const parts: { ETag: string; PartNumber: number }[] = [];
    const flush = async () => {
      const chunk = Buffer.concat(buf);
      buf = [];
      buffered = 0;
      if (!uploadId) {
        const c = await this.client.send(new CreateMultipartUploadCommand({ Bucket: this.bucket, Key: key, Metadata: meta }));
        uploadId = c.UploadId;
      }
      const n = parts.length + 1;
      const r = await this.client.send(new UploadPartCommand({ Bucket: this.bucket, Key: key, UploadId: uploadId, PartNumber: n, Body: chunk, ContentLength: chunk.length }));
      parts.push({ ETag: r.ETag ?? '', PartNumber: n });
    };
    try {
      for await (const c of body as AsyncIterable<Buffer>) {
        hash.update(c);
        size += c.length;
        buf.push(c);
        buffered += c.length;
        if (buffered >= PART) await flush();
      }
      const sha256 = hash.digest('hex');
      const Metadata = { ...meta, sha256, size: String(size) };
      if (!uploadId) {
        const chunk = Buffer.concat(buf);
        await this.client.send(new PutObjectCommand({ Bucket: this.bucket, Key: key, Body: chunk, ContentLength: chunk.length, Metadata }));
      } else {
        if (buffered > 0) await flush();
        await this.client.send(new CompleteMultipartUploadCommand({ Bucket: this.bucket, Key: key, UploadId: uploadId, MultipartUpload: { Parts: parts } }));
        // multipart metadata is fixed at creation: record the hash with a metadata-replacing copy-free
        // companion instead (the provenance object), and in the part-0 metadata via a small marker object
        await this.client.send(new PutObjectCommand({ Bucket: this.bucket, Key: `${key}.sha256`, Body: `${sha256}  ${key.split('/').pop()}\n`, Metadata }));
      }
      return { sha256, size };
    } catch (e) {
      if (uploadId) await this.client.send(new AbortMultipartUploadCommand({ Bucket: this.bucket, Key: key, UploadId: uploadId })).catch(() => undefined);
      throw e;
    }
  }

  async get(key: string) {
    const r = await this.client.send(new GetObjectCommand({ Bucket: this.bucket, Key: key }));
    return { body: r.Body as Readable, meta: r.Metadata ?? {} };
  }

  async hash(key: string) {
    const { body, meta } = await this.get(key);
    const h = createHash('sha256');
    let size = 0;
    for await (const c of body as AsyncIterable<Buffer>) {
      h.update(c);
      size += c.length;
    }
    return { sha256: h.digest('hex'), size, meta };
  }

  async putSmall(key: string, body: string, contentType: string) {
    await this.client.send(new PutObjectCommand({ Bucket: this.bucket, Key: key, Body: body, ContentType: contentType }));
  }

  async list(prefix: string): Promise<StoredObject[]> {
    const out: StoredObject[] = [];
    let token: string | undefined;
    do {
      const r = await this.client.send(new ListObjectsV2Command({ Bucket: this.bucket, Prefix: prefix, ContinuationToken: token }));
      for (const o of r.Contents ?? []) out.push({ key: o.Key ?? '', size: o.Size ?? 0, lastModified: o.LastModified ?? new Date(0) });
      token = r.IsTruncated ? r.NextContinuationToken : undefined;
    } while (token);
    return out;
  }

  async head(key: string) {
    try {
      const r = await this.client.send(new HeadObjectCommand({ Bucket: this.bucket, Key: key }));
      return r.Metadata ?? {};
    } catch {
      return undefined;
    }
  }

  async delete(key: string) {
    await this.client.send(new DeleteObjectCommand({ Bucket: this.bucket, Key: key }));
  }
}

const stores = new Map<string, S3Store>();

export function s3StoreFor(loc: StoreLocation): BackupStore {
  const k = `${loc.endpoint}|${loc.region}|${loc.bucket}`;
  let s = stores.get(k);
  if (!s) {
    s = new S3Store(loc);
    stores.set(k, s);
  }
  return s;
}
