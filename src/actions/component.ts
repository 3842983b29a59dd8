import type { Command } from '../model/command.js';
import type { Host } from '../model/inventory.js';
import { sh } from '../shell/build.js';
import { type Action, backupDir, ok, type PlanResult, refuse } from './action.js';
import { urlHostPort } from './etcdctl.js';
import { stashedPath } from './etcd.js';
import { moveCommand, moveOnce } from './file.js';
import { portProbe, seconds } from './wait.js';

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
  return { kind: 'exec', cmd: portProbe(t.address, t.port), poll: { until: state === 'open' ? 'succeeds' : 'fails', timeoutMs: timeoutS * 1000, intervalMs: 200 } };
}

/**
 * `systemctl start --no-block`: a Type=notify etcd is not "started" until it has joined its cluster, which a
 * lone member of a restore never does on its own. Readiness is waited for separately, with a deadline.
 */
function systemdStart(unit: string) {
  return sh`systemctl daemon-reload && systemctl start --no-block ${unit}`;
}

/**
 * Stop: static pod → manifest moved out of the manifests dir; systemd → systemctl stop. Then wait until its
 * port is closed. Already stopped is fine, and recorded (marker) so the undo does not start what was not running.
 */
function stopCommands(h: Host, c: Component, timeoutS: number, bk: string): Command[] {
  const t = target(h, c);
  const marker = `${bk}/${c}-was-stopped`;
  // what it was before the step is recorded once: run again after a crash, the step must not take its
  // own stop for "was already stopped" (its undo would then leave it down)
  const began = `${bk}/${c}-stop-began`;
  if (h.etcd.style === 'systemd')
    // always stop: a crash-looping unit is "activating", not "active", and would come back mid-restore
    return [
      {
        kind: 'exec',
        cmd: sh`mkdir -p ${bk} && if [ ! -e ${began} ]; then state=$(systemctl is-active ${t.unit}); case "$state" in inactive|failed) : > ${marker};; esac; : > ${began}; fi; systemctl stop ${t.unit}`,
      },
      waitPort(t, 'closed', timeoutS),
    ];
  const stash = stashedPath(h, t.manifest);
  return [
    {
      kind: 'exec',
      cmd: sh`mkdir -p ${bk} ${stash.slice(0, stash.lastIndexOf('/'))} && if [ ! -e ${began} ]; then if [ ! -e ${t.manifest} ] && [ -e ${stash} ]; then : > ${marker}; fi; : > ${began}; fi; if [ -e ${t.manifest} ]; then ${moveCommand(t.manifest, stash)}; elif [ ! -e ${stash} ]; then echo ${`neither ${t.manifest} nor ${stash} exists`} >&2; exit 1; fi`,
    },
    waitPort(t, 'closed', timeoutS),
  ];
}

/** Static pod started: the manifest is in the manifests dir (again). Starting twice is the same as once. */
function moveIn(h: Host, manifest: string) {
  const stash = stashedPath(h, manifest);
  return moveOnce(stash, manifest);
}

/** Undo of a stop: start again, unless it had been stopped already before the step. */
function undoStop(h: Host, c: Component, timeoutS: number, bk: string): Command[] {
  const t = target(h, c);
  const marker = `${bk}/${c}-was-stopped`;
  const start = h.etcd.style === 'systemd' ? systemdStart(t.unit) : moveIn(h, t.manifest);
  return [
    { kind: 'exec', cmd: sh`if [ -e ${marker} ]; then exit 0; fi; ${start}` },
    { kind: 'exec', cmd: sh`if [ -e ${marker} ]; then exit 0; fi; ${portProbe(t.address, t.port)}`, poll: { until: 'succeeds', timeoutMs: timeoutS * 1000, intervalMs: 200 } },
  ];
}

function startCommand(h: Host, c: Component): Command {
  const t = target(h, c);
  if (h.etcd.style === 'systemd') return { kind: 'exec', cmd: systemdStart(t.unit) };
  return { kind: 'exec', cmd: moveIn(h, t.manifest) };
}

