// Benchmark of the data path (issue 11), not a pass/fail test on time: a missed goal prints MISS, only a
// broken run fails. On 3 sshd-only lab nodes and the lab's S3 server (s3rver, on disk), for each size:
//
//   backup:  `runbook run` of one s3.upload step (a member's file → S3, with the store's read-back check)
//            vs `ssh cat FILE | node s3-put-stdin.mjs` (lib-storage, the runbook's part and queue size);
//   restore: `runbook run` of one s3.download step on the 3 members
//            vs one GET into a file (s3-get-file.mjs), then 3 parallel `ssh host 'cat > f' < file`.
//
// Each prints MiB/s of both and the ratio, the runbook's peak RSS, what the S3 server saw (UploadParts in
// flight at once, GETs of the object) and what the runbook process wrote to this machine's disks.
//
//   BENCH_DATA_SIZES=1 npm run bench -- data-path     sizes in GiB (default 1,4)

import { mkdtempSync, readdirSync, readFileSync, rmSync, statfsSync, writeFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { DeleteObjectCommand, HeadObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { type Lab, shellQuote, startLab } from '../lab/lab.js';
import { type LabS3, startS3 } from '../lab/s3.js';
import { writeLabInventory } from '../support/lab-inventory.js';
import { ROOT } from '../support/paths.js';
import { runbookCommand } from './bench-support.js';
import { settle, settledNote } from './settle.js';
import { type GoalRow, goalTable, load, type Measured, maxConcurrent, measure, mib, rate, runEnd, secs, stepDurations } from './measure.js';

const GiB = 2 ** 30;
const SIZES = (process.env['BENCH_DATA_SIZES'] ?? '1,4')
  .split(',')
  .map((s) => Number(s.trim()))
  .filter((n) => n > 0);
const SRC = '/var/lib/bench/data.bin';
const DEST = '/var/lib/bench/restored.bin';
const HERE = join(ROOT, 'test', 'bench');

/** The runbook's multipart settings, read from its source so the baseline follows any change there. */
function multipartSettings(): { part: number; queue: number; note: string } {
  const text = readFileSync(join(ROOT, 'src', 'storage', 's3.ts'), 'utf8');
  const num = (name: string): number | undefined => {
    const m = new RegExp(`const ${name} = ([0-9 *]+);`).exec(text);
    return m ? (m[1] ?? '').split('*').reduce((a, b) => a * Number(b.trim()), 1) : undefined;
  };
  const part = num('PART');
  const queue = num('PARALLEL_PARTS');
  if (part && queue) return { part, queue, note: 'from src/storage/s3.ts' };
  return { part: 8 * 2 ** 20, queue: 4, note: 'PART/PARALLEL_PARTS not found in src/storage/s3.ts: lib-storage defaults of the old code' };
}

interface Req {
  id: number;
  method: string;
  url: string;
  agent: string;
  status: number;
  finished: boolean;
  start: number;
  end: number;
}

let lab: Lab;
let s3: LabS3;
let inv: string;
let work: string;
let requestLog: string;
let client: S3Client;
let env: Record<string, string>;
const startLoad = load();

beforeAll(async () => {
  // on the disk (/tmp here is the root filesystem), not in a node's tmpfs
  work = mkdtempSync('/tmp/rb-bench-data-');
  requestLog = join(work, 's3-requests.jsonl');
  writeFileSync(requestLog, '');
  [lab, s3] = await Promise.all([startLab({ nodes: 3 }), startS3({ requestLog })]);
  inv = writeLabInventory(lab);
  env = { RUNBOOK_RUNS_DIR: join(lab.stateDir, 'runs'), AWS_ACCESS_KEY_ID: s3.accessKeyId, AWS_SECRET_ACCESS_KEY: s3.secretAccessKey, AWS_REGION: s3.region };
  client = new S3Client({
    endpoint: s3.endpoint,
    region: s3.region,
    forcePathStyle: true,
    credentials: { accessKeyId: s3.accessKeyId, secretAccessKey: s3.secretAccessKey },
    requestChecksumCalculation: 'WHEN_REQUIRED',
    responseChecksumValidation: 'WHEN_REQUIRED',
  });
  writeFileSync(
    join(work, 'upload.yml'),
    `name: bench-upload
hosts: masters
vars: { s3_endpoint: "", s3_bucket: etcd-backups, src: "", key: "" }
steps:
  - name: upload
    action: s3.upload
    run_once: true
    args: { src: "{{ vars.src }}", key: "{{ vars.key }}", s3: { bucket: "{{ vars.s3_bucket }}", endpoint: "{{ vars.s3_endpoint }}" } }
`,
  );
  writeFileSync(
    join(work, 'download.yml'),
    `name: bench-download
hosts: masters
vars: { s3_endpoint: "", s3_bucket: etcd-backups, key: "", dest: "" }
steps:
  - name: download
    action: s3.download
    args: { key: "{{ vars.key }}", dest: "{{ vars.dest }}", s3: { bucket: "{{ vars.s3_bucket }}", endpoint: "{{ vars.s3_endpoint }}" } }
`,
  );
}, 120_000);

afterAll(async () => {
  console.log(`\n[bench] data path: load average at start ${startLoad}, at end ${load()}\n`);
  await Promise.allSettled([lab?.stop(), s3?.stop()]);
  if (work && process.env['KEEP_LAB'] !== '1') rmSync(work, { recursive: true, force: true });
});

/** The S3 server's requests logged from line `from` on. */
function requestsFrom(from: number): Req[] {
  const lines = readFileSync(requestLog, 'utf8').split('\n').filter(Boolean);
  return lines.slice(from).map((l) => JSON.parse(l) as Req);
}
const logLines = (): number => readFileSync(requestLog, 'utf8').split('\n').filter(Boolean).length;
const pathOf = (r: Req): string => decodeURIComponent((r.url.split('?')[0] ?? '').replace(/^\//, ''));
const partsInFlight = (reqs: Req[], key: string): number => maxConcurrent(reqs.filter((r) => r.method === 'PUT' && pathOf(r) === `${s3.bucket}/${key}` && /[?&]partNumber=/.test(r.url)));
const getsOf = (reqs: Req[], key: string): number => reqs.filter((r) => r.method === 'GET' && pathOf(r) === `${s3.bucket}/${key}`).length;
// the AWS SDK (the jump host's runbook) or anything else (a member pulling a presigned URL)
const sdkGetsOf = (reqs: Req[], key: string): number => reqs.filter((r) => r.method === 'GET' && pathOf(r) === `${s3.bucket}/${key}` && /aws-sdk/i.test(r.agent)).length;

async function objectSize(key: string): Promise<number> {
  const h = await client.send(new HeadObjectCommand({ Bucket: s3.bucket, Key: key }));
  return h.ContentLength ?? -1;
}
async function deleteObjects(...keys: string[]): Promise<void> {
  for (const k of keys) await client.send(new DeleteObjectCommand({ Bucket: s3.bucket, Key: k }));
}

async function onAll(cmd: string, timeoutMs = 600_000): Promise<void> {
  const rs = await Promise.all(lab.nodes.map((_, i) => lab.exec(i, cmd, { timeoutMs })));
  for (const r of rs) expect(r.code, r.stderr).toBe(0);
}

/** Where the runbook keeps its code cache (src/launch.ts's cacheDir, for this process's environment). */
function codeCacheDir(): string {
  const e = process.env;
  return e['RUNBOOK_CODE_CACHE'] || join(e['XDG_CACHE_HOME'] || join(homedir(), '.cache'), 'etcd-runbook');
}

/** `runbook run` under time and strace, with a fresh TMPDIR that must stay empty. */
async function runbook(args: string[]): Promise<{ m: Measured; tmpLeft: string[]; opensElsewhere: string[] }> {
  const tmp = mkdtempSync(join(work, 'tmpdir-'));
  const m = await measure([...runbookCommand(), 'run', ...args, '-i', inv, '--output', 'json', '--yes'], { cwd: ROOT, env: { ...env, TMPDIR: tmp }, traceOpens: true, scratch: work });
  const tmpLeft = readdirSync(tmp);
  rmSync(tmp, { recursive: true, force: true });
  // the journal and the lock's record are the run's own files; anything else opened for writing is suspect
  // (/dev/shm is tmpfs: memory the time figure does not see, so it counts here)
  // and the code cache (src/launch.ts): a run whose command has none yet writes it, compiled code, on exit
  const opensElsewhere = m.writeOpens.filter((p) => !p.startsWith(env['RUNBOOK_RUNS_DIR'] ?? '\0') && !p.startsWith(`${codeCacheDir()}/`) && !/^\/dev\/(null|tty|pts\/)/.test(p));
  if (m.code !== 0) throw new Error(`runbook ${args.join(' ')} exited ${m.code}:\n${m.stdout.slice(-4000)}\n${m.stderr.slice(-4000)}`);
  return { m, tmpLeft, opensElsewhere };
}

const diskRow = (r: { m: Measured; tmpLeft: string[]; opensElsewhere: string[] }, size: number): GoalRow => ({
  what: 'runbook: written to the jump host disks',
  value: `${mib(r.m.diskWriteBytes)} dirtied by the process tree; files opened for writing outside the runs dir: ${r.opensElsewhere.length ? r.opensElsewhere.join(', ') : 'none'}; left in TMPDIR: ${r.tmpLeft.length}`,
  goal: '0 bytes of the snapshot',
  // the journal is a few KiB; a spilled snapshot would be the size of the object
  ok: r.m.diskWriteBytes < Math.min(size / 100, 4 * 2 ** 20) && r.opensElsewhere.length === 0 && r.tmpLeft.length === 0,
});

for (const gib of SIZES) {
  it(`data path, ${gib} GiB, 3 members`, async () => {
    const size = Math.round(gib * GiB);
    // at the peak: the source, two objects in S3, the baseline's file on the jump host, a copy on each member
    const free = statfsSync(work).bavail * statfsSync(work).bsize;
    if (free < 6.5 * size) throw new Error(`${mib(free)} free under ${work}: the ${gib} GiB data path needs about ${mib(6.5 * size)}`);
    const { part, queue, note } = multipartSettings();
    const rbKey = `bench/runbook-${gib}g.bin`;
    const baseKey = `bench/baseline-${gib}g.bin`;
    // random bytes at AES-CTR speed (urandom is slower); the page cache holds it for both readers
    const mk = await lab.exec(0, `mkdir -p /var/lib/bench && openssl enc -aes-128-ctr -nosalt -pass pass:bench -pbkdf2 -in /dev/zero 2>/dev/null | head -c ${size} > ${SRC} && stat -c %s ${SRC}`, { timeoutMs: 900_000 });
    expect(mk.stdout.trim(), mk.stderr).toBe(String(size));
    await onAll('mkdir -p /var/lib/bench');

    // ---- backup (each side measured on a settled machine: no writeback of the previous side's bytes in it)
    const settled: string[] = [];
    const quiet = async (what: string) => settled.push(`${what}: ${settledNote(await settle())}`);
    await quiet('runbook upload');
    let from = logLines();
    const up = await runbook([join(work, 'upload.yml'), '-e', `s3_endpoint=${s3.endpoint}`, '-e', `s3_bucket=${s3.bucket}`, '-e', `src=${SRC}`, '-e', `key=${rbKey}`]);
    const upReqs = requestsFrom(from);
    expect(await objectSize(rbKey)).toBe(size);
    const upStep = stepDurations(up.m).find((s) => s.step === 'upload');

    await quiet('baseline upload');
    from = logLines();
    const ssh = lab.sshArgs(0).map(shellQuote).join(' ');
    const pipeline = `set -o pipefail; ssh ${ssh} cat ${SRC} | ${shellQuote(process.execPath)} ${shellQuote(join(HERE, 's3-put-stdin.mjs'))} ${s3.endpoint} ${s3.bucket} ${baseKey} ${part} ${queue}`;
    const base = await measure(['bash', '-c', pipeline], { env, scratch: work });
    expect(base.code, base.stderr).toBe(0);
    const baseReqs = requestsFrom(from);
    expect(await objectSize(baseKey)).toBe(size);
    await deleteObjects(baseKey);
    await lab.exec(0, `rm -f ${SRC}`);

    const rbUp = rate(size, up.m.ms);
    const baseUp = rate(size, base.ms);
    const inFlight = partsInFlight(upReqs, rbKey);
    const tables = [
      goalTable(`[bench] backup data path, ${gib} GiB (${size} bytes), s3.upload vs ssh cat | lib-storage (part ${mib(part)}, queue ${queue}, ${note}); load ${load()}`, [
        { what: 'runbook run (wall, start-up included)', value: `${secs(up.m.ms)} = ${rbUp.toFixed(1)} MiB/s` },
        { what: 'runbook: the upload step', value: upStep ? `${secs(upStep.ms)} = ${rate(size, upStep.ms).toFixed(1)} MiB/s (with the read-back check: ${getsOf(upReqs, rbKey)} GET)` : 'no step.end seen' },
        { what: 'baseline ssh cat | lib-storage', value: `${secs(base.ms)} = ${baseUp.toFixed(1)} MiB/s (node peak RSS ${mib(base.maxRssKiB * 1024)})` },
        { what: 'ratio runbook / baseline (MiB/s, wall)', value: (rbUp / baseUp).toFixed(2), goal: '≥ 0.90', ok: rbUp / baseUp >= 0.9 },
        { what: 'runbook peak RSS', value: mib(up.m.maxRssKiB * 1024), goal: '≤ 150 MiB', ok: up.m.maxRssKiB * 1024 <= 150 * 2 ** 20 },
        { what: 'UploadParts in flight at once (S3 server)', value: `runbook ${inFlight}, baseline ${partsInFlight(baseReqs, baseKey)}`, goal: '> 1 (in parallel)', ok: inFlight > 1 },
        diskRow(up, size),
      ]),
    ];

    // ---- restore to the 3 members
    await quiet('runbook download');
    from = logLines();
    const down = await runbook([join(work, 'download.yml'), '-e', `s3_endpoint=${s3.endpoint}`, '-e', `s3_bucket=${s3.bucket}`, '-e', `key=${rbKey}`, '-e', `dest=${DEST}`]);
    const downReqs = requestsFrom(from);
    const sizes = await Promise.all(lab.nodes.map((_, i) => lab.exec(i, `stat -c %s ${DEST}`)));
    expect(sizes.map((r) => r.stdout.trim())).toEqual(lab.nodes.map(() => String(size)));
    const downStep = stepDurations(down.m).find((s) => s.step === 'download');
    const downEnd = runEnd(down.m);
    await onAll(`rm -f ${DEST}`);

    await quiet('baseline download');
    from = logLines();
    const jumpFile = join(mkdtempSync(join(work, 'get-')), 'object.bin');
    const copy = lab.nodes.map((_, i) => `ssh ${lab.sshArgs(i).map(shellQuote).join(' ')} ${shellQuote(`cat > ${DEST}`)} < ${shellQuote(jumpFile)} & p${i}=$!`).join('\n');
    const script = `set -e\n${shellQuote(process.execPath)} ${shellQuote(join(HERE, 's3-get-file.mjs'))} ${s3.endpoint} ${s3.bucket} ${rbKey} ${shellQuote(jumpFile)} >/dev/null\n${copy}\n${lab.nodes.map((_, i) => `wait $p${i}`).join('\n')}\n`;
    const baseDown = await measure(['bash', '-c', script], { env, scratch: work });
    expect(baseDown.code, baseDown.stderr).toBe(0);
    const baseDownReqs = requestsFrom(from);
    const baseSizes = await Promise.all(lab.nodes.map((_, i) => lab.exec(i, `stat -c %s ${DEST}`)));
    expect(baseSizes.map((r) => r.stdout.trim())).toEqual(lab.nodes.map(() => String(size)));
    rmSync(join(jumpFile, '..'), { recursive: true, force: true });
    await onAll(`rm -f ${DEST}`);
    await deleteObjects(rbKey, `${rbKey}.json`, `${rbKey}.sha256`);

    const rbDown = rate(size, down.m.ms);
    const baseDownRate = rate(size, baseDown.ms);
    const gets = getsOf(downReqs, rbKey);
    const sdkGets = sdkGetsOf(downReqs, rbKey);
    tables.push(
      goalTable(`[bench] restore data path, ${gib} GiB to 3 members, s3.download vs one GET then 3 parallel ssh 'cat > f'; load ${load()}`, [
        { what: 'runbook run (wall, start-up included)', value: `${secs(down.m.ms)} = ${rbDown.toFixed(1)} MiB/s (run ${String(downEnd?.['status'])})` },
        { what: 'runbook: the download step', value: downStep ? `${secs(downStep.ms)} = ${rate(size, downStep.ms).toFixed(1)} MiB/s (with the sha256 of the copy on each member)` : 'no step.end seen' },
        { what: 'baseline GET to a file + 3 parallel ssh cat', value: `${secs(baseDown.ms)} = ${baseDownRate.toFixed(1)} MiB/s (${getsOf(baseDownReqs, rbKey)} GET)` },
        { what: 'ratio runbook / baseline (MiB/s, wall)', value: (rbDown / baseDownRate).toFixed(2), goal: '≥ 0.90', ok: rbDown / baseDownRate >= 0.9 },
        { what: 'runbook peak RSS', value: mib(down.m.maxRssKiB * 1024), goal: '≤ 150 MiB', ok: down.m.maxRssKiB * 1024 <= 150 * 2 ** 20 },
        {
          what: 'GETs of the object (S3 server)',
          value: `${gets} (${sdkGets} by the AWS SDK on the jump host, ${gets - sdkGets} by other clients)`,
          goal: '1 by the jump host, or 1 per member pulling it',
          ok: (sdkGets === 1 && gets === 1) || (sdkGets === 0 && gets === lab.nodes.length),
        },
        diskRow(down, size),
      ]),
    );
    console.log(`${tables.join('\n')}\n${settled.map((l) => `[bench] ${l}`).join('\n')}\n`);
  }, 3_600_000);
}

it('has sizes to run', () => {
  expect(SIZES.length, 'BENCH_DATA_SIZES names no size').toBeGreaterThan(0);
});
