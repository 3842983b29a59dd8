import type { ActionPlan } from '../model/command.js';
import type { Host, Inventory } from '../model/inventory.js';
import type { Step } from '../model/playbook.js';
import type { Shell } from '../model/shell.js';
import type { EtcdCommands } from './etcd-version.js';

export interface ActionContext {
  host: Host;
  /** The etcd members: hosts of the playbook's target group, in inventory order (down ones included). */
  cluster: Host[];
  inventory: Inventory;
  step: Step;
  stepIndex: number;
  runId: string;
  /** Directory of the playbook file, for local paths. */
  baseDir: string;
  /** Undo command of the step, already rendered (shell/command only). */
  undo: Shell | undefined;
  /** For a `versioned` action: the etcd command set this plan is for (one plan per set, chosen by the run). */
  etcd: EtcdCommands;
}

/** What an action returns: a plan, or a problem with the arguments (data, not an exception). */
export type PlanResult = { ok: true; plan: ActionPlan } | { ok: false; message: string };

export interface Action<A = Record<string, unknown>> {
  name: string;
  /** `always`/`never`: fixed; `declared`: the step says (shell/command: changes + undo). */
  changes: 'always' | 'never' | 'declared';
  /** Argument keys rendered as shell text (each interpolation quoted); all others are plain values. */
  shellArgs: readonly string[];
  /** Runs on the jump host: executed once per step, never per host. */
  runOnce?: boolean;
  /** Its commands are guarded so that running it twice is safe (resume after a crash). */
  repeatable?: boolean;
  /**
   * Arguments that may hold values known only at run time (references the run fills in). Any other
   * argument must be known when planning: a run-time value there is a plan error.
   */
  runtimeArgs?: readonly string[];
  /** Default deadline of each of its commands, in seconds (else the engine's default). */
  timeoutS?: number;
  /**
   * Its commands depend on the etcd version: it is planned once per command set (3.4, 3.5, 3.6) and the
   * run takes the plan for the version the playbook's earlier `etcd.tools` step found on that host. An
   * argument `version` forces one set instead.
   */
  versioned?: boolean;
  plan(args: A, ctx: ActionContext): PlanResult;
}

export function ok(plan: ActionPlan): PlanResult {
  return { ok: true, plan };
}

export function refuse(message: string): PlanResult {
  return { ok: false, message };
}

/** A per-run, per-step directory on the host for backups an undo needs; outside any manifests dir. */
export function backupDir(ctx: ActionContext): string {
  return `${ctx.host.etcd.stashDir}/runs/${ctx.runId}/${String(ctx.stepIndex + 1).padStart(2, '0')}-${slug(ctx.step.name)}`;
}

/** Where etcd.stage_restore puts a restored member for this run (inside the data dir's own filesystem). */
export function stagedDir(ctx: ActionContext, dataDir = ctx.host.etcd.dataDir): string {
  return `${dataDir}/.restore-${ctx.runId}`;
}

export function slug(s: string): string {
  return s.toLowerCase().replace(/[^a-z0-9]+/g, '-').replace(/^-|-$/g, '').slice(0, 40) || 'step';
}

/** A true/false argument (a template renders it as text; '' is unset): the value, or why it is refused. */
export function boolArg(v: unknown, name: string): boolean | string {
  if (v === undefined || v === '' || v === false || v === 'false') return false;
  if (v === true || v === 'true') return true;
  return `${name} must be true or false, got ${String(v)}`;
}

/** A remote path must be absolute and have no '..' segment. */
export function checkPath(p: unknown, what: string): string | undefined {
  if (typeof p !== 'string' || p === '') return `${what} must be a non-empty path`;
  if (!p.startsWith('/')) return `${what} '${p}' must be an absolute path`;
  if (p.split('/').includes('..')) return `${what} '${p}' must not contain '..': give the real absolute path`;
  if (p.includes('\n') || p.includes('\0')) return `${what} must not contain newlines or NUL`;
  return undefined;
}
