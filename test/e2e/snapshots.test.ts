import { appendFileSync, existsSync, mkdirSync, mkdtempSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Lab, startLab } from '../lab/lab.js';
import { startS3 } from '../lab/s3.js';
import { runCli, spawnCli, waitForFile } from '../support/cli.js';
import { labEtcdBlock, writeLabInventory } from '../support/lab-inventory.js';
import { ROOT } from '../support/paths.js';
import { s3Helpers } from '../support/s3-client.js';

/**
 * The backup catalogue against the real lab: backups taken by the real CLI with backup.yml into the lab's
 * S3, then `runbook snapshots list|show|verify|prune`; and journals in the XDG state dir, found by
 * `runbook runs` and `resume` from another working directory.
 */
let lab: Lab;
let s3: Awaited<ReturnType<typeof startS3>>;
let s3c: ReturnType<typeof s3Helpers>;
let inv: string;
let env: Record<string, string>;
const runs = ['snap-1', 'snap-2', 'snap-3'];
const key = (run: string) => `etcd/lab-catalogue/${run}/snapshot.db`;
const cli = (args: string[], extra: Record<string, string> = {}) => runCli(args, { env: { ...env, ...extra } });

interface Listed {
  runId: string;
  key: string;
  verified: boolean;
  why?: string;
  provenance: Record<string, unknown>;
  compression: string;
  encryption: string;
}

beforeAll(async () => {
  [lab, s3] = await Promise.all([startLab({ nodes: 1, etcd: 'static-pod', etcdVersion: '3.5' }), startS3()]);
  inv = writeLabInventory(lab, join(lab.stateDir, 'inventory.yml'), { cluster: 'lab-catalogue', hostExtra: (i) => labEtcdBlock(lab, i, ['style: static-pod']) });
  // where the backups go is the inventory's business: the catalogue reads the same vars as backup.yml
  appendFileSync(inv, `vars:\n  s3_endpoint: ${s3.endpoint}\n  s3_bucket: ${s3.bucket}\n  keep_last: 10\n  etcd_tools_dir: ${lab.etcdCache}\n`);
  env = { RUNBOOK_RUNS_DIR: join(lab.stateDir, 'runs'), AWS_ACCESS_KEY_ID: s3.accessKeyId, AWS_SECRET_ACCESS_KEY: s3.secretAccessKey, AWS_REGION: s3.region };
  s3c = s3Helpers(s3);
  await lab.waitHealthy({ timeoutMs: 60_000 });
  for (const [i, run] of runs.entries()) {
    await lab.etcdctl(0, ['put', `/catalogue/${i}`, `value ${i}`]);
    const r = await cli(['run', 'playbooks/backup.yml', '-i', inv, '--run-id', run]);
    expect(r.code, r.stdout + r.stderr).toBe(0);
  }
}, 300_000);

afterAll(async () => {
  await Promise.allSettled([lab?.stop(), s3?.stop()]);
});

