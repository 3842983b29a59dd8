import { type ChildProcess, spawn } from 'node:child_process';
import { CLI, ROOT } from './paths.js';

export interface CliResult {
  code: number | null;
  stdout: string;
  stderr: string;
  ms: number;
}

export interface CliOptions {
  env?: Record<string, string>;
  input?: string;
  cwd?: string;
}

/** Start the real `runbook` CLI as a subprocess (never in-process); `done` resolves when it exits. */
export function spawnCli(args: string[], opts: CliOptions = {}): { child: ChildProcess; done: Promise<CliResult> } {
  const started = Date.now();
  // the Node that runs the tests runs the CLI too (npm run test:node24 runs both on Node 24)
  const child = spawn(process.execPath, [CLI, ...args], { cwd: opts.cwd ?? ROOT, env: { ...process.env, NO_COLOR: '1', ...opts.env }, stdio: ['pipe', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout?.on('data', (d: Buffer) => {
    stdout += d.toString();
  });
  child.stderr?.on('data', (d: Buffer) => {
    stderr += d.toString();
  });
  const done = new Promise<CliResult>((resolve, reject) => {
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr, ms: Date.now() - started }));
  });
  child.stdin?.end(opts.input ?? '');
  return { child, done };
}

export function runCli(args: string[], opts: CliOptions = {}): Promise<CliResult> {
  return spawnCli(args, opts).done;
}

/** Poll `check` until it holds; throws (the test fails, saying what it waited for) when it never does in `timeoutMs`. */
export async function pollUntil(what: string, check: () => boolean | Promise<boolean>, timeoutMs: number, intervalMs = 50): Promise<void> {
  const until = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > until) throw new Error(`gave up after ${timeoutMs / 1000}s waiting for ${what}`);
    await new Promise((r) => setTimeout(r, intervalMs));
  }
}

/** Wait until a file exists (a run held at a named step writes one): no guessing how long anything takes. */
export async function waitForFile(file: string, timeoutMs = 120_000): Promise<void> {
  const { existsSync } = await import('node:fs');
  await pollUntil(`${file} to appear`, () => existsSync(file), timeoutMs);
}

/** Environment that holds a run before the named step until `release` is written into `dir`. */
export function holdEnv(step: string, dir: string): Record<string, string> {
  return { RUNBOOK_TEST_HOLD_BEFORE: step, RUNBOOK_TEST_HOLD_DIR: dir };
}
