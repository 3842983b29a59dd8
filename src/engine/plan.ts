import { dirname } from 'node:path';
import { findAction } from '../actions/registry.js';
import type { HostFacts } from '../facts/host-etcd.js';
import type { Inventory } from '../model/inventory.js';
import type { Playbook, SourcePos, Step } from '../model/playbook.js';
import { isCat, isRef } from '../shell/build.js';
import { ExpressionError, readPaths, UndefinedNameError } from '../template/expression.js';
import { templateExpressions } from '../template/render.js';
import { filterItems, type ItemFilter } from './filter-items.js';
import { type HostStepPlan, planStepOnHost } from './plan-step.js';
import { buildScope, type RunInfo } from './scope.js';
import { renderValue } from '../template/render.js';
import { expandNames, selectHosts } from './select-hosts.js';
import { isRepeatable } from './repeatable.js';

/** How a step runs across its hosts and attempts: everything the run needs besides the commands. */
export interface StepControls {
  register: string | undefined;
  /** run_once and jump-host steps: every host of the inventory sees the one result (as with Ansible). */
  shareResult: boolean;
  /** Runs on this machine, once, not per host. */
  jumpHost: boolean;
  serial: number | undefined;
  retries: number;
  delaySeconds: number;
  until: string | undefined;
  ignoreErrors: boolean;
  /** Safe to run again after a crash interrupted it. */
  repeatable: boolean;
}

export type ProgramEntry =
  | { kind: 'rollback_point'; name: string; index: number }
  | { kind: 'skipped'; name: string; index: number; reason: string }
  | {
      kind: 'step';
      name: string;
      index: number;
      action: string;
      pos: SourcePos;
      controls: StepControls;
      down: string[];
      hosts: HostStepPlan[];
    };

/**
 * The compiled run: every step × host × command with its undo, the rollback points, and typed holes for
 * the values only the run knows. `plan` shows it; `run` executes exactly it and only fills the holes.
 */
export interface Program {
  playbook: string;
  cluster: string;
  runId: string;
  entries: ProgramEntry[];
  /** Secret variables: referenced by name in the program, their values given to the run, never stored. */
  secrets: string[];
  /** Steps that could not be planned (bad rendered value): a run would refuse to start. */
  errors: { step: string; host: string; message: string; pos: SourcePos }[];
  /** How each host that may be contacted is reached over ssh (from the inventory, the CLI and the ssh config). */
  connections?: Connection[];
  /**
   * Where the hosts' etcd settings came from, when the program depends on them: the inventory (and
   * kubeadm's defaults) unchecked, or the hosts' own manifests and units ('hosts', with `facts`).
   */
  settingsFrom?: 'inventory' | 'hosts' | undefined;
  /** The facts it was compiled with, per host (a run of it checks them again before any step). */
  facts?: Record<string, HostFacts> | undefined;
}

export interface Connection {
  host: string;
  /** user@address:port */
  target: string;
  /** The jump hosts in order, each as `name (user@address:port)`. */
  via: string[];
  /** The ssh config the route was resolved with ('' = none). */
  config: string;
  /** The host's key files, tried in order, and whether ssh-agent is offered too. */
  keys: string[];
  agent: boolean;
}

function endpointText(e: { user: string; address: string; port: number }): string {
  return `${e.user}@${e.address.includes(':') ? `[${e.address}]` : e.address}:${e.port}`;
}

/** The routes of the hosts the run may contact (within --limit, not down). */
export function connectionsOf(inventory: Inventory, limit: Set<string> | undefined): Connection[] {
  return inventory.hosts
    .filter((h) => !h.down && (limit === undefined || limit.has(h.name)))
    .map((h) => ({
      host: h.name,
      target: endpointText(h.ssh),
      via: h.ssh.jumps.map((j) => `${j.name} (${endpointText(j)})`),
      config: h.ssh.configFile,
      keys: h.ssh.identityFiles,
      agent: h.ssh.agent !== undefined,
    }));
}

export type Plan = Program;
export type PlanEntry = ProgramEntry;

export interface PlanInput extends ItemFilter {
  playbook: Playbook;
  inventory: Inventory;
  extraVars: Record<string, unknown>;
  limit: Set<string> | undefined;
  run: RunInfo;
  defaultTimeoutS?: number | undefined;
  settingsFrom?: Program['settingsFrom'];
  facts?: Program['facts'];
}

export function secretNames(playbook: Playbook): Set<string> {
  return new Set(Object.entries(playbook.params).filter(([, p]) => p.secret).map(([k]) => k));
}

function controlsOf(step: Step): StepControls {
  const jumpHost = findAction(step.action)?.runOnce === true;
  return {
    register: step.register,
    shareResult: step.runOnce || jumpHost,
    jumpHost,
    serial: step.serial,
    retries: step.retries,
    delaySeconds: step.delaySeconds,
    until: step.until,
    ignoreErrors: step.ignoreErrors,
    repeatable: isRepeatable(step),
  };
}

/** Names of registered results a step reads (for a clear error when a host will not have one). */
function registeredReads(step: Step, registeredBy: Map<string, { step: string; hosts: string[] }>): string[] {
  const texts: string[] = [];
  const collect = (v: unknown): void => {
    if (typeof v === 'string') texts.push(...templateExpressions(v));
    else if (Array.isArray(v)) v.forEach(collect);
    else if (v && typeof v === 'object') Object.values(v).forEach(collect);
  };
  collect(step.args);
  if (step.undo) texts.push(...templateExpressions(step.undo));
  if (step.when) texts.push(step.when);
  const out = new Set<string>();
  for (const t of texts) {
    try {
      for (const [root] of readPaths(t)) if (root && registeredBy.has(root)) out.add(root);
    } catch {
      // not parseable: the planner reports it
    }
  }
  return [...out];
}

