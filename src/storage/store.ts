import type { Readable } from 'node:stream';
import type { S3Settings } from '../model/command.js';
import type { BackupKeys } from './codec.js';

export type { S3Settings };

export interface StoredObject {
  key: string;
  size: number;
  lastModified: Date;
}

export interface PutResult {
  sha256: string;
  size: number;
  /**
   * The store's own evidence that it holds exactly the bytes sent: its ETag equals the MD5 of what was
   * streamed (whole object, or S3's MD5-of-part-MD5s-N for a multipart upload). False when the ETag is
   * of another kind (SSE-KMS, SSE-C, other servers): then the caller reads the object back to verify it.
   */
  etagVerified: boolean;
}

export interface PutOptions {
  /** The source's size when known (before encoding): multipart parts are made big enough for it to fit in S3's 10,000 parts. */
  sizeHint?: number | undefined;
}

/** Where backups live. s3.ts is the only implementation that talks to the network. */
export interface BackupStore {
  /** Stream into the store; sha256 and MD5s (for the ETag) computed while streaming, in one pass. */
  put(key: string, body: Readable, meta: Record<string, string>, opts?: PutOptions): Promise<PutResult>;
  /** Read the object back and hash it. */
  hash(key: string): Promise<{ sha256: string; size: number; meta: Record<string, string> }>;
  /** The object, or with `range` only bytes start..end (inclusive), e.g. an age header. */
  get(key: string, range?: { start: number; end: number }): Promise<{ body: Readable; meta: Record<string, string> }>;
  putSmall(key: string, body: string, contentType: string): Promise<void>;
  list(prefix: string): Promise<StoredObject[]>;
  head(key: string): Promise<Record<string, string> | undefined>;
  delete(key: string): Promise<void>;
  /** The backup keys this jump host holds (from files or the environment), to encode and decode objects. */
  readonly codecKeys: BackupKeys;
}

export interface StoreLocation extends S3Settings {
  endpoint: string;
  region: string;
  bucket: string;
}
