import type { Host } from '../model/inventory.js';
import type { Transport } from '../transport/transport.js';
import { sh } from '../shell/build.js';

export interface LockOwner {
  runId: string;
  user: string;
  machine: string;
  pid: number;
  playbook: string;
  since: string;
}

export type LockResult =
  | { ok: true; held: Host[] }
  | { ok: false; message: string; holder: LockOwner | undefined; stale: boolean };

const lockDir = (h: Host) => `${h.etcd.stashDir}/lock`;

/** A run that held the lock from this machine and whose process is gone left a stale lock. */
export function isStale(owner: LockOwner, machine: string, alive: (pid: number) => boolean): boolean {
  return owner.machine === machine && !alive(owner.pid);
}

export function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

function describeOwner(o: LockOwner | undefined): string {
  if (!o) return 'an unknown holder (no owner.json)';
  return `run ${o.runId} of ${o.playbook} by ${o.user}@${o.machine} (pid ${o.pid}) since ${o.since}`;
}

type HostTake = { ok: true } | { ok: false; message: string; holder: LockOwner | undefined; stale: boolean };

/** Take the lock on one host: `mkdir` is atomic; a held lock is read to say by whom (and whether it is stale). */
async function takeOn(h: Host, owner: LockOwner, transport: Transport, machine: string, takeOverRunId: string | undefined): Promise<HostTake> {
  const dir = lockDir(h);
  const json = JSON.stringify(owner);
  const r = await transport.exec(h, sh`mkdir -p ${h.etcd.stashDir} && mkdir ${dir} 2>/dev/null && printf '%s\\n' ${json} > ${`${dir}/owner.json`}`, { root: true });
  if (r.kind === 'exited' && r.code === 0) return { ok: true };
  if (r.kind !== 'exited') return { ok: false, message: `cannot take the cluster lock on ${h.name}: ${r.message}`, holder: undefined, stale: false };
  const read = await transport.exec(h, sh`cat ${`${dir}/owner.json`} 2>/dev/null`, { root: true });
  let holder: LockOwner | undefined;
  try {
    holder = read.kind === 'exited' && read.code === 0 ? (JSON.parse(read.stdout) as LockOwner) : undefined;
  } catch {
    holder = undefined;
  }
  const stale = holder !== undefined && isStale(holder, machine, pidAlive);
  // resume/rollback of the very run that died may take its own stale lock over, nothing else
  if (stale && holder && takeOverRunId !== undefined && holder.runId === takeOverRunId) {
    const w = await transport.exec(h, sh`printf '%s\\n' ${JSON.stringify(owner)} > ${`${dir}/owner.json`}`, { root: true });
    if (w.kind === 'exited' && w.code === 0) return { ok: true };
  }
  const message = stale
    ? `the cluster lock on ${h.name} is STALE: held by ${describeOwner(holder)}, whose process is gone. That run may have left hosts changed: finish it with runbook rollback ${holder?.runId} (or runbook resume ${holder?.runId}); only if its journal (runbook runs show ${holder?.runId}) shows nothing is owed, free it with: runbook unlock -i INVENTORY --force`
    : `the cluster is locked: ${h.name} is held by ${describeOwner(holder)}. Wait for it to finish; if it is dead, see runbook runs and runbook unlock --force`;
  return { ok: false, message, holder, stale };
}

/**
 * Take the cluster lock on every master, all hosts at once: `mkdir` is atomic on each host. If any host
 * refuses, someone else holds it there, and whatever this run took is given back (two runs racing may
 * then both be refused: safe, and said). Nothing is ever stolen.
 */
export async function acquireLock(hosts: Host[], owner: LockOwner, transport: Transport, machine: string, takeOverRunId?: string): Promise<LockResult> {
  const takes = await Promise.all(hosts.map((h) => takeOn(h, owner, transport, machine, takeOverRunId)));
  const held = hosts.filter((_, i) => takes[i]?.ok);
  const refused = takes.find((t): t is Extract<HostTake, { ok: false }> => !t.ok);
  if (!refused) return { ok: true, held };
  await releaseLock(held, owner.runId, transport);
  return refused;
}

/** Give the lock back where this run holds it (the owner file must name this run). */
export async function releaseLock(hosts: Host[], runId: string, transport: Transport): Promise<void> {
  await Promise.all(
    hosts.map((h) => {
      const dir = lockDir(h);
      return transport.exec(h, sh`if grep -q ${`"runId":"${runId}"`} ${`${dir}/owner.json`} 2>/dev/null; then rm -f ${`${dir}/owner.json`} && rmdir ${dir}; fi`, { root: true });
    }),
  );
}

/** runbook unlock --force: remove the lock whoever holds it; returns what was removed per host. */
export async function forceUnlock(hosts: Host[], transport: Transport): Promise<{ host: string; removed: string | undefined; error: string | undefined }[]> {
  return Promise.all(
    hosts.map(async (h) => {
      const dir = lockDir(h);
      const r = await transport.exec(h, sh`if [ -d ${dir} ]; then cat ${`${dir}/owner.json`} 2>/dev/null || echo '(no owner.json)'; rm -rf -- ${dir}; fi`, { root: true });
      if (r.kind !== 'exited') return { host: h.name, removed: undefined, error: r.message };
      if (r.code !== 0) return { host: h.name, removed: undefined, error: r.stderr.trim() };
      return { host: h.name, removed: r.stdout.trim() || undefined, error: undefined };
    }),
  );
}
