// The `runbook` command as npm installs it: dist/cli.js run as a program (its /bin/sh lines exec Node), not
// `node dist/cli.js`.
// Its Node flags (the young generation's cap, src/launch.ts) reach the process, and the code cache keeps
// one file per set of flags, so the command and `node dist/cli.js` do not overwrite each other's cache.
import { spawn } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { afterAll, expect, it } from 'vitest';
import { CLI, ROOT } from '../support/paths.js';

const dir = mkdtempSync(join(tmpdir(), 'runbook-command-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function run(argv: string[], env: Record<string, string>): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    // the Node that runs the tests is first on PATH: the command's `exec node` finds it
    const child = spawn(argv[0] ?? '', argv.slice(1), { cwd: ROOT, env: { ...process.env, PATH: `${dirname(process.execPath)}:${process.env['PATH'] ?? ''}`, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

it('runs as a program with the young generation capped, and keeps a code cache per set of Node flags', async () => {
  const version = (JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { version: string }).version;
  const probe = join(dir, 'probe.mjs');
  // loaded before the command by Node itself: what Node was started with
  writeFileSync(probe, "process.on('exit', () => process.stderr.write('execArgv=' + JSON.stringify(process.execArgv.filter((a) => a.startsWith('--max'))) + '\\n'));\n");
  const cache = join(dir, 'cache');
  const env = { RUNBOOK_CODE_CACHE: cache, NODE_OPTIONS: `--import=${probe}` };

  const installed = await run([CLI, '--version'], env);
  expect(installed.code, installed.stderr).toBe(0);
  expect(installed.stdout.trim()).toBe(version);
  expect(installed.stderr).toContain('execArgv=["--max-semi-space-size=4"]');
  const first = readdirSync(cache);
  expect(first).toHaveLength(1);

  const plain = await run([process.execPath, CLI, '--version'], env);
  expect(plain.code, plain.stderr).toBe(0);
  expect(plain.stderr).toContain('execArgv=[]');
  const both = readdirSync(cache);
  expect(both).toHaveLength(2);
  expect(both).toEqual(expect.arrayContaining(first));

  // the command again: its own cache is accepted, nothing is written anew
  const before = readFileSync(join(cache, first[0] ?? ''));
  const again = await run([CLI, '--version'], env);
  expect(again.code, again.stderr).toBe(0);
  expect(readdirSync(cache).sort()).toEqual([...both].sort());
  expect(readFileSync(join(cache, first[0] ?? '')).equals(before)).toBe(true);
});
