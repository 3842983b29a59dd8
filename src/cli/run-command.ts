import { existsSync, readFileSync } from 'node:fs';
import { createHash } from 'node:crypto';
import { hostname, userInfo } from 'node:os';
import { join, resolve } from 'node:path';
import { randomBytes } from 'node:crypto';
import type { RunEvent, RunMeta } from '../model/events.js';
import type { Inventory } from '../model/inventory.js';
import type { Playbook } from '../model/playbook.js';
import { Journal } from '../engine/journal.js';
import { makePlan } from '../engine/plan.js';
import { makeRedactor } from '../engine/redact.js';
import { runPlaybook } from '../engine/run.js';
import type { RunInfo } from '../engine/scope.js';
import { expandNames } from '../engine/select-hosts.js';
import { acquireLock, type LockOwner, releaseLock } from '../engine/lock.js';
import { SshTransport } from '../transport/ssh.js';
import { s3StoreFor } from '../storage/s3.js';
import { listrReporter } from '../report/listr.js';
import { jsonReporter } from '../report/json.js';
import { plainReporter } from '../report/plain.js';
import { formatPlan } from '../report/plan-text.js';
import { makeStyle } from '../report/style.js';
import { gitInfo } from '../util/git-info.js';
import { shellQuote } from '../util/shell-quote.js';
import type { CliArgs } from './args.js';
import { askToType } from './prompt.js';

export interface Io {
  stdout: NodeJS.WriteStream;
  stderr: NodeJS.WriteStream;
  stdin: NodeJS.ReadStream;
  env: NodeJS.ProcessEnv;
  argv: string[];
}

export function fileSha256(file: string): string {
  return createHash('sha256').update(readFileSync(file)).digest('hex');
}

export function newRunId(now = new Date()): string {
  const p = (n: number) => String(n).padStart(2, '0');
  return `${now.getUTCFullYear()}${p(now.getUTCMonth() + 1)}${p(now.getUTCDate())}-${p(now.getUTCHours())}${p(now.getUTCMinutes())}${p(now.getUTCSeconds())}-${randomBytes(3).toString('hex')}`;
}

export function runsDirOf(args: CliArgs, env: NodeJS.ProcessEnv): string {
  return resolve(args.runsDir ?? env['RUNBOOK_RUNS_DIR'] ?? join('.runbook', 'runs'));
}

/**
 * Values never to show: secret params wherever they were set (-e, the inventory, a default) and
 * credentials from the environment, each also in the shell-quoted form a command would carry.
 */
export function secretValues(pb: Playbook, vars: Record<string, unknown>, env: NodeJS.ProcessEnv, inventory?: Inventory): string[] {
  const raw: unknown[] = [];
  for (const [k, p] of Object.entries(pb.params)) {
    if (!p.secret) continue;
    raw.push(vars[k], p.default);
    for (const h of inventory?.hosts ?? []) raw.push(h.vars[k]);
  }
  for (const k of ['AWS_SECRET_ACCESS_KEY', 'AWS_SESSION_TOKEN', 'AWS_ACCESS_KEY_ID']) raw.push(env[k]);
  const out = raw.filter((v): v is string | number => typeof v === 'string' || typeof v === 'number').map(String);
  return [...out, ...out.map(shellQuote)];
}

export function missingParams(pb: Playbook, inv: Inventory, extra: Record<string, unknown>): string[] {
  return Object.entries(pb.params)
    .filter(([k, p]) => p.required && !Object.hasOwn(extra, k) && !inv.hosts.every((h) => Object.hasOwn(h.vars, k)))
    .map(([k, p]) => `missing required parameter '${k}'${p.description ? ` (${p.description})` : ''}: pass -e ${k}=VALUE`);
}

export interface Prepared {
  playbook: Playbook;
  inventory: Inventory;
  limit: Set<string> | undefined;
}

