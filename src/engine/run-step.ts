import type { Command, CommandOutcome, StepResult } from '../model/command.js';
import type { EmitFn } from '../model/events.js';
import type { Step } from '../model/playbook.js';
import { evaluateBool } from '../template/expression.js';
import type { Transport } from '../transport/transport.js';
import { findAction } from '../actions/registry.js';
import { type PlanStepInput, planStepOnHost } from './plan-step.js';
import { runCommand } from './run-command.js';
import type { StoreFactory } from './run-special.js';

export interface StepRunContext extends Omit<PlanStepInput, 'deferred' | 'self'> {
  transport: Transport;
  emit: EmitFn;
  confirm: (prompt: string, expect: string) => Promise<boolean>;
  signal: AbortSignal;
  stores: StoreFactory;
}

/** What a step leaves behind on a host: its result, what to register, and how to undo it. */
export interface StepRun {
  result: StepResult;
  registered: Record<string, unknown> | undefined;
  /** Undo commands; only set when the step completed and changed the host. */
  undo: Command[];
}

function registerValue(o: CommandOutcome | undefined, status: StepResult['status']): Record<string, unknown> {
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

/** Safe to run again after a crash left it half-done: read-only actions, or steps that say so. */
export function isRepeatable(step: Step): boolean {
  if (step.repeatable !== undefined) return step.repeatable;
  const a = findAction(step.action);
  if (!a) return false;
  return a.changes === 'never' || (a.changes === 'declared' && step.changes === false) || a.repeatable === true;
}

/** Fill in flag values an edit takes from earlier commands of the same step. */
function resolveFacts(cmd: Command, facts: Record<string, unknown>): Command {
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

const sleep = (ms: number, signal: AbortSignal) =>
  new Promise<void>((res) => {
    const t = setTimeout(res, ms);
    signal.addEventListener('abort', () => {
      clearTimeout(t);
      res();
    }, { once: true });
  });

/** Run one step on one host: when, plan, commands in order, retries/until, register. */
export async function runStepOnHost(ctx: StepRunContext): Promise<StepRun> {
  const { step, host } = ctx;
  const planned = planStepOnHost({ step, stepIndex: ctx.stepIndex, host, cluster: ctx.cluster, inventory: ctx.inventory, scope: ctx.scope, runId: ctx.runId, baseDir: ctx.baseDir });
  if (planned.kind === 'skip') {
    const result: StepResult = { status: 'skipped', host: host.name, reason: planned.reason };
    ctx.emit({ type: 'host.result', step: step.name, index: ctx.stepIndex, attempt: 1, final: true, result });
    return { result, registered: step.register ? registerValue(undefined, 'skipped') : undefined, undo: [] };
  }
  if (planned.kind === 'error') {
    const result: StepResult = { status: 'failed', host: host.name, outcome: undefined, message: planned.message };
    ctx.emit({ type: 'host.result', step: step.name, index: ctx.stepIndex, attempt: 1, final: true, result });
    return { result, registered: undefined, undo: [] };
  }
  if (planned.changes) ctx.emit({ type: 'step.planned', step: step.name, index: ctx.stepIndex, host: host.name, undo: planned.undo, repeatable: isRepeatable(step) });
  const attempts = step.retries + 1;
  let last: StepRun | undefined;
  for (let attempt = 1; attempt <= attempts; attempt++) {
    let outcome: CommandOutcome | undefined;
    let failure: string | undefined;
    let unreachable = false;
    let completedCommands = 0;
    const facts: Record<string, unknown> = {};
    for (const [i, planCmd] of planned.commands.entries()) {
      const cmd = resolveFacts(planCmd, facts);
      const o = await runCommand(cmd, {
        transport: ctx.transport,
        emit: ctx.emit,
        step: step.name,
        host,
        phase: 'do',
        index: i,
        timeoutMs: step.timeoutSeconds === undefined ? undefined : step.timeoutSeconds * 1000,
        scope: ctx.scope,
        confirm: ctx.confirm,
        signal: ctx.signal,
        stores: ctx.stores,
      });
      if (cmd.kind !== 'local' || outcome === undefined || o.facts !== undefined) outcome = o;
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
    else result = { status: planned.changes ? 'changed' : 'ok', host: host.name, outcome };
    const registered = step.register ? registerValue(outcome, result.status) : undefined;
    if (step.until && !unreachable && registered) {
      let done = false;
      try {
        done = evaluateBool(step.until, { ...ctx.scope, [step.register as string]: registered });
      } catch (e) {
        result = { status: 'failed', host: host.name, outcome, message: `until: ${(e as Error).message}` };
      }
      if (!done && result.status !== 'failed') result = { status: 'failed', host: host.name, outcome, message: `until: ${step.until} still false after ${attempt} attempt(s)` };
    }
    const completed = result.status === 'changed' || result.status === 'ok';
    let plan = planned;
    if (planned.changes && findAction(step.action)?.undoNeedsResult) {
      // the undo names what the step created (a new member id): plan it again, now that it is known
      const again = planStepOnHost({ step, stepIndex: ctx.stepIndex, host, cluster: ctx.cluster, inventory: ctx.inventory, scope: ctx.scope, runId: ctx.runId, baseDir: ctx.baseDir, self: registerValue(outcome, result.status) });
      if (again.kind === 'run') plan = again;
    }
    // every command ran (even if `until` was not satisfied yet): the host changed, so the undo is owed
    let undo = failure === undefined && plan.changes ? plan.undo : [];
    if (!completed && plan.partialUndo && completedCommands > 0) {
      // failed part-way: undo what the completed commands did, newest first
      undo = plan.partialUndo.slice(0, completedCommands).reverse().flat();
    }
    last = { result, registered, undo };
    // a part-way failure that changed the host is not retried: it is unwound instead
    const partWay = failure !== undefined && undo.length > 0;
    const final = completed || unreachable || partWay || attempt === attempts || ctx.signal.aborted;
    ctx.emit({ type: 'host.result', step: step.name, index: ctx.stepIndex, attempt, final, result });
    if (final) break;
    await sleep(step.delaySeconds * 1000, ctx.signal);
  }
  return last as StepRun;
}