describe('runbook snapshots', () => {
  it('list: a table, newest verified first, and the same as JSON', async () => {
    const text = await cli(['snapshots', 'list', '-i', inv]);
    expect(text.code, text.stderr).toBe(0);
    console.log(`runbook snapshots list -i inventory.yml\n${text.stdout}`);
    const lines = text.stdout.trimEnd().split('\n');
    expect(lines[0]).toMatch(/^RUN_ID\s+CLUSTER\s+TAKEN\s+MEMBER\s+ETCD\s+REVISION\s+KEYS\s+SIZE\s+SHA256\s+VERIFIED\s+ENCRYPTED\s+COMPRESSED\s+NOTE$/);
    expect(lines.slice(1).map((l) => l.split(/\s+/)[0])).toEqual(['snap-3', 'snap-2', 'snap-1']);
    for (const l of lines.slice(1)) expect(l).toMatch(new RegExp(`lab-catalogue\\s+\\S+ \\S+Z\\s+master-1\\s+${lab.etcdVersions[0]?.replace(/\./g, '\\.')}\\s+\\d+\\s+\\d+\\s+\\S+ (B|KiB|MiB)\\s+[0-9a-f]{12}\\s+yes \\(upload\\)\\s+no\\s+gzip`));
    const json = await cli(['snapshots', 'list', '-i', inv, '--output', 'json']);
    const list = JSON.parse(json.stdout) as Listed[];
    console.log(`runbook snapshots list --output json (first record)\n${JSON.stringify(list[0], null, 2)}`);
    expect(list.map((b) => b.runId)).toEqual(['snap-3', 'snap-2', 'snap-1']);
    for (const b of list) {
      // backup.yml compresses by default (gzip) and encrypts only when asked
      expect(b).toMatchObject({ key: key(b.runId), verified: true, compression: 'gzip', encryption: 'none' });
      // the provenance as the upload wrote it, read independently of the product
      expect(b.provenance).toEqual(JSON.parse(await s3c.getText(`${b.key}.json`)));
      expect(b.provenance['sha256']).toBe(await s3c.sha256(b.key));
    }
  });

  it('show: every field of one backup, by run id or by key', async () => {
    const prov = JSON.parse(await s3c.getText(`${key('snap-2')}.json`)) as Record<string, unknown>;
    const r = await cli(['snapshots', 'show', 'snap-2', '-i', inv]);
    expect(r.code, r.stderr).toBe(0);
    for (const [k, v] of Object.entries(prov)) expect(r.stdout).toContain(`    ${k}: ${typeof v === 'string' ? v : JSON.stringify(v)}\n`);
    expect(r.stdout).toContain(`${key('snap-2').replace('snapshot.db', 'etc-kubernetes.tar.gz')}`);
    const byKey = await cli(['snapshots', 'show', key('snap-2'), '-i', inv, '--output', 'json']);
    expect((JSON.parse(byKey.stdout) as Listed).provenance).toEqual(prov);
    const none = await cli(['snapshots', 'show', 'nope', '-i', inv]);
    expect(none.code).toBe(2);
    expect(none.stderr).toContain("no backup 'nope'");
  });

  it('verify --all reads every object; --deep boots one on a throwaway etcd of its version', async () => {
    const all = await cli(['snapshots', 'verify', '--all', '-i', inv]);
    expect(all.code, all.stdout + all.stderr).toBe(0);
    expect(all.stdout.match(/^ok {5}snap-\d: sha256 [0-9a-f]{64} \(\d+ bytes\) as recorded$/gm)).toHaveLength(3);
    // the check is recorded next to the object (the provenance is left as the upload wrote it)
    const rec = JSON.parse(await s3c.getText(`${key('snap-1')}.verify.json`)) as Record<string, unknown>;
    expect(rec).toMatchObject({ key: key('snap-1'), ok: true, deep: false, problems: [], sha256: await s3c.sha256(key('snap-1')) });

    // this machine's PATH has etcd 3.4 only: the 3.5 backup is not booted with it, and nothing is recorded
    const noTools = await cli(['snapshots', 'verify', 'snap-3', '--deep', '-i', inv]);
    expect(noTools.code).toBe(1);
    expect(noTools.stdout).toMatch(/NOT CHECKED snap-3: no etcd 3\.5\.x on the PATH \(found .*\(3\.4\.\d+\)/);
    expect((JSON.parse(await s3c.getText(`${key('snap-3')}.verify.json`)) as { deep: boolean }).deep).toBe(false);

    const prov = JSON.parse(await s3c.getText(`${key('snap-3')}.json`)) as Record<string, string>;
    const deep = await cli(['snapshots', 'verify', 'snap-3', '--deep', '--etcd-tools-dir', lab.etcdCache, '-i', inv]);
    console.log(`runbook snapshots verify snap-3 --deep --etcd-tools-dir …\n${deep.stdout}`);
    expect(deep.code, deep.stdout + deep.stderr).toBe(0);
    const d = JSON.parse(await s3c.getText(`${key('snap-3')}.verify.json`)) as { ok: boolean; deep: boolean; snapshot: { revision: number; totalKey: number; hash: number }; booted: { keys: number; revision: number; etcd: string } };
    expect(d).toMatchObject({ ok: true, deep: true });
    expect(d.booted.etcd).toContain(`${lab.etcdCache}/`);
    expect(d.snapshot).toMatchObject({ revision: Number(prov['revision']), totalKey: Number(prov['total-keys']), hash: Number(prov['hash']) });
    expect(d.booted.revision).toBe(Number(prov['revision']));
    // what the member held when the backup was taken, counted independently
    const live = JSON.parse((await lab.etcdctl(0, ['get', '', '--prefix', '--keys-only', '--limit=1', '-w', 'json'])).stdout) as { count: number };
    expect(d.booted.keys).toBeGreaterThanOrEqual(3);
    expect(d.booted.keys).toBeLessThanOrEqual(live.count);
  }, 180_000);

  it('a corrupted object fails verify, is reported as corrupt, and drops to the unverified end of the list', async () => {
    const bytes = await s3c.bytes(key('snap-1'));
    bytes[bytes.length >> 1] = (bytes[bytes.length >> 1] ?? 0) ^ 0xff;
    await s3c.put(key('snap-1'), bytes);
    const r = await cli(['snapshots', 'verify', 'snap-1', 'snap-2', '-i', inv]);
    expect(r.code).toBe(1);
    expect(r.stdout).toMatch(/^FAILED snap-1: corrupt: the object reads as sha256 [0-9a-f]{64} \(\d+ bytes\), the provenance records [0-9a-f]{64}/m);
    expect(r.stdout).toMatch(/^ok {5}snap-2: /m);
    expect(r.stdout).toContain('1 of 2 failed');
    const list = await cli(['snapshots', 'list', '-i', inv]);
    console.log(`after corrupting snap-1:\n${list.stdout}`);
    const rows = list.stdout.trimEnd().split('\n').slice(1);
    expect(rows.map((l) => l.split(/\s+/)[0])).toEqual(['snap-3', 'snap-2', 'snap-1']);
    expect(rows[2]).toMatch(/\bno\s+no\s+gzip\s+verify failed at \S+: corrupt: /);
  });

  it('prune: a dry run shows what and why; no terminal and no --yes refuses; a real prune never deletes the last verified backup', async () => {
    const dry = await cli(['snapshots', 'prune', '--keep-last', '1', '--dry-run', '-i', inv]);
    console.log(`runbook snapshots prune --keep-last 1 --dry-run\n${dry.stdout}`);
    expect(dry.code, dry.stderr).toBe(0);
    expect(dry.stdout).toMatch(/^keep\s+snap-3\s+.*one of the newest 1$/m);
    expect(dry.stdout).toMatch(/^DELETE\s+snap-2\s+.*not one of the newest 1$/m);
    expect(dry.stdout).toMatch(/^DELETE\s+snap-1\s+.*unverified.*not one of the newest 1$/m);
    expect(dry.stdout).toContain('dry run: 2 backup(s) would be deleted; nothing was');
    const asked = await cli(['snapshots', 'prune', '--keep-last', '1', '-i', inv]);
    expect(asked.code).toBe(1);
    expect(asked.stderr).toContain('no terminal to ask on');
    for (const run of runs) expect(await s3c.exists(key(run))).toBe(true);

    // now the newest is bad too: snap-2 is the last verified backup, and retention (keep 1) would take it
    const bytes = await s3c.bytes(key('snap-3'));
    await s3c.put(key('snap-3'), Buffer.concat([bytes, Buffer.from('trailing junk')]));
    expect((await cli(['snapshots', 'verify', 'snap-3', '-i', inv])).code).toBe(1);
    const r = await cli(['snapshots', 'prune', '--keep-last', '1', '--yes', '-i', inv]);
    console.log(`runbook snapshots prune --keep-last 1 --yes (snap-1 and snap-3 found corrupt)\n${r.stdout}`);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/^keep\s+snap-2\s+.*the newest verified backup: never deleted$/m);
    expect(r.stdout).toContain('deleted snap-1 (');
    expect(await s3c.exists(key('snap-1'))).toBe(false);
    expect(await s3c.exists(`${key('snap-1')}.json`)).toBe(false);
    expect(await s3c.exists(key('snap-2'))).toBe(true);
    expect(await s3c.exists(key('snap-3'))).toBe(true);
    const list = JSON.parse((await cli(['snapshots', 'list', '-i', inv, '--output', 'json'])).stdout) as Listed[];
    expect(list.map((b) => [b.runId, b.verified])).toEqual([
      ['snap-2', true],
      ['snap-3', false],
    ]);
  });
});

