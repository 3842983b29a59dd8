import { findAction } from '../actions/registry.js';
import type { Command } from '../model/command.js';
import type { Host, Inventory } from '../model/inventory.js';
import type { Step } from '../model/playbook.js';
import { evaluateBool, ExpressionError, type Scope, UndefinedNameError } from '../template/expression.js';
import { renderString, renderValue } from '../template/render.js';
import { needsSudo, sudoWrap } from '../util/become.js';
import { describeEdits } from '../facts/manifest-edit.js';

/** What one step will do on one host. */
export type HostStepPlan =
  | { kind: 'run'; host: string; commands: Command[]; undo: Command[]; partialUndo: Command[][] | undefined; changes: boolean; condition: string | undefined; noop: string | undefined; irreversible: string | undefined }
  | { kind: 'skip'; host: string; reason: string }
  | { kind: 'error'; host: string; message: string };

export interface PlanStepInput {
  step: Step;
  stepIndex: number;
  host: Host;
  /** The etcd members (the playbook's host group). */
  cluster: Host[];
  inventory: Inventory;
  scope: Scope;
  runId: string;
  baseDir: string;
  /** Registered names whose values only a real run knows (dry run). */
  deferred?: ReadonlySet<string> | undefined;
  /** The step's own registered result, once it ran (for undos that name what it created). */
  self?: Record<string, unknown> | undefined;
}

/** sudo -n when the SSH user is not root and the host or step asks for it. */
export function withBecome(cmd: Command, host: Host, step: Step): Command {
  if (cmd.kind !== 'exec' || !needsSudo(host, step.become)) return cmd;
  return { ...cmd, cmd: sudoWrap(cmd.cmd) };
}

/** Pure: a step's commands and undo for one host, from its arguments and the host's scope. */
export function planStepOnHost(input: PlanStepInput): HostStepPlan {
  const { step, host, scope } = input;
  const action = findAction(step.action);
  if (!action) return { kind: 'error', host: host.name, message: `unknown action '${step.action}'` };
  const renderOpts = (mode: 'shell' | 'text') => ({ mode, deferredRoots: input.deferred });
  let condition: string | undefined;
  try {
    if (step.when !== undefined && !evaluateBool(step.when, scope)) return { kind: 'skip', host: host.name, reason: `when: ${step.when} is false` };
  } catch (e) {
    if (e instanceof UndefinedNameError && input.deferred?.has(e.path.split('.')[0] ?? '')) condition = step.when;
    else return { kind: 'error', host: host.name, message: `when: ${(e as Error).message}` };
  }
  try {
    const args: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(step.args)) args[k] = renderValue(v, scope, renderOpts(action.shellArgs.includes(k) ? 'shell' : 'text'));
    const undo = step.undo === undefined ? undefined : renderString(step.undo, scope, renderOpts('shell'));
    const planned = action.plan(args as never, {
      host,
      cluster: input.cluster,
      inventory: input.inventory,
      step,
      stepIndex: input.stepIndex,
      runId: input.runId,
      baseDir: input.baseDir,
      undo,
      self: input.self,
    });
    if (!planned.ok) return { kind: 'error', host: host.name, message: planned.message };
    const p = planned.plan;
    return {
      kind: 'run',
      host: host.name,
      commands: p.commands.map((c) => withBecome(c, host, step)),
      undo: p.undo.map((c) => withBecome(c, host, step)),
      partialUndo: p.partialUndo?.map((u) => u.map((c) => withBecome(c, host, step))),
      changes: p.changes,
      condition,
      noop: p.noop,
      irreversible: p.irreversible,
    };
  } catch (e) {
    if (e instanceof ExpressionError) return { kind: 'error', host: host.name, message: e.message };
    throw e;
  }
}

/** One line that shows a command exactly as it will be run (content of uploads summarised). */
export function describeCommand(c: Command): string {
  switch (c.kind) {
    case 'exec':
      return c.poll ? `${c.cmd}    # repeated every ${c.poll.intervalMs / 1000}s until it ${c.poll.until}, at most ${c.poll.timeoutMs / 1000}s` : c.cmd;
    case 'upload':
      return `sftp put → ${c.dest} (mode ${c.mode.toString(8).padStart(4, '0')}, ${c.summary})`;
    case 'fetch':
      return `sftp get ${c.src} → ${c.dest} (on this machine)`;
    case 'local':
      switch (c.op.op) {
        case 'assert':
          return `assert ${c.op.that.join(' and ')} (on this machine)`;
        case 'confirm':
          return `confirm: operator must type '${c.op.expect}' (on this machine)`;
        case 'message':
          return `message: ${c.op.text}`;
        case 's3-verify':
          return `read s3://${c.op.bucket}/${c.op.key} and check its sha256${c.op.sha256 ? ` = ${c.op.sha256}` : ' against the recorded one'} (on this machine)`;
        case 's3-prune':
          return `s3 prune s3://${c.op.bucket}/${c.op.prefix}: keep newest ${c.op.keepLast}${c.op.maxAgeDays === undefined ? '' : `, delete older than ${c.op.maxAgeDays}d`}, never the only verified backup (on this machine)`;
      }
      return 'local';
    case 'edit':
      return `edit ${c.path}: ${describeEdits(c.edits)} (everything else kept byte-for-byte)`;
    case 's3-put':
      return `stream ${c.src} → s3://${c.bucket}/${c.key} (multipart, sha256 on the fly, read back and verified; provenance ${c.key}.json)`;
    case 's3-get':
      return `s3://${c.bucket}/${c.key} → verify sha256${c.sha256 ? ` = ${c.sha256}` : ' (from its metadata)'} → sftp put ${c.dest} → sha256sum on the host`;
  }
}
