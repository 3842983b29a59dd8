import { hostname, userInfo } from 'node:os';
import { join } from 'node:path';
import { type Backup, findBackup, orderBackups, scanBackups } from '../engine/backup-catalogue.js';
import { retention } from '../engine/retention.js';
import type { StoreFactory } from '../engine/run-special.js';
import { buildScope } from '../engine/scope.js';
import { expandNames } from '../engine/select-hosts.js';
import { recordCheck, verifyBackup } from '../engine/verify-backup.js';
import { loadInventory } from '../load/load-inventory.js';
import { loadPlaybook } from '../load/load-playbook.js';
import { formatProblem } from '../load/problem.js';
import { PACKAGE_ROOT } from '../util/package-root.js';
import { formatBackup, formatBackupTable, formatPrune } from '../report/backup-table.js';
import { makeStyle } from '../report/style.js';
import { s3Where } from '../actions/s3.js';
import type { BackupStore, StoreLocation } from '../storage/store.js';
import type { CliArgs } from './args.js';
import { inventoryOptions } from './ssh-options.js';
import { askToType } from './prompt.js';
import { type Io, storesFor } from './run-command.js';

/** The playbook that writes the backups: where it puts them is where the catalogue looks. */
export const BACKUP_PLAYBOOK = join(PACKAGE_ROOT, 'playbooks', 'backup.yml');

interface Where extends StoreLocation {
  prefix: string;
  cluster: string;
}

/**
 * Bucket, endpoint, region and prefix exactly as backup.yml would use them with this inventory and these
 * -e values: its own defaults, the inventory's vars, -e, rendered by the same scope (`etcd/{{ cluster }}`).
 */
function locate(args: CliArgs, io: Io): Where | number {
  const fail = (msg: string) => {
    io.stderr.write(`runbook: ${msg}\n`);
    return 2;
  };
  if (!args.inventory) return fail('give an inventory with -i INVENTORY (its vars and -e name the bucket, as for backup.yml)');
  const inv = loadInventory(args.inventory, inventoryOptions(args, io.env));
  const pb = inv.ok ? loadPlaybook(BACKUP_PLAYBOOK, { inventory: inv.value, extraVars: args.extraVars }) : undefined;
  const problems = [...(inv.ok ? [] : inv.problems), ...(pb && !pb.ok ? pb.problems : [])];
  if (problems.length || !inv.ok || !pb?.ok) {
    for (const p of problems) io.stderr.write(`${formatProblem(p)}\n`);
    return 2;
  }
  const cluster = expandNames([pb.value.hosts], inv.value);
  const host = cluster.find((h) => !h.down) ?? cluster[0];
  if (!host) return fail(`${args.inventory} has no hosts in '${JSON.stringify(pb.value.hosts)}'`);
  let vars: Record<string, unknown>;
  try {
    vars = buildScope({ playbook: pb.value, inventory: inv.value, host, cluster, extraVars: args.extraVars, registered: {}, run: { id: 'catalogue', dir: '', user: '', started: new Date(0).toISOString(), commit: 'unknown' } }).vars as Record<string, unknown>;
  } catch (e) {
    return fail(`${args.inventory}: ${(e as Error).message}`);
  }
  const text = (k: string) => String(vars[k] ?? '');
  // the same S3 map and settings the backup's s3.* steps are given (vars.s3), checked the same way
  const loc = s3Where({ s3: vars['s3'] as Record<string, unknown> | undefined });
  if (typeof loc === 'string') return fail(`${args.inventory}: S3 settings: ${loc}`);
  return { ...loc.s3, bucket: loc.bucket, endpoint: loc.endpoint, region: loc.region, prefix: `${text('s3_prefix').replace(/\/+$/, '')}/`, cluster: inv.value.cluster };
}

/** A backup as JSON: every field, the time also as ISO text, absent ones as null. */
const asJson = (b: Backup) => ({ ...b, takenAt: new Date(b.time).toISOString(), why: b.why ?? null, check: b.check ?? null, provenance: b.provenance ?? null });

