import { dirname } from 'node:path';
import type { Inventory } from '../model/inventory.js';
import type { Playbook, SourcePos } from '../model/playbook.js';
import { ExpressionError } from '../template/expression.js';
import { filterItems, type ItemFilter } from './filter-items.js';
import { type HostStepPlan, planStepOnHost } from './plan-step.js';
import { buildScope, type RunInfo } from './scope.js';
import { renderValue } from '../template/render.js';
import { expandNames, selectHosts } from './select-hosts.js';

export type PlanEntry =
  | { kind: 'rollback_point'; name: string; index: number }
  | { kind: 'skipped'; name: string; index: number; reason: string }
  | {
      kind: 'step';
      name: string;
      index: number;
      action: string;
      serial: number | undefined;
      runOnce: boolean;
      retries: number;
      until: string | undefined;
      down: string[];
      hosts: HostStepPlan[];
    };

export interface Plan {
  playbook: string;
  cluster: string;
  runId: string;
  entries: PlanEntry[];
  /** Steps that could not be planned (bad rendered value): a run would refuse to start. */
  errors: { step: string; host: string; message: string; pos: SourcePos }[];
}

export interface PlanInput extends ItemFilter {
  playbook: Playbook;
  inventory: Inventory;
  extraVars: Record<string, unknown>;
  limit: Set<string> | undefined;
  run: RunInfo;
}

/** The dry run: pure, connects nowhere. Values registered at run time show as placeholders. */
export function makePlan(input: PlanInput): { ok: true; plan: Plan } | { ok: false; message: string } {
  const { playbook, inventory } = input;
  const filtered = filterItems(playbook, input);
  if (!filtered.ok) return filtered;
  const cluster = expandNames([playbook.hosts], inventory);
  const first = inventory.hosts[0];
  const hostTemplate = (t: string) =>
    first ? renderValue(t, buildScope({ playbook, inventory, host: first, run: input.run, extraVars: input.extraVars, registered: {}, cluster }), { mode: 'text' }) : t;
  const deferred = new Set<string>();
  for (const i of playbook.items) if (i.kind === 'step' && i.register) deferred.add(i.register);
  const entries: PlanEntry[] = [];
  const errors: Plan['errors'] = [];
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
    const hosts = sel.hosts.map((host) => {
      const scope = buildScope({ playbook, inventory, host, run: input.run, extraVars: input.extraVars, registered: {}, cluster });
      const p = planStepOnHost({ step: item, stepIndex: index, host, cluster, inventory, scope, runId: input.run.id, baseDir: dirname(playbook.file), deferred });
      if (p.kind === 'error') errors.push({ step: item.name, host: host.name, message: p.message, pos: item.pos });
      return p;
    });
    entries.push({
      kind: 'step',
      name: item.name,
      index,
      action: item.action,
      serial: item.serial,
      runOnce: item.runOnce,
      retries: item.retries,
      until: item.until,
      down: sel.down.map((h) => h.name),
      hosts,
    });
  }
  return { ok: true, plan: { playbook: playbook.name, cluster: inventory.cluster, runId: input.run.id, entries, errors } };
}
