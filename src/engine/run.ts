import { dirname } from 'node:path';
import type { StepResult } from '../model/command.js';
import type { EmitFn, RunStatus } from '../model/events.js';
import type { Host } from '../model/inventory.js';
import type { Step } from '../model/playbook.js';
import type { Transport } from '../transport/transport.js';
import { findAction } from '../actions/registry.js';
import { filterItems } from './filter-items.js';
import type { PlanInput } from './plan.js';
import { rollback, type UndoEntry } from './rollback.js';
import { runStepOnHost, type StepRun } from './run-step.js';
import { buildScope } from './scope.js';
import { renderValue } from '../template/render.js';
import { expandNames, selectHosts } from './select-hosts.js';
import type { StoreFactory } from './run-special.js';

export interface RunInput extends PlanInput {
  forks: number;
  noRollback: boolean;
  transport: Transport;
  emit: EmitFn;
  confirm: (prompt: string, expect: string) => Promise<boolean>;
  signal: AbortSignal;
  stores: StoreFactory;
  /** Continue a run that died: state rebuilt from its journal. */
  resume?: ResumeState | undefined;
}

export interface ResumeState {
  registered: Map<string, Record<string, unknown>>;
  stack: UndoEntry[];
  lastPoint: string;
  /** Items before this index are done. */
  startIndex: number;
  /** For the step that was running: hosts where it had completed. */
  doneHosts: Set<string>;
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

/** The run loop: steps in order, hosts per strategy, rollback on failure. Emits events; never prints. */
export async function runPlaybook(input: RunInput): Promise<RunOutcome> {
  const { playbook, inventory, emit } = input;
  const filtered = filterItems(playbook, input);
  if (!filtered.ok) return { status: 'failed', exitCode: 2, failedStep: undefined, message: filtered.message };
  const resume = input.resume;
  const registered = resume?.registered ?? new Map<string, Record<string, unknown>>(inventory.hosts.map((h) => [h.name, {}]));
  const unreachable = new Set<string>();
  let stack: UndoEntry[] = resume?.stack ?? [];
  let lastPoint = resume?.lastPoint ?? '(start of the playbook)';
  const baseDir = dirname(playbook.file);
  const cluster = expandNames([playbook.hosts], inventory);

  for (const { item, index, skip } of filtered.items) {
    if (resume && index < resume.startIndex) continue;
    if (skip) {
      emit({ type: 'step.skip', step: item.name, index, reason: skip });
      continue;
    }
    if (item.kind === 'rollback_point') {
      stack = [];
      lastPoint = item.name;
      emit({ type: 'rollback_point', name: item.name, index });
      continue;
    }
    const step: Step = item;
    // Ctrl-C / SIGTERM: stop between steps and unwind like a failure (the rollback is not interruptible)
    const interrupted = input.signal.aborted ? `interrupted before step '${step.name}'` : undefined;
    const first = inventory.hosts[0];
    const hostTemplate = (t: string) =>
      first ? renderValue(t, buildScope({ playbook, inventory, host: first, run: input.run, extraVars: input.extraVars, registered: registered.get(first.name) ?? {}, cluster }), { mode: 'text' }) : t;
    let sel: ReturnType<typeof selectHosts>;
    try {
      sel = selectHosts(step, playbook, inventory, input.limit, hostTemplate);
    } catch (e) {
      return { status: 'failed', exitCode: 2, failedStep: step.name, message: `step '${step.name}': hosts: ${(e as Error).message}` };
    }
    const runOnJumpHost = findAction(step.action)?.runOnce === true;
    const all = runOnJumpHost ? sel.hosts.slice(0, 1) : sel.hosts;
    // resuming the step that was running: hosts where it had completed are not run again
    const targets = resume && index === resume.startIndex ? all.filter((h) => !resume.doneHosts.has(h.name)) : all;
    const results: StepResult[] = [];
    if (!interrupted) {
      emit({ type: 'step.start', step: step.name, index, hosts: targets.map((h) => h.name), down: sel.down.map((h) => h.name) });
      if (all.length === 0 && sel.down.length > 0) {
        // a step aimed only at hosts marked down must not pass as "skipped": the plan assumed it ran
        for (const h of sel.down) results.push({ status: 'unreachable', host: h.name, message: 'marked down in the inventory, and this step targets it' });
      }
    }
    const runOne = async (host: Host): Promise<StepRun> => {
      if (unreachable.has(host.name)) {
        const result: StepResult = { status: 'unreachable', host: host.name, message: 'unreachable earlier in this run' };
        emit({ type: 'host.result', step: step.name, index, attempt: 1, final: true, result });
        return { result, registered: undefined, undo: [] };
      }
      const scope = buildScope({ playbook, inventory, host, run: input.run, extraVars: input.extraVars, registered: registered.get(host.name) ?? {}, cluster });
      const r = await runStepOnHost({ step, stepIndex: index, host, cluster, inventory, scope, runId: input.run.id, baseDir, transport: input.transport, emit, confirm: input.confirm, signal: input.signal, stores: input.stores });
      // recorded as soon as this host is done, not at the end of the batch: a crash in between must not lose it
      if (r.result.status === 'unreachable') unreachable.add(host.name);
      if (r.undo.length > 0) {
        stack.push({ step: step.name, stepIndex: index, host, undo: r.undo });
        emit({ type: 'undo.recorded', step: step.name, index, host: host.name, undo: r.undo });
      }
      if (r.registered && step.register) {
        // run_once and jump-host steps: every host sees the one result, as with Ansible.
        const receivers = step.runOnce || runOnJumpHost ? inventory.hosts.map((h) => h.name) : [host.name];
        for (const name of receivers) (registered.get(name) ?? {})[step.register] = r.registered;
        emit({ type: 'registered', step: step.name, index, hosts: receivers, name: step.register, value: r.registered });
      }
      return r;
    };
    if (!interrupted && results.length === 0) {
      for (const batch of chunk(targets, step.serial)) {
        const runs = await mapLimit(batch, input.forks, runOne);
        for (const r of runs) results.push(r.result);
        if (runs.some((r) => isFailure(r.result)) && !step.ignoreErrors) break;
      }
    }
    const failed = results.filter(isFailure);
    const status = interrupted || (failed.length && !step.ignoreErrors) ? 'failed' : results.some((r) => r.status === 'changed') ? 'changed' : results.every((r) => r.status === 'skipped') ? 'skipped' : 'ok';
    if (!interrupted) emit({ type: 'step.end', step: step.name, index, status });
    if (status !== 'failed') continue;

    const why = interrupted ?? failed.map((f) => `${f.host}: ${failureMessage(f)}`).join('; ');
    const reason = interrupted ? `run ${interrupted}` : `step '${step.name}' failed (${why})`;
    const lost = [...unreachable];
    if (input.noRollback) {
      emit({ type: 'rollback.skipped', to: lastPoint, pending: [...stack].reverse().map((e) => ({ step: e.step, host: e.host.name })) });
      return { status: 'needs_attention', exitCode: 3, failedStep: step.name, message: `${reason}; --no-rollback: hosts left as they are for hands-on repair` };
    }
    // a fresh signal: an interrupted run must still be able to wait for its undos
    const rb = await rollback({ entries: stack, to: lastPoint, reason, unreachable, transport: input.transport, emit, signal: new AbortController().signal, stores: input.stores });
    if (rb.ok && lost.length === 0) return { status: 'rolled_back', exitCode: 1, failedStep: step.name, message: `${reason}; rolled back to '${lastPoint}'` };
    const left = rb.remaining.map((r) => `${r.host}: ${r.steps.join(', ')} (${r.why})`).join('; ');
    const lostNote = lost.length && rb.ok ? `; ${lost.join(', ')} unreachable: what the failed step did there is unknown, check by hand` : '';
    return { status: 'needs_attention', exitCode: 3, failedStep: step.name, message: `${reason}; rollback to '${lastPoint}' ${rb.ok ? 'done on the reachable hosts' : `INCOMPLETE, not undone: ${left}`}${lostNote}` };
  }
  return { status: 'ok', exitCode: 0, failedStep: undefined, message: 'all steps completed' };
}