const USAGE = 'usage: runbook snapshots list|show RUN_ID|verify [RUN_ID…|--all] [--deep]|prune --keep-last N [--max-age-days D] -i INVENTORY';

/** `runbook snapshots list|show|verify|prune`: the backups backup.yml wrote, checked and pruned. */
export async function snapshots(args: CliArgs, io: Io, factory?: StoreFactory): Promise<number> {
  // the backup keys (to decode encrypted backups) and the S3 environment, exactly as a run takes them
  const made = factory ? { ok: true as const, stores: factory } : storesFor(io.env);
  if (!made.ok) {
    io.stderr.write(`runbook: ${made.message}\n`);
    return 2;
  }
  const stores = made.stores;
  const [sub, ...names] = args.positionals;
  const fail = (msg: string, code = 2) => {
    io.stderr.write(`runbook: ${msg}\n`);
    return code;
  };
  if (sub !== 'list' && sub !== 'show' && sub !== 'verify' && sub !== 'prune') return fail(USAGE);
  const where = locate(args, io);
  if (typeof where === 'number') return where;
  const store = stores(where);
  const c = makeStyle(io.stdout, io.env);
  const json = args.output === 'json';
  const out = (s: string) => io.stdout.write(s);
  const place = `s3://${where.bucket}/${where.prefix}${where.endpoint ? ` at ${where.endpoint}` : ''}`;
  let all: Backup[];
  try {
    all = orderBackups(await scanBackups(store, where.prefix));
  } catch (e) {
    return fail(`cannot list ${place}: ${(e as Error).message}`, 1);
  }
  switch (sub) {
    case 'list':
      out(json ? `${JSON.stringify(all.map(asJson))}\n` : all.length ? formatBackupTable(all, c) : `no backups in ${place}\n`);
      return 0;
    case 'show': {
      const b = names[0] === undefined ? undefined : findBackup(all, names[0]);
      if (!b) return fail(`no backup '${names[0] ?? ''}' in ${place} (see: runbook snapshots list -i ${args.inventory})`);
      out(json ? `${JSON.stringify(asJson(b))}\n` : formatBackup(b, c));
      return 0;
    }
    case 'verify':
      return verify(args, io, store, all, names, place);
    case 'prune':
      return prune(args, io, store, all, where.cluster);
  }
}

async function verify(args: CliArgs, io: Io, store: BackupStore, all: Backup[], names: string[], place: string): Promise<number> {
  if (args.all === (names.length > 0)) {
    io.stderr.write(`runbook: name the backups to verify (RUN_ID or key) or give --all\n`);
    return 2;
  }
  const targets: Backup[] = [];
  for (const n of names) {
    const b = findBackup(all, n);
    if (!b) {
      io.stderr.write(`runbook: no backup '${n}' in ${place} (see: runbook snapshots list -i ${args.inventory})\n`);
      return 2;
    }
    targets.push(b);
  }
  const c = makeStyle(io.stdout, io.env);
  const by = `${userInfo().username}@${hostname()}`;
  const deep = args.deep ? { toolsDir: args.etcdToolsDir, path: io.env['PATH'] ?? '/usr/bin:/bin' } : undefined;
  let failed = 0;
  for (const b of args.all ? all : targets) {
    const rec = await verifyBackup(store, b, { by, now: () => new Date(), deep });
    let stored = '';
    // a backup without its object or provenance has nothing to hang a record on; a check that could not be made says nothing
    if (b.stored && b.provenance && !rec.inconclusive) await recordCheck(store, rec).catch((e: unknown) => (stored = `; could not record the result: ${(e as Error).message}`));
    if (!rec.ok) failed++;
    if (args.output === 'json') io.stdout.write(`${JSON.stringify(rec)}\n`);
    else if (rec.ok) {
      const d = rec.booted && rec.snapshot ? `; booted on etcd ${rec.booted.etcd}: ${rec.booted.keys} keys at revision ${rec.booted.revision}, snapshot status ${rec.snapshot.totalKey} total keys, hash ${rec.snapshot.hash}` : '';
      io.stdout.write(`${c.green('ok')}     ${b.runId}: sha256 ${rec.sha256 ?? ''} (${rec.size ?? 0} bytes) as recorded${d}${stored}\n`);
    } else if (rec.inconclusive) io.stdout.write(`${c.yellow.bold('NOT CHECKED')} ${b.runId}: ${rec.problems.join('; ')} (nothing recorded)\n`);
    else io.stdout.write(`${c.red.bold('FAILED')} ${b.runId}: ${rec.problems.join('; ')}${stored}\n`);
  }
  if (args.output !== 'json') io.stdout.write(`${failed ? c.red.bold(`${failed} of ${args.all ? all.length : targets.length} failed`) : c.green('all verified')}\n`);
  return failed ? 1 : 0;
}

