// Benchmark of the RTO (issue 11), not a pass/fail test on time: a missed goal prints MISS, only a broken run
// fails. On a 3-member static-pod etcd lab with some data in etcd, a backup with playbooks/backup.yml, then in
// the same run:
//
//   the unavoidable parts of a full restore, done directly on the nodes with plain tools: the snapshot
//   transfer (one GET into a file, then 3 parallel `ssh host 'gzip -dc > f' < file`), the snapshot restore on
//   the 3 members in parallel (etcdctl/etcdutl snapshot restore), etcd start to healthy, apiservers ready
//   (stopping apiservers and etcd, until every etcd process is gone, is timed too, shown beside the sum);
//
//   `runbook run playbooks/full-restore.yml`, with the runbook's own per-step durations, so the gap is explained.
//
//   BENCH_RTO_MIB=256 npm run bench -- rto      data put in etcd before the backup (default 256 MiB)

import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { GetObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { ETCD_IMAGES_DIR } from '../lab/etcd-assets.js';
import { type Lab, shellQuote, startLab } from '../lab/lab.js';
import { type LabS3, startS3 } from '../lab/s3.js';
import { labEtcdBlock, writeLabInventory } from '../support/lab-inventory.js';
import { ROOT } from '../support/paths.js';
import { runbookCommand } from './bench-support.js';
import { settle, settledNote } from './settle.js';
import { type GoalRow, goalTable, load, measure, mib, outsideSteps, runEnd, secs, slowestCommands, stepDurations } from './measure.js';

const DATA_MIB = Number(process.env['BENCH_RTO_MIB'] ?? '256');
// one value: 1 MB of random bytes in base64 (1.33 MB, under etcd's 1.5 MiB request limit)
const VALUE_RAW = 1_000_000;
const VALUE_BYTES = Math.ceil(VALUE_RAW / 3) * 4;
const VALUES = Math.max(1, Math.round((DATA_MIB * 2 ** 20) / VALUE_BYTES));
const SNAP = '/var/lib/bench-rto/snapshot.db';
const PKI = '--cacert=/etc/kubernetes/pki/etcd/ca.crt --cert=/etc/kubernetes/pki/etcd/healthcheck-client.crt --key=/etc/kubernetes/pki/etcd/healthcheck-client.key';
const MANIFESTS = '/etc/kubernetes/manifests';
const STASH = '/etc/kubernetes/bench-stopped';

let lab: Lab;
let s3: LabS3;
let inv: string;
let work: string;
let env: Record<string, string>;
const startLoad = load();

beforeAll(async () => {
  work = mkdtempSync('/tmp/rb-bench-rto-');
  [lab, s3] = await Promise.all([startLab({ nodes: 3, etcd: 'static-pod' }), startS3()]);
  inv = writeLabInventory(lab, join(lab.stateDir, 'inventory.yml'), { cluster: 'lab-rto', hostExtra: (i) => labEtcdBlock(lab, i, ['style: static-pod']) });
  env = { RUNBOOK_RUNS_DIR: join(lab.stateDir, 'runs'), AWS_ACCESS_KEY_ID: s3.accessKeyId, AWS_SECRET_ACCESS_KEY: s3.secretAccessKey, AWS_REGION: s3.region };
}, 300_000);

afterAll(async () => {
  console.log(`\n[bench] RTO: load average at start ${startLoad}, at end ${load()}\n`);
  await Promise.allSettled([lab?.stop(), s3?.stop()]);
  if (work && process.env['KEEP_LAB'] !== '1') rmSync(work, { recursive: true, force: true });
});

const etcdctl = (i: number): string => {
  const v = lab.etcdVersions[i] ?? '';
  return `ETCDCTL_API=3 ${ETCD_IMAGES_DIR}/${v}/etcdctl --endpoints=${lab.etcdEndpoints.join(',')} ${PKI}`;
};

/** The same script on every node at once (nsenter, no ssh); the wall time of the slowest. */
async function everywhere(label: string, script: (i: number) => string, timeoutMs = 600_000): Promise<number> {
  const t0 = performance.now();
  const rs = await Promise.all(lab.nodes.map((_, i) => lab.exec(i, `set -e\n${script(i)}`, { timeoutMs })));
  for (const [i, r] of rs.entries()) if (r.code !== 0) throw new Error(`${label} on ${lab.nodes[i]?.name} failed (${r.code}): ${r.stderr.slice(-2000)}`);
  return performance.now() - t0;
}

const portClosed = (addr: string, port: number): string => `while (exec 3<>/dev/tcp/${addr}/${port}) 2>/dev/null; do sleep 0.1; done`;

async function keyCount(): Promise<number> {
  // 3.4's etcdctl has no --count-only
  const r = await lab.exec(0, `${etcdctl(0)} get /bench/ --prefix --keys-only`);
  expect(r.code, r.stderr).toBe(0);
  return r.stdout.split('\n').filter((l) => l.startsWith('/bench/')).length;
}

it(`RTO: full-restore.yml vs the sum of its unavoidable parts, 3 members, ~${DATA_MIB} MiB in etcd`, async () => {
  // ---- data, in one process on the node: the values are random, so the snapshot is about that size
  const fill = await lab.exec(0, `set -e; for i in $(seq 1 ${VALUES}); do head -c ${VALUE_RAW} /dev/urandom | base64 -w0 | ${etcdctl(0)} put /bench/$(printf %05d $i) >/dev/null; done`, { timeoutMs: 1_800_000 });
  expect(fill.code, fill.stderr).toBe(0);
  expect(await keyCount()).toBe(VALUES);

  const backupId = `rto-backup-${Date.now()}`;
  const s3vars = ['-e', `s3_endpoint=${s3.endpoint}`, '-e', `s3_bucket=${s3.bucket}`];
  const backup = await measure([...runbookCommand(), 'run', 'playbooks/backup.yml', '-i', inv, '--run-id', backupId, '--output', 'json', ...s3vars], { cwd: ROOT, env, scratch: work });
  expect(backup.code, backup.stdout.slice(-3000) + backup.stderr).toBe(0);
  const key = `etcd/lab-rto/${backupId}/snapshot.db`;
  const client = new S3Client({
    endpoint: s3.endpoint,
    region: s3.region,
    forcePathStyle: true,
    credentials: { accessKeyId: s3.accessKeyId, secretAccessKey: s3.secretAccessKey },
    requestChecksumCalculation: 'WHEN_REQUIRED',
    responseChecksumValidation: 'WHEN_REQUIRED',
  });
  const provText = await (await client.send(new GetObjectCommand({ Bucket: s3.bucket, Key: `${key}.json` }))).Body!.transformToString();
  const prov = JSON.parse(provText) as { size: number; snapshotSize: number; compression: string; encryption: string };
  expect(prov.encryption).toBe('none');
  const decode = prov.compression === 'gzip' ? 'gzip -dc' : 'cat';

  const list = await lab.exec(0, `${etcdctl(0)} member list -w json`);
  const members = (JSON.parse(list.stdout.replace(/("ID"\s*:\s*)(\d+)/g, '$1"$2"')) as { members: { name: string; peerURLs: string[] }[] }).members;
  const byAddress = (addr: string) => members.find((m) => m.peerURLs.some((u) => u.includes(`//${addr}:`)));
  const initialCluster = members.map((m) => `${m.name}=${m.peerURLs[0]}`).join(',');

  // ---- the unavoidable parts, with plain tools (each side measured on a settled machine)
  const settledPlain = await settle();
  const jumpFile = join(work, 'snapshot.obj');
  const t0 = performance.now();
  const copy = lab.nodes.map((_, i) => `ssh ${lab.sshArgs(i).map(shellQuote).join(' ')} ${shellQuote(`mkdir -p ${SNAP.slice(0, SNAP.lastIndexOf('/'))} && ${decode} > ${SNAP}`)} < ${shellQuote(jumpFile)} & p${i}=$!`).join('\n');
  const transferScript = `set -e\n${shellQuote(process.execPath)} ${shellQuote(join(ROOT, 'test', 'bench', 's3-get-file.mjs'))} ${s3.endpoint} ${s3.bucket} ${key} ${shellQuote(jumpFile)} >/dev/null\n${copy}\n${lab.nodes.map((_, i) => `wait $p${i}`).join('\n')}\n`;
  const transfer = await measure(['bash', '-c', transferScript], { env, scratch: work });
  expect(transfer.code, transfer.stderr).toBe(0);
  const transferMs = performance.now() - t0;
  rmSync(jumpFile, { force: true });

  const stopMs = await everywhere('stop', (i) => {
    const a = lab.nodes[i]?.address ?? '';
    // etcd gone, not only its port: until it has let go of its db (bbolt's flock), nothing may touch the data dir
    return `mkdir -p ${STASH}\nmv ${MANIFESTS}/kube-apiserver.yaml ${STASH}/\n${portClosed(a, 6443)}\nmv ${MANIFESTS}/etcd.yaml ${STASH}/\n${portClosed(a, 2379)}\nwhile ! flock -n -s 9 9< /var/lib/etcd/member/snap/db; do sleep 0.1; done`;
  });
  const token = `bench-rto-${Date.now()}`;
  const restoreMs = await everywhere('snapshot restore', (i) => {
    const n = lab.nodes[i]!;
    const m = byAddress(n.address);
    if (!m) throw new Error(`no member with the address ${n.address}`);
    const v = lab.etcdVersions[i] ?? '';
    const tool = v.startsWith('3.4') ? `ETCDCTL_API=3 ${ETCD_IMAGES_DIR}/${v}/etcdctl` : `${ETCD_IMAGES_DIR}/${v}/etcdutl`;
    return [
      'rm -rf /var/lib/etcd/.bench-restore',
      `${tool} snapshot restore ${SNAP} --name=${m.name} --initial-cluster=${initialCluster} --initial-cluster-token=${token} --initial-advertise-peer-urls=${m.peerURLs[0]} --data-dir=/var/lib/etcd/.bench-restore >/dev/null 2>&1`,
      'mv -T /var/lib/etcd/member /var/lib/etcd/member.bench-old',
      'mv -T /var/lib/etcd/.bench-restore/member /var/lib/etcd/member && rmdir /var/lib/etcd/.bench-restore',
    ].join('\n');
  });
  const etcdUpStart = performance.now();
  await everywhere('start etcd', () => `mv ${STASH}/etcd.yaml ${MANIFESTS}/`);
  const healthy = await lab.exec(0, `for i in $(seq 1 1200); do if ${etcdctl(0)} --dial-timeout=1s --command-timeout=2s endpoint health >/dev/null 2>&1; then exit 0; fi; sleep 0.1; done; exit 1`, { timeoutMs: 300_000 });
  expect(healthy.code, 'etcd did not become healthy after the plain restore').toBe(0);
  const etcdUpMs = performance.now() - etcdUpStart;
  const apiStart = performance.now();
  await everywhere('start apiserver', (i) => `mv ${STASH}/kube-apiserver.yaml ${MANIFESTS}/\nfor t in $(seq 1 1200); do curl -fsS --max-time 2 http://${lab.nodes[i]?.address}:6443/readyz >/dev/null 2>&1 && exit 0; sleep 0.1; done; exit 1`);
  const apiMs = performance.now() - apiStart;
  expect(await keyCount()).toBe(VALUES);
  await everywhere('clean up', () => `rm -rf ${SNAP} /var/lib/etcd/member.bench-old`);
  await lab.waitHealthy({ timeoutMs: 120_000 });

  // ---- the runbook
  const settledRunbook = await settle();
  const runId = `rto-restore-${Date.now()}`;
  const rb = await measure([...runbookCommand(), 'run', 'playbooks/full-restore.yml', '-i', inv, '--yes', '--run-id', runId, '--output', 'json', '-e', `snapshot_key=${key}`, ...s3vars], { cwd: ROOT, env, scratch: work });
  const end = runEnd(rb);
  if (rb.code !== 0) writeFileSync(join(work, 'full-restore.out'), rb.stdout + rb.stderr);
  expect(rb.code, `${String(end?.['message'])}\n${rb.stdout.slice(-3000)}${rb.stderr.slice(-2000)}`).toBe(0);
  await lab.waitHealthy({ timeoutMs: 120_000 });
  expect(await keyCount()).toBe(VALUES);

  const sum = transferMs + restoreMs + etcdUpMs + apiMs;
  const ratio = rb.ms / sum;
  const steps = stepDurations(rb);
  // the runbook's steps that do each part (by the playbook's step names); the rest is what plain tools skip
  const groups: [string, RegExp][] = [
    ['transfer', /verify the snapshot in S3|fetch and verify the snapshot/],
    ['stop', /^stop kube-apiservers|^stop etcd/],
    ['restore', /move data dirs aside|restore the snapshot (on|beside) every member|put the restored member in place/],
    ['etcd', /^start etcd|cluster is healthy/],
    ['apiserver', /^start kube-apiservers|apiservers ready/],
  ];
  const groupOf = (step: string): string => groups.find(([, re]) => re.test(step))?.[0] ?? 'other';
  const rbPart = (g: string): string => {
    const mine = steps.filter((s) => groupOf(s.step) === g);
    const long = mine.filter((s) => s.ms >= 500);
    const short = mine.filter((s) => s.ms < 500);
    const named = long.map((s) => `${s.step} ${secs(s.ms)}`);
    if (short.length) named.push(`${short.length} short step${short.length > 1 ? 's' : ''} ${secs(short.reduce((a, s) => a + s.ms, 0))}`);
    return `runbook ${secs(mine.reduce((a, s) => a + s.ms, 0))} (${named.join(', ') || 'no step'})`;
  };
  const slowest = slowestCommands(rb);
  const slowNote = (step: string, ms: number): string => {
    const c = slowest.get(step);
    // a long step: its slowest command, to see where the time goes
    return c && ms >= 1000 ? `; slowest command ${secs(c.ms)} on ${c.host}: ${c.command.length > 90 ? `${c.command.slice(0, 90)}…` : c.command}` : '';
  };
  const stepsMs = steps.reduce((a, s) => a + s.ms, 0);
  const out = outsideSteps(rb);
  // the outage: from the apiservers' stop until they are ready again
  const from = steps.findIndex((s) => /^stop kube-apiservers/.test(s.step));
  const to = steps.findIndex((s) => /^apiservers ready/.test(s.step));
  const outageMs = from >= 0 && to >= from ? steps.slice(from, to + 1).reduce((a, s) => a + s.ms, 0) : Number.NaN;
  const rows: GoalRow[] = [
    { what: 'data in etcd', value: `${VALUES} values of ${mib(VALUE_BYTES)}; snapshot ${mib(prov.snapshotSize)}, stored ${mib(prov.size)} (${prov.compression})` },
    { what: 'backup.yml (info)', value: secs(backup.ms) },
    { what: 'part: snapshot transfer (1 GET + 3 parallel ssh)', value: `plain ${secs(transferMs)} · ${rbPart('transfer')}` },
    { what: 'part: snapshot restore, 3 members in parallel', value: `plain ${secs(restoreMs)} · ${rbPart('restore')}` },
    { what: 'part: etcd start to healthy', value: `plain ${secs(etcdUpMs)} · ${rbPart('etcd')}` },
    { what: 'part: apiservers ready', value: `plain ${secs(apiMs)} · ${rbPart('apiserver')}` },
    { what: 'sum of the parts (plain)', value: secs(sum) },
    { what: 'stop apiservers and etcd (not in the sum)', value: `plain ${secs(stopMs)} · ${rbPart('stop')}; sum with it ${secs(sum + stopMs)}, ratio ${(rb.ms / (sum + stopMs)).toFixed(2)}` },
    { what: 'runbook steps no plain part has', value: rbPart('other') },
    {
      what: 'runbook outside its steps',
      value: `${secs(rb.ms - stepsMs)}: start-up to run.start ${secs(out.startUp)}, to the first step (connect, host keys, lock) ${secs(out.toFirstStep)}, ${out.gaps} gaps between steps ${secs(out.between)}, last step to exit (unlock, close) ${secs(out.toExit)}`,
    },
    { what: 'outage (info): apiservers stopped until ready again', value: `plain ${secs(stopMs + restoreMs + etcdUpMs + apiMs)} · runbook ${secs(outageMs)}` },
    { what: 'runbook full-restore.yml (wall)', value: `${secs(rb.ms)} (engine ${secs(Number(end?.['durationMs'] ?? Number.NaN))}), peak RSS ${mib(rb.maxRssKiB * 1024)}` },
    { what: 'ratio runbook / sum', value: ratio.toFixed(2), goal: '≤ 1.25', ok: ratio <= 1.25 },
    { what: 'before each side (info)', value: `plain: ${settledNote(settledPlain)}; runbook: ${settledNote(settledRunbook)}` },
    ...steps.map((s) => ({ what: `  step (${groupOf(s.step)}): ${s.step}`, value: `${secs(s.ms)} ${s.status}${slowNote(s.step, s.ms)}` })),
  ];
  console.log(goalTable(`[bench] RTO of a full restore, 3 members (static pods, etcd ${lab.etcdVersions[0]}); load ${load()}`, rows));
}, 3_600_000);