/** Compile the playbook for this inventory and these variables. Pure: connects nowhere. */
export function makePlan(input: PlanInput): { ok: true; plan: Program } | { ok: false; message: string } {
  const { playbook, inventory } = input;
  const filtered = filterItems(playbook, input);
  if (!filtered.ok) return filtered;
  const cluster = expandNames([playbook.hosts], inventory);
  const secrets = secretNames(playbook);
  // which registered results each host will hold, step by step, as the run will register them
  const holds = new Map<string, Set<string>>(inventory.hosts.map((h) => [h.name, new Set<string>()]));
  const registeredBy = new Map<string, { step: string; hosts: string[] }>();
  // the latest etcd.tools step so far: what a versioned action is chosen by
  let toolsRegister: string | undefined;
  const scopeFor = (host: Inventory['hosts'][number]) => {
    const planning = { runtime: holds.get(host.name) ?? new Set<string>(), secrets };
    return { planning, scope: buildScope({ playbook, inventory, host, run: input.run, extraVars: input.extraVars, registered: {}, cluster, planning }) };
  };
  // a variable that cannot be rendered on some host (a filter given the wrong type, a name only some hosts
  // have) is a problem of the whole run, said before any step: never an exception
  for (const h of inventory.hosts) {
    try {
      scopeFor(h);
    } catch (e) {
      if (e instanceof ExpressionError) return { ok: false, message: `variables on ${h.name}: ${e.message}` };
      throw e;
    }
  }
  const first = inventory.hosts[0];
  const hostTemplate = (t: string) => {
    if (!first) return t;
    const { scope, planning } = scopeFor(first);
    const v = renderValue(t, scope, planning);
    if (isRef(v) || isCat(v)) throw new ExpressionError(`'${t}' depends on a value known only at run time: the hosts of a step must be known when planning`);
    return v;
  };
  const entries: ProgramEntry[] = [];
  const errors: Program['errors'] = [];
  for (const { item, index, skip } of filtered.items) {
    if (skip) {
      entries.push({ kind: 'skipped', name: item.name, index, reason: skip });
      continue;
    }
    if (item.kind === 'rollback_point') {
      entries.push({ kind: 'rollback_point', name: item.name, index });
      continue;
    }
    let sel: ReturnType<typeof selectHosts>;
    try {
      sel = selectHosts(item, playbook, inventory, input.limit, hostTemplate);
    } catch (e) {
      if (!(e instanceof ExpressionError)) throw e;
      errors.push({ step: item.name, host: '(hosts)', message: `hosts: ${e.message}`, pos: item.pos });
      continue;
    }
    const controls = controlsOf(item);
    const targets = controls.jumpHost ? sel.hosts.slice(0, 1) : sel.hosts;
    const reads = registeredReads(item, registeredBy);
    const hosts = targets.map((host): HostStepPlan => {
      const missing = reads.filter((r) => !holds.get(host.name)?.has(r));
      if (missing.length) {
        const why = missing.map((m) => {
          const by = registeredBy.get(m);
          return `'${m}' is registered by step '${by?.step}' on ${by?.hosts.join(', ') || 'no host'} only`;
        });
        const p: HostStepPlan = { kind: 'error', host: host.name, message: `${why.join('; ')}: ${host.name} will not have it. Run that step with run_once: true to share its result, or aim this step at the same hosts` };
        errors.push({ step: item.name, host: host.name, message: p.message, pos: item.pos });
        return p;
      }
      const { scope, planning } = scopeFor(host);
      let p: HostStepPlan;
      try {
        const etcdTools = toolsRegister !== undefined && holds.get(host.name)?.has(toolsRegister) ? toolsRegister : undefined;
        p = planStepOnHost({ step: item, stepIndex: index, host, cluster, inventory, scope, render: planning, runId: input.run.id, baseDir: dirname(playbook.file), defaultTimeoutS: input.defaultTimeoutS, etcdTools });
      } catch (e) {
        if (!(e instanceof UndefinedNameError)) throw e;
        p = { kind: 'error', host: host.name, message: e.message };
      }
      if (p.kind === 'error') errors.push({ step: item.name, host: host.name, message: p.message, pos: (p.arg !== undefined ? item.argPos?.[p.arg] : undefined) ?? item.pos });
      return p;
    });
    if (controls.register) {
      const receivers = controls.shareResult ? inventory.hosts.map((h) => h.name) : hosts.filter((h) => h.kind !== 'error').map((h) => h.host);
      for (const r of receivers) holds.get(r)?.add(controls.register);
      registeredBy.set(controls.register, { step: item.name, hosts: receivers });
    }
    if (item.action === 'etcd.tools' && controls.register) toolsRegister = controls.register;
    entries.push({ kind: 'step', name: item.name, index, action: item.action, pos: item.pos, controls, down: sel.down.map((h) => h.name), hosts });
  }
  return { ok: true, plan: { playbook: playbook.name, cluster: inventory.cluster, runId: input.run.id, entries, secrets: [...secrets], errors, connections: connectionsOf(inventory, input.limit), settingsFrom: input.settingsFrom, facts: input.facts } };
}

/** The hosts a program runs steps on, in first-use order (the run's and recovery's preflight targets). */
export function programHostNames(program: Program): string[] {
  const names = new Set<string>();
  for (const e of program.entries) if (e.kind === 'step') for (const h of e.hosts) names.add(h.host);
  return [...names];
}
