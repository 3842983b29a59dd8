/**
 * Facts in a run or a plan: whether the program depends on the hosts' etcd settings, and reading them
 * (connect with verified host keys, one read-only command per host, all at once) merged into the
 * inventory, drift refused. Nothing here changes a host.
 */
import { driftMessage, mergeFacts, watchedInventory } from '../engine/etcd-facts.js';
import { gatherFacts } from '../engine/gather-facts.js';
import { makePlan, type PlanInput } from '../engine/plan.js';
import type { HostFacts } from '../facts/host-etcd.js';
import type { Host, Inventory } from '../model/inventory.js';
import type { Transport } from '../transport/transport.js';

/**
 * The program depends on the hosts' etcd settings when compiling it reads one the inventory does not give
 * (the hosts' facts would fill those in): one compile, of the real program, with those settings watched.
 * A playbook that never uses them (demo-files.yml) needs no facts, so a host without etcd is never asked.
 */
export function dependsOnEtcdSettings(input: PlanInput): boolean {
  let read = false;
  try {
    makePlan({ ...input, inventory: watchedInventory(input.inventory, () => (read = true)) });
  } catch {
    return true;
  }
  return read;
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
