/**
 * `runbook facts -i INVENTORY`: connects read-only and prints, per host, the etcd settings its manifest or
 * unit gives and where from (a table; -o json), with any disagreement with the inventory. `--write-inventory
 * FILE` writes the inventory again with the discovered values, for the SRE to review and commit.
 */
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { parseDocument } from 'yaml';
import { driftMessage, type Drift, mergeFacts } from '../engine/etcd-facts.js';
import { gatherFacts } from '../engine/gather-facts.js';
import { resolveLimit } from '../engine/select-hosts.js';
import type { HostFacts } from '../facts/host-etcd.js';
import { etcdDefaults, loadInventory } from '../load/load-inventory.js';
import { formatProblem } from '../load/problem.js';
import type { Inventory } from '../model/inventory.js';
import { formatTable } from '../report/table.js';
import { makeStyle } from '../report/style.js';
import { SshTransport } from '../transport/ssh.js';
import type { CliArgs } from './args.js';
import type { Io } from './run-command.js';
import { inventoryOptions, transportOptions } from './ssh-options.js';

/** What `--write-inventory` writes per host (the inventory then gives them: a later run checks them against the host). */
const WRITTEN = ['style', 'name', 'data_dir', 'client_url', 'peer_url', 'cacert', 'cert', 'key', 'apiserver_url', 'controller_manager_url', 'scheduler_url'] as const;

interface HostReport {
  host: string;
  address: string;
  ok: boolean;
  error?: string | undefined;
  facts?: HostFacts | undefined;
  drift: Drift[];
}

function json(reports: HostReport[], inv: Inventory): unknown {
  return {
    cluster: inv.cluster,
    inventory: inv.file,
    hosts: reports.map((r) => ({
      host: r.host,
      address: r.address,
      ok: r.ok,
      ...(r.error ? { error: r.error } : {}),
      ...(r.facts
        ? {
            stopped: r.facts.stopped,
            settings: Object.fromEntries(Object.entries(r.facts.settings).map(([k, f]) => [k, { value: f.value, file: f.at.file, line: f.at.line, ...(f.why ? { why: f.why } : {}) }])),
            info: Object.fromEntries(Object.entries(r.facts.info).map(([k, f]) => [k, { value: f.value, file: f.at.file, line: f.at.line }])),
          }
        : {}),
      drift: r.drift.map((d) => ({ setting: d.setting, inventory: d.inventory, inventoryAt: d.inventoryAt, host: d.hostValue, hostAt: d.hostAt ? `${d.hostAt.file}:${d.hostAt.line}` : undefined, message: driftMessage(d) })),
    })),
  };
}

function text(reports: HostReport[], io: Io, verbose: boolean): string {
  const c = makeStyle(io.stdout, io.env);
  const out: string[] = [];
  for (const r of reports) {
    if (!r.facts) {
      out.push(`${c.bold(r.host)} (${r.address}): ${c.red(r.error ?? 'no facts')}`, '');
      continue;
    }
    const f = r.facts;
    out.push(`${c.bold(r.host)} (${r.address}): ${f.settings.style?.value ?? '?'}${f.stopped ? c.yellow(' (etcd stopped: manifest found stashed)') : ''}`);
    const drifted = new Set(r.drift.map((d) => d.setting));
    const rows = [
      ...Object.entries(f.settings).map(([k, v]) => [
        { text: k },
        { text: v.value, tone: drifted.has(k) ? ('bad' as const) : undefined },
        { text: `${v.at.file}:${v.at.line}${v.why ? ` (${v.why})` : ''}`, tone: 'dim' as const },
      ]),
      // the other flags read (initial cluster, server and peer certificates): with -v
      ...Object.entries(verbose ? f.info : {}).map(([k, v]) => [{ text: k, tone: 'dim' as const }, { text: v.value, tone: 'dim' as const }, { text: `${v.at.file}:${v.at.line}`, tone: 'dim' as const }]),
    ];
    out.push(formatTable(['setting', 'value', 'from'], rows, c).trimEnd().replace(/^/gm, '  '));
    for (const d of r.drift) out.push(c.red(`  DRIFT ${driftMessage(d)}`));
    out.push('');
  }
  return `${out.join('\n')}`;
}

