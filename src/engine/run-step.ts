import type { Command, CommandOutcome, StepResult } from '../model/command.js';
import { abortableSleep as sleep } from '../util/sleep.js';
import type { EmitFn } from '../model/events.js';
import type { Host } from '../model/inventory.js';
import { fillFor } from '../shell/fill.js';
import { evaluateBool, type Scope } from '../template/expression.js';
import type { Transport } from '../transport/transport.js';
import type { ProgramEntry } from './plan.js';
import type { HostStepPlan } from './plan-step.js';
import { runCommand } from './run-command.js';
import type { StoreFactory } from './run-special.js';
import type { FanOut } from './fan-out.js';

type StepEntry = Extract<ProgramEntry, { kind: 'step' }>;
type RunPlan = Extract<HostStepPlan, { kind: 'run' }>;

export interface StepRunContext {
  entry: StepEntry;
  plan: RunPlan;
  host: Host;
  /** The host's run-time scope: variables with secrets, and what earlier steps registered on it. */
  scope: Scope;
  transport: Transport;
  emit: EmitFn;
  confirm: (prompt: string, expect: string) => Promise<boolean>;
  signal: AbortSignal;
  stores: StoreFactory;
  /** Resolves once every event emitted so far is in the journal on disk (the write-ahead barrier). */
  journaled: () => Promise<void>;
  /** The step's shared fetches on this host's wave (one read of an S3 object for every member). */
  fanOut?: FanOut | undefined;
}

/** What a step leaves behind on a host: its final result (not yet emitted), what to register, and how to undo it. */
export interface StepRun {
  result: StepResult;
  attempt: number;
  registered: Record<string, unknown> | undefined;
  /** Undo commands owed on this host (secrets still by reference). */
  undo: Command[];
}

export function registerValue(o: CommandOutcome | undefined, status: StepResult['status']): Record<string, unknown> {
  const stdout = o?.stdout ?? '';
  let json: unknown;
  const t = stdout.trim();
  if (t.startsWith('{') || t.startsWith('[')) {
    try {
      json = JSON.parse(t);
    } catch {
      json = undefined;
    }
  }
  return {
    rc: o?.exitCode ?? null,
    stdout,
    stdout_lines: stdout.split('\n').filter((l) => l !== ''),
    stderr: o?.stderr ?? '',
    ok: status === 'ok' || status === 'changed',
    failed: status === 'failed' || status === 'unreachable',
    changed: status === 'changed',
    skipped: status === 'skipped',
    ...(json === undefined ? {} : { json }),
    ...(o?.facts === undefined ? {} : { json: o.facts }),
  };
}

/** Fill in flag values an edit takes from earlier commands of the same step. */
function resolveFacts(cmd: Command, facts: Record<string, unknown>): Command {
  if (cmd.kind === 'put-tools') {
    const missing = Array.isArray(facts['missing']) ? facts['missing'].map(String) : undefined;
    return { ...cmd, version: typeof facts['version'] === 'string' ? facts['version'] : undefined, missing };
  }
  if (cmd.kind !== 'edit') return cmd;
  return {
    ...cmd,
    edits: cmd.edits.map((e) => {
      const v = e.value;
      if (v === null || typeof v !== 'object') return e;
      const got = facts[v.fact];
      return typeof got === 'string' ? { ...e, value: got } : e;
    }),
  };
}

const readOnly = () => Promise.resolve();

/**
 * Run one planned step on one host: its condition, its commands in order (holes filled, nothing
 * re-rendered), retries/until, register, and the undo it owes.
 */
