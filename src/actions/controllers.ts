/**
 * kube-controller-manager and kube-scheduler stopped with the apiserver and started with it again
 * (`apiserver.stop` / `apiserver.start` with `with_controllers: true`): after a full restore they must not
 * keep what they read from the old etcd (the Kubernetes docs ask for their restart), and stopping them in the
 * same command as the apiserver, and starting them in the same command again, costs the outage nothing of its
 * own (a separate restart afterwards was two more waits for the kubelet).
 *
 * Only what this run stopped is started again: a marker per component in the run's dir on the host, written
 * before the stop, removed once it is started again. A host without one of them skips it.
 */
import type { Command } from '../model/command.js';
import type { ComponentSettings, Host } from '../model/inventory.js';
import type { Shell } from '../model/shell.js';
import { join, sh } from '../shell/build.js';
import type { ActionContext } from './action.js';
import { urlHostPort } from './etcdctl.js';
import { stashedPath } from './etcd.js';
import { moveCommand, moveOnce } from './file.js';
import { isHostAddress, portProbe, WAIT_INTERVAL_MS } from './wait.js';

interface Part {
  label: string;
  c: ComponentSettings;
  stash: string;
  /** This run stopped it (so this run starts it again). */
  stopped: string;
  /** This run started it again: its /healthz is waited for. */
  started: string;
  address: string;
  port: number;
}

function parts(h: Host, ctx: ActionContext): Part[] {
  const runDir = `${h.etcd.stashDir}/runs/${ctx.runId}`;
  return (
    [
      ['kube-controller-manager', h.etcd.controllerManager],
      ['kube-scheduler', h.etcd.scheduler],
    ] as const
  ).map(([label, c]) => ({ label, c, stash: stashedPath(h, c.manifest), stopped: `${runDir}/${label}-stopped`, started: `${runDir}/${label}-started`, ...urlHostPort(c.healthUrl) }));
}

const dirOf = (p: string) => p.slice(0, p.lastIndexOf('/'));

/** Stop both (where the host has them), recording which; then wait until none of those answers. */
export function controllersStop(h: Host, ctx: ActionContext, timeoutS: number): { commands: Command[]; undo: Command[] } {
  const ps = parts(h, ctx);
  const stop = (p: Part): Shell =>
    h.etcd.style === 'systemd'
      ? sh`if [ -e ${p.c.manifest} ]; then case "$(systemctl is-active ${p.c.unit})" in inactive|failed) ;; *) mkdir -p ${dirOf(p.stopped)} && : > ${p.stopped} && systemctl stop ${p.c.unit} || exit 1;; esac; fi`
      : // moved already (run again after a crash) counts as stopped by this run
        sh`if [ -e ${p.c.manifest} ]; then mkdir -p ${dirOf(p.stopped)} ${dirOf(p.stash)} && : > ${p.stopped} && (${moveCommand(p.c.manifest, p.stash)}) || exit 1; fi`;
  const probes = ps.filter((p) => isHostAddress(p.address) && p.port > 0);
  const answering = probes.length ? join(probes.map((p) => sh`{ [ -e ${p.stopped} ] && ${portProbe(p.address, p.port)}; }`), ' || ') : sh`false`;
  return {
    commands: [
      { kind: 'exec', cmd: join(ps.map(stop), '; ') },
      { kind: 'exec', cmd: answering, poll: { until: 'fails', timeoutMs: timeoutS * 1000, intervalMs: WAIT_INTERVAL_MS } },
    ],
    undo: controllersStartCommands(h, ctx),
  };
}

/** Start again what this run stopped (static pod: the manifest back; systemd: start --no-block). */
function controllersStartCommands(h: Host, ctx: ActionContext): Command[] {
  const start = (p: Part): Shell =>
    h.etcd.style === 'systemd'
      ? sh`if [ -e ${p.stopped} ]; then systemctl start --no-block ${p.c.unit} || exit 1; : > ${p.started}; rm -f -- ${p.stopped}; fi`
      : sh`if [ -e ${p.stopped} ]; then (${moveOnce(p.stash, p.c.manifest)}) || exit 1; : > ${p.started}; rm -f -- ${p.stopped}; fi`;
  return [{ kind: 'exec', cmd: join(parts(h, ctx).map(start), '; ') }];
}

/** Start what this run stopped, then wait until each of those answers /healthz. Undone by stopping them again. */
export function controllersStart(h: Host, ctx: ActionContext, timeoutS: number): { commands: Command[]; undo: Command[] } {
  const ps = parts(h, ctx);
  const healthy = join(
    ps.map((p) => sh`if [ -e ${p.started} ] && ! curl -fsSk --max-time 2 ${`${p.c.healthUrl}/healthz`} >/dev/null 2>&1; then exit 1; fi`),
    '; ',
  );
  return {
    commands: [...controllersStartCommands(h, ctx), { kind: 'exec', cmd: healthy, poll: { until: 'succeeds', timeoutMs: timeoutS * 1000, intervalMs: WAIT_INTERVAL_MS } }],
    undo: controllersStop(h, ctx, timeoutS).commands,
  };
}
