// Hosts, a step and a plan call for unit tests of actions: one place, so each test file only says what differs.
import { type CommandSet, commandsFor } from '../../src/actions/etcd-version.js';
import type { PlanResult } from '../../src/actions/action.js';
import { findAction } from '../../src/actions/registry.js';
import { etcdDefaults } from '../../src/load/load-inventory.js';
import { directRoute } from '../../src/load/resolve-ssh.js';
import type { Host } from '../../src/model/inventory.js';
import type { Step } from '../../src/model/playbook.js';

/** Master `m<n>` at `<prefix>.<n>` with the inventory's etcd defaults, and any etcd settings overridden. */
export function fixtureHost(n: number, style: 'static-pod' | 'systemd' = 'static-pod', etcd: Partial<Host['etcd']> = {}, prefix = '10.0.0'): Host {
  const address = `${prefix}.${n}`;
  return {
    name: `m${n}`,
    address,
    port: 22,
    user: 'root',
    identityFile: undefined,
    ssh: directRoute({ name: `m${n}`, address, port: 22, user: 'root' }),
    become: false,
    down: false,
    groups: ['all'],
    vars: {},
    etcd: { ...etcdDefaults(`m${n}`, address, style), ...etcd },
  };
}

export function fixtureStep(action: string, name = 'x'): Step {
  return {
    kind: 'step', name, action, args: {}, hosts: { kind: 'all' }, serial: undefined, runOnce: false, when: undefined, register: undefined,
    retries: 0, delaySeconds: 1, until: undefined, timeoutSeconds: undefined, tags: [], undo: undefined, noUndo: undefined, changes: undefined,
    become: undefined, ignoreErrors: false, repeatable: undefined, pos: { file: 'f', line: 1, col: 1 },
  };
}

/** The action's own plan for `host` in `cluster` (run R), as the planner would call it. */
export function planFor(action: string, args: Record<string, unknown>, host: Host, cluster: Host[], o: { set?: CommandSet; stepIndex?: number; baseDir?: string } = {}): PlanResult {
  const a = findAction(action);
  if (!a) throw new Error(`no action ${action}`);
  const inventory = { file: 'i', cluster: 'c', knownHosts: 'k', sshConfig: '', hosts: cluster, groups: { all: cluster.map((c) => c.name) }, vars: {} };
  return a.plan(args as never, { host, cluster, inventory, step: fixtureStep(action), stepIndex: o.stepIndex ?? 0, runId: 'R', baseDir: o.baseDir ?? '/', undo: undefined, etcd: commandsFor(o.set ?? '3.4') });
}
