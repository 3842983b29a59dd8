import { readFileSync } from 'node:fs';
import { Agent as HttpsAgent } from 'node:https';
import { isIP } from 'node:net';
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
  type S3ClientConfig,
  type ServerSideEncryption,
  UploadPartCommand,
} from '@aws-sdk/client-s3';
import { NodeHttpHandler } from '@smithy/node-http-handler';
import { HttpsProxyAgent } from 'https-proxy-agent';
import { type BackupKeys, NO_KEYS, tap } from './codec.js';
import { type PartSink, uploadParts } from './multipart.js';
import { collectAll, collectYoung } from '../util/young-gc.js';
import type { BackupStore, PutOptions, PutResult, S3Settings, StoredObject, StoreLocation } from './store.js';

// S3's smallest part, 3 in flight: the part buffers (PARALLEL_PARTS of them) are the part of an upload's memory
// the runbook chooses (8 MiB parts, 4 in flight and a fifth buffer measured 170-181 MiB peak RSS for 1 GiB on
// the lab); the rest is the code (45 MiB), the heap, and ssh2's short-lived packet buffers (up to 32 MiB of
// them before V8 collects them)
const PART = 5 * 1024 * 1024;
const PARALLEL_PARTS = 3;
/** S3's limit on the parts of one multipart upload. */
export const MAX_PARTS = 10_000;

/**
 * The part size for a source of `sizeHint` bytes (before encoding): PART, or whole MiB big enough for the
 * source with 1% to spare (gzip can grow incompressible data a little, age adds 16 bytes per 64 KiB) to fit
 * in MAX_PARTS. Pure.
 */
export function partSizeFor(sizeHint: number | undefined): number {
  if (sizeHint === undefined || !(sizeHint > 0)) return PART;
  const MiB = 1024 * 1024;
  return Math.max(PART, Math.ceil((sizeHint * 1.01) / MAX_PARTS / MiB) * MiB);
}

/** The environment the store reads (given by the CLI; nothing here reads process.env). */
export interface StoreEnv {
  AWS_CA_BUNDLE?: string | undefined;
  HTTPS_PROXY?: string | undefined;
  https_proxy?: string | undefined;
  NO_PROXY?: string | undefined;
  no_proxy?: string | undefined;
}

/** Buckets a virtual-hosted URL can carry: a DNS label-like name, no dots (TLS wildcards do not cover them). */
export function dnsCompatibleBucket(b: string): boolean {
  return /^[a-z0-9][a-z0-9-]{1,61}[a-z0-9]$/.test(b) && !b.includes('--');
}

/**
 * `auto` addressing: path-style for a custom endpoint that is an IP address or localhost or has an
 * explicit port (an S3-compatible store such as MinIO or Ceph; a bucket subdomain cannot resolve
 * there), and for a bucket name that is not DNS-compatible; virtual-hosted otherwise (AWS, and custom
 * endpoints on a default port with a DNS name). Pure.
 */
export function pathStyleFor(loc: Pick<StoreLocation, 'endpoint' | 'bucket'> & { addressing?: S3Settings['addressing'] }): boolean {
  const mode = loc.addressing ?? 'auto';
  if (mode === 'path') return true;
  if (mode === 'virtual') return false;
  if (!dnsCompatibleBucket(loc.bucket)) return true;
  if (!loc.endpoint) return false;
  let u: URL;
  try {
    u = new URL(loc.endpoint);
  } catch {
    return true;
  }
  const host = u.hostname.replace(/^\[|\]$/g, '');
  return isIP(host) !== 0 || host === 'localhost' || u.port !== '';
}

/** Whether NO_PROXY names this host (exact, a domain suffix, or `*`). */
export function noProxyMatches(host: string, noProxy: string | undefined): boolean {
  if (!noProxy) return false;
  return noProxy
    .split(',')
    .map((s) => s.trim().toLowerCase())
    .filter(Boolean)
    .some((p) => p === '*' || host === p.replace(/^\./, '') || host.endsWith(p.startsWith('.') ? p : `.${p}`));
}

/** The HTTPS proxy for this endpoint: the setting, else HTTPS_PROXY unless NO_PROXY names the host. */
export function proxyFor(loc: StoreLocation, env: StoreEnv): string | undefined {
  if (loc.proxy) return loc.proxy;
  const host = loc.endpoint ? new URL(loc.endpoint).hostname : `s3.${loc.region}.amazonaws.com`;
  const p = env.HTTPS_PROXY || env.https_proxy;
  if (!p || noProxyMatches(host.toLowerCase(), env.NO_PROXY ?? env.no_proxy)) return undefined;
  return p;
}