export async function runStepOnHost(ctx: StepRunContext): Promise<StepRun> {
  const { entry, plan, host } = ctx;
  const c = entry.controls;
  // a retried attempt is reported here; the final result is the caller's to record, with its undo
  const retrying = (result: StepResult, attempt: number) => ctx.emit({ type: 'host.result', step: entry.name, index: entry.index, attempt, final: false, result });
  if (plan.condition !== undefined) {
    let yes: boolean;
    try {
      yes = evaluateBool(plan.condition, ctx.scope);
    } catch (e) {
      const result: StepResult = { status: 'failed', host: host.name, outcome: undefined, message: `when: ${(e as Error).message}` };
      return { result, attempt: 1, registered: undefined, undo: [] };
    }
    if (!yes) {
      const result: StepResult = { status: 'skipped', host: host.name, reason: `when: ${plan.condition} is false` };
      return { result, attempt: 1, registered: c.register ? registerValue(undefined, 'skipped') : undefined, undo: [] };
    }
  }
  const keep = fillFor(ctx.scope, false);
  let fullUndo: Command[];
  let partialUndo: Command[][] | undefined;
  try {
    fullUndo = keep(plan.undo);
    partialUndo = plan.partialUndo === undefined ? undefined : keep(plan.partialUndo);
  } catch (e) {
    const result: StepResult = { status: 'failed', host: host.name, outcome: undefined, message: `undo: ${(e as Error).message}` };
    return { result, attempt: 1, registered: undefined, undo: [] };
  }
  if (plan.changes) ctx.emit({ type: 'step.planned', step: entry.name, index: entry.index, host: host.name, undo: fullUndo, repeatable: c.repeatable });
  const attempts = c.retries + 1;
  let last: StepRun | undefined;
  // what the attempts so far did to the host: a later attempt failing early does not make it undone
  let owed: Command[] = [];
  for (let attempt = 1; attempt <= attempts; attempt++) {
    let outcome: CommandOutcome | undefined;
    let failure: string | undefined;
    let unreachable = false;
    let completedCommands = 0;
    const facts: Record<string, unknown> = {};
    for (const [i, planCmd] of plan.commands.entries()) {
      const o = await runCommand(resolveFacts(planCmd, facts), {
        transport: ctx.transport,
        emit: ctx.emit,
        step: entry.name,
        host,
        phase: 'do',
        index: i,
        scope: ctx.scope,
        confirm: ctx.confirm,
        signal: ctx.signal,
        stores: ctx.stores,
        // write-ahead for what changes a host; a read-only step's start need not reach the disk first (lost
        // with the machine, resume runs the step again, which changes nothing)
        journaled: plan.changes ? ctx.journaled : readOnly,
        fanOut: ctx.fanOut,
      });
      if (planCmd.kind !== 'local' || outcome === undefined || o.facts !== undefined) outcome = o;
      if (o.ok && o.facts && typeof o.facts === 'object') Object.assign(facts, o.facts);
      if (!o.ok) {
        outcome = o;
        failure = o.error ?? 'failed';
        // a dropped connection leaves the command's effect unknown: the host is lost for this run
        unreachable = /^(unreachable|connection lost)/.test(o.error ?? '');
        break;
      }
      completedCommands++;
    }
    if (outcome && Object.keys(facts).length > 0) outcome = { ...outcome, facts: { ...(outcome.facts as object), ...facts } };
    let result: StepResult;
    if (unreachable) result = { status: 'unreachable', host: host.name, message: failure ?? 'unreachable' };
    else if (failure !== undefined) result = { status: 'failed', host: host.name, outcome, message: failure };
    else result = { status: plan.changes ? 'changed' : 'ok', host: host.name, outcome };
    const registered = c.register ? registerValue(outcome, result.status) : undefined;
    if (c.until && !unreachable && registered && c.register) {
      let done = false;
      try {
        done = evaluateBool(c.until, { ...ctx.scope, [c.register]: registered });
      } catch (e) {
        result = { status: 'failed', host: host.name, outcome, message: `until: ${(e as Error).message}` };
      }
      if (!done && result.status !== 'failed') result = { status: 'failed', host: host.name, outcome, message: `until: ${c.until} still false after ${attempt} attempt(s)` };
    }
    const completed = result.status === 'changed' || result.status === 'ok';
    // every command ran (even if `until` was not satisfied yet): the host changed, so the full undo is owed
    if (failure === undefined && plan.changes) owed = fullUndo;
    else if (owed.length === 0 && partialUndo && completedCommands > 0) owed = partialUndo.slice(0, completedCommands).reverse().flat();
    last = { result, attempt, registered, undo: owed };
    // a part-way failure that changed the host is not retried: it is unwound instead
    const partWay = failure !== undefined && completedCommands > 0 && plan.changes;
    const final = completed || unreachable || partWay || attempt === attempts || ctx.signal.aborted;
    if (final) break;
    retrying(result, attempt);
    await sleep(c.delaySeconds * 1000, ctx.signal);
  }
  return last as StepRun;
}
