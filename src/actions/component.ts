import type { Command } from '../model/command.js';
import type { Host } from '../model/inventory.js';
import type { Shell } from '../model/shell.js';
import { join, lit, sh } from '../shell/build.js';
import { type Action, backupDir, boolArg, ok, type PlanResult, refuse } from './action.js';
import { controllersStart, controllersStop } from './controllers.js';
import { etcdctl, POLL_TIMEOUTS, urlHostPort } from './etcdctl.js';
import { stashedPath } from './etcd.js';
import { moveCommand, moveOnce } from './file.js';
import { isHostAddress, portProbe, seconds, WAIT_INTERVAL_MS } from './wait.js';

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
  return { kind: 'exec', cmd: portProbe(t.address, t.port), poll: { until: state === 'open' ? 'succeeds' : 'fails', timeoutMs: timeoutS * 1000, intervalMs: WAIT_INTERVAL_MS } };
}

/**
 * `systemctl start --no-block`: a Type=notify etcd is not "started" until it has joined its cluster, which a
 * lone member of a restore never does on its own. Readiness is waited for separately, with a deadline.
 */
function systemdStart(unit: string) {
  return sh`systemctl daemon-reload && systemctl start --no-block ${unit}`;
}

/**
 * etcd only: the process is gone, not just its port. A kubelet stops a pod by SIGTERM and waits out a grace
 * period (30 s by default), and etcd closes its client port first and may then take seconds more (a leader
 * hands leadership on): the data dir must not be touched while it runs. bbolt holds a flock on member/snap/db
 * for as long as the process has it open, so a lock that can be taken means no etcd has it. Without flock(1)
 * on the host, no process may have the file open (/proc).
 */
function waitGone(h: Host, timeoutS: number): Command {
  const db = `${h.etcd.dataDir}/member/snap/db`;
  return {
    kind: 'exec',
    cmd: sh`if [ ! -e ${db} ]; then exit 0; fi; if command -v flock >/dev/null 2>&1; then flock -n -s 9 9< ${db}; else ! find /proc/[0-9]*/fd -maxdepth 1 -lname ${db} 2>/dev/null | grep -q .; fi`,
    poll: { until: 'succeeds', timeoutMs: timeoutS * 1000, intervalMs: WAIT_INTERVAL_MS },
  };
}

/**
 * etcd, `leader_last`: a member that leads when the step begins stops only once the other members have closed
 * their peer ports (at most `timeoutS`; then it stops all the same). Members stopped at the same moment hand
 * leadership to each other on the way down, and one of them then hangs in its shutdown until it is killed (5 s
 * to 7 s of outage, seen on etcd 3.4); a follower stops at once, and a leader with no peer left skips the
 * hand-over. A member that does not answer is not the leader: it stops at once.
 */
function leaderLast(h: Host, others: Host[], timeoutS: number): Command {
  const status = sh`${etcdctl(h, [h.etcd.clientUrl], POLL_TIMEOUTS)} endpoint status -w json 2>/dev/null`;
  const peers = others.map((o) => urlHostPort(o.etcd.peerUrl)).filter((a) => isHostAddress(a.address) && a.port > 0);
  const open = peers.length ? join(peers.map((a) => portProbe(a.address, a.port)), ' || ') : sh`false`;
  const tries = Math.max(1, Math.round((timeoutS * 1000) / WAIT_INTERVAL_MS));
  return {
    kind: 'exec',
    cmd: sh`s=$(${status}) || exit 0; me=\${s#*'"member_id":'}; me=\${me%%[!0-9]*}; ld=\${s#*'"leader":'}; ld=\${ld%%[!0-9]*}; if [ -z "$me" ] || [ "$me" != "$ld" ]; then exit 0; fi; echo 'the leader: stopping after the other members' >&2; for i in $(seq 1 ${String(tries)}); do if ! { ${open}; }; then exit 0; fi; sleep 0.1; done; echo 'the other members still listen: stopping all the same' >&2`,
  };
}

/**
 * Stop: static pod → manifest moved out of the manifests dir; systemd → systemctl stop. Then wait until its
 * port is closed (etcd: and its process gone). Already stopped is fine, and recorded (marker) so the undo does
 * not start what was not running.
 */
