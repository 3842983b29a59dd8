import { type FactsResult, factsCommand, type HostFacts, parseFacts } from '../facts/host-etcd.js';
import type { EtcdSettings, Host } from '../model/inventory.js';
import type { Transport } from '../transport/transport.js';
import { factPaths } from './etcd-facts.js';

/** Deadline of the facts command on a host: it only reads a few files. */
const FACTS_DEADLINE_S = 30;

/** One host's facts: the one read-only command (as root where become applies), then the pure parse. */
export async function hostFacts(h: Host, transport: Transport): Promise<FactsResult> {
  const paths = factPaths(h);
  const r = await transport.exec(h, factsCommand(paths), { root: true, deadlineS: FACTS_DEADLINE_S });
  if (r.kind !== 'exited') return { ok: false, message: `reading its etcd settings failed: ${r.message}` };
  if (r.code !== 0) return { ok: false, message: `reading its etcd settings failed (exit ${r.code ?? r.signal}): ${r.stderr.trim().split('\n').slice(-2).join(' ') || 'no message'}` };
  return parseFacts(r.stdout, paths, h.etcdGiven?.['style']?.value as EtcdSettings['style'] | undefined);
}

/** Facts of every host at once (connections already open): the found ones, and a message per host that gave none. */
export async function gatherFacts(hosts: Host[], transport: Transport): Promise<{ facts: Record<string, HostFacts>; failed: string[] }> {
  const results = await Promise.all(hosts.map(async (h) => ({ h, r: await hostFacts(h, transport) })));
  const facts: Record<string, HostFacts> = {};
  const failed: string[] = [];
  for (const { h, r } of results) {
    if (r.ok) facts[h.name] = r.facts;
    else failed.push(`${h.name}: ${r.message}${r.at ? ` (${r.at.file}:${r.at.line})` : ''}`);
  }
  return { facts, failed };
}
