import { spawn } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { availableParallelism, tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CLI, ROOT } from '../support/paths.js';

/**
 * The bad-input corpus (test/corpus/cases.json): every case goes through the real CLI and must be
 * refused cleanly: exit 2, problems on stderr as `file:line:col: message` where the problem has a
 * place, a message that says what is wrong, no stack trace, nothing on stdout.
 *
 * A case with `knownBug` documents a validation bug that is not fixed yet: it must still break the
 * contract (so the table stays honest); when it stops doing so, the bug is fixed: drop `knownBug`.
 */
interface Case {
  id: string;
  category: string;
  /** The file whose problems are expected; problem lines start with it. `{generated}`: see `generate`. */
  file: string;
  /** CLI arguments; `{generated}` is replaced by the generated file's path. */
  args: string[];
  exit: number;
  /** Every problem line is `file:line:col: message`. */
  position: boolean;
  /** Regex over the message (the text after `file:line:col: ` or `file: `) of at least one stderr line. */
  message: string;
  /** `line:col` of a problem line whose message matches `message`. */
  at?: string;
  /** At most this many problem lines. */
  maxProblems?: number;
  /** Regex no stderr line may match. */
  notMessage?: string;
  /** `huge`: a file over the 1 MiB limit, written at test time. */
  generate?: 'huge';
  knownBug?: string;
}

interface Outcome {
  status: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

const CORPUS = join(ROOT, 'test', 'corpus');
const cases = JSON.parse(readFileSync(join(CORPUS, 'cases.json'), 'utf8')) as Case[];
const SUMMARY = /^\d+ problem\(s\) found$/;

function escapeRe(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

function runCli(args: string[]): Promise<Outcome> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [CLI, ...args], { cwd: ROOT, env: { ...process.env, NO_COLOR: '1', RUNBOOK_DEBUG: '' }, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => {
      stdout += d;
    });
    child.stderr.setEncoding('utf8').on('data', (d: string) => {
      stderr += d;
    });
    child.on('error', reject);
    child.on('close', (status, signal) => resolve({ status, signal, stdout, stderr }));
  });
}

/** Run `jobs` with at most `limit` at a time, keeping their order. */
async function pool<T>(jobs: (() => Promise<T>)[], limit: number): Promise<T[]> {
  const out: T[] = new Array(jobs.length);
  let next = 0;
  const worker = async () => {
    while (next < jobs.length) {
      const i = next++;
      out[i] = await jobs[i]!();
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, jobs.length) }, worker));
  return out;
}

/** Every way the outcome breaks the contract for this case; empty when it keeps it. */
function violations(c: Case, file: string, r: Outcome): string[] {
  const v: string[] = [];
  const lines = r.stderr.split('\n').filter((l) => l.trim() !== '');
  const problems = lines.filter((l) => !SUMMARY.test(l));
  const withPos = new RegExp(`^${escapeRe(file)}:(\\d+):(\\d+): `);
  const withFile = new RegExp(`^${escapeRe(file)}: `);
  const messageOf = (l: string) => l.replace(withPos, '').replace(withFile, '');
  const want = new RegExp(c.message);
  if (r.status !== c.exit) v.push(`exit code ${r.status ?? `signal ${r.signal}`}, want ${c.exit}`);
  if (problems.length === 0) v.push('no problem on stderr');
  if (c.position) {
    for (const l of problems) if (!withPos.test(l)) v.push(`no ${file}:line:col position: ${l}`);
  }
  if (!problems.some((l) => want.test(messageOf(l)))) v.push(`no message matches /${c.message}/`);
  if (c.at !== undefined && !problems.some((l) => l.startsWith(`${file}:${c.at}: `) && want.test(messageOf(l))))
    v.push(`no /${c.message}/ at ${c.at}`);
  if (c.maxProblems !== undefined && problems.length > c.maxProblems) v.push(`${problems.length} problem lines, want at most ${c.maxProblems}`);
  if (c.notMessage !== undefined) {
    const bad = new RegExp(c.notMessage);
    for (const l of problems) if (bad.test(messageOf(l))) v.push(`message matches /${c.notMessage}/: ${l}`);
  }
  if (/\n\s+at /.test(r.stderr)) v.push('stack trace on stderr');
  if (/internal error/i.test(r.stderr)) v.push(`internal error: ${lines.find((l) => /internal error/i.test(l)) ?? ''}`);
  if (r.stdout !== '') v.push(`stdout not empty: ${r.stdout.slice(0, 120)}`);
  return v;
}

describe('bad-input corpus (test/corpus)', () => {
  const results = new Map<string, { file: string; outcome: Outcome }>();
  let tmp = '';

  beforeAll(async () => {
    tmp = mkdtempSync(join(tmpdir(), 'rb-corpus-'));
    const huge = join(tmp, 'huge.yml');
    // Over the 1 MiB limit, and otherwise a well-formed playbook: only the size is wrong.
    const pad = '# padding padding padding padding padding padding padding padding padding\n';
    writeFileSync(huge, `# huge file (generated)\nname: huge\nsteps:\n  - name: a\n    action: message\n    args: { text: hi }\n${pad.repeat(Math.ceil((1024 * 1024 + 1) / pad.length))}`);
    const jobs = cases.map((c) => async () => {
      const sub = (s: string) => (c.generate === 'huge' ? s.replace('{generated}', huge) : s);
      const file = sub(c.file);
      return { id: c.id, file, outcome: await runCli(c.args.map(sub)) };
    });
    for (const r of await pool(jobs, Math.max(2, availableParallelism()))) results.set(r.id, { file: r.file, outcome: r.outcome });
  }, 600_000);

  afterAll(() => {
    if (tmp) rmSync(tmp, { recursive: true, force: true });
  });

  it.each(cases.map((c) => [c.id, c] as const))('%s', (_id, c) => {
    const r = results.get(c.id);
    expect(r, `no result for ${c.id}`).toBeDefined();
    const v = violations(c, r!.file, r!.outcome);
    if (c.knownBug !== undefined) {
      expect(v, `known bug no longer shows; if fixed, drop 'knownBug' from case ${c.id}: ${c.knownBug}`).not.toEqual([]);
    } else {
      expect(v, `${c.args.join(' ')}\n--- stderr\n${r!.outcome.stderr}--- stdout\n${r!.outcome.stdout}`).toEqual([]);
    }
  });

  it('covers at least 50 cases, every corpus file, and reports the pass rate', () => {
    const ids = cases.map((c) => c.id);
    expect(new Set(ids).size, 'duplicate case ids').toBe(ids.length);
    expect(cases.length).toBeGreaterThanOrEqual(50);
    const used = new Set(cases.flatMap((c) => [c.file, ...c.args]));
    const files = ['playbooks', 'inventories'].flatMap((d) => readdirSync(join(CORPUS, d)).map((f) => `test/corpus/${d}/${f}`));
    expect(files.filter((f) => !used.has(f)), 'corpus files no case runs').toEqual([]);
    const passing = cases.filter((c) => {
      const r = results.get(c.id);
      return r !== undefined && violations(c, r.file, r.outcome).length === 0;
    });
    const bugs = cases.filter((c) => c.knownBug !== undefined).length;
    const rate = ((100 * passing.length) / cases.length).toFixed(1);
    console.log(`bad-input corpus: ${cases.length} cases, ${passing.length} keep the contract (${rate}%), ${bugs} known validation bugs`);
    expect(passing.length).toBe(cases.length - bugs);
  });
});