/** CONNECT through the proxy, then TLS to the endpoint checked against the CA bundle (the agent's own options reach only the proxy). */
class CaProxyAgent extends HttpsProxyAgent<string> {
  constructor(
    proxy: string,
    private readonly ca: Buffer | undefined,
    opts: ConstructorParameters<typeof HttpsAgent>[0],
  ) {
    super(proxy, opts);
  }

  override connect(req: Parameters<HttpsProxyAgent<string>['connect']>[0], opts: Parameters<HttpsProxyAgent<string>['connect']>[1]) {
    return super.connect(req, this.ca ? ({ ...opts, ca: this.ca } as typeof opts) : opts);
  }
}

/** The SDK client's configuration for a location: addressing, CA bundle, proxy, timeouts, retries. */
export function s3ClientConfig(loc: StoreLocation, env: StoreEnv = {}): S3ClientConfig {
  const caFile = loc.caBundle || env.AWS_CA_BUNDLE;
  const ca = caFile ? readFileSync(caFile) : undefined;
  const https = loc.endpoint === '' || loc.endpoint.startsWith('https:');
  const proxy = https ? proxyFor(loc, env) : undefined;
  const agentOpts = { keepAlive: true, maxSockets: 50, ...(ca ? { ca } : {}) };
  const httpsAgent = proxy ? new CaProxyAgent(proxy, ca, { keepAlive: true, maxSockets: 50 }) : new HttpsAgent(agentOpts);
  return {
    region: loc.region,
    ...(loc.endpoint ? { endpoint: loc.endpoint } : {}),
    forcePathStyle: pathStyleFor(loc),
    maxAttempts: loc.maxAttempts ?? 3,
    requestHandler: new NodeHttpHandler({
      connectionTimeout: (loc.connectTimeoutS ?? 10) * 1000,
      // idle time: a request with no bytes moving this long is abandoned (and retried); a multi-GB GET may take hours
      socketTimeout: (loc.requestTimeoutS ?? 120) * 1000,
      httpsAgent,
    }),
    // with the SDK's defaults a streamed upload is sent with aws-chunked framing that some S3-compatible
    // stores keep inside the object; every upload is verified by its sha256 instead
    requestChecksumCalculation: 'WHEN_REQUIRED',
    responseChecksumValidation: 'WHEN_REQUIRED',
  };
}

/** What a failed request means, for an SRE: TLS and credential problems named. */
export function explainS3Error(e: unknown, loc: StoreLocation): string {
  const err = e as { name?: string; message?: string; code?: string; cause?: { code?: string } };
  const code = err.code ?? err.cause?.code ?? '';
  const msg = err.message ?? String(e);
  if (/CERT|SELF_SIGNED|UNABLE_TO_VERIFY|unable to verify|self-signed|certificate/i.test(`${code} ${msg}`))
    return `TLS: the certificate of ${loc.endpoint || 'the S3 endpoint'} does not verify (${code || msg}): give the CA that signed it with s3.ca_bundle (or AWS_CA_BUNDLE=FILE)`;
  if (err.name === 'CredentialsProviderError' || /Could not load credentials/i.test(msg)) return `no S3 credentials: ${msg} (the AWS credential chain: AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, AWS_PROFILE with the shared config files, instance roles)`;
  if (err.name === 'InvalidAccessKeyId' || err.name === 'SignatureDoesNotMatch') return `S3 refused the credentials (${err.name}): ${msg}`;
  return msg;
}

/** The one importer of @aws-sdk. */
export class S3Store implements BackupStore {
  private readonly client: S3Client;
  private readonly bucket: string;

  constructor(
    private readonly loc: StoreLocation,
    env: StoreEnv,
    readonly codecKeys: BackupKeys,
  ) {
    this.bucket = loc.bucket;
    this.client = new S3Client(s3ClientConfig(loc, env));
  }

  private sse(): { ServerSideEncryption?: ServerSideEncryption; SSEKMSKeyId?: string } {
    if (this.loc.sse === 'AES256') return { ServerSideEncryption: 'AES256' };
    if (this.loc.sse === 'aws:kms') return { ServerSideEncryption: 'aws:kms', ...(this.loc.sseKmsKeyId ? { SSEKMSKeyId: this.loc.sseKmsKeyId } : {}) };
    return {};
  }