describe('journals in one place', () => {
  it('a run journals into the XDG state dir; runbook runs and resume find it from another directory', async () => {
    const state = mkdtempSync(join(lab.stateDir, 'xdg-'));
    const [here, elsewhere] = [join(lab.stateDir, 'cwd-a'), join(lab.stateDir, 'cwd-b')];
    for (const d of [here, elsewhere]) mkdirSync(d, { recursive: true });
    const xdg = { ...env, RUNBOOK_RUNS_DIR: '', XDG_STATE_HOME: state };
    const hold = mkdtempSync(join(lab.stateDir, 'hold-'));
    const runId = 'journal-elsewhere';
    const held = spawnCli(['run', join(ROOT, 'playbooks/backup.yml'), '-i', inv, '--run-id', runId, '-e', 'keep_last=10'], { cwd: here, env: { ...xdg, RUNBOOK_TEST_HOLD_BEFORE: 'upload snapshot', RUNBOOK_TEST_HOLD_DIR: hold } });
    await Promise.race([waitForFile(join(hold, 'held')), held.done.then((r) => Promise.reject(new Error(`the run ended before the hold: ${r.stdout}${r.stderr}`)))]);
    const running = await runCli(['runs'], { cwd: elsewhere, env: xdg });
    console.log(`runbook runs (from another directory, the run held)\n${running.stdout}`);
    expect(running.stdout).toContain(`runs in ${join(state, 'etcd-runbook', 'runs')}`);
    expect(running.stdout).toMatch(new RegExp(`^${runId}\\s+running\\s+backup\\s+lab-catalogue\\s+\\S+@\\S+\\s+\\S+ \\S+Z\\s+pid ${held.child.pid}`, 'm'));
    held.child.kill('SIGKILL');
    await held.done;
    const died = await runCli(['runs', '--output', 'json'], { cwd: elsewhere, env: xdg });
    expect((JSON.parse(died.stdout) as { id: string; condition: string }[]).find((r) => r.id === runId)?.condition).toBe('died');

    const resumed = await runCli(['resume', runId, '--yes'], { cwd: elsewhere, env: xdg });
    expect(resumed.code, resumed.stdout + resumed.stderr).toBe(0);
    const after = await runCli(['runs'], { cwd: elsewhere, env: xdg });
    console.log(`runbook runs (after resume from another directory)\n${after.stdout}`);
    expect(after.stdout).toMatch(new RegExp(`^${runId}\\s+done\\s+backup\\s+lab-catalogue\\s+`, 'm'));
    expect(await s3c.exists(`etcd/lab-catalogue/${runId}/snapshot.db.json`)).toBe(true);
    // nothing went to either working directory (the old default was ./.runbook/runs)
    for (const d of [here, elsewhere]) expect(existsSync(join(d, '.runbook'))).toBe(false);
  }, 180_000);
});
