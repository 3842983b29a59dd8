import type { Host, Inventory } from '../model/inventory.js';
import type { Playbook, Step } from '../model/playbook.js';
import { ExpressionError } from '../template/expression.js';

/** Expand group and host names to hosts, in inventory order. */
export function expandNames(names: string[], inv: Inventory): Host[] {
  const wanted = new Set<string>();
  for (const n of names) {
    const g = Object.hasOwn(inv.groups, n) ? inv.groups[n] : undefined;
    if (g) for (const h of g) wanted.add(h);
    else wanted.add(n);
  }
  return inv.hosts.filter((h) => wanted.has(h.name));
}

export interface Selection {
  /** Hosts the step runs on. */
  hosts: Host[];
  /** Hosts the step would have run on but that are marked down. */
  down: Host[];
}

/** Renders a templated host name (`hosts: "{{ vars.member }}"`) to a name or a list of names. */
export type HostTemplate = (template: string) => unknown;

function renderNames(names: string[], render: HostTemplate | undefined, inv: Inventory): string[] {
  return names.flatMap((n) => {
    if (!n.includes('{{') || !render) return [n];
    const v = render(n);
    const out = Array.isArray(v) ? v.map(String) : [String(v)];
    // a typo in a parameter must not quietly select nobody (and skip the step)
    const unknown = out.filter((x) => !Object.hasOwn(inv.groups, x) && !inv.hosts.some((h) => h.name === x));
    if (unknown.length) throw new ExpressionError(`'${n}' names ${unknown.map((u) => `'${u}'`).join(', ')}, which is no host or group of the inventory (hosts: ${inv.hosts.map((h) => h.name).join(', ')})`);
    return out;
  });
}

export function selectHosts(step: Step, pb: Playbook, inv: Inventory, limit: Set<string> | undefined, render?: HostTemplate): Selection {
  let hosts: Host[];
  switch (step.hosts.kind) {
    case 'all':
      hosts = expandNames([pb.hosts], inv);
      break;
    case 'first':
      hosts = expandNames([step.hosts.of ?? pb.hosts], inv);
      break;
    case 'names':
      hosts = expandNames(renderNames(step.hosts.names, render, inv), inv);
      break;
  }
  if (limit) hosts = hosts.filter((h) => limit.has(h.name));
  const down = hosts.filter((h) => h.down);
  hosts = hosts.filter((h) => !h.down);
  if (step.hosts.kind === 'first' || step.runOnce) hosts = hosts.slice(0, 1);
  return { hosts, down };
}

/** --limit accepts host and group names, comma-separated. Unknown names are returned as problems. */
export function resolveLimit(spec: string | undefined, inv: Inventory, targets?: Set<string>): { ok: true; limit: Set<string> | undefined } | { ok: false; message: string } {
  if (spec === undefined) return { ok: true, limit: undefined };
  const names = spec.split(',').map((s) => s.trim()).filter(Boolean);
  // an empty selection would run nothing and say OK: a typo, never what was meant
  if (names.length === 0) return { ok: false, message: `--limit '${spec}' names no host: give host or group names, comma-separated (or leave --limit out)` };
  const unknown = names.filter((n) => !Object.hasOwn(inv.groups, n) && !inv.hosts.some((h) => h.name === n));
  if (unknown.length) return { ok: false, message: `--limit: unknown host or group ${unknown.map((u) => `'${u}'`).join(', ')} (hosts: ${inv.hosts.map((h) => h.name).join(', ')})` };
  const limit = new Set(expandNames(names, inv).map((h) => h.name));
  if (targets && ![...limit].some((h) => targets.has(h)))
    return { ok: false, message: `--limit ${names.join(',')} selects no host this playbook targets (${[...targets].join(', ')}): nothing would run; limit to hosts it targets, or leave --limit out` };
  return { ok: true, limit };
}