export function printPlan(prep: Prepared, args: CliArgs, io: Io, run: RunInfo): number {
  const planned = makePlan({ playbook: prep.playbook, inventory: prep.inventory, extraVars: args.extraVars, limit: prep.limit, run, tags: args.tags, startAt: args.startAt });
  if (!planned.ok) {
    io.stderr.write(`runbook: ${planned.message}\n`);
    return 2;
  }
  if (planned.plan.errors.length) {
    // a plan with errors is not a plan: say where, print nothing else
    for (const e of planned.plan.errors) io.stderr.write(`${e.pos.file}:${e.pos.line}:${e.pos.col}: step '${e.step}' on ${e.host}: ${e.message}\n`);
    io.stderr.write(`${planned.plan.errors.length} problem(s) found\n`);
    return 2;
  }
  const redact = makeRedactor(secretValues(prep.playbook, args.extraVars, io.env, prep.inventory));
  if (args.output === 'json') {
    const text = JSON.stringify(planned.plan, null, 2);
    const scrubbed = (redact({ type: 'log', level: 'info', message: text }) as { message: string }).message;
    io.stdout.write(`${scrubbed}\n`);
  } else {
    const text = formatPlan(planned.plan, makeStyle(io.stdout, io.env));
    io.stdout.write((redact({ type: 'log', level: 'info', message: text }) as { message: string }).message);
  }
  return 0;
}

type Outcome = { status: 'ok' | 'rolled_back' | 'failed' | 'needs_attention'; exitCode: number; failedStep: string | undefined; message: string };
type Host = Inventory['hosts'][number];

/**
 * Before any step: every targeted host reachable with a verified host key, then the cluster lock on
 * every master. A refusal changes nothing anywhere.
 */
async function preflight(p: { targets: Host[]; cluster: Host[]; transport: SshTransport; emit: (e: RunEvent) => void; owner: LockOwner }): Promise<{ ok: true; held: Host[] } | { ok: false; outcome: Outcome }> {
  const checks = await Promise.all(p.targets.map(async (h) => ({ h, r: await p.transport.connect(h) })));
  const refused = checks.filter((c) => !c.r.ok);
  if (refused.length) {
    const hostKey = refused.some((c) => !c.r.ok && c.r.hostKey);
    for (const c of refused) if (!c.r.ok) p.emit({ type: 'log', level: 'error', message: `${c.h.name}: ${c.r.message}` });
    const why = hostKey ? 'failed host-key verification' : 'unreachable (mark a dead host down: true in the inventory, or leave it out with --limit)';
    return { ok: false, outcome: { status: 'failed', exitCode: hostKey ? 2 : 1, failedStep: undefined, message: `refused before any step: ${refused.map((c) => c.h.name).join(', ')} ${why}; nothing was changed` } };
  }
  const lockHosts = [...new Map([...p.cluster.filter((h) => !h.down), ...p.targets].map((h) => [h.name, h])).values()];
  const lock = await acquireLock(lockHosts, p.owner, p.transport, p.owner.machine);
  if (!lock.ok) {
    p.emit({ type: 'log', level: 'error', message: lock.message });
    return { ok: false, outcome: { status: 'failed', exitCode: 1, failedStep: undefined, message: `refused before any step: ${lock.stale ? 'stale cluster lock' : 'the cluster is locked by another run'}; nothing was changed` } };
  }
  p.emit({ type: 'log', level: 'info', message: `cluster lock taken on ${lock.held.map((h) => h.name).join(', ')}` });
  return { ok: true, held: lock.held };
}

