// The crash sweep: full-restore on 3 members with the 1000-key census, the runbook process SIGKILLed
// right after journal record k (held there by the engine's own test hook, so the point is exact), then
// `runbook resume` (must complete) or `runbook rollback` (must return the pre-run cluster and keys).
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { type Lab, startLab } from '../lab/lab.js';
import { startS3 } from '../lab/s3.js';
import { clusterView, expectedKeys, readKeys, writeCensus } from './census.js';
import { runCli, waitForFile } from './cli.js';
import { labEtcdBlock, writeLabInventory } from './lab-inventory.js';
import { CLI, ROOT } from './paths.js';

export interface SweepLab {
  lab: Lab;
  inv: string;
  env: Record<string, string>;
  backupKey: string;
  s3vars: string[];
  stop(): Promise<void>;
}

export const CENSUS = 1000;

export type SweepStyle = 'static-pod' | 'systemd';

/** SWEEP_STYLE=systemd: the members are units of the lab's systemctl (Type=notify, Restart=always). */
export function sweepStyle(env: NodeJS.ProcessEnv = process.env): SweepStyle {
  return env['SWEEP_STYLE'] === 'systemd' ? 'systemd' : 'static-pod';
}

export async function startSweepLab(style: SweepStyle = sweepStyle()): Promise<SweepLab> {
  const [lab, s3] = await Promise.all([startLab({ nodes: 3, etcd: style }), startS3()]);
  const inv = writeLabInventory(lab, join(lab.stateDir, 'inventory.yml'), {
    cluster: 'lab-sweep',
    hostExtra: (i) => labEtcdBlock(lab, i, style === 'systemd' ? ['style: systemd'] : []),
  });
  const env = { RUNBOOK_RUNS_DIR: join(lab.stateDir, 'runs'), AWS_ACCESS_KEY_ID: s3.accessKeyId, AWS_SECRET_ACCESS_KEY: s3.secretAccessKey, AWS_REGION: s3.region };
  await writeCensus(lab, CENSUS);
  const s3vars = ['-e', `s3_endpoint=${s3.endpoint}`, '-e', `s3_bucket=${s3.bucket}`];
  const runId = `sweep-backup-${Date.now()}`;
  const b = await runCli(['run', 'playbooks/backup.yml', '-i', inv, '--run-id', runId, ...s3vars], { env });
  if (b.code !== 0) throw new Error(`backup failed: ${b.stdout}${b.stderr}`);
  return { lab, inv, env, backupKey: `etcd/lab-sweep/${runId}/snapshot.db`, s3vars, stop: async () => void (await Promise.allSettled([lab.stop(), s3.stop()])) };
}

const restoreArgs = (l: SweepLab, runId: string) => ['run', 'playbooks/full-restore.yml', '-i', l.inv, '--yes', '--run-id', runId, '-e', `snapshot_key=${l.backupKey}`, ...l.s3vars];

function journalOf(l: SweepLab, runId: string): { type: string; step?: string }[] {
  return readFileSync(join(l.env['RUNBOOK_RUNS_DIR']!, runId, 'journal.jsonl'), 'utf8')
    .trim()
    .split('\n')
    .map((line) => (JSON.parse(line) as { event: { type: string; step?: string } }).event);
}

/** One full run to completion: the journal records from the approval gate to "apiservers ready". */
export async function killRange(l: SweepLab): Promise<{ first: number; last: number; names: string[] }> {
  const runId = `sweep-reference-${Date.now()}`;
  const r = await runCli(restoreArgs(l, runId), { env: l.env });
  if (r.code !== 0) throw new Error(`reference restore failed: ${r.stdout}${r.stderr}`);
  const events = journalOf(l, runId);
  const first = events.findIndex((e) => e.type === 'step.start' && e.step === 'approval') + 1;
  const last = events.findLastIndex((e) => e.type === 'step.end' && e.step === 'apiservers ready') + 1;
  if (first <= 0 || last < first) throw new Error('the reference journal has no approval .. apiservers ready range');
  return { first, last, names: events.map((e) => `${e.type}${e.step ? ` ${e.step}` : ''}`) };
}

/**
 * A kill point: the k-th journal record, or the first record whose JSON contains this text (the same point
 * in every run, whatever the interleaving of the hosts' output before it).
 */
export type KillPoint = number | string;

async function killAt(l: SweepLab, runId: string, k: KillPoint): Promise<string> {
  const hold = mkdtempSync(join(l.lab.stateDir, 'hold-'));
  const at = typeof k === 'number' ? { RUNBOOK_TEST_HOLD_AFTER_EVENT: String(k) } : { RUNBOOK_TEST_HOLD_AFTER_MATCH: k };
  const child = spawn(process.execPath, [CLI, ...restoreArgs(l, runId)], { cwd: ROOT, env: { ...process.env, ...l.env, ...at, RUNBOOK_TEST_HOLD_DIR: hold }, stdio: 'ignore' });
  const closed = new Promise((r) => child.on('close', r));
  await Promise.race([waitForFile(join(hold, 'held'), 300_000), closed.then(() => Promise.reject(new Error(`run ended before journal record ${k}`)))]);
  child.kill('SIGKILL');
  await closed;
  const events = journalOf(l, runId);
  if (typeof k === 'number' && events.length !== k) throw new Error(`killed after record ${events.length}, wanted ${k}`);
  const e = events.at(-1)!;
  return `${e.type}${e.step ? ` ${e.step}` : ''}`;
}

