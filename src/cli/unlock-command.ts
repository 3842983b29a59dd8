import { sh } from '../shell/build.js';
import { hostname, userInfo } from 'node:os';
import { join, resolve } from 'node:path';
import { Journal } from '../engine/journal.js';
import { forceUnlock } from '../engine/lock.js';
import { loadInventory } from '../load/load-inventory.js';
import { inventoryOptions, transportOptions } from './ssh-options.js';
import { formatProblem } from '../load/problem.js';
import { SshTransport } from '../transport/ssh.js';
import { checkBecome } from '../engine/check-become.js';
import type { CliArgs } from './args.js';
import { askToType } from './prompt.js';
import { type Io, newRunId, runsDirOf } from './run-command.js';

/** `runbook unlock`: show who holds the cluster lock; with --force remove it after the operator types the cluster name. Journaled. */
export async function unlock(args: CliArgs, io: Io): Promise<number> {
  if (!args.inventory) {
    io.stderr.write('runbook: give an inventory with -i INVENTORY\n');
    return 2;
  }
  const inv = loadInventory(args.inventory, inventoryOptions(args, io.env));
  if (!inv.ok) {
    for (const p of inv.problems) io.stderr.write(`${formatProblem(p)}\n`);
    return 2;
  }
  const hosts = inv.value.hosts.filter((h) => !h.down);
  const transport = new SshTransport(transportOptions(args, false));
  try {
    // the lock is root's: without a working sudo -n, "nothing shown" would read as "not locked"
    const reachable = (await Promise.all(hosts.map(async (h) => ((await transport.connect(h)).ok ? [h] : [])))).flat();
    const become = await checkBecome(reachable, undefined, transport);
    if (!become.ok) {
      for (const r of become.refused) io.stderr.write(`runbook: ${r.message}\n`);
      io.stderr.write(`runbook: refused: ${become.summary}; the lock is unchanged\n`);
      return 1;
    }
    if (!args.force) {
      for (const h of hosts) {
        const r = await transport.exec(h, sh`cat ${`${h.etcd.stashDir}/lock/owner.json`} 2>/dev/null || echo unlocked`, { root: true });
        io.stdout.write(`${h.name}: ${r.kind === 'exited' ? r.stdout.trim() : `unreachable: ${r.message}`}\n`);
      }
      return 0;
    }
    const yes = args.yes || (await askToType(`Remove the cluster lock of ${inv.value.cluster} whoever holds it? Type the cluster name`, inv.value.cluster, io.stdin, io.stdout));
    if (!yes) {
      io.stderr.write('runbook: not confirmed; the lock is unchanged\n');
      return 1;
    }
    const runId = newRunId();
    const journal = new Journal(join(runsDirOf(args, io.env), runId));
    const started = new Date().toISOString();
    journal.write({
      type: 'run.start',
      meta: { runId, playbook: 'unlock --force', playbookFile: '(unlock)', inventoryFile: resolve(inv.value.file), cluster: inv.value.cluster, user: userInfo().username, machine: hostname(), pid: process.pid, argv: io.argv, git: { commit: undefined, dirty: undefined }, dryRun: false, hosts: hosts.map((h) => h.name), lockHosts: hosts.map((h) => h.name), startedAt: started, extraVars: {}, limit: undefined, tags: undefined, playbookSha256: '', inventorySha256: '' },
    });
    const removed = await forceUnlock(hosts, transport);
    let failed = false;
    for (const r of removed) {
      const msg = r.error ? `${r.host}: could not remove the lock: ${r.error}` : r.removed ? `${r.host}: removed lock held by ${r.removed}` : `${r.host}: was not locked`;
      if (r.error) failed = true;
      journal.write({ type: 'log', level: r.error ? 'error' : 'warn', message: msg });
      io.stdout.write(`${msg}\n`);
    }
    journal.write({ type: 'run.end', status: failed ? 'needs_attention' : 'ok', exitCode: failed ? 3 : 0, failedStep: undefined, message: 'unlock --force', durationMs: 0 });
    journal.close();
    return failed ? 3 : 0;
  } finally {
    await transport.close();
  }
}
