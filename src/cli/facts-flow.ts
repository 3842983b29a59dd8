/**
 * Facts in a run or a plan: whether the program depends on the hosts' etcd settings, and reading them
 * (connect with verified host keys, one read-only command per host, all at once) merged into the
 * inventory, drift refused. Nothing here changes a host.
 */
import { driftMessage, mergeFacts, placeholderInventory } from '../engine/etcd-facts.js';
import { gatherFacts } from '../engine/gather-facts.js';
import { makePlan, type PlanInput, type Program } from '../engine/plan.js';
import { programSha256 } from '../engine/saved-plan.js';
import type { HostFacts } from '../facts/host-etcd.js';
import type { Host, Inventory } from '../model/inventory.js';
import type { Transport } from '../transport/transport.js';

/**
 * The program depends on the hosts' etcd settings when compiling it with placeholders for every setting the
 * inventory does not give changes it. A playbook that never uses them (demo-files.yml) needs no facts, so
 * a host without etcd is never asked for them.
 */
export function dependsOnEtcdSettings(input: PlanInput, compiled?: Program): boolean {
  // compiled with placeholders that report being read: a compile that reads none of them cannot depend on
  // them (compiling is a pure function of its input), and there is nothing to compare
  let read = false;
  let probe: ReturnType<typeof makePlan> | undefined;
  try {
    probe = makePlan({ ...input, inventory: placeholderInventory(input.inventory, () => (read = true)) });
  } catch {
    read = true;
  }
  if (!read && probe?.ok) return false;
  const real: ReturnType<typeof makePlan> = compiled ? { ok: true, plan: compiled } : makePlan(input);
  probe = makePlan({ ...input, inventory: placeholderInventory(input.inventory) });
  if (!real.ok || !probe.ok) return real.ok !== probe.ok || (!real.ok && !probe.ok && real.message !== probe.message);
  return programSha256(real.plan) !== programSha256(probe.plan);
}

export type FactsOutcome =
  | { ok: true; inventory: Inventory; facts: Record<string, HostFacts> }
  | { ok: false; lines: string[]; message: string; exitCode: number };

/** Connect to `hosts` (host keys verified), read their etcd facts, merge them into the inventory; refusals as data. */
export async function readFacts(inventory: Inventory, hosts: Host[], transport: Transport): Promise<FactsOutcome> {
  const checks = await Promise.all(hosts.map(async (h) => ({ h, r: await transport.connect(h) })));
  const refused = checks.flatMap((c) => (c.r.ok ? [] : [{ h: c.h, message: c.r.message, hostKey: c.r.hostKey }]));
  if (refused.length) {
    const hostKey = refused.some((c) => c.hostKey);
    const why = hostKey ? 'failed host-key verification' : 'unreachable (mark a dead host down: true in the inventory, or leave it out with --limit)';
    return { ok: false, lines: refused.map((c) => `${c.h.name}: ${c.message}`), message: `${refused.map((c) => c.h.name).join(', ')} ${why}`, exitCode: hostKey ? 2 : 1 };
  }
  const got = await gatherFacts(hosts, transport);
  if (got.failed.length) return { ok: false, lines: got.failed, message: `the etcd settings of ${got.failed.map((l) => l.split(':')[0]).join(', ')} could not be read`, exitCode: 1 };
  const merged = mergeFacts(inventory, got.facts);
  if (!merged.ok) {
    const lines = [...merged.drift.map(driftMessage), ...merged.problems];
    const what = merged.drift.length ? `the inventory disagrees with the hosts on ${merged.drift.length} setting(s) (${merged.drift.map((d) => `${d.host} etcd.${d.setting}`).join(', ')}): correct the inventory, or leave the setting out to take the host's (runbook facts -i ${inventory.file} shows what each host says)` : 'the hosts\' etcd settings cannot be used';
    return { ok: false, lines, message: what, exitCode: 1 };
  }
  return { ok: true, inventory: merged.inventory, facts: got.facts };
}

/** One line per host for the journal: what the run took from it. */
export function factsLine(host: string, f: HostFacts): string {
  const s = f.settings;
  return `${host}: etcd settings read from ${s.style?.at.file ?? '?'} (${s.style?.value ?? '?'}${f.stopped ? ', stopped' : ''}): member ${s.name?.value ?? '?'}, data dir ${s.data_dir?.value ?? '?'}, client ${s.client_url?.value ?? '?'}, peer ${s.peer_url?.value ?? '?'}, client certificate ${s.cert?.value ?? '(the inventory\'s)'}`;
}
