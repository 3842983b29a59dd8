import type { StepResult } from '../model/command.js';
import type { EmitFn, RunStatus } from '../model/events.js';
import type { Host, Inventory } from '../model/inventory.js';
import type { Playbook } from '../model/playbook.js';
import type { Transport } from '../transport/transport.js';
import type { Program, ProgramEntry } from './plan.js';
import { rollback } from './rollback.js';
import { applyEvent, initialState, type RunState } from './run-state.js';
import { registerValue, runStepOnHost, type StepRun } from './run-step.js';
import { buildScope, type RunInfo } from './scope.js';
import { expandNames } from './select-hosts.js';
import type { StoreFactory } from './run-special.js';
import { runPlanOf } from './choose.js';
import { evaluateBool } from '../template/expression.js';
import { type FanOut, fanOut } from './fan-out.js';
import type { HostStepPlan, RunPlan } from './plan-step.js';

export interface RunInput {
  /** The compiled program: executed as it is, only its run-time holes filled. */
  program: Program;
  /** For the variables of the run-time scope (the program holds the steps). */
  playbook: Playbook;
  inventory: Inventory;
  /** -e values, secrets included: they fill the program's secret references. */
  extraVars: Record<string, unknown>;
  run: RunInfo;
  forks: number;
  noRollback: boolean;
  transport: Transport;
  emit: EmitFn;
  confirm: (prompt: string, expect: string) => Promise<boolean>;
  signal: AbortSignal;
  stores: StoreFactory;
  /** Resolves once every event emitted so far is in the journal on disk (the write-ahead barrier). */
  journaled: () => Promise<void>;
  /** Called before each step starts (tests hold a run at a named step with it). */
  beforeStep?: ((name: string) => Promise<void>) | undefined;
  /** --step: asked before each step; 'skip' skips it (journaled), 'all' stops asking, 'stop' ends the run like Ctrl-C. */
  askStep?: ((name: string, hosts: string[]) => Promise<'run' | 'skip' | 'all' | 'stop'>) | undefined;
  /** Continue a run that died: its state, folded from its journal with the same `applyEvent` this loop uses. */
  resume?: RunState | undefined;
}


export interface RunOutcome {
  status: RunStatus;
  exitCode: 0 | 1 | 2 | 3;
  failedStep: string | undefined;
  message: string;
}

async function mapLimit<T, R>(items: T[], limit: number, fn: (t: T) => Promise<R>): Promise<R[]> {
  const out: R[] = new Array(items.length);
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const i = next++;
      out[i] = await fn(items[i] as T);
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, Math.min(limit, items.length)) }, worker));
  return out;
}

function chunk<T>(xs: T[], n: number | undefined): T[][] {
  if (!n) return [xs];
  const out: T[][] = [];
  for (let i = 0; i < xs.length; i += n) out.push(xs.slice(i, i + n));
  return out;
}

/** Hosts of a wave run together and share its fetches (fan-out.ts): the wave is known before any starts. */
async function inWaves<T extends { host: string }, R>(items: T[], forks: number, fn: (t: T, shared: FanOut) => Promise<R>): Promise<R[]> {
  const out: R[] = [];
  for (const wave of chunk(items, Math.max(1, forks))) {
    const shared = fanOut(wave.map((h) => h.host));
    out.push(...(await Promise.all(wave.map((h) => fn(h, shared)))));
  }
  return out;
}

/** Whether a host's plan for a step reads an object from S3 (s3.download), in any of its cases. */
function sharesFetch(hp: HostStepPlan): boolean {
  const has = (p: RunPlan) => p.commands.some((c) => c.kind === 's3-get');
  return hp.kind === 'run' ? has(hp) : hp.kind === 'choose' ? hp.cases.some((k) => has(k.plan)) : false;
}

const isFailure = (r: StepResult) => r.status === 'failed' || r.status === 'unreachable';

function failureMessage(r: StepResult): string {
  switch (r.status) {
    case 'failed':
    case 'unreachable':
      return r.message;
    case 'ok':
    case 'changed':
    case 'skipped':
      return r.status;
  }
}

type StepEntry = Extract<ProgramEntry, { kind: 'step' }>;