/** A real run: preflight connections, journal, reporters, engine, summary, exit code. */
export async function executeRun(prep: Prepared, args: CliArgs, io: Io): Promise<number> {
  const { playbook, inventory } = prep;
  const started = Date.now();
  const runId = args.runId ?? newRunId();
  const runsDir = runsDirOf(args, io.env);
  if (existsSync(join(runsDir, runId))) {
    io.stderr.write(`runbook: run ${runId} already exists in ${runsDir}: choose another --run-id\n`);
    return 2;
  }
  const git = gitInfo([playbook.file, inventory.file]);
  const run: RunInfo = { id: runId, dir: join(runsDir, runId), user: userInfo().username, started: new Date(started).toISOString(), commit: git.commit ?? 'unknown' };
  // the whole plan first: a value that cannot be rendered stops the run before anything is touched
  const planned = makePlan({ playbook, inventory, extraVars: args.extraVars, limit: prep.limit, run, tags: args.tags, startAt: args.startAt });
  if (!planned.ok) {
    io.stderr.write(`runbook: ${planned.message}\n`);
    return 2;
  }
  if (planned.plan.errors.length) {
    for (const e of planned.plan.errors) io.stderr.write(`${e.pos.file}:${e.pos.line}:${e.pos.col}: step '${e.step}' on ${e.host}: ${e.message}\n`);
    io.stderr.write(`${planned.plan.errors.length} problem(s) found: nothing was run\n`);
    return 2;
  }
  const journal = new Journal(run.dir);
  const redact = makeRedactor(secretValues(playbook, args.extraVars, io.env, inventory));
  const style = makeStyle(io.stdout, io.env);
  const write = (s: string) => io.stdout.write(s);
  const plain = plainReporter(write, style, args.verbose);
  const listr = args.output === 'text' && io.stdout.isTTY ? listrReporter(plain) : undefined;
  const report = args.output === 'json' ? jsonReporter(write) : (listr?.onEvent ?? plain);
  const emit = (raw: RunEvent) => {
    const e = redact(raw);
    journal.write(e);
    report(e);
  };
  const byName = new Map(inventory.hosts.map((h) => [h.name, h]));
  const targets = new Map<string, Inventory['hosts'][number]>();
  for (const e of planned.plan.entries) if (e.kind === 'step') for (const h of e.hosts) targets.set(h.host, byName.get(h.host) as Inventory['hosts'][number]);
  const meta: RunMeta = {
    runId,
    playbook: playbook.name,
    playbookFile: resolve(playbook.file),
    inventoryFile: resolve(inventory.file),
    cluster: inventory.cluster,
    user: run.user,
    machine: hostname(),
    pid: process.pid,
    argv: io.argv,
    git,
    dryRun: false,
    hosts: [...targets.keys()],
    startedAt: run.started,
    extraVars: args.extraVars,
    limit: args.limit,
    tags: args.tags,
    playbookSha256: fileSha256(playbook.file),
    inventorySha256: fileSha256(inventory.file),
  };
  emit({ type: 'run.start', meta });
  const transport = new SshTransport({
    knownHostsFile: inventory.knownHosts,
    acceptNewHostKeys: args.acceptNewHostKeys,
    connectTimeoutMs: args.connectTimeout * 1000,
    keepaliveIntervalMs: 5000,
  });
  const abort = new AbortController();
  const onSignal = () => {
    if (abort.signal.aborted) {
      io.stderr.write('runbook: already stopping: the current step finishes, then the run unwinds to its rollback point. Killing it now would leave that to runbook rollback.\n');
      return;
    }
    io.stderr.write('runbook: stopping after the current step, then unwinding to the last rollback point…\n');
    abort.abort();
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  let outcome: Outcome;
  try {
    const gate = await preflight({ targets: [...targets.values()], cluster: expandNames([playbook.hosts], inventory), transport, emit, owner: { runId, user: run.user, machine: meta.machine, pid: process.pid, playbook: meta.playbookFile, since: run.started } });
    if (!gate.ok) outcome = gate.outcome;
    else {
      try {
        outcome = await runPlaybook({
          playbook,
          inventory,
          extraVars: args.extraVars,
          limit: prep.limit,
          run,
          forks: args.forks,
          noRollback: args.noRollback,
          transport,
          emit,
          tags: args.tags,
          startAt: args.startAt,
          signal: abort.signal,
          stores: s3StoreFor,
          confirm: async (prompt, expect) => {
            if (args.yes) {
              emit({ type: 'log', level: 'info', message: `approval gate passed with --yes (${expect})` });
              return true;
            }
            await listr?.done();
            return askToType(prompt, expect, io.stdin, io.stdout);
          },
        });
      } finally {
        await releaseLock(gate.held, runId, transport);
      }
    }
  } finally {
    process.removeListener('SIGINT', onSignal);
    process.removeListener('SIGTERM', onSignal);
    await transport.close();
  }
  emit({ type: 'run.end', status: outcome.status, exitCode: outcome.exitCode, failedStep: outcome.failedStep, message: outcome.message, durationMs: Date.now() - started });
  journal.close();
  await listr?.done();
  if (args.output === 'text') io.stdout.write(style.dim(`journal: ${journal.file}\n`));
  return outcome.exitCode;
}
