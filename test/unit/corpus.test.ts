import { spawn } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { availableParallelism, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CLI, ROOT } from '../support/paths.js';

/**
 * The bad-input corpus (test/corpus/cases.json): every case goes through the real CLI and must be
 * refused cleanly: exit 2, problems on stderr as `file:line:col: message` where the problem has a
 * place (a line and column that exist in the file), or `file: message` where it has none; exactly
 * the expected number of problem lines (one unless the case says otherwise); a message that says
 * what is wrong and what to do; no stack trace, nothing on stdout.
 *
 * A case with `knownBug` documents a validation bug that is not fixed yet: it must break the contract
 * in exactly the ways `knownBug.violations` lists (so the table stays honest, and a crash or any other
 * change shows); when it stops doing so, the bug is fixed or has changed: update or drop `knownBug`.
 */
interface Case {
  id: string;
  category: string;
  /**
   * The file whose problems are expected; every problem line starts with it. `runbook`: the problem is
   * in a command-line argument (no file to name; the line starts `runbook: `). `{generated}`: see `generate`.
   */
  file: string;
  /** CLI arguments; `{generated}` is replaced by the generated file's path. */
  args: string[];
  exit: number;
  /** Every problem line is `file:line:col: message`. */
  position: boolean;
  /** Regex over the message (the text after `file:line:col: ` or `file: `): what is wrong. */
  message: string;
  /** Regex over the same line's message: the part that says what to do. */
  remedy: string;
  /** `line:col` of the line whose message matches `message`; required whenever that line has a position. */
  at?: string;
  /** Exactly this many problem lines (default 1); `why` says where the others come from. */
  problems?: { count: number; why: string };
  /** Regex no stderr line may match. */
  notMessage?: string;
  /** `huge`: a file over the 1 MiB limit, written at test time. */
  generate?: 'huge';
  /** Not fixed yet: `violations` is exactly what `violations()` returns for this case. */
  knownBug?: { why: string; violations: string[] };
  note?: string;
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

/** The lines of a file as the problem lines count them (a final newline ends the last line, it does not start one). */
const fileLines = new Map<string, string[] | undefined>();
function linesOf(file: string): string[] | undefined {
  if (!fileLines.has(file)) {
    let lines: string[] | undefined;
    try {
      const text = readFileSync(resolve(ROOT, file), 'utf8');
      lines = text.split('\n');
      if (text.endsWith('\n')) lines.pop();
    } catch {
      lines = undefined;
    }
    fileLines.set(file, lines);
  }
  return fileLines.get(file);
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
  // a missing pattern would be an empty regex, which matches anything
  if (typeof c.remedy !== 'string' || c.remedy === '') v.push('the case has no remedy pattern');
  const remedy = new RegExp(c.remedy || '(?!)');
  if (r.status !== c.exit) v.push(`exit code ${r.status ?? `signal ${r.signal}`}, want ${c.exit}`);
  if (problems.length === 0) v.push('no problem on stderr');
  const count = c.problems?.count ?? 1;
  if (problems.length > 0 && problems.length !== count) v.push(`${problems.length} problem lines, want ${count}`);
  for (const l of problems) {
    if (!withPos.test(l) && !withFile.test(l)) v.push(`line does not name ${file}: ${l}`);
    else if (c.position && !withPos.test(l)) v.push(`no ${file}:line:col position: ${l}`);
    const m = withPos.exec(l);
    if (m) {
      const text = linesOf(file);
      const [line, col] = [Number(m[1]), Number(m[2])];
      if (text === undefined) v.push(`position ${line}:${col} in a file that cannot be read: ${l}`);
      else if (line < 1 || line > text.length) v.push(`line ${line} is not in the file (${text.length} lines): ${l}`);
      else if (col < 1 || col > text[line - 1]!.length + 1) v.push(`column ${col} is not on line ${line} (${text[line - 1]!.length} characters): ${l}`);
    }
  }
  const matching = problems.filter((l) => want.test(messageOf(l)));
  if (matching.length === 0) v.push(`no message matches /${c.message}/`);
  const positioned = matching.filter((l) => withPos.test(l));
  if (c.at === undefined && positioned.length > 0) v.push(`the case gives no 'at', but the problem has a position: ${positioned[0]}`);
  const placed = c.at === undefined ? matching : matching.filter((l) => l.startsWith(`${file}:${c.at}: `));
  if (c.at !== undefined && matching.length > 0 && placed.length === 0) v.push(`no /${c.message}/ at ${c.at}`);
  if (placed.length > 0 && !placed.some((l) => remedy.test(messageOf(l)))) v.push(`the message does not say what to do (/${c.remedy}/): ${placed[0]}`);
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
      expect(v, `known bug changed; if fixed, drop 'knownBug' from case ${c.id} (${c.knownBug.why})`).toEqual(c.knownBug.violations);
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