function count(v: string | undefined, name: string, min: number): number | undefined | string {
  if (v === undefined) return undefined;
  const n = Number(v);
  return Number.isFinite(n) && n >= min && (name !== '--keep-last' || Number.isInteger(n)) ? n : `${name} must be ${name === '--keep-last' ? 'a whole number ≥ 1' : 'a positive number of days'}, got '${v}'`;
}

async function prune(args: CliArgs, io: Io, store: BackupStore, all: Backup[], cluster: string): Promise<number> {
  const keepLast = count(args.keepLast, '--keep-last', 1);
  const maxAge = count(args.maxAgeDays, '--max-age-days', Number.MIN_VALUE);
  const fail = (msg: string, code: number) => {
    io.stderr.write(`runbook: ${msg}\n`);
    return code;
  };
  for (const bad of [keepLast, maxAge]) if (typeof bad === 'string') return fail(bad, 2);
  if (keepLast === undefined) return fail('prune needs --keep-last N (and optionally --max-age-days D)', 2);
  const c = makeStyle(io.stdout, io.env);
  const verdicts = retention(all, { keepLast: keepLast as number, maxAgeDays: maxAge as number | undefined, now: Date.now() });
  const doomed = verdicts.filter((v) => !v.keep);
  const json = args.output === 'json';
  const plan = verdicts.map((v) => ({ runId: v.item.runId, folder: v.item.folder, keep: v.keep, why: v.why, objects: v.item.objects.map((o) => o.key) }));
  if (!json) io.stdout.write(formatPrune(verdicts, c));
  if (doomed.length === 0 || args.dryRun) {
    if (json) io.stdout.write(`${JSON.stringify({ dryRun: args.dryRun, plan, deleted: [] })}\n`);
    else io.stdout.write(doomed.length === 0 ? 'nothing to delete\n' : `dry run: ${doomed.length} backup(s) would be deleted; nothing was\n`);
    return 0;
  }
  if (!args.yes) {
    if (!io.stdin.isTTY) return fail(`refusing to delete ${doomed.length} backup(s) without asking: no terminal to ask on; review with --dry-run, then pass --yes`, 1);
    const ok = await askToType(`Delete ${doomed.length} backup(s) of ${cluster} listed above? Type the cluster name`, cluster, io.stdin, io.stdout);
    if (!ok) return fail('not confirmed; nothing was deleted', 1);
  }
  const deleted: string[] = [];
  for (const v of doomed) {
    // the snapshot first: a prune cut short leaves a folder that lists as unverified, never one that looks good
    const keys = v.item.objects.map((o) => o.key).sort((a, b) => Number(b === v.item.key) - Number(a === v.item.key));
    try {
      for (const k of keys) await store.delete(k);
    } catch (e) {
      return fail(`deleting ${v.item.folder} failed: ${(e as Error).message}`, 1);
    }
    deleted.push(v.item.runId);
    if (!json) io.stdout.write(`deleted ${v.item.runId} (${keys.length} objects)\n`);
  }
  if (json) io.stdout.write(`${JSON.stringify({ dryRun: false, plan, deleted })}\n`);
  return 0;
}
