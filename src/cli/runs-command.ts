import { existsSync, readFileSync } from 'node:fs';
import { homedir, hostname } from 'node:os';
import { isAbsolute, join, resolve } from 'node:path';
import { listRuns, readJournal } from '../engine/journal.js';
import { type Liveness, runCondition } from '../engine/run-status.js';
import type { RunEvent } from '../model/events.js';
import { makeStyle } from '../report/style.js';
import { type Cell, formatTable, when } from '../report/table.js';
import type { CliArgs } from './args.js';
import type { Io } from './run-command.js';

/**
 * Where journals go: --runs-dir, else $RUNBOOK_RUNS_DIR, else the XDG state dir
 * ($XDG_STATE_HOME/etcd-runbook/runs, else ~/.local/state/etcd-runbook/runs): one place whatever the
 * working directory, so `resume` finds a run started elsewhere.
 */
export function runsDirOf(args: Pick<CliArgs, 'runsDir'>, env: NodeJS.ProcessEnv): string {
  const given = args.runsDir ?? env['RUNBOOK_RUNS_DIR'];
  if (given) return resolve(given);
  // the XDG spec: a relative $XDG_STATE_HOME is invalid and ignored
  const xdg = env['XDG_STATE_HOME'];
  const state = xdg && isAbsolute(xdg) ? xdg : join(env['HOME'] || homedir(), '.local', 'state');
  return join(state, 'etcd-runbook', 'runs');
}

/** The hint for a run looked for in vain: it may be in ./.runbook/runs, the default before 0.2. */
export function legacyHint(id: string): string {
  const old = join('.runbook', 'runs', id);
  return existsSync(old) ? `; it is in ./.runbook/runs (the old default): add --runs-dir .runbook/runs` : '';
}

const alive: Liveness = (pid, machine) => {
  if (machine !== hostname()) return undefined;
  try {
    process.kill(pid, 0);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'EPERM') return false;
  }
  // the pid may have been reused since: on Linux, a live run is a runbook process
  try {
    const cmd = readFileSync(`/proc/${pid}/cmdline`, 'utf8');
    return cmd.includes('runbook') || cmd.includes('cli.js');
  } catch {
    return true;
  }
};

const tone = (c: string): Cell['tone'] => (c === 'done' ? 'good' : c === 'rolled back' || c === 'refused' ? 'warn' : c === 'running' ? undefined : 'bad');

/** `runbook runs` and `runbook runs show RUN_ID`. */
export function runs(args: CliArgs, io: Io): number {
  const runsDir = runsDirOf(args, io.env);
  const all = listRuns(runsDir);
  if (args.positionals[0] === 'show') {
    const id = args.positionals[1];
    const run = all.find((r) => r.id === id);
    if (!id || !run) {
      io.stderr.write(`runbook: no run '${id ?? ''}' in ${runsDir} (see: runbook runs)${id ? legacyHint(id) : ''}\n`);
      return 2;
    }
    const recs = readJournal(join(run.dir, 'journal.jsonl'));
    if (args.output === 'json') for (const r of recs) io.stdout.write(`${JSON.stringify(r)}\n`);
    else for (const r of recs) io.stdout.write(`${r.at} ${describeRecord(r.event)}\n`);
    return 0;
  }
  const rows = all.map((r) => {
    const events = readJournal(join(r.dir, 'journal.jsonl')).map((x) => x.event);
    const start = events.find((e) => e.type === 'run.start');
    const who = start?.type === 'run.start' ? `${start.meta.user}@${start.meta.machine}` : r.user;
    return { ...r, name: start?.type === 'run.start' ? start.meta.playbook : r.playbook, ...runCondition(events, alive), who };
  });
  if (args.output === 'json') {
    io.stdout.write(`${JSON.stringify(rows)}\n`);
    return 0;
  }
  if (rows.length === 0) {
    io.stdout.write(`no runs in ${runsDir}\n`);
    return 0;
  }
  const c = makeStyle(io.stdout, io.env);
  io.stdout.write(c.dim(`runs in ${runsDir}\n`));
  io.stdout.write(
    formatTable(
      ['RUN_ID', 'STATUS', 'PLAYBOOK', 'CLUSTER', 'WHO', 'STARTED', 'DETAIL'],
      rows.map((r) => [{ text: r.id }, { text: r.condition, tone: tone(r.condition) }, { text: r.name }, { text: r.cluster }, { text: r.who }, { text: when(Date.parse(r.startedAt)) }, { text: `${r.dryRun ? 'dry run; ' : ''}${r.why}`, tone: 'dim' }]),
      c,
    ),
  );
  return 0;
}

function describeRecord(e: RunEvent): string {
  switch (e.type) {
    case 'run.start':
      return `run.start ${e.meta.playbookFile} by ${e.meta.user}@${e.meta.machine} git ${e.meta.git.commit ?? '-'}${e.meta.git.dirty ? ' (dirty)' : ''}`;
    case 'command.end':
      return `${e.phase === 'undo' ? 'undo' : 'cmd '} ${e.host} [${e.step}] exit=${e.exitCode ?? '-'} ${e.durationMs}ms $ ${e.command}`;
    case 'host.result':
      return `result ${e.result.host} [${e.step}] ${e.result.status}`;
    case 'run.end':
      return `run.end ${e.status} (exit ${e.exitCode}): ${e.message}`;
    default:
      return `${e.type} ${'step' in e ? e.step : 'name' in e ? e.name : ''}`;
  }
}