/** The plain stop used to undo a start. */
function plainStop(h: Host, c: Component, timeoutS: number): Command[] {
  const t = target(h, c);
  if (h.etcd.style === 'systemd') return [{ kind: 'exec', cmd: sh`systemctl stop ${t.unit}` }, waitPort(t, 'closed', timeoutS)];
  const stash = stashedPath(h, t.manifest);
  // idempotent: after a crash the undo may run on a member that was never started
  return [{ kind: 'exec', cmd: moveOnce(t.manifest, stash) }, waitPort(t, 'closed', timeoutS)];
}

function make(c: Component, op: 'stop' | 'start'): Action<{ timeout?: number; wait?: boolean }> {
  return {
    name: `${c}.${op}`,
    changes: 'always',
    shellArgs: [],
    // every command checks what is there first: after a crash the step is simply run again
    repeatable: true,
    plan(args, ctx): PlanResult {
      const timeout = seconds(args.timeout, 60, 'timeout');
      if (typeof timeout === 'string') return refuse(timeout);
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
      commands: [{ kind: 'exec', cmd: sh`curl -fsSk --max-time 3 ${url}`, poll: { until: 'succeeds', timeoutMs: Number(args.timeout ?? 120) * 1000, intervalMs: 250 } }],
      undo: [],
      changes: false,
    });
  },
};

/**
 * Restart kube-controller-manager and kube-scheduler where the host has them (after a full restore they
 * hold what they read from the old etcd). Static pod: manifest moved out, wait until it stops answering,
 * moved back, wait for /healthz; systemd: `systemctl restart --no-block` (never blocked on a unit's readiness),
 * wait for /healthz. A host without one skips it.
 */
export const componentsRestart: Action<{ timeout?: number }> = {
  name: 'controlplane.restart',
  changes: 'always',
  shellArgs: [],
  repeatable: true,
  plan(args, ctx) {
    const h = ctx.host;
    const timeout = Number(args.timeout ?? 120);
    const commands: Command[] = [];
    const undo: Command[] = [];
    for (const [label, c] of [['kube-controller-manager', h.etcd.controllerManager], ['kube-scheduler', h.etcd.scheduler]] as const) {
      const { address, port } = urlHostPort(c.healthUrl);
      // by the clock, every 0.2 s: a restarted component answers within a second, and each second of polling is RTO
      const healthy = sh`end=$((SECONDS + ${String(timeout)})); while [ "$SECONDS" -lt "$end" ]; do if curl -fsSk --max-time 2 ${`${c.healthUrl}/healthz`} >/dev/null 2>&1; then echo ${`${label} healthy again`}; exit 0; fi; sleep 0.2; done; echo ${`${label} did not answer ${c.healthUrl}/healthz within ${timeout}s`} >&2; exit 1`;
      if (h.etcd.style === 'systemd') {
        commands.push({ kind: 'exec', cmd: sh`if [ ! -e ${c.manifest} ]; then echo ${`no ${c.manifest} on this host: nothing to restart`}; exit 0; fi; systemctl restart --no-block ${c.unit} && ${healthy}` });
        continue;
      }
      const stash = stashedPath(h, c.manifest);
      commands.push({
        kind: 'exec',
        cmd: sh`if [ ! -e ${c.manifest} ] && [ ! -e ${stash} ]; then echo ${`no ${c.manifest} on this host: nothing to restart`}; exit 0; fi; mkdir -p ${stash.slice(0, stash.lastIndexOf('/'))}; if [ -e ${c.manifest} ]; then ${moveCommand(c.manifest, stash)} || exit 1; fi; end=$((SECONDS + ${String(timeout)})); while [ "$SECONDS" -lt "$end" ] && ${portProbe(address, port)}; do sleep 0.2; done; ${moveOnce(stash, c.manifest)} && ${healthy}`,
      });
      // interrupted between the two moves: the manifest goes back (the restart itself needs no undo)
      undo.push({ kind: 'exec', cmd: sh`if [ -e ${stash} ]; then ${moveOnce(stash, c.manifest)}; fi` });
    }
    return ok({ commands, undo, changes: true });
  },
};