  /**
   * Multipart, PARALLEL_PARTS parts in flight in fixed reused buffers (uploadParts; parts of PART bytes, bigger
   * when `opts.sizeHint` needs them to fit in MAX_PARTS), each part with its
   * Content-MD5; the sha256 of the bytes sent computed on the fly. Each part's ETag is compared with its MD5:
   * the server's own hash of what it received, so the stored object is verified without reading it back.
   */
  async put(key: string, body: Readable, meta: Record<string, string>, opts: PutOptions = {}): Promise<PutResult> {
    const t = tap();
    const b64 = (md5: Buffer) => md5.toString('base64');
    const target = { Bucket: this.bucket, Key: key };
    const sink: PartSink = {
      single: async (bytes, md5) => (await this.client.send(new PutObjectCommand({ ...target, Body: bytes, ContentMD5: b64(md5), Metadata: meta, ...this.sse() }))).ETag,
      create: async () => {
        const r = await this.client.send(new CreateMultipartUploadCommand({ ...target, Metadata: meta, ...this.sse() }));
        if (!r.UploadId) throw new Error('the S3 server started a multipart upload without an UploadId');
        return r.UploadId;
      },
      part: async (uploadId, n, bytes, md5) => {
        // the Buffers the part's bytes came in are garbage now: freed at once, not tens of MiB later (young-gc.ts);
        // every 16th part, what those collections promoted (requests that were in flight) too
        if (n % 16 === 0) collectAll();
        else collectYoung();
        return (await this.client.send(new UploadPartCommand({ ...target, UploadId: uploadId, PartNumber: n, Body: bytes, ContentMD5: b64(md5) }))).ETag;
      },
      complete: async (uploadId, parts) => {
        await this.client.send(new CompleteMultipartUploadCommand({ ...target, UploadId: uploadId, MultipartUpload: { Parts: parts.map((p) => ({ PartNumber: p.n, ETag: p.etag })) } }));
      },
      abort: async (uploadId) => {
        await this.client.send(new AbortMultipartUploadCommand({ ...target, UploadId: uploadId }));
      },
    };
    let etagVerified: boolean;
    try {
      etagVerified = (await uploadParts(t.stage(body), sink, { partSize: partSizeFor(opts.sizeHint), inFlight: PARALLEL_PARTS, maxParts: MAX_PARTS })).etagVerified;
    } catch (e) {
      throw new Error(explainS3Error(e, this.loc));
    }
    const { sha256, size } = t.result();
    // the object's metadata is fixed before its hash is known: a sha256sum-style companion records it
    await this.client.send(new PutObjectCommand({ Bucket: this.bucket, Key: `${key}.sha256`, Body: `${sha256}  ${key.split('/').pop()}\n`, ...this.sse() }));
    return { sha256, size, etagVerified };
  }

  async get(key: string, range?: { start: number; end: number }) {
    try {
      const r = await this.client.send(new GetObjectCommand({ Bucket: this.bucket, Key: key, ...(range ? { Range: `bytes=${range.start}-${range.end}` } : {}) }));
      return { body: r.Body as Readable, meta: r.Metadata ?? {} };
    } catch (e) {
      throw new Error(explainS3Error(e, this.loc));
    }
  }

  async hash(key: string) {
    const { body, meta } = await this.get(key);
    const t = tap();
    for await (const _ of t.stage(body as AsyncIterable<Buffer>)) {
      // counted and hashed by the tap
    }
    return { ...t.result(), meta };
  }

  async putSmall(key: string, body: string, contentType: string) {
    await this.client.send(new PutObjectCommand({ Bucket: this.bucket, Key: key, Body: body, ContentType: contentType, ...this.sse() }));
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

/** One store per location and settings, bound to this process's environment and backup keys. */
export function s3Stores(env: StoreEnv = {}, keys: BackupKeys = NO_KEYS): (loc: StoreLocation) => BackupStore {
  const stores = new Map<string, S3Store>();
  return (loc) => {
    const k = JSON.stringify(loc);
    let s = stores.get(k);
    if (!s) {
      s = new S3Store(loc, env, keys);
      stores.set(k, s);
    }
    return s;
  };
}

/** Without keys or environment settings (tests, old call sites). */
export const s3StoreFor = s3Stores();
