import type { HostSelector, Playbook } from '../model/playbook.js';
import type { Inventory } from '../model/inventory.js';
import { filterItems } from '../engine/filter-items.js';
import { expandNames } from '../engine/select-hosts.js';
import type { CliArgs } from './args.js';
import type { Io } from './run-command.js';

function selector(h: HostSelector, fallback: string): string {
  switch (h.kind) {
    case 'all':
      return fallback;
    case 'first':
      return `first of ${h.of ?? fallback}`;
    case 'names':
      return h.names.join(',');
  }
}

/** `--list-hosts`: the hosts the run targets (after --limit), how each is reached; nothing contacted. */
export function listHosts(pb: Playbook, inv: Inventory, limit: Set<string> | undefined, args: CliArgs, io: Io): number {
  const hosts = expandNames([pb.hosts], inv).filter((h) => !limit || limit.has(h.name));
  if (args.output === 'json') {
    io.stdout.write(`${JSON.stringify({ playbook: pb.name, pattern: pb.hosts, limit: args.limit, hosts: hosts.map((h) => ({ name: h.name, address: h.address, port: h.port, user: h.user, down: h.down, style: h.etcd.style, member: h.etcd.name })) })}\n`);
    return 0;
  }
  io.stdout.write(`playbook: ${pb.name} (hosts: ${pb.hosts}${args.limit ? `, --limit ${args.limit}` : ''})\n  hosts (${hosts.length}):\n`);
  for (const h of hosts) io.stdout.write(`    ${h.name}  ${h.user}@${h.address}:${h.port}  etcd ${h.etcd.name} (${h.etcd.style})${h.down ? '  [down: never contacted]' : ''}\n`);
  return 0;
}

/** `--list-tasks`: the steps in order, with tags and targets, and why --tags/--skip-tags/--start-at skip one. */
export function listTasks(pb: Playbook, args: CliArgs, io: Io): number {
  const f = filterItems(pb, { tags: args.tags, skipTags: args.skipTags, startAt: args.startAt });
  if (!f.ok) {
    io.stderr.write(`runbook: ${f.message}\n`);
    return 2;
  }
  const rows = f.items.map(({ item, index, skip }) =>
    item.kind === 'rollback_point'
      ? { index, kind: 'rollback_point' as const, name: item.name, skip }
      : { index, kind: 'step' as const, name: item.name, action: item.action, hosts: item.runOnce ? `one of ${selector(item.hosts, pb.hosts)}` : selector(item.hosts, pb.hosts), tags: item.tags, skip },
  );
  if (args.output === 'json') {
    io.stdout.write(`${JSON.stringify({ playbook: pb.name, steps: rows })}\n`);
    return 0;
  }
  io.stdout.write(`playbook: ${pb.name}\n`);
  for (const r of rows) {
    const n = String(r.index + 1).padStart(3);
    const skip = r.skip ? `  [skipped: ${r.skip}]` : '';
    if (r.kind === 'rollback_point') io.stdout.write(`${n}. -- rollback point: ${r.name}${skip}\n`);
    else io.stdout.write(`${n}. ${r.name}  (${r.action} on ${r.hosts})${r.tags.length ? `  TAGS: [${r.tags.join(', ')}]` : ''}${skip}\n`);
  }
  return 0;
}
