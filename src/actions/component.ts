import type { Command } from '../model/command.js';
import type { Host } from '../model/inventory.js';
import { shellQuote as q } from '../util/shell-quote.js';
import { type Action, ok, type PlanResult } from './action.js';
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

/** Stop: static pod → manifest moved out of the manifests dir; systemd → systemctl stop. Then wait until its port is closed. */
function stopCommands(h: Host, c: Component, timeoutS: number): Command[] {
  const t = target(h, c);
  if (h.etcd.style === 'systemd') return [{ kind: 'exec', cmd: `systemctl stop ${q(t.unit)}` }, waitPort(t, 'closed', timeoutS)];
  const stash = stashedPath(h, t.manifest);
  return [{ kind: 'exec', cmd: `mkdir -p ${q(stash.slice(0, stash.lastIndexOf('/')))} && ${moveCommand(t.manifest, stash)}` }, waitPort(t, 'closed', timeoutS)];
}

function startCommands(h: Host, c: Component, timeoutS: number): Command[] {
  const t = target(h, c);
  if (h.etcd.style === 'systemd') return [{ kind: 'exec', cmd: `systemctl daemon-reload && systemctl start ${q(t.unit)}` }, waitPort(t, 'open', timeoutS)];
  return [{ kind: 'exec', cmd: moveCommand(stashedPath(h, t.manifest), t.manifest) }, waitPort(t, 'open', timeoutS)];
}

function startNoWait(h: Host, c: Component): Command[] {
  const t = target(h, c);
  if (h.etcd.style === 'systemd') return [{ kind: 'exec', cmd: `systemctl daemon-reload && systemctl start ${q(t.unit)}` }];
  return [{ kind: 'exec', cmd: moveCommand(stashedPath(h, t.manifest), t.manifest) }];
}

function make(c: Component, op: 'stop' | 'start'): Action<{ timeout?: number; wait?: boolean }> {
  return {
    name: `${c}.${op}`,
    changes: 'always',
    shellArgs: [],
    plan(args, ctx): PlanResult {
      const timeout = Number(args.timeout ?? 60);
      const h = ctx.host;
      if (op === 'stop') return ok({ commands: stopCommands(h, c, timeout), undo: startCommands(h, c, timeout), changes: true });
      // etcd started alone cannot open its port's peers until a quorum is up: wait: false lets a
      // playbook start every member first and then wait for the cluster as a whole.
      const commands = args.wait === false ? startNoWait(h, c) : startCommands(h, c, timeout);
      return ok({ commands, undo: stopCommands(h, c, timeout), changes: true });
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
