import type { Readable } from 'node:stream';
import type { BackupStore } from '../storage/store.js';
import type { Backup } from './backup-catalogue.js';
import { decodeChain, through } from '../storage/codec.js';

/** `inconclusive`: this build cannot decode it (says nothing of the backup itself). */
export type OpenedSnapshot = { ok: true; stream: Readable } | { ok: false; reason: string; inconclusive?: boolean };

/**
 * The backup as a plain etcd snapshot stream: the stored object, decoded by what its provenance says it
 * was encoded with (`compression`, `encryption`; absent = none). The one place the catalogue decodes:
 * the codec of compressed or encrypted backups plugs in here.
 */
export async function openSnapshot(store: BackupStore, b: Backup): Promise<OpenedSnapshot> {
  // the same decoder a restore uses: what the provenance says it was encoded with, with this machine's keys
  const chain = decodeChain({ ...(b.provenance ?? {}), compression: b.compression, encryption: b.encryption }, store.codecKeys);
  if (!chain.ok) return { ok: false, reason: `${b.key} (compression ${b.compression}, encryption ${b.encryption}): ${chain.message}`, inconclusive: true };
  try {
    const body = (await store.get(b.key)).body;
    return { ok: true, stream: chain.stages.length ? through(body, chain.stages) : body };
  } catch (e) {
    return { ok: false, reason: `cannot read ${b.key}: ${(e as Error).message}` };
  }
}