/** The inventory file again, each host's etcd block holding the discovered values (comments and the rest kept). */
function inventoryWithFacts(inv: Inventory, reports: HostReport[]): string {
  const doc = parseDocument(readFileSync(inv.file, 'utf8'));
  for (const r of reports) {
    if (!r.facts) continue;
    const h = inv.hosts.find((x) => x.name === r.host);
    const style = r.facts.settings.style?.value === 'systemd' ? 'systemd' : 'static-pod';
    for (const k of WRITTEN) {
      const f = r.facts.settings[k];
      if (f) doc.setIn(['hosts', r.host, 'etcd', k], f.value);
    }
    // a unit or manifest somewhere else than the layout's default is written too
    const m = r.facts.settings.manifest;
    if (m && h && m.value !== etcdDefaults(h.name, h.address, style).manifest) doc.setIn(['hosts', r.host, 'etcd', 'manifest'], m.value);
  }
  return `# etcd settings read from the hosts by runbook facts (${new Date().toISOString()}): review, then commit\n${doc.toString()}`;
}

export async function factsCommand(args: CliArgs, io: Io): Promise<number> {
  if (!args.inventory) {
    io.stderr.write('runbook: facts needs an inventory: runbook facts -i INVENTORY\n');
    return 2;
  }
  const loaded = loadInventory(args.inventory, inventoryOptions(args, io.env));
  if (!loaded.ok) {
    for (const p of loaded.problems) io.stderr.write(`${formatProblem(p)}\n`);
    return 2;
  }
  const inv = loaded.value;
  const limit = resolveLimit(args.limit, inv);
  if (!limit.ok) {
    io.stderr.write(`runbook: ${limit.message}\n`);
    return 2;
  }
  if (args.writeInventory && existsSync(args.writeInventory) && !args.force) {
    io.stderr.write(`runbook: --write-inventory ${args.writeInventory} exists: give another file (or --force to replace it)\n`);
    return 2;
  }
  const hosts = inv.hosts.filter((h) => !h.down && (limit.limit === undefined || limit.limit.has(h.name)));
  const transport = new SshTransport(transportOptions(args, args.acceptNewHostKeys));
  const reports: HostReport[] = [];
  try {
    const conns = await Promise.all(hosts.map(async (h) => ({ h, r: await transport.connect(h) })));
    const up = conns.filter((x) => x.r.ok).map((x) => x.h);
    const got = await gatherFacts(up, transport);
    for (const { h, r } of conns) {
      const failed = got.failed.find((l) => l.startsWith(`${h.name}: `));
      const facts = got.facts[h.name];
      const merged = facts ? mergeFacts({ ...inv, hosts: [h] }, { [h.name]: facts }) : undefined;
      reports.push({
        host: h.name,
        address: h.address,
        ok: facts !== undefined && merged?.ok === true,
        error: !r.ok ? r.message : failed?.slice(h.name.length + 2) ?? (merged && !merged.ok ? merged.problems.join('; ') || undefined : undefined),
        facts,
        drift: merged && !merged.ok ? merged.drift : [],
      });
    }
  } finally {
    await transport.close();
  }
  for (const h of inv.hosts.filter((x) => x.down)) io.stderr.write(`${h.name}: marked down in the inventory: not contacted\n`);
  if (args.output === 'json') io.stdout.write(`${JSON.stringify(json(reports, inv), null, 2)}\n`);
  else io.stdout.write(text(reports, io, args.verbose));
  if (args.writeInventory) {
    writeFileSync(args.writeInventory, inventoryWithFacts(inv, reports), { mode: 0o644 });
    const check = loadInventory(args.writeInventory, inventoryOptions(args, io.env));
    io.stderr.write(check.ok ? `inventory with the hosts' etcd settings written to ${args.writeInventory}: review it, then commit it\n` : `runbook: the inventory written to ${args.writeInventory} does not load:\n${check.problems.map(formatProblem).join('\n')}\n`);
    if (!check.ok) return 1;
  }
  return reports.every((r) => r.ok) ? 0 : 1;
}
