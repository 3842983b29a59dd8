import type { BackupStore, StoredObject } from '../storage/store.js';

/**
 * The backups under a prefix, as `backup.yml` writes them: one run folder `PREFIX/RUN_ID/` per backup,
 * with the snapshot object, the /etc/kubernetes archive, a provenance record `KEY.json` next to each,
 * and, once `runbook snapshots verify` has looked at it, a check record `KEY.verify.json`.
 */

/** What `runbook snapshots verify` found, stored as `KEY.verify.json` next to the object (the provenance is never rewritten). */
export interface VerifyRecord {
  key: string;
  ok: boolean;
  at: string;
  by: string;
  deep: boolean;
  problems: string[];
  /** The check could not be made here (no etcd of that version, a format this build cannot decode): says nothing of the backup, and is not recorded. */
  inconclusive?: boolean | undefined;
  /** Of the stored object as read now. */
  sha256?: string | undefined;
  size?: number | undefined;
  /** --deep: `snapshot status` of the decoded snapshot, and the throwaway etcd booted from it. */
  snapshot?: { sha256: string; size: number; revision: number; hash: number; totalKey: number } | undefined;
  booted?: { keys: number; revision: number; etcd: string } | undefined;
}

export interface Backup {
  runId: string;
  /** `PREFIX/RUN_ID/` */
  folder: string;
  /** The snapshot object's key. */
  key: string;
  /** Every object of the run folder (what prune deletes). */
  objects: StoredObject[];
  /** The snapshot object; undefined when only its provenance is left. */
  stored: StoredObject | undefined;
  provenance: Record<string, unknown> | undefined;
  check: VerifyRecord | undefined;
  /** When it was taken (ms): the provenance's taken-at, else when it was uploaded, else the object's time. */
  time: number;
  /** Uploaded and read back with the recorded sha256, and not found bad by a later verify. */
  verified: boolean;
  /** Why it does not count as verified. */
  why: string | undefined;
  compression: string;
  encryption: string;
}

type Json = { ok: true; value: Record<string, unknown> } | { ok: false; reason: string };

/** A small JSON object from the store (a provenance or check record); what is wrong with it as data. */
export async function readJsonObject(store: BackupStore, key: string): Promise<Json> {
  let text = '';
  try {
    const got = await store.get(key);
    for await (const ch of got.body as AsyncIterable<Buffer>) text += ch.toString('utf8');
  } catch (e) {
    return { ok: false, reason: `cannot read ${key}: ${(e as Error).message}` };
  }
  try {
    const v = JSON.parse(text) as unknown;
    if (v && typeof v === 'object' && !Array.isArray(v)) return { ok: true, value: v as Record<string, unknown> };
    return { ok: false, reason: `${key} is not a JSON object` };
  } catch (e) {
    return { ok: false, reason: `${key} is not valid JSON: ${(e as Error).message}` };
  }
}

const isRecordFile = (k: string) => k.endsWith('.json') || k.endsWith('.sha256');
const base = (k: string) => k.slice(k.lastIndexOf('/') + 1);
const timeOf = (v: unknown): number | undefined => {
  if (typeof v !== 'string' || v === '') return undefined;
  const t = Date.parse(v);
  return Number.isNaN(t) ? undefined : t;
};

/** The text of a field, '' when absent. */
export function field(b: Backup, name: string): string {
  const v = b.provenance?.[name];
  return v === undefined || v === null ? '' : typeof v === 'string' ? v : JSON.stringify(v);
}

