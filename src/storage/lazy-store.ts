import type { Readable } from 'node:stream';
import type { BackupKeys } from './codec.js';
import type { StoreEnv } from './s3.js';
import type { BackupStore, PutOptions, PutResult, StoredObject, StoreLocation } from './store.js';

type Factory = (loc: StoreLocation) => BackupStore;

/**
 * The S3 stores of a run, with the AWS SDK loaded on the first S3 request: a run, plan or validate
 * that never talks to S3 does not pay for importing the SDK (about a quarter of a second) at start-up.
 * Each location still gets one store (one client), as `s3Stores` gives them.
 */
export function lazyS3Stores(env: StoreEnv, keys: BackupKeys): Factory {
  let real: Promise<Factory> | undefined;
  const factory = () => {
    real ??= import('./s3.js').then((m) => m.s3Stores(env, keys));
    return real;
  };
  return (loc) => {
    const store = async () => (await factory())(loc);
    const lazy: BackupStore = {
      codecKeys: keys,
      put: async (key: string, body: Readable, meta: Record<string, string>, opts?: PutOptions): Promise<PutResult> => (await store()).put(key, body, meta, opts),
      hash: async (key: string) => (await store()).hash(key),
      get: async (key: string, range?: { start: number; end: number }) => (await store()).get(key, range),
      putSmall: async (key: string, body: string, contentType: string) => (await store()).putSmall(key, body, contentType),
      list: async (prefix: string): Promise<StoredObject[]> => (await store()).list(prefix),
      head: async (key: string) => (await store()).head(key),
      delete: async (key: string) => (await store()).delete(key),
    };
    return lazy;
  };
}