function stopCommands(h: Host, c: Component, timeoutS: number, bk: string, first: Command[]): Command[] {
  const t = target(h, c);
  const gone = c === 'etcd' ? [waitGone(h, timeoutS)] : [];
  const marker = `${bk}/${c}-was-stopped`;
  // what it was before the step is recorded once: run again after a crash, the step must not take its
  // own stop for "was already stopped" (its undo would then leave it down)
  const began = `${bk}/${c}-stop-began`;
  if (h.etcd.style === 'systemd')
    // always stop: a crash-looping unit is "activating", not "active", and would come back mid-restore
    return [
      ...first,
      {
        kind: 'exec',
        cmd: sh`mkdir -p ${bk} && if [ ! -e ${began} ]; then state=$(systemctl is-active ${t.unit}); case "$state" in inactive|failed) : > ${marker};; esac; : > ${began}; fi; systemctl stop ${t.unit}`,
      },
      waitPort(t, 'closed', timeoutS),
      ...gone,
    ];
  const stash = stashedPath(h, t.manifest);
  return [
    ...first,
    {
      kind: 'exec',
      cmd: sh`mkdir -p ${bk} ${stash.slice(0, stash.lastIndexOf('/'))} && if [ ! -e ${began} ]; then if [ ! -e ${t.manifest} ] && [ -e ${stash} ]; then : > ${marker}; fi; : > ${began}; fi; if [ -e ${t.manifest} ]; then ${moveCommand(t.manifest, stash)}; elif [ ! -e ${stash} ]; then echo ${`neither ${t.manifest} nor ${stash} exists`} >&2; exit 1; fi`,
    },
    waitPort(t, 'closed', timeoutS),
    ...gone,
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
    { kind: 'exec', cmd: sh`if [ -e ${marker} ]; then exit 0; fi; ${portProbe(t.address, t.port)}`, poll: { until: 'succeeds', timeoutMs: timeoutS * 1000, intervalMs: WAIT_INTERVAL_MS } },
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
  const gone = c === 'etcd' ? [waitGone(h, timeoutS)] : [];
  if (h.etcd.style === 'systemd') return [{ kind: 'exec', cmd: sh`systemctl stop ${t.unit}` }, waitPort(t, 'closed', timeoutS), ...gone];
  const stash = stashedPath(h, t.manifest);
  // idempotent: after a crash the undo may run on a member that was never started
  return [{ kind: 'exec', cmd: moveOnce(t.manifest, stash) }, waitPort(t, 'closed', timeoutS), ...gone];
}

function make(c: Component, op: 'stop' | 'start'): Action<{ timeout?: number; wait?: boolean; leader_last?: boolean | string; with_controllers?: boolean | string }> {
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
      const ctl = boolArg(args.with_controllers, 'with_controllers');
      if (typeof ctl === 'string') return refuse(ctl);
      if (ctl && c !== 'apiserver') return refuse('with_controllers is for apiserver.stop and apiserver.start');
      if (op === 'stop') {
        const last = boolArg(args.leader_last, 'leader_last');
        if (typeof last === 'string') return refuse(last);
        if (last && c !== 'etcd') return refuse('leader_last is for etcd.stop');
        const first = last ? [leaderLast(h, ctx.cluster.filter((o) => o !== h && !o.down), timeout)] : [];
        const all = stopCommands(h, c, timeout, bk, first);
        const [move, ...waits] = all;
        if (!ctl || !move) return ok({ commands: all, undo: undoStop(h, c, timeout, bk), changes: true });
        // the controllers go in the same breath as the apiserver, then both are waited for
        const cs = controllersStop(h, ctx, timeout);
        return ok({ commands: [move, cs.commands[0] as Command, ...waits, ...cs.commands.slice(1)], undo: [...undoStop(h, c, timeout, bk), ...cs.undo], changes: true });
      }
      // etcd alone cannot serve until a quorum is up: wait: false lets a playbook start every
      // member first and then wait for the cluster as a whole.
      const t = target(h, c);
      const commands = args.wait === false ? [startCommand(h, c)] : [startCommand(h, c), waitPort(t, 'open', timeout)];
      if (!ctl) return ok({ commands, undo: plainStop(h, c, timeout), changes: true });
      const cs = controllersStart(h, ctx, timeout);
      return ok({ commands: [commands[0] as Command, cs.commands[0] as Command, ...commands.slice(1), ...cs.commands.slice(1)], undo: [...cs.undo, ...plainStop(h, c, timeout)], changes: true });
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
      commands: [{ kind: 'exec', cmd: sh`curl -fsSk --max-time 3 ${url}`, poll: { until: 'succeeds', timeoutMs: Number(args.timeout ?? 120) * 1000, intervalMs: WAIT_INTERVAL_MS } }],
      undo: [],
      changes: false,
    });
  },
};