/** The verdict on one folder, from what was read. Pure. */
export function describeBackup(input: {
  folder: string;
  objects: StoredObject[];
  key: string;
  provenance: Json | undefined;
  check: Json | undefined;
}): Backup {
  const { folder, objects, key } = input;
  const stored = objects.find((o) => o.key === key);
  const prov = input.provenance?.ok ? input.provenance.value : undefined;
  const check = input.check?.ok ? (input.check.value as unknown as VerifyRecord) : undefined;
  let why: string | undefined;
  if (!input.provenance) why = `no provenance record (${base(key)}.json is missing)`;
  else if (!input.provenance.ok) why = `provenance unreadable: ${input.provenance.reason}`;
  else if (prov?.['kind'] !== 'etcd-snapshot') why = `provenance kind is '${String(prov?.['kind'] ?? '')}', not etcd-snapshot`;
  else if (!stored) why = 'the snapshot object is missing (only its provenance is left)';
  else if (prov['verified'] !== true) why = 'the upload was not verified';
  else if (input.check && !input.check.ok) why = `check record unreadable: ${input.check.reason}`;
  else if (check && check.ok !== true) why = `verify failed at ${String(check.at)}: ${(check.problems ?? []).join('; ') || 'no reason recorded'}`;
  const time = timeOf(prov?.['taken-at']) ?? timeOf(prov?.['uploadedAt']) ?? stored?.lastModified.getTime() ?? Math.max(0, ...objects.map((o) => o.lastModified.getTime()));
  const text = (v: unknown) => (typeof v === 'string' && v !== '' ? v : 'none');
  return {
    runId: base(folder.slice(0, -1)),
    folder,
    key,
    objects,
    stored,
    provenance: prov,
    check,
    time,
    verified: why === undefined,
    why,
    compression: text(prov?.['compression']),
    encryption: text(prov?.['encryption']),
  };
}

/** Read every backup under the prefix (objects that are not backups, like a folder with only an archive, are left out). */
export async function scanBackups(store: BackupStore, prefix: string): Promise<Backup[]> {
  const folders = new Map<string, StoredObject[]>();
  for (const o of await store.list(prefix)) {
    const folder = o.key.slice(0, o.key.lastIndexOf('/') + 1);
    folders.set(folder, [...(folders.get(folder) ?? []), o]);
  }
  const out: Backup[] = [];
  for (const [folder, objects] of folders) {
    const keys = new Set(objects.map((o) => o.key));
    const provs = new Map<string, Json>();
    for (const o of objects) if (o.key.endsWith('.json') && !o.key.endsWith('.verify.json')) provs.set(o.key.slice(0, -'.json'.length), await readJsonObject(store, o.key));
    const isSnapshot = ([, p]: [string, Json]) => p.ok && p.value['kind'] === 'etcd-snapshot';
    // the object its provenance calls a snapshot; else one named like a snapshot whose provenance is missing or bad
    const key =
      [...provs].find(isSnapshot)?.[0] ?? objects.find((o) => !isRecordFile(o.key) && base(o.key).startsWith('snapshot') && !ofAnotherKind(provs.get(o.key)))?.key;
    if (key === undefined) continue;
    const checkKey = `${key}.verify.json`;
    const check = keys.has(checkKey) ? await readJsonObject(store, checkKey) : undefined;
    out.push(describeBackup({ folder, objects, key, provenance: provs.get(key), check }));
  }
  return out;
}

/** A provenance that names another kind (an archive's) marks an object that is not a snapshot. */
function ofAnotherKind(p: Json | undefined): boolean {
  return p?.ok === true && p.value['kind'] !== undefined && p.value['kind'] !== 'etcd-snapshot';
}

/** Newest verified first: the verified backups by time, newest first, then the others by time, newest first. Pure. */
export function orderBackups(backups: Backup[]): Backup[] {
  const byTime = (a: Backup, b: Backup) => b.time - a.time || b.runId.localeCompare(a.runId);
  return [...backups.filter((b) => b.verified).sort(byTime), ...backups.filter((b) => !b.verified).sort(byTime)];
}

/** A backup named by its run id or its snapshot key. */
export function findBackup(backups: Backup[], name: string): Backup | undefined {
  return backups.find((b) => b.runId === name || b.key === name || b.folder === name || b.folder === `${name}/`);
}
