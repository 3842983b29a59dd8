// Shared pieces of the bench files: timed child processes (wall time, peak RSS, when each output line
// arrived), medians, and tables that print each row's goal with a pass/MISS mark. A missed goal is
// printed, never thrown: budgets live here, not in tests that fail on a slow machine.
import { spawn } from 'node:child_process';
import { appendFileSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Lab } from '../lab/lab.js';
import { CLI } from '../support/paths.js';

export { CLI };

export interface Timed {
  code: number | null;
  /** Wall time from spawn to exit. */
  ms: number;
  stdout: string;
  stderr: string;
  /** stdout lines with the ms since spawn at which each arrived. */
  lines: { ms: number; text: string }[];
  /** Peak RSS in KiB (only with `rss: true`). */
  peakKb: number | undefined;
}

export interface TimedOptions {
  env?: Record<string, string>;
  cwd?: string;
  /** Measure peak RSS: through /usr/bin/time (the kernel's maxrss at exit), else by polling VmHWM. */
  rss?: boolean;
}

const GNU_TIME = '/usr/bin/time';

/** Run a program to its end; never throws for a failing program (the caller checks `code`). */
export function timed(cmd: string, args: string[], o: TimedOptions = {}): Promise<Timed> {
  const rssFile = o.rss && existsSync(GNU_TIME) ? join(mkdtempSync(join(tmpdir(), 'rb-bench-rss-')), 'rss') : undefined;
  const [file, argv] = rssFile ? [GNU_TIME, ['-f', '%M', '-o', rssFile, cmd, ...args]] : [cmd, args];
  const started = performance.now();
  const child = spawn(file, argv, { cwd: o.cwd, env: { ...process.env, NO_COLOR: '1', ...o.env }, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  let partial = '';
  const lines: Timed['lines'] = [];
  child.stdout.on('data', (d: Buffer) => {
    const at = performance.now() - started;
    stdout += d.toString();
    const parts = (partial + d.toString()).split('\n');
    partial = parts.pop() ?? '';
    for (const text of parts) lines.push({ ms: at, text });
  });
  child.stderr.on('data', (d: Buffer) => {
    stderr += d.toString();
  });
  let hwm = 0;
  const poll =
    o.rss && !rssFile
      ? setInterval(() => {
          try {
            const m = /VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${child.pid}/status`, 'utf8'));
            if (m) hwm = Math.max(hwm, Number(m[1]));
          } catch {
            // gone
          }
        }, 10)
      : undefined;
  return new Promise((resolve, reject) => {
    child.on('error', reject);
    child.on('close', (code) => {
      const ms = performance.now() - started;
      clearInterval(poll);
      if (partial) lines.push({ ms, text: partial });
      let peakKb: number | undefined = o.rss ? hwm || undefined : undefined;
      if (rssFile) {
        // the last line is %M ("Command exited with non-zero status N" may come first)
        peakKb = Number(readFileSync(rssFile, 'utf8').trim().split('\n').pop());
        rmSync(join(rssFile, '..'), { recursive: true, force: true });
      }
      resolve({ code, ms, stdout, stderr, lines, peakKb });
    });
  });
}

/**
 * The `runbook` command as an installed one runs: dist/cli.js with the Node flags its first lines exec Node
 * with (`':' //; exec node FLAGS "$0" "$@"`, scripts/bundle.mjs), with the Node that runs the bench. Not
 * `node dist/cli.js`, which leaves the flags out (the young generation's cap among them: launch.ts).
 */
export function runbookCommand(): string[] {
  const [first = '', second = ''] = readFileSync(CLI, 'latin1').split('\n', 2);
  const flags = '((?: --?[\\w-]+(?:=\\S+)?)*)';
  // or a build before that exec line: `#!/usr/bin/env -S node FLAGS`
  const m = new RegExp(`^':' //; exec node${flags} "\\$0" "\\$@"$`).exec(second) ?? new RegExp(`^#!/usr/bin/env (?:-S )?node${flags}$`).exec(first);
  if (!m) throw new Error(`${CLI}: its first lines are not the exec line the bench knows: ${first} / ${second}`);
  return [process.execPath, ...(m[1] ?? '').split(' ').filter(Boolean), CLI];
}

/** The runbook CLI, as runbookCommand runs it. */
export function timedCli(args: string[], o: TimedOptions = {}): Promise<Timed> {
  const [node = process.execPath, ...rest] = runbookCommand();
  return timed(node, [...rest, ...args], o);
}

export function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? (s[m] ?? Number.NaN) : ((s[m - 1] ?? Number.NaN) + (s[m] ?? Number.NaN)) / 2;
}

export const secs = (ms: number): string => `${(ms / 1000).toFixed(2)} s`;
export const msec = (ms: number): string => `${ms.toFixed(1)} ms`;
export const mib = (kb: number | undefined): string => (kb === undefined ? '?' : `${(kb / 1024).toFixed(0)} MiB`);

export function load(): string {
  return loadavg()
    .map((l) => l.toFixed(2))
    .join(' ');
}

/** The pass/MISS mark of a row: `undefined` = the row has no goal. */
export const mark = (ok: boolean | undefined): string => (ok === undefined ? '—' : ok ? 'pass' : 'MISS');

/**
 * Print a table as Markdown (it goes into the issue's closing note as is), with the load average now.
 * With BENCH_REPORT=FILE every table is also appended to FILE.
 */
export function printTable(title: string, head: string[], rows: string[][], notes: string[] = []): void {
  const text = [
    '',
    `### ${title}`,
    `load average ${load()} (1, 5, 15 min)`,
    '',
    `| ${head.join(' | ')} |`,
    `|${head.map(() => '---').join('|')}|`,
    ...rows.map((r) => `| ${r.join(' | ')} |`),
    ...(notes.length ? ['', ...notes] : []),
    '',
  ].join('\n');
  console.log(text);
  const out = process.env['BENCH_REPORT'];
  if (out) appendFileSync(out, `${text}\n`);
}

// ---------------------------------------------------------------- the 20-task playbook, both tools

/** Task i (1-based) of the comparison: alternating `true` and `hostname`. */
const taskCmd = (i: number): string => (i % 2 === 1 ? 'true' : 'hostname');

/**
 * runbook's playbook of `tasks` trivial steps on the masters. 0 tasks = one step that is false on every
 * host: the run still connects, verifies host keys, takes and frees the lock and journals (its fixed cost).
 */
export function runbookPlaybook(dir: string, tasks: number): string {
  const file = join(dir, `runbook-${tasks}.yml`);
  const step = (i: number, when?: string) =>
    `  - name: step ${i}\n    action: shell\n    changes: false\n${when ? `    when: "${when}"\n` : ''}    args: { cmd: "${taskCmd(i)}" }\n`;
  const body = tasks === 0 ? step(1, 'false') : Array.from({ length: tasks }, (_, i) => step(i + 1)).join('');
  writeFileSync(file, `name: bench-${tasks}\nhosts: masters\nsteps:\n${body}`);
  return file;
}

/** The same play for ansible-playbook (no facts); 0 tasks = Ansible's own empty play. */
export function ansiblePlaybook(dir: string, tasks: number): string {
  const file = join(dir, `ansible-${tasks}.yml`);
  const body = Array.from({ length: tasks }, (_, i) => `    - name: step ${i + 1}\n      ansible.builtin.command: "${taskCmd(i + 1)}"\n      changed_when: false\n`).join('');
  writeFileSync(file, `- hosts: masters\n  gather_facts: false\n  tasks:${tasks === 0 ? ' []\n' : `\n${body}`}`);
  return file;
}

/**
 * An INI inventory for Ansible of the lab's first `count` nodes: address, port, key, user, and the
 * lab's known_hosts with strict checking (as strict as runbook's). Ansible's own ssh_args (ControlMaster
 * auto, ControlPersist 60s) are left as they are.
 */
export function writeAnsibleInventory(lab: Lab, count: number, file: string): string {
  const nodes = lab.nodes.slice(0, count);
  const sshArgs = ['-F /dev/null', `-o UserKnownHostsFile=${lab.knownHostsFile}`, '-o GlobalKnownHostsFile=/dev/null', '-o StrictHostKeyChecking=yes', '-o IdentitiesOnly=yes'].join(' ');
  const text = [
    '[masters]',
    ...nodes.map((n) => `${n.name} ansible_host=${n.address} ansible_port=${n.port}`),
    '',
    '[all:vars]',
    `ansible_user=${lab.sshUser}`,
    `ansible_ssh_private_key_file=${lab.identityFile}`,
    'ansible_python_interpreter=/usr/bin/python3',
    `ansible_ssh_common_args='${sshArgs}'`,
    '',
  ].join('\n');
  writeFileSync(file, text);
  return file;
}

/** ansible.cfg of the comparison: pipelining on, host keys checked, no facts, no retry files. */
export function writeAnsibleConfig(file: string): string {
  writeFileSync(
    file,
    ['[defaults]', 'host_key_checking = True', 'gathering = explicit', 'retry_files_enabled = False', 'interpreter_python = /usr/bin/python3', 'nocolor = True', '', '[ssh_connection]', 'pipelining = True', ''].join('\n'),
  );
  return file;
}

/** The lab's inventory for runbook, cut to its first `count` nodes (the lock then covers just those). */
export function firstNodes(lab: Lab, count: number): Lab {
  return { ...lab, nodes: lab.nodes.slice(0, count) };
}