async function clusterOk(l: SweepLab): Promise<string | undefined> {
  try {
    await l.lab.waitHealthy({ timeoutMs: 60_000 });
    const v = await clusterView(l.lab);
    if (v.members !== 3 || v.started !== 3 || v.leaders.length !== 1 || v.clusterIds.length !== 1) return `cluster view ${JSON.stringify(v)}`;
    for (const [i, n] of l.lab.nodes.entries()) {
      const r = await l.lab.exec(i, `curl -fsS --max-time 3 http://${n.address}:6443/readyz`);
      if (r.code !== 0) return `apiserver on ${n.name} not ready`;
    }
    return undefined;
  } catch (e) {
    return (e as Error).message;
  }
}

export interface PointResult {
  k: KillPoint;
  event: string;
  mode: 'resume' | 'rollback';
  ok: boolean;
  keysLost: number;
  detail: string;
  seconds: number;
}

/** Kill after record k, then resume: 1000 census keys on every member, one cluster id, apiservers ready. */
export async function resumePoint(l: SweepLab, k: KillPoint): Promise<PointResult> {
  const t0 = Date.now();
  await l.lab.etcdctl(0, ['put', '/written-after-backup', 'x']);
  const runId = `sweep-resume-${typeof k === 'number' ? k : 'at'}-${Date.now()}`;
  const event = await killAt(l, runId, k);
  const r = await runCli(['resume', runId, '--yes'], { env: l.env });
  const bad = r.code === 0 ? await clusterOk(l) : `resume exit ${r.code}: ${(r.stdout + r.stderr).trim().split('\n').slice(-3).join(' | ')}`;
  let keysLost = 0;
  for (const i of [0, 1, 2]) {
    const have = new Set(await readKeys(l.lab, i, '/census/', 's').catch(() => []));
    keysLost = Math.max(keysLost, expectedKeys(CENSUS).filter((x) => !have.has(x)).length);
  }
  if (bad) await recoverLab(l, runId);
  return { k, event, mode: 'resume', ok: !bad && keysLost === 0, keysLost, detail: bad ?? 'completed', seconds: (Date.now() - t0) / 1000 };
}

/** Kill after record k, then roll back: the pre-run cluster with exactly its pre-run keys. */
export async function rollbackPoint(l: SweepLab, k: KillPoint): Promise<PointResult> {
  const t0 = Date.now();
  await l.lab.etcdctl(0, ['put', `/pre-run-${typeof k === 'number' ? k : Date.now()}`, 'kept']);
  const before = await readKeys(l.lab, 0, '/');
  const runId = `sweep-rollback-${typeof k === 'number' ? k : 'at'}-${Date.now()}`;
  const event = await killAt(l, runId, k);
  const r = await runCli(['rollback', runId, '--yes'], { env: l.env });
  let bad = r.code === 0 ? await clusterOk(l) : `rollback exit ${r.code}: ${(r.stdout + r.stderr).trim().split('\n').slice(-3).join(' | ')}`;
  const after = await readKeys(l.lab, 0, '/').catch(() => [] as string[]);
  const have = new Set(after);
  const keysLost = before.filter((x) => !have.has(x)).length;
  if (!bad && after.join() !== before.join()) bad = `keys differ: ${before.length} before, ${after.length} after`;
  if (bad) await recoverLab(l, runId);
  return { k, event, mode: 'rollback', ok: !bad && keysLost === 0, keysLost, detail: bad ?? 'rolled back', seconds: (Date.now() - t0) / 1000 };
}

/** After a failed point: unwind what is left so the next point starts from a working cluster. */
async function recoverLab(l: SweepLab, runId: string): Promise<void> {
  await runCli(['rollback', runId, '--yes'], { env: l.env });
  await runCli(['unlock', '-i', l.inv, '--force', '--yes'], { env: l.env });
  const problem = await clusterOk(l);
  if (problem) {
    // last resort: a plain restore from the backup
    await runCli(restoreArgs(l, `sweep-repair-${Date.now()}`), { env: l.env });
  }
}

export function table(rows: PointResult[]): string {
  const lines = ['| k | killed right after | mode | outcome | keys lost | time |', '|---|---|---|---|---|---|'];
  for (const r of rows) lines.push(`| ${r.k} | ${r.event} | ${r.mode} | ${r.ok ? 'ok' : `FAILED: ${r.detail}`} | ${r.keysLost} | ${r.seconds.toFixed(1)} s |`);
  const n = (m: string) => rows.filter((r) => r.mode === m);
  lines.push('', `kill points: ${new Set(rows.map((r) => r.k)).size}; resumed ok: ${n('resume').filter((r) => r.ok).length}/${n('resume').length}; rolled back ok: ${n('rollback').filter((r) => r.ok).length}/${n('rollback').length}; keys lost: ${rows.reduce((a, r) => a + r.keysLost, 0)}`);
  return lines.join('\n');
}

/** A small seeded generator, so a failing random pick can be replayed with SWEEP_SEED. */
export function seeded(seed: number): () => number {
  let x = seed >>> 0 || 1;
  return () => {
    x ^= x << 13;
    x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    return x / 0x100000000;
  };
}
