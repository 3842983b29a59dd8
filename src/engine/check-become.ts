import type { Command } from '../model/command.js';
import type { Host } from '../model/inventory.js';
import { sh } from '../shell/build.js';
import type { Transport } from '../transport/transport.js';
import { needsSudo } from '../util/become.js';
import type { Program } from './plan.js';
import type { HostStepPlan, RunPlan } from './plan-step.js';

export type BecomeCheck = { ok: true; checked: string[] } | { ok: false; refused: { host: string; message: string }[]; summary: string };

function runPlans(p: HostStepPlan): RunPlan[] {
  switch (p.kind) {
    case 'run':
      return [p];
    case 'choose':
      return p.cases.map((c) => c.plan);
    case 'skip':
    case 'error':
      return [];
  }
}

function commandsOf(p: RunPlan): Command[] {
  return [...p.commands, ...p.undo, ...(p.partialUndo ?? []).flat(), ...(p.probe ? [p.probe.cmd, ...p.probe.cleanup] : [])];
}

/**
 * The hosts a run reaches through sudo: a non-root user with become (the engine's own commands on it, the
 * lock, transfers, go through sudo), or a step's `become: true` on a host that does not say become.
 */
export function hostsNeedingSudo(hosts: Host[], program: Program | undefined): Host[] {
  const planned = new Set<string>();
  for (const e of program?.entries ?? []) {
    if (e.kind !== 'step') continue;
    for (const p of e.hosts) for (const r of runPlans(p)) if (commandsOf(r).some((c) => c.kind === 'exec' && c.sudo === true)) planned.add(r.host);
  }
  return hosts.filter((h) => needsSudo(h) || (h.user !== 'root' && planned.has(h.name)));
}

/**
 * Before the lock and before any step: `sudo -n true` on every host that needs sudo. `-n` never prompts, so
 * a user without a passwordless rule would otherwise fail at the first privileged command (the lock, then
 * mistaken for a lock held by someone else, or a step mid-run). Reads nothing, changes nothing.
 */
export async function checkBecome(hosts: Host[], program: Program | undefined, transport: Transport): Promise<BecomeCheck> {
  const need = hostsNeedingSudo(hosts, program);
  const results = await Promise.all(
    need.map(async (h) => {
      // wired here, not by the transport: a host without become may still have a step that asks for it
      const r = await transport.exec(h, sh`true`, { wiring: { deadlineS: 30, sudo: true } });
      if (r.kind === 'exited' && r.code === 0) return undefined;
      if (r.kind !== 'exited') return { host: h.name, user: h.user, message: `${h.name}: could not check sudo -n as ${h.user}: ${r.message}` };
      const why = r.stderr.trim().split('\n').at(-1) || `exit ${r.code ?? r.signal}`;
      return { host: h.name, user: h.user, message: `${h.name}: sudo -n as ${h.user} failed: ${why}` };
    }),
  );
  const refused = results.filter((r) => r !== undefined);
  if (refused.length === 0) return { ok: true, checked: need.map((h) => h.name) };
  const users = [...new Set(refused.map((r) => r.user))].join(', ');
  const summary = `become on ${refused.map((r) => r.host).join(', ')} needs a passwordless sudo rule for ${users} (sudo -n never prompts; e.g. "${refused[0]?.user} ALL=(root) NOPASSWD: ALL" in /etc/sudoers.d), or log in as root`;
  return { ok: false, refused: refused.map(({ host, message }) => ({ host, message })), summary };
}
