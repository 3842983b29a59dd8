// Benchmark, not a pass/fail test on time: the restore data path. A SIZE object (default 1 GiB) in the lab
// S3, restored by `s3.download` to 3 lab members, against the plain tools on the same lab: one GET to a
// file, then 3 `scp` in parallel. Prints MiB/s and the CLI's peak RSS. Opt-in (it moves gigabytes):
//   RUNBOOK_BENCH_RESTORE=1 [RUNBOOK_BENCH_RESTORE_MIB=1024] [RUNBOOK_BENCH_RESTORE_REPS=1] [RUNBOOK_BENCH_CLI=/other/dist/cli.js] npm run bench
import { spawn } from 'node:child_process';
import { createCipheriv, createHash } from 'node:crypto';
import { createWriteStream, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { type Lab, startLab } from '../lab/lab.js';
import { type LabS3, startS3 } from '../lab/s3.js';
import { writeLabInventory } from '../support/lab-inventory.js';
import { CLI, ROOT } from '../support/paths.js';

const on = process.env['RUNBOOK_BENCH_RESTORE'] === '1';
const MiB = 1024 * 1024;
const size = Number(process.env['RUNBOOK_BENCH_RESTORE_MIB'] ?? 1024) * MiB;
const cli = process.env['RUNBOOK_BENCH_CLI'] ?? CLI;
const KEY = 'bench/restore/snapshot.db';

let lab: Lab;
let s3: LabS3;
let work: string;
let sdk: import('@aws-sdk/client-s3').S3Client;
const client = () => sdk;

/** `size` bytes that do not compress: AES-CTR of zeros, made as they are read (never on disk here). */
function body(): Readable {
  const c = createCipheriv('aes-128-ctr', Buffer.alloc(16, 7), Buffer.alloc(16, 0));
  const zero = Buffer.alloc(MiB);
  let left = size;
  return new Readable({
    read() {
      if (left === 0) return void this.push(null);
      const n = Math.min(left, MiB);
      left -= n;
      this.push(c.update(zero.subarray(0, n)));
    },
  });
}

function timed(cmd: string, args: string[], env: NodeJS.ProcessEnv = process.env): Promise<{ code: number | null; ms: number; stderr: string; stdout: string }> {
  const t0 = Date.now();
  return new Promise((resolve) => {
    const p = spawn(cmd, args, { cwd: ROOT, env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stderr = '';
    let stdout = '';
    p.stdout.on('data', (b: Buffer) => (stdout = (stdout + b.toString()).slice(-20000)));
    p.stderr.on('data', (b: Buffer) => (stderr = (stderr + b.toString()).slice(-20000)));
    p.on('close', (code) => resolve({ code, ms: Date.now() - t0, stderr, stdout }));
  });
}

beforeAll(async () => {
  if (!on) return;
  work = mkdtempSync(join(tmpdir(), 'rb-restore-bench-'));
  [lab, s3] = await Promise.all([startLab({ nodes: 3 }), startS3({ headerLog: join(work, 'requests.jsonl') })]);
  const { Upload } = await import('@aws-sdk/lib-storage');
  sdk = new (await import('@aws-sdk/client-s3')).S3Client({ endpoint: s3.endpoint, region: s3.region, forcePathStyle: true, credentials: { accessKeyId: s3.accessKeyId, secretAccessKey: s3.secretAccessKey }, requestChecksumCalculation: 'WHEN_REQUIRED', responseChecksumValidation: 'WHEN_REQUIRED' });
  const client = sdk;
  const h = createHash('sha256');
  const b = body();
  b.on('data', (c: Buffer) => h.update(c));
  await new Upload({ client, params: { Bucket: s3.bucket, Key: KEY, Body: b } }).done();
  const sha256 = h.digest('hex');
  const prov = { key: KEY, sha256, size, snapshotSha256: sha256, snapshotSize: size, compression: 'none', encryption: 'none', verified: true };
  const { PutObjectCommand } = await import('@aws-sdk/client-s3');
  await client.send(new PutObjectCommand({ Bucket: s3.bucket, Key: `${KEY}.json`, Body: JSON.stringify(prov) }));
}, 600_000);

afterAll(async () => {
  if (!on) return;
  await Promise.allSettled([lab?.stop(), s3?.stop()]);
  rmSync(work, { recursive: true, force: true });
});

it.skipIf(!on)('restore data path: s3.download to 3 members vs one GET then 3 parallel scp', async () => {
  const inv = writeLabInventory(lab);
  const env = { ...process.env, RUNBOOK_RUNS_DIR: join(work, 'runs'), AWS_ACCESS_KEY_ID: s3.accessKeyId, AWS_SECRET_ACCESS_KEY: s3.secretAccessKey, AWS_REGION: s3.region };
  const pb = join(work, 'restore.yml');
  writeFileSync(pb, `name: restore-bench\nhosts: all\nsteps:\n  - name: fetch\n    action: s3.download\n    args: { key: "${KEY}", dest: "/var/lib/rb-bench/{{ run.id }}/snapshot.db", s3: { bucket: "${s3.bucket}", endpoint: "${s3.endpoint}" } }\n`);
  const clean = () => Promise.all([0, 1, 2].map((i) => lab.exec(i, 'rm -rf /var/lib/rb-bench')));
  const rows: string[] = [];
  for (let rep = 0; rep < Number(process.env['RUNBOOK_BENCH_RESTORE_REPS'] ?? 1); rep++) {
    await clean();
    const before = readFileSync(join(work, 'requests.jsonl'), 'utf8').split('\n').length;
    const r = await timed('/usr/bin/time', ['-f', 'maxrss_kib %M', process.execPath, cli, 'run', pb, '-i', inv, '--output', 'json'], env);
    expect(r.code, r.stderr.slice(-3000)).toBe(0);
    const gets = readFileSync(join(work, 'requests.jsonl'), 'utf8').split('\n').slice(before - 1).filter((l) => l.includes('"GET"') && l.includes(`/${KEY}?`) ).length;
    const rss = Number(/maxrss_kib (\d+)/.exec(r.stderr)?.[1] ?? 0) / 1024;
    // the step's own time, from its events (without the CLI's start-up, connect and lock)
    const ev = r.stdout.split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l) as { type: string; ts?: string; step?: string; durationMs?: number });
    const ends = ev.filter((e) => e.type === 'command.end' && (e as { kind?: string }).kind === 's3-get').map((e) => e.durationMs ?? 0);
    const stepS = Math.max(...ends) / 1000;
    console.log(`[bench] runbook: ${(size / MiB / (r.ms / 1000)).toFixed(1)} MiB/s wall, peak RSS ${rss.toFixed(0)} MiB, GETs ${gets}`);
    rows.push(`runbook s3.download → 3 members: ${(size / MiB / (r.ms / 1000)).toFixed(1)} MiB/s wall (${(r.ms / 1000).toFixed(1)} s), ${(size / MiB / stepS).toFixed(1)} MiB/s in the step (${stepS.toFixed(1)} s); peak RSS ${rss.toFixed(0)} MiB; GETs of the object ${gets}`);

    // the plain tools: one GET (the SDK, streamed to a file here), then 3 scp at once
    await clean();
    const file = join(work, 'object');
    const t0 = Date.now();
    const got = await client().send(new (await import('@aws-sdk/client-s3')).GetObjectCommand({ Bucket: s3.bucket, Key: KEY }));
    await pipeline(got.Body as Readable, createWriteStream(file));
    const getMs = Date.now() - t0;
    await Promise.all([0, 1, 2].map((i) => lab.exec(i, 'mkdir -p /var/lib/rb-bench')));
    const scps = await Promise.all(
      [0, 1, 2].map((i) => {
        const a = lab.sshArgs(i);
        const target = a.at(-1) as string;
        const opts = a.slice(0, -1).map((x) => (x === '-p' ? '-P' : x));
        return timed('scp', [...opts, '-q', file, `${target}:/var/lib/rb-bench/snapshot.db`]);
      }),
    );
    for (const s of scps) expect(s.code, s.stderr).toBe(0);
    const plainMs = Date.now() - t0;
    rmSync(file, { force: true });
    rows.push(`plain tools: one GET ${(getMs / 1000).toFixed(1)} s then 3 scp in parallel ${((plainMs - getMs) / 1000).toFixed(1)} s: ${(size / MiB / (plainMs / 1000)).toFixed(1)} MiB/s`);
  }
  await clean();
  console.log(`\n[bench] restore data path, ${size / MiB} MiB to 3 lab members (${cli})\n${rows.join('\n')}\n`);
}, 1_800_000);
