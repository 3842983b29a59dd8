import type { ChalkInstance } from 'chalk';
import type { Backup } from '../engine/backup-catalogue.js';
import { field } from '../engine/backup-catalogue.js';
import type { RetentionVerdict } from '../engine/retention.js';
import { type Cell, formatTable, when } from './table.js';

export function humanSize(n: number | undefined): string {
  if (n === undefined || !Number.isFinite(n)) return '-';
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let v = n;
  let u = 0;
  while (v >= 1024 && u < units.length - 1) {
    v /= 1024;
    u++;
  }
  return u === 0 ? `${v} B` : `${v.toFixed(1)} ${units[u]}`;
}

function verifiedCell(b: Backup): Cell {
  if (!b.verified) return { text: 'no', tone: 'bad' };
  if (b.check) return { text: `yes (${b.check.deep ? 'deep ' : ''}check ${b.check.at.slice(0, 16).replace('T', ' ')}Z)`, tone: 'good' };
  return { text: 'yes (upload)', tone: 'good' };
}

const dash = (t: string) => ({ text: t === '' ? '-' : t });
const storedSize = (b: Backup) => b.stored?.size ?? (b.provenance?.['size'] === undefined ? undefined : Number(b.provenance['size']));

/** `runbook snapshots list`: one row per backup, in the order given (newest verified first). */
export function formatBackupTable(backups: Backup[], c: ChalkInstance): string {
  if (backups.length === 0) return 'no backups\n';
  const header = ['RUN_ID', 'CLUSTER', 'TAKEN', 'MEMBER', 'ETCD', 'REVISION', 'KEYS', 'SIZE', 'SHA256', 'VERIFIED', 'ENCRYPTED', 'COMPRESSED', 'NOTE'];
  const rows = backups.map((b): Cell[] => [
    { text: b.runId },
    dash(field(b, 'cluster')),
    { text: when(b.time) },
    dash(field(b, 'member')),
    dash(field(b, 'etcd-version')),
    dash(field(b, 'revision')),
    dash(field(b, 'total-keys')),
    { text: humanSize(storedSize(b)) },
    { text: field(b, 'sha256').slice(0, 12) || '-' },
    verifiedCell(b),
    { text: b.encryption === 'none' ? 'no' : b.encryption },
    { text: b.compression === 'none' ? 'no' : b.compression },
    { text: b.why ?? '', tone: 'dim' },
  ]);
  return formatTable(header, rows, c);
}

/** `runbook snapshots show`: every field of one backup. */
export function formatBackup(b: Backup, c: ChalkInstance): string {
  const out = [`${c.bold(b.runId)}  ${b.verified ? c.green('verified') : c.red(`NOT VERIFIED: ${b.why ?? ''}`)}`, `  snapshot: ${b.key}`, `  taken: ${when(b.time)}`];
  out.push(`  provenance (${b.key}.json):`);
  if (!b.provenance) out.push(c.dim('    (none)'));
  for (const [k, v] of Object.entries(b.provenance ?? {})) out.push(`    ${k}: ${typeof v === 'string' ? v : JSON.stringify(v)}`);
  out.push(`  last check (${b.key}.verify.json):`);
  if (!b.check) out.push(c.dim('    (never checked with runbook snapshots verify)'));
  for (const [k, v] of Object.entries(b.check ?? {})) out.push(`    ${k}: ${typeof v === 'string' ? v : JSON.stringify(v)}`);
  out.push('  objects:');
  for (const o of b.objects) out.push(`    ${o.key}  ${humanSize(o.size)}  ${o.lastModified.toISOString()}`);
  return `${out.join('\n')}\n`;
}

/** `runbook snapshots prune`: what stays, what goes, and why. */
export function formatPrune(verdicts: RetentionVerdict<Backup>[], c: ChalkInstance): string {
  const rows = verdicts.map((v): Cell[] => [
    v.keep ? { text: 'keep', tone: 'good' } : { text: 'DELETE', tone: 'bad' },
    { text: v.item.runId },
    { text: when(v.item.time) },
    { text: v.item.verified ? 'verified' : 'unverified', tone: v.item.verified ? undefined : 'warn' },
    { text: `${v.item.objects.length}` },
    { text: v.why },
  ]);
  return formatTable(['', 'RUN_ID', 'TAKEN', 'STATE', 'OBJECTS', 'WHY'], rows, c);
}
