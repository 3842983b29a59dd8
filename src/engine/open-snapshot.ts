import type { Readable } from 'node:stream';
import type { BackupStore } from '../storage/store.js';
import type { Backup } from './backup-catalogue.js';

/** `inconclusive`: this build cannot decode it (says nothing of the backup itself). */
export type OpenedSnapshot = { ok: true; stream: Readable } | { ok: false; reason: string; inconclusive?: boolean };

/**
 * The backup as a plain etcd snapshot stream: the stored object, decoded by what its provenance says it
 * was encoded with (`compression`, `encryption`; absent = none). The one place the catalogue decodes:
 * the codec of compressed or encrypted backups plugs in here.
 */
export async function openSnapshot(store: BackupStore, b: Backup): Promise<OpenedSnapshot> {
  if (b.compression !== 'none' || b.encryption !== 'none') return { ok: false, reason: `${b.key} is stored with compression ${b.compression}, encryption ${b.encryption}: this build cannot decode it`, inconclusive: true };
  try {
    return { ok: true, stream: (await store.get(b.key)).body };
  } catch (e) {
    return { ok: false, reason: `cannot read ${b.key}: ${(e as Error).message}` };
  }
}
