// Benchmark, not a pass/fail test on time: what gzip and age cost on the jump host, on 64 MiB of
// bbolt-like pages (4 KiB pages ~70% full of Kubernetes-like keys and values with random uids, the rest
// zeros, as etcd's db file is). Run with `npm run bench`.
import { createHash, randomBytes } from 'node:crypto';
import { execFileSync } from 'node:child_process';
import { expect, it } from 'vitest';
import { encodeChain, decodeChain, NO_KEYS, tap, through } from '../../src/storage/codec.js';

function pages(mib: number): Buffer[] {
  const out: Buffer[] = [];
  const chunk = Buffer.alloc(1024 * 1024);
  for (let m = 0; m < mib; m++) {
    chunk.fill(0);
    for (let p = 0; p < 256; p++) {
      let at = p * 4096 + 16;
      while (at < p * 4096 + 2900) {
        const uid = randomBytes(16).toString('hex');
        const rec = `/registry/pods/ns-${m % 40}/web-${uid.slice(0, 10)}\u0000{"kind":"Pod","apiVersion":"v1","metadata":{"name":"web-${uid.slice(0, 10)}","namespace":"ns-${m % 40}","uid":"${uid}","resourceVersion":"${m * 1000 + p}","creationTimestamp":"2026-11-${String((p % 28) + 1).padStart(2, '0')}T0${p % 10}:00:00Z","labels":{"app":"web"}},"spec":{"nodeName":"node-${p % 50}"}}`;
        at += chunk.write(rec, at, 'latin1') + 8;
      }
    }
    out.push(Buffer.from(chunk));
  }
  return out;
}

async function measure(data: Buffer[], stages: ReturnType<typeof encodeChain>): Promise<{ ms: number; out: Buffer[]; cpuMs: number }> {
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  const out: Buffer[] = [];
  const h = tap(createHash('sha256'));
  for await (const c of through(data, [h.stage, ...stages])) out.push(Buffer.from(c));
  const cpu = process.cpuUsage(cpu0);
  return { ms: performance.now() - t0, out, cpuMs: (cpu.user + cpu.system) / 1000 };
}

it('gzip and age on the jump host: throughput and ratio', async () => {
  const MiB = 64;
  const data = pages(MiB);
  const recipient = execFileSync('bash', ['-c', 'age-keygen 2>/dev/null | age-keygen -y'], { encoding: 'utf8' }).trim();
  const rows: string[] = [];
  let gz: Buffer[] = [];
  for (const [name, stages] of [
    ['sha256 only', encodeChain({ compression: 'none', recipients: [] })],
    ['gzip -6', encodeChain({ compression: 'gzip', recipients: [] })],
    ['age', encodeChain({ compression: 'none', recipients: [recipient] })],
    ['gzip -6 + age', encodeChain({ compression: 'gzip', recipients: [recipient] })],
  ] as const) {
    const r = await measure(data, [...stages]);
    if (name === 'gzip -6') gz = r.out;
    const size = r.out.reduce((a, b) => a + b.length, 0);
    rows.push(`${name.padEnd(14)} ${(MiB / (r.ms / 1000)).toFixed(0).padStart(5)} MiB/s wall, ${(r.cpuMs / MiB).toFixed(1).padStart(6)} ms CPU per MiB, stored ${(size / 1048576).toFixed(1)} MiB (${((100 * size) / (MiB * 1048576)).toFixed(0)}%)`);
  }
  const dec = decodeChain({ compression: 'gzip', encryption: 'none' }, NO_KEYS);
  if (!dec.ok) throw new Error(dec.message);
  const back = await measure(gz, dec.stages);
  rows.push(`${'gunzip'.padEnd(14)} ${(MiB / (back.ms / 1000)).toFixed(0).padStart(5)} MiB/s wall (of raw output), ${(back.cpuMs / MiB).toFixed(1).padStart(6)} ms CPU per MiB`);
  console.log(`codec on ${MiB} MiB of bbolt-like pages (Node ${process.version}):\n${rows.join('\n')}`);
  expect(Buffer.concat(back.out).equals(Buffer.concat(data))).toBe(true);
});
