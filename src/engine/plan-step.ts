import { findAction } from '../actions/registry.js';
import type { Command } from '../model/command.js';
import type { Host, Inventory } from '../model/inventory.js';
import type { Step } from '../model/playbook.js';
import { hasRuntime } from '../shell/build.js';
import { evaluateBool, ExpressionError, type Scope } from '../template/expression.js';
import { type RenderOptions, renderShellTemplate, renderValue, runtimeDependency } from '../template/render.js';
import { needsSudo } from '../util/become.js';
import { DEFAULT_TIMEOUT_S } from '../shell/wire.js';
import type { Ref } from '../model/shell.js';
import { COMMAND_SETS, type CommandSet, commandSetOf, commandsFor } from '../actions/etcd-version.js';

/** The argument an action's refusal is about: its message starts with the argument's name ("timeout must …", "'dest' path …", "set.x: …"). */
export function argOf(message: string, args: Record<string, unknown>): string | undefined {
  const m = /^(?:args\.)?'?([A-Za-z_][A-Za-z0-9_]*)'?(?:[ .:]|$)/.exec(message);
  return m?.[1] !== undefined && Object.hasOwn(args, m[1]) ? m[1] : undefined;
}

/** A set a versioned step cannot be planned for: a plan whose one command fails with the reason. */
function errorPlan(host: string, message: string): RunPlan {
  return {
    kind: 'run',
    host,
    commands: [{ kind: 'local', op: { op: 'assert', that: ['false'], message } }],
    undo: [],
    partialUndo: undefined,
    changes: false,
    condition: undefined,
    noop: undefined,
    irreversible: undefined,
    probe: undefined,
  };
}

/** What one step will do on one host: the commands exactly as the run executes them (holes filled at run time). */
export type HostStepPlan =
  | {
      kind: 'run';
      host: string;
      commands: Command[];
      undo: Command[];
      partialUndo: Command[][] | undefined;
      changes: boolean;
      /** A `when` that depends on a run-time value: evaluated by the run, on this host, before the step. */
      condition: string | undefined;
      noop: string | undefined;
      note?: string | undefined;
      irreversible: string | undefined;
      /** Read-only: decides a step a crash interrupted here (done / not started / partial, with the clean-up). */
      probe: { cmd: Command; cleanup: Command[] } | undefined;
    }
  /**
   * A versioned action: one plan per etcd command set, every one of them in the program; the run takes the
   * one for the set that `on` (the etcd.tools step's finding on this host) names. Nothing else is chosen.
   */
  | { kind: 'choose'; host: string; condition: string | undefined; on: Ref; cases: { sets: CommandSet[]; plan: RunPlan }[] }
  | { kind: 'skip'; host: string; reason: string }
  | { kind: 'error'; host: string; message: string; /** the argument the problem is in, when known */ arg?: string | undefined };

export type RunPlan = Extract<HostStepPlan, { kind: 'run' }>;

export interface PlanStepInput {
  step: Step;
  stepIndex: number;
  host: Host;
  /** The etcd members (the playbook's host group). */
  cluster: Host[];
  inventory: Inventory;
  scope: Scope;
  /** What only the run knows on this host: registered names, secret variables. */
  render: RenderOptions;
  runId: string;
  baseDir: string;
  /** The deadline of a command when neither the step nor the action names one (CLI --command-timeout). */
  defaultTimeoutS?: number | undefined;
  /** The register of the latest earlier etcd.tools step (what a versioned action is chosen by), if any. */
  etcdTools?: string | undefined;
}

/** Per-attempt deadline of a polled command: each try is short, the poll has its own overall limit. */
const POLL_ATTEMPT_S = 30;

/** Deadline and become, decided once here for every command of the step (undo included). */
function finish(cmd: Command, input: PlanStepInput, actionTimeout: number | undefined): Command {
  if (cmd.kind === 'local') return cmd;
  if (cmd.kind !== 'exec') return { ...cmd, sudo: needsSudo(input.host, input.step.become) };
  const dflt = cmd.poll ? Math.min(POLL_ATTEMPT_S, Math.ceil(cmd.poll.timeoutMs / 1000)) : (actionTimeout ?? input.defaultTimeoutS ?? DEFAULT_TIMEOUT_S);
  const timeoutS = cmd.timeoutS ?? input.step.timeoutSeconds ?? dflt;
  return { ...cmd, timeoutS, ...(needsSudo(input.host, input.step.become) ? { sudo: true } : {}) };
}