/** The run loop: the program's steps in order, hosts per strategy, rollback on failure. Emits events; never prints. */
export async function runPlaybook(input: RunInput): Promise<RunOutcome> {
  const { program, playbook, inventory } = input;
  const resume = input.resume;
  // the run's state moves only by the events it emits, through the same function recovery folds the journal with
  let state: RunState = resume ?? initialState(inventory.hosts.map((h) => h.name));
  const emit: EmitFn = (e) => {
    state = applyEvent(state, e);
    input.emit(e);
  };
  const unreachable = new Set<string>();
  const cluster = expandNames([playbook.hosts], inventory);
  const byName = new Map(inventory.hosts.map((h) => [h.name, h]));
  const scopeOf = (host: Host) => buildScope({ playbook, inventory, host, run: input.run, extraVars: input.extraVars, registered: state.registered[host.name] ?? {}, cluster });

  let asking = input.askStep !== undefined;
  for (const entry of program.entries) {
    const index = entry.index;
    if (index < state.cursor) continue;
    if (entry.kind === 'skipped') {
      emit({ type: 'step.skip', step: entry.name, index, reason: entry.reason });
      continue;
    }
    if (entry.kind === 'rollback_point') {
      emit({ type: 'rollback_point', name: entry.name, index });
      continue;
    }
    // Ctrl-C / SIGTERM: stop between steps and unwind like a failure (the rollback is not interruptible)
    let interrupted = input.signal.aborted ? `interrupted before step '${entry.name}'` : undefined;
    if (!interrupted && input.beforeStep) {
      await input.beforeStep(entry.name);
      if (input.signal.aborted) interrupted = `interrupted before step '${entry.name}'`;
    }
    if (!interrupted && asking && input.askStep) {
      const answer = await input.askStep(entry.name, entry.hosts.map((h) => h.host));
      if (answer === 'all') asking = false;
      if (answer === 'stop') interrupted = `stopped at --step before step '${entry.name}'`;
      if (answer === 'skip') {
        emit({ type: 'step.skip', step: entry.name, index, reason: 'declined at --step' });
        continue;
      }
    }
    const results = interrupted ? [] : await runEntry(entry);
    const failed = results.filter(isFailure);
    const status = interrupted || (failed.length && !entry.controls.ignoreErrors) ? 'failed' : results.some((r) => r.status === 'changed') ? 'changed' : results.every((r) => r.status === 'skipped') ? 'skipped' : 'ok';
    if (!interrupted) emit({ type: 'step.end', step: entry.name, index, status });
    if (status !== 'failed') continue;

    const why = interrupted ?? failed.map((f) => `${f.host}: ${failureMessage(f)}`).join('; ');
    const reason = interrupted ? `run ${interrupted}` : `step '${entry.name}' failed (${why})`;
    const lost = [...unreachable];
    const lastPoint = state.lastPoint;
    if (input.noRollback) {
      emit({ type: 'rollback.skipped', to: lastPoint, pending: [...state.stack].reverse().map((e) => ({ step: e.step, host: e.host })) });
      return { status: 'needs_attention', exitCode: 3, failedStep: entry.name, message: `${reason}; --no-rollback: hosts left as they are for hands-on repair (the cluster lock stays; runbook rollback ${input.run.id} unwinds)` };
    }
    // a fresh signal: an interrupted run must still be able to wait for its undos
    const rb = await rollback({ entries: state.stack.map((r) => ({ step: r.step, stepIndex: r.index, host: byName.get(r.host) as Host, undo: r.undo })), to: lastPoint, reason, unreachable, transport: input.transport, emit, signal: new AbortController().signal, stores: input.stores, journaled: input.journaled, scopeOf });
    if (rb.ok && lost.length === 0) return { status: 'rolled_back', exitCode: 1, failedStep: entry.name, message: `${reason}; rolled back to '${lastPoint}'` };
    const left = rb.remaining.map((r) => `${r.host}: ${r.steps.join(', ')} (${r.why})`).join('; ');
    const lostNote = lost.length && rb.ok ? `; ${lost.join(', ')} unreachable: what the failed step did there is unknown, check by hand` : '';
    return {
      status: 'needs_attention',
      exitCode: 3,
      failedStep: entry.name,
      message: `${reason}; rollback to '${lastPoint}' ${rb.ok ? 'done on the reachable hosts' : `INCOMPLETE, not undone: ${left}`}${lostNote}. The cluster lock stays: finish with runbook rollback ${input.run.id}`,
    };
  }
  return { status: 'ok', exitCode: 0, failedStep: undefined, message: 'all steps completed' };

  async function runEntry(entry: StepEntry): Promise<StepResult[]> {
    const index = entry.index;
    const c = entry.controls;
    // resuming the step that was running: hosts where it had completed are not run again
    const done = index === state.cursor ? new Set(state.doneHosts) : new Set<string>();
    const planned = entry.hosts.filter((h) => !done.has(h.host));
    emit({ type: 'step.start', step: entry.name, index, hosts: planned.map((h) => h.host), down: entry.down });
    const results: StepResult[] = [];
    if (entry.hosts.length === 0 && entry.down.length > 0) {
      // a step aimed only at hosts marked down must not pass as "skipped": the plan assumed it ran
      for (const h of entry.down) results.push({ status: 'unreachable', host: h, message: 'marked down in the inventory, and this step targets it' });
      return results;
    }
    const runOne = async (hp: StepEntry['hosts'][number], shared?: FanOut): Promise<StepRun> => {
      const host = byName.get(hp.host) as Host;
      const simple = (result: StepResult): StepRun => ({ result, attempt: 1, registered: undefined, undo: [] });
      let r: StepRun;
      if (unreachable.has(host.name)) r = simple({ status: 'unreachable', host: host.name, message: 'unreachable earlier in this run' });
      else {
        try {
          switch (hp.kind) {
            case 'skip':
              r = simple({ status: 'skipped', host: host.name, reason: hp.reason });
              if (c.register) r = { ...r, registered: registerValue(undefined, 'skipped') };
              break;
            case 'error':
              r = simple({ status: 'failed', host: host.name, outcome: undefined, message: hp.message });
              break;
            case 'run':
            case 'choose': {
              // a versioned step takes the case for this host's etcd version; a `when` that is false skips it without needing one
              const scope = scopeOf(host);
              const chosen = runPlanOf(hp, scope) ?? { ok: false as const, message: 'not a runnable plan' };
              if (chosen.ok) r = await runStepOnHost({ entry, plan: chosen.plan, host, scope, transport: input.transport, emit, confirm: input.confirm, signal: input.signal, stores: input.stores, journaled: input.journaled, fanOut: shared });
              else if (hp.condition !== undefined && !evaluateBool(hp.condition, scope)) {
                r = simple({ status: 'skipped', host: host.name, reason: `when: ${hp.condition} is false` });
                if (c.register) r = { ...r, registered: registerValue(undefined, 'skipped') };
              } else r = simple({ status: 'failed', host: host.name, outcome: undefined, message: chosen.message });
              break;
            }
          }
        } catch (e) {
          // an engine fault on one host is that step failing there: the run unwinds, it does not crash
          r = simple({ status: 'failed', host: host.name, outcome: undefined, message: `internal fault while running the step: ${(e as Error).message}` });
        }
      }
      // the wave's shared fetch no longer waits for this host (it never reached it, or is done with it)
      shared?.leave(host.name);
      // one record, written as soon as this host is done: its result, the undo it owes, what it registered
      if (r.result.status === 'unreachable') unreachable.add(host.name);
      const registered = r.registered && c.register ? { name: c.register, hosts: c.shareResult ? inventory.hosts.map((h) => h.name) : [host.name], value: r.registered } : undefined;
      emit({ type: 'host.result', step: entry.name, index, attempt: r.attempt, final: true, result: r.result, undo: r.undo.length ? r.undo : undefined, registered });
      return r;
    };
    // a step that fetches from S3 runs in waves of --forks hosts, each wave sharing one read of the object
    const fetching = planned.some(sharesFetch);
    for (const batch of chunk(planned, c.serial)) {
      const runs = fetching ? await inWaves(batch, input.forks, runOne) : await mapLimit(batch, input.forks, (hp) => runOne(hp));
      for (const r of runs) results.push(r.result);
      if (runs.some((r) => isFailure(r.result)) && !c.ignoreErrors) break;
    }
    return results;
  }
}
