// The bastion lab's network (startLab({ bastion: true })): a network namespace of the lab's own in which
// every master and the bastion live, each on its own 127.x address of that namespace's loopback, and one
// bridge so that the root namespace (the test process, the runbook's "jump host") reaches the bastion's
// sshd and nothing else:
//
//   root netns: socat TCP-LISTEN:<bridge addr>:<port>  ──UNIX socket in the lab state dir──▶
//   inner netns: socat UNIX-LISTEN ──▶ TCP <bastion inner addr>:<port> (the bastion's sshd)
//
// Nothing leaves the machine: in the root namespace nothing listens on the masters' addresses, so a
// direct attempt ends on the root loopback with ECONNREFUSED. The namespace has no name (no `ip netns`
// file): it is held by a process, and goes away with the last process in it. Each helper process runs
// as PID 1 of a pid namespace of its own (so its socat dies with it) and watches its stdin, a pipe only
// the lab process holds: if the test process is SIGKILLed, EOF takes the helpers down, and the nodes
// stop through their own stdin watchdog.

import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import * as net from 'node:net';

export interface InnerNet {
  /** `/proc/<pid>/ns/net` of the inner namespace, for nsenter --net=. */
  netnsPath: string;
  /** Host PID of the process that holds the namespace (and runs the inner socat). */
  holderPid: number;
  /** Host PID of the root-namespace bridge. */
  bridgePid: number;
  /** Root-namespace address and port that lead to the bastion's sshd. */
  bridgeAddress: string;
  bridgePort: number;
  stop(): Promise<void>;
}

const SYSTEM_PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';

function alive(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const state = stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3);
    return state !== 'Z' && state !== 'X';
  } catch {
    return false;
  }
}

/** A helper as PID 1 of its own pid namespace: `script` runs, then waits for EOF on stdin (the lab died) or SIGTERM. */
function helper(args: string[], script: string, log: number | 'ignore'): ChildProcess {
  // (bash gives a background job /dev/null as stdin unless it is redirected explicitly)
  const body = `set -u\n${script}\ntrap 'exit 0' TERM\nexec 3<&0\ncat <&3 >/dev/null &\nwait $!`;
  // --norc: with a socket as stdin bash would take itself for a remote shell and read ~/.bashrc
  const child = spawn('unshare', [...args, '--pid', '--fork', '--kill-child', '--', 'bash', '--norc', '--noprofile', '-c', body], {
    detached: true,
    stdio: ['pipe', log, log],
    env: { PATH: SYSTEM_PATH, LANG: 'C' },
  });
  child.unref();
  const stdin = child.stdin;
  if (stdin instanceof net.Socket) stdin.unref();
  stdin?.on('error', () => undefined);
  return child;
}

function tcpOpen(address: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.connect({ host: address, port });
    const done = (ok: boolean) => {
      s.destroy();
      resolve(ok);
    };
    s.setTimeout(500, () => done(false));
    s.once('connect', () => done(true));
    s.once('error', () => done(false));
  });
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** The inner namespace (loopback up, the inner half of the bridge) and the root half of the bridge. */
export async function startInnerNet(o: { socket: string; bastionAddress: string; bridgeAddress: string; port: number; logFd: number }): Promise<InnerNet> {
  const q = (s: string) => `'${s.replace(/'/g, `'\\''`)}'`;
  const holder = helper(
    ['--net'],
    `ip link set lo up && rm -f ${q(o.socket)} && { socat UNIX-LISTEN:${q(o.socket)},fork,unlink-early TCP:${o.bastionAddress}:${o.port} & }`,
    o.logFd,
  );
  if (holder.pid === undefined) throw new Error('lab: cannot start the inner network namespace (unshare --net)');
  const holderPid = holder.pid;
  const bridge = helper([], `socat TCP-LISTEN:${o.port},bind=${o.bridgeAddress},fork,reuseaddr UNIX-CONNECT:${q(o.socket)} &`, o.logFd);
  if (bridge.pid === undefined) throw new Error('lab: cannot start the bastion bridge (socat)');
  const bridgePid = bridge.pid;
  const exited = (c: ChildProcess) => new Promise<void>((r) => (c.exitCode !== null || c.signalCode !== null ? r() : c.once('exit', () => r())));
  const stop = async (): Promise<void> => {
    for (const c of [bridge, holder]) if (c.pid !== undefined && alive(c.pid)) process.kill(c.pid, 'SIGKILL');
    await Promise.race([Promise.all([exited(bridge), exited(holder)]), sleep(5_000)]);
  };
  const deadline = Date.now() + 10_000;
  // the namespace exists once the holder's loopback is up and its socket is there; the bridge once it listens
  while (!(existsSync(o.socket) && (await tcpOpen(o.bridgeAddress, o.port)))) {
    if (!alive(holderPid) || !alive(bridgePid) || Date.now() > deadline) {
      await stop();
      throw new Error(`lab: the bastion network did not come up (socket ${o.socket}, bridge ${o.bridgeAddress}:${o.port})`);
    }
    await sleep(20);
  }
  return { netnsPath: `/proc/${holderPid}/ns/net`, holderPid, bridgePid, bridgeAddress: o.bridgeAddress, bridgePort: o.port, stop };
}