/**
 * Restart kube-controller-manager and kube-scheduler where the host has them (after a full restore they
 * hold what they read from the old etcd), both at once in one command: each restart is mostly waiting, and
 * each second of it is RTO. Static pod: the manifests moved out, wait until neither answers, moved back;
 * systemd: `systemctl restart --no-block` (never blocked on a unit's readiness). Then wait until each answers
 * /healthz again. A component the host does not have is skipped, saying so.
 */
export const componentsRestart: Action<{ timeout?: number }> = {
  name: 'controlplane.restart',
  changes: 'always',
  shellArgs: [],
  repeatable: true,
  plan(args, ctx) {
    const h = ctx.host;
    const timeout = Number(args.timeout ?? 120);
    const undo: Command[] = [];
    const parts = (
      [
        ['kube-controller-manager', h.etcd.controllerManager],
        ['kube-scheduler', h.etcd.scheduler],
      ] as const
    ).map(([label, c], i) => ({ label, c, has: lit(`has${i}`), up: lit(`up${i}`), stash: stashedPath(h, c.manifest), ...urlHostPort(c.healthUrl) }));
    const each = (f: (p: (typeof parts)[number]) => Shell, sep = '; ') => join(parts.map(f), sep);
    const absent = (p: (typeof parts)[number]) => `no ${p.c.manifest} on this host: nothing to restart`;
    let restart: Shell;
    if (h.etcd.style === 'systemd') {
      restart = each((p) => sh`${p.has}=0; if [ ! -e ${p.c.manifest} ]; then echo ${absent(p)}; else ${p.has}=1; systemctl restart --no-block ${p.c.unit} || exit 1; fi`);
    } else {
      // out (each, if it is there), wait until neither answers, back in; a move already done counts as done
      const out = each((p) => sh`${p.has}=0; if [ ! -e ${p.c.manifest} ] && [ ! -e ${p.stash} ]; then echo ${absent(p)}; else ${p.has}=1; mkdir -p ${p.stash.slice(0, p.stash.lastIndexOf('/'))} || exit 1; if [ -e ${p.c.manifest} ]; then (${moveCommand(p.c.manifest, p.stash)}) || exit 1; fi; fi`);
      const answering = each((p) => sh`{ [ "$${p.has}" = 1 ] && ${portProbe(p.address, p.port)}; }`, ' || ');
      const back = each((p) => sh`if [ "$${p.has}" = 1 ]; then (${moveOnce(p.stash, p.c.manifest)}) || exit 1; fi`);
      restart = sh`${out}; end=$((SECONDS + ${String(timeout)})); while [ "$SECONDS" -lt "$end" ] && { ${answering}; }; do sleep 0.1; done; ${back}`;
      // interrupted between the moves: the manifests go back (the restart itself needs no undo)
      for (const p of parts) undo.push({ kind: 'exec', cmd: sh`if [ -e ${p.stash} ]; then ${moveOnce(p.stash, p.c.manifest)}; fi` });
    }
    // by the clock, every 0.2 s: a restarted component answers within a second
    const poll = each((p) => sh`if [ "$${p.has}" = 1 ] && [ "$${p.up}" = 0 ]; then if curl -fsSk --max-time 2 ${`${p.c.healthUrl}/healthz`} >/dev/null 2>&1; then echo ${`${p.label} healthy again`}; ${p.up}=1; else all=0; fi; fi`);
    const late = each((p) => sh`if [ "$${p.has}" = 1 ] && [ "$${p.up}" = 0 ]; then echo ${`${p.label} did not answer ${p.c.healthUrl}/healthz within ${timeout}s`} >&2; fi`);
    const healthy = sh`${each((p) => sh`${p.up}=0`)}; end=$((SECONDS + ${String(timeout)})); while :; do all=1; ${poll}; if [ "$all" = 1 ]; then exit 0; fi; if [ "$SECONDS" -ge "$end" ]; then break; fi; sleep 0.1; done; ${late}; exit 1`;
    return ok({ commands: [{ kind: 'exec', cmd: sh`${restart}; ${healthy}` }], undo, changes: true });
  },
};