/** Pure: a step's commands and undo for one host, from its arguments and the host's scope. */
export function planStepOnHost(input: PlanStepInput): HostStepPlan {
  const { step, host, scope } = input;
  const action = findAction(step.action);
  if (!action) return { kind: 'error', host: host.name, message: `unknown action '${step.action}'` };
  try {
    let condition: string | undefined;
    if (step.when !== undefined) {
      if (runtimeDependency(step.when, scope, input.render).runtime) condition = step.when;
      else if (!evaluateBool(step.when, scope)) return { kind: 'skip', host: host.name, reason: `when: ${step.when} is false` };
    }
    const args: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(step.args)) {
      const shell = action.shellArgs.includes(k);
      let r: unknown;
      try {
        r = shell && typeof v === 'string' ? renderShellTemplate(v, scope, input.render) : renderValue(v, scope, input.render);
      } catch (e) {
        if (e instanceof ExpressionError) return { kind: 'error', host: host.name, message: e.message, arg: k };
        throw e;
      }
      if (!shell && !action.runtimeArgs?.includes(k) && hasRuntime(r))
        return { kind: 'error', host: host.name, arg: k, message: `args.${k} uses a value known only at run time (a registered result or a secret): ${step.action} needs it when planning` };
      args[k] = r;
    }
    const undo = step.undo === undefined ? undefined : renderShellTemplate(step.undo, scope, input.render);
    const done = (c: Command) => finish(c, input, action.timeoutS);
    const planFor = (set: CommandSet): RunPlan | string => {
      const planned = action.plan(args as never, {
        host,
        cluster: input.cluster,
        inventory: input.inventory,
        step,
        stepIndex: input.stepIndex,
        runId: input.runId,
        baseDir: input.baseDir,
        undo,
        etcd: commandsFor(set),
      });
      if (!planned.ok) return planned.message;
      const p = planned.plan;
      return {
        kind: 'run',
        host: host.name,
        commands: p.commands.map(done),
        undo: p.undo.map(done),
        partialUndo: p.partialUndo?.map((u) => u.map(done)),
        changes: p.changes,
        condition,
        noop: p.noop,
        ...(p.note === undefined ? {} : { note: p.note }),
        irreversible: p.irreversible,
        probe: p.probe ? { cmd: done({ kind: 'exec', cmd: p.probe.cmd, timeoutS: 60 }), cleanup: p.probe.cleanup.map(done) } : undefined,
      };
    };
    const forced = args['version'];
    if (!action.versioned || (forced !== undefined && forced !== '')) {
      let set: CommandSet = '3.4';
      if (action.versioned) {
        const s = commandSetOf(String(forced));
        if (s === undefined) return { kind: 'error', host: host.name, message: `args.version '${String(forced)}' is not an etcd version this tool drives (3.4, 3.5, 3.6)` };
        set = s;
      }
      const p = planFor(set);
      return typeof p === 'string' ? { kind: 'error', host: host.name, message: p, arg: argOf(p, step.args) } : p;
    }
    if (input.etcdTools === undefined)
      return { kind: 'error', host: host.name, message: `${step.action} depends on the etcd version: put an etcd.tools step with a register before it (or give args.version)` };
    const cases: { sets: CommandSet[]; plan: RunPlan }[] = [];
    const plans = COMMAND_SETS.map(planFor);
    const firstError = plans.find((p) => typeof p === 'string');
    if (plans.every((p) => typeof p === 'string')) return { kind: 'error', host: host.name, message: String(firstError), arg: argOf(String(firstError), step.args) };
    for (const [i, set] of COMMAND_SETS.entries()) {
      const p = plans[i] as RunPlan | string;
      // a set this step cannot be planned for is a run-time failure on a host that runs it, not a plan error
      const same = cases.find((c) => JSON.stringify(c.plan) === JSON.stringify(typeof p === 'string' ? errorPlan(host.name, p) : p));
      if (same) same.sets.push(set);
      else cases.push({ sets: [set], plan: typeof p === 'string' ? errorPlan(host.name, p) : p });
    }
    const on: Ref = { ref: `${input.etcdTools}.json.set` };
    if (cases.length === 1 && cases[0]) return cases[0].plan;
    return { kind: 'choose', host: host.name, condition, on, cases };
  } catch (e) {
    if (e instanceof ExpressionError) return { kind: 'error', host: host.name, message: e.message };
    // a fault in an action's planning is a step that cannot be planned: reported where, never a crash
    return { kind: 'error', host: host.name, message: `internal fault while planning (${(e as Error).message}): please report it` };
  }
}
