import type { Command } from '../model/command.js';
import type { Host } from '../model/inventory.js';
import { shellQuote as q } from '../util/shell-quote.js';
import { type Action, backupDir, ok, type PlanResult } from './action.js';
import { urlHostPort } from './etcdctl.js';
import { stashedPath } from './etcd.js';
import { moveCommand } from './file.js';
import { portProbe } from './wait.js';

type Component = 'etcd' | 'apiserver';

interface Target {
  manifest: string;
  unit: string;
  address: string;
  port: number;
}

function target(h: Host, c: Component): Target {
  const e = h.etcd;
  const url = c === 'etcd' ? e.clientUrl : e.apiserverUrl;
  const { address, port } = urlHostPort(url);
  return { manifest: c === 'etcd' ? e.manifest : e.apiserverManifest, unit: c === 'etcd' ? e.unit : e.apiserverUnit, address, port };
}

function waitPort(t: Target, state: 'open' | 'closed', timeoutS: number): Command {
  return { kind: 'exec', cmd: portProbe(t.address, t.port), poll: { until: state === 'open' ? 'succeeds' : 'fails', timeoutMs: timeoutS * 1000, intervalMs: 500 } };
}

/**
 * Stop: static pod → manifest moved out of the manifests dir; systemd → systemctl stop. Then wait until its
 * port is closed. Already stopped is fine, and recorded (marker) so the undo does not start what was not running.
 */
function stopCommands(h: Host, c: Component, timeoutS: number, bk: string): Command[] {
  const t = target(h, c);
  const marker = q(`${bk}/${c}-was-stopped`);
  if (h.etcd.style === 'systemd')
    // always stop: a crash-looping unit is "activating", not "active", and would come back mid-restore
    return [
      { kind: 'exec', cmd: `mkdir -p ${q(bk)} && state=$(systemctl is-active ${q(t.unit)}); systemctl stop ${q(t.unit)} && case "$state" in inactive|failed) : > ${marker};; esac` },
      waitPort(t, 'closed', timeoutS),
    ];
  const stash = stashedPath(h, t.manifest);
  return [
    {
      kind: 'exec',
      cmd: `mkdir -p ${q(bk)} ${q(stash.slice(0, stash.lastIndexOf('/')))} && if [ ! -e ${q(t.manifest)} ] && [ -e ${q(stash)} ]; then : > ${marker}; else ${moveCommand(t.manifest, stash)}; fi`,
    },
    waitPort(t, 'closed', timeoutS),
  ];
}

/** Undo of a stop: start again, unless it had been stopped already before the step. */
function undoStop(h: Host, c: Component, timeoutS: number, bk: string): Command[] {
  const t = target(h, c);
  const marker = q(`${bk}/${c}-was-stopped`);
  const start = h.etcd.style === 'systemd' ? `systemctl daemon-reload && systemctl start ${q(t.unit)}` : moveCommand(stashedPath(h, t.manifest), t.manifest);
  return [
    { kind: 'exec', cmd: `if [ -e ${marker} ]; then exit 0; fi; ${start}` },
    { kind: 'exec', cmd: `if [ -e ${marker} ]; then exit 0; fi; ${portProbe(t.address, t.port)}`, poll: { until: 'succeeds', timeoutMs: timeoutS * 1000, intervalMs: 500 } },
  ];
}

function startCommand(h: Host, c: Component): Command {
  const t = target(h, c);
  if (h.etcd.style === 'systemd') return { kind: 'exec', cmd: `systemctl daemon-reload && systemctl start ${q(t.unit)}` };
  return { kind: 'exec', cmd: moveCommand(stashedPath(h, t.manifest), t.manifest) };
}

/** The plain stop used to undo a start. */
function plainStop(h: Host, c: Component, timeoutS: number): Command[] {
  const t = target(h, c);
  if (h.etcd.style === 'systemd') return [{ kind: 'exec', cmd: `systemctl stop ${q(t.unit)}` }, waitPort(t, 'closed', timeoutS)];
  const stash = stashedPath(h, t.manifest);
  return [{ kind: 'exec', cmd: moveCommand(t.manifest, stash) }, waitPort(t, 'closed', timeoutS)];
}

function make(c: Component, op: 'stop' | 'start'): Action<{ timeout?: number; wait?: boolean }> {
  return {
    name: `${c}.${op}`,
    changes: 'always',
    shellArgs: [],
    plan(args, ctx): PlanResult {
      const timeout = Number(args.timeout ?? 60);
      const h = ctx.host;
      const bk = backupDir(ctx);
      if (op === 'stop') return ok({ commands: stopCommands(h, c, timeout, bk), undo: undoStop(h, c, timeout, bk), changes: true });
      // etcd alone cannot serve until a quorum is up: wait: false lets a playbook start every
      // member first and then wait for the cluster as a whole.
      const t = target(h, c);
      const commands = args.wait === false ? [startCommand(h, c)] : [startCommand(h, c), waitPort(t, 'open', timeout)];
      return ok({ commands, undo: plainStop(h, c, timeout), changes: true });
    },
  };
}


export const etcdStop = make('etcd', 'stop');
export const etcdStart = make('etcd', 'start');
export const apiserverStop = make('apiserver', 'stop');
export const apiserverStart = make('apiserver', 'start');

export const apiserverWaitReady: Action<{ timeout?: number }> = {
  name: 'apiserver.wait_ready',
  changes: 'never',
  shellArgs: [],
  plan(args, ctx) {
    const url = `${ctx.host.etcd.apiserverUrl}/readyz`;
    return ok({
      commands: [{ kind: 'exec', cmd: `curl -fsSk --max-time 3 ${q(url)}`, poll: { until: 'succeeds', timeoutMs: Number(args.timeout ?? 120) * 1000, intervalMs: 1000 } }],
      undo: [],
      changes: false,
    });
  },
};
