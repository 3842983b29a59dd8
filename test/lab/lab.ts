// End-to-end test lab: N simulated "master" hosts on one machine.
//
// Each node is a set of Linux namespaces (mount, uts, pid; the network is the
// host's) created by `unshare`, whose PID 1 is test/lab/node-init.sh. It has its
// own hostname, private overlay copies of /etc and /var/lib, fresh tmpfs /root,
// /tmp, /var/log, /run, and a real OpenSSH sshd listening only on its own
// loopback address (127.A.B.i) and port. Tests talk to nodes the way the runbook
// engine does (ssh with the lab key and a strict known_hosts file) and can look
// at or change a node's state behind its back with lab.exec (nsenter, no ssh).
//
// With `etcd: 'static-pod' | 'systemd'` every node also gets a lab CA + kubeadm-named
// certificates and runs a real 3.4 etcd member plus a kube-apiserver stand-in, either as
// static pods under a kubelet stand-in or as units of a systemctl stand-in (etcd-assets.ts,
// kubelet.mjs, fake-apiserver.mjs, lab-systemctl.sh). startLab waits until the cluster is
// healthy.
//
// Needs root and the tools installed by test/lab/setup.sh. Only Node built-ins.

import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { closeSync, existsSync, mkdirSync, openSync, readFileSync, readdirSync, realpathSync, rmSync, statSync } from 'node:fs';
import { copyFile, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import * as http from 'node:http';
import * as https from 'node:https';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { type InnerNet, startInnerNet } from './bastion-net.js';
import { type ClusterSpec, ETCD_IMAGES_DIR, type EtcdMode, generatePki, type KubeletBackoff, type LabPki, nodePki, REAL_KUBELET_BACKOFF, writeSeed } from './etcd-assets.js';

export type { EtcdMode, LabPki } from './etcd-assets.js';

export interface LabNode {
  name: string;
  hostname: string;
  address: string;
  port: number;
  /** Host PID of the node's PID 1 (the unshare child). Changes when the node is started again. */
  pid: number;
  stateDir: string;
}

export interface ExecResult {
  code: number;
  stdout: string;
  stderr: string;
}

export interface ExecOptions {
  /** Default 30 000 ms. On timeout the command's process group is SIGKILLed and exec rejects. */
  timeoutMs?: number;
  /** Written to the command's stdin (default: stdin is /dev/null). */
  input?: string;
}

export interface Lab {
  nodes: LabNode[];
  stateDir: string;
  /** Private ed25519 client key (mode 600) authorized for root (or LabOptions.users) on every node. */
  identityFile: string;
  /** The user sshArgs logs in as: root, or the first of LabOptions.users (root cannot log in then). */
  sshUser: string;
  /** OpenSSH known_hosts with "[addr]:port ssh-ed25519 AAAA..." lines for every node. */
  knownHostsFile: string;
  /** Runs `bash -c command` inside the node's namespaces via nsenter (mount, uts, pid), not via ssh. */
  exec(node: LabNode | number, command: string, opts?: ExecOptions): Promise<ExecResult>;
  /** `ssh` arguments (options, -p, user@address) to reach the node with the lab key and strict host key checking; as sshUser unless `user` is given. */
  sshArgs(node: LabNode | number, user?: string): string[];
  /** Kill that node's PID 1 and wait until it is gone (simulates an unreachable host). */
  stopNode(node: LabNode | number): Promise<void>;
  /**
   * Boot a stopped node again (simulates a reboot): /etc and /var/lib (overlay upper
   * dirs) and the host key are kept, /root /tmp /run /var/log start empty.
   */
  startNode(node: LabNode | number): Promise<void>;
  /** New host key + restart that node's sshd; known_hosts is NOT updated (simulates a changed host key). */
  regenerateHostKey(node: LabNode | number): Promise<void>;
  /** Tear everything down (idempotent). Removes the state dir unless KEEP_LAB=1. */
  stop(): Promise<void>;

  // ---- etcd (LabOptions.etcd 'static-pod' | 'systemd'; present but unused with 'none')

  etcdMode: EtcdMode;
  /** Full etcd version each node runs, in node order (LabOptions.etcdVersion). */
  etcdVersions: string[];
  /** The lab's etcd cache: `<version>/{etcd,etcdctl,etcdutl,SHA256SUMS}`, usable as an operator's tools dir. */
  etcdCache: string;
  /** `https://<node address>:2379` for every node, in node order. */
  etcdEndpoints: string[];
  /** Certificate paths on the nodes (kubeadm layout) and their host-side copies (`pki.host`). */
  pki: LabPki;
  /** --initial-cluster-token of the lab cluster (`lab-<hex>`). */
  clusterToken: string;
  /**
   * Runs `ETCDCTL_API=3 etcdctl --endpoints=... --cacert --cert --key <args>` inside the node
   * (healthcheck-client cert). --endpoints is always explicit: the node's own endpoint by
   * default, every lab endpoint with `endpoints: 'all'`, or the given list.
   */
  etcdctl(node: LabNode | number, args: string[], opts?: EtcdctlOptions): Promise<ExecResult>;
  /**
   * Resolves when the etcd cluster is healthy: every checked endpoint answers `endpoint health`
   * and `endpoint status`, all report the same cluster ID and the same leader, `member list`
   * has the expected number of started members, and (default) every checked node's
   * kube-apiserver /readyz is 200. Rejects after timeoutMs with the last error and log tails.
   */
  waitHealthy(opts?: WaitHealthyOptions): Promise<EtcdHealth>;
  /** `http://<address>:6443` of the node's kube-apiserver stand-in (plain HTTP). */
  apiserverUrl(node: LabNode | number): string;
  /** With LabOptions.bastion: the only node the test process can reach; the masters are behind it. */
  bastion: LabBastion | undefined;
  /** LabOptions.layout: how etcd is laid out on the nodes. */
  layout: 'kubeadm' | 'custom';
  /** etcd member name (--name) of each node, in node order: the node names, or (layout 'custom') others. */
  memberNames: string[];
  /** etcd's --data-dir on every node: /var/lib/etcd, or (layout 'custom') /var/lib/etcd-data. */
  dataDir: string;
}

/** The bastion of a lab started with `bastion: true` (see bastion-net.ts). */
export interface LabBastion {
  node: LabNode;
  /** Where the test process reaches its sshd: an address and port of the root namespace (the bridge). */
  address: string;
  port: number;
  /** Its sshd's address inside the inner namespace. */
  innerAddress: string;
  /** Its host public key (`ssh-ed25519 AAAA… bastion`). */
  hostKey: string;
  /** Its line in knownHostsFile (`[address]:port ssh-ed25519 AAAA…`). */
  knownHostsLine: string;
  /** Host PIDs of the two network helpers (the namespace holder, the root-side bridge). */
  helperPids: number[];
  /** `/proc/<holder>/ns/net`: the masters' network namespace. */
  netnsPath: string;
}

export interface EtcdctlOptions {
  /** Default: the node's own endpoint. */
  endpoints?: 'node' | 'all' | string[];
  timeoutMs?: number;
  input?: string;
}

export interface WaitHealthyOptions {
  /** Default 30 000 ms. */
  timeoutMs?: number;
  /** Nodes whose etcd endpoint (and apiserver) must be healthy. Default: every running node. */
  nodes?: Array<LabNode | number>;
  /** Started members expected in `member list`. Default: the number of checked nodes. */
  members?: number;
  /** Also require kube-apiserver /readyz = 200 on the checked nodes. Default true. */
  apiserver?: boolean;
}

export interface EtcdMemberInfo {
  /** Member ID in hex, as etcdctl prints it in tables. */
  id: string;
  name: string;
  peerURLs: string[];
  clientURLs: string[];
}

export interface EtcdHealth {
  /** Cluster ID in hex. */
  clusterId: string;
  /** Leader member ID in hex. */
  leader: string;
  /** Name of the leader member. */
  leaderName: string;
  members: EtcdMemberInfo[];
  /** Raw `endpoint status -w json` entries (64-bit IDs as decimal strings, see parseEtcdJson). */
  status: unknown[];
}

export interface LabOptions {
  /** Default 3. */
  nodes?: number;
  /** First three octets of the node addresses, e.g. "127.0.10" -> 127.0.10.1, .2, .3. Must be in 127.0.0.0/8. */
  addressBase?: string;
  /** sshd port on every node. Default RUNBOOK_LAB_PORT or 2222. */
  port?: number;
  stateDir?: string;
  /** Default "master-". */
  namePrefix?: string;
  /**
   * Run etcd on the nodes. 'none' (default): no etcd, empty manifest dir. 'static-pod':
   * /etc/kubernetes/manifests/{etcd,kube-apiserver}.yaml run by a kubelet stand-in.
   * 'systemd': /etc/systemd/system/{etcd,kube-apiserver}.service run by a systemctl stand-in.
   */
  etcd?: EtcdMode;
  /**
   * --etcd-servers of each kube-apiserver: 'local' = the node's own member (kubeadm's stacked
   * etcd), 'all' = every member (typical binary install). Default: 'local' for static-pod,
   * 'all' for systemd.
   */
  apiserverEtcdServers?: 'local' | 'all';
  /** With etcd: wait until the cluster and every apiserver are healthy. Default true. */
  waitHealthy?: boolean;
  /**
   * etcd version of every node, or one per node (a mixed cluster): '3.4', '3.5' (the newest of that
   * minor in the lab's etcd cache) or an exact version such as '3.5.16'. Default '3.4'.
   */
  etcdVersion?: string | string[];
  /**
   * Whether a login on the node finds the member's own etcd, etcdctl (and etcdutl) on its PATH
   * (true, default), or no etcd tools at all (false: the machine's /usr/bin ones are hidden, as on a
   * kubeadm master whose etcd lives only in the image). One value or one per node.
   */
  hostTools?: boolean | boolean[];
  /**
   * Login users on every node (see "Login users and a root of their own" in README.md). Given, each
   * node pivot_roots into a root of its own (mode 0755) so that an unprivileged user can run anything,
   * gets these users (real passwd/shadow entries in its /etc overlay, the lab key authorized), a
   * NOPASSWD sudo rule for those with `sudo: true`, and its sshd allows only them (no root login).
   * Default: none (root logs in, as before).
   */
  users?: LabUser[];
  /**
   * Put every master in a network namespace of the lab's own, reachable from the test process only
   * through a bastion node (a real sshd) in front of them (bastion-net.ts). Default false.
   */
  bastion?: boolean;
  /**
   * How etcd is laid out. 'kubeadm' (default): member names = node names, data dir /var/lib/etcd, kubeadm's
   * PKI paths, plain-HTTP control-plane stand-ins (the inventory then names their URLs). 'custom', as a
   * cluster an operator set up by hand: member names member-a, member-b, ... (not the hostnames), data dir
   * /var/lib/etcd-data, in the systemd style every certificate under /etc/kubernetes/ssl (no
   * healthcheck-client: the apiserver's etcd client certificate is the client one), and apiserver,
   * controller-manager and scheduler serving HTTPS on their flags' addresses, as real ones do: an inventory of
   * only addresses is then enough, everything else read from the hosts.
   */
  layout?: 'kubeadm' | 'custom';
  /**
   * The kubelet stand-in's crash back-off (static-pod labs): default the lab's short one (0.5 s doubling to
   * 5 s), 'real' the kubelet's own (10 s doubling to 300 s, reset after 10 min), or exact values.
   */
  kubeletBackoff?: 'real' | KubeletBackoff;
}

export interface LabUser {
  /** A login name such as 'ops' ([a-z_][a-z0-9_-]*). */
  name: string;
  /** `NAME ALL=(root) NOPASSWD: ALL` in /etc/sudoers.d. */
  sudo: boolean;
}

/** The lab's etcd cache (test/lab/etcd-dist.sh): one dir of binaries per version. */
export const ETCD_CACHE = process.env['LAB_ETCD_CACHE'] || '/var/cache/etcd-runbook-lab';

/** Full versions available in the etcd cache, oldest first. */
export function cachedEtcdVersions(cache = ETCD_CACHE): string[] {
  if (!existsSync(cache)) return [];
  const key = (v: string): number[] => v.split('.').map(Number);
  return readdirSync(cache)
    .filter((v) => /^\d+\.\d+\.\d+$/.test(v) && existsSync(path.join(cache, v, 'VERSION')))
    .sort((a, b) => {
      const [x, y] = [key(a), key(b)];
      for (let i = 0; i < 3; i++) if (x[i] !== y[i]) return (x[i] ?? 0) - (y[i] ?? 0);
      return 0;
    });
}

/** '3.5' -> the newest cached 3.5.x; '3.5.16' -> itself if cached. */
export function resolveEtcdVersion(want: string, cache = ETCD_CACHE): string {
  const have = cachedEtcdVersions(cache);
  const hit = /^\d+\.\d+\.\d+$/.test(want) ? have.find((v) => v === want) : have.filter((v) => v.startsWith(`${want}.`)).at(-1);
  if (hit === undefined) throw new Error(`lab: etcd ${want} is not in ${cache} (has: ${have.join(', ') || 'nothing'}); run test/lab/setup.sh as root`);
  return hit;
}

const LAB_DIR = path.dirname(fileURLToPath(import.meta.url));
const START_TIMEOUT_MS = 15_000;
/**
 * Nodes booted at once. Each boot has START_TIMEOUT_MS from its own start; 100 nodes booted together on
 * 2 cores took ~14.6 s each (every boot scans /proc for its PID 1 and runs an ssh check), so a large lab
 * (the bench's 100 nodes) boots at most this many at a time. Labs of up to this many nodes boot all at once, as before.
 */
const BOOT_AT_ONCE = 20;
const SYSTEM_PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';
const CHILD_ENV: NodeJS.ProcessEnv = { PATH: SYSTEM_PATH, LANG: 'C', HOME: '/root', USER: 'root', LOGNAME: 'root', SHELL: '/bin/bash' };
/** Node-private stand-ins (systemctl, journalctl, kubelet, kube-apiserver) live in /etc/lab-bin. */
const NODE_ENV: NodeJS.ProcessEnv = { ...CHILD_ENV, PATH: `/etc/lab-bin:${SYSTEM_PATH}` };
/** Ports every node uses on its own address when it runs etcd (etcd, apiserver, controller-manager, scheduler). */
const ETCD_PORTS = [2379, 2380, 2381, 6443, 10257, 10259];
/** Files copied into <node state dir>/bin and installed by node-init.sh into /etc/lab-bin. */
/** Dirs a lab node has private copies of: a binary there (e.g. a clone under /tmp) is not what the node sees. */
const NODE_HIDDEN = ['/root/', '/tmp/', '/run/', '/var/log/', '/etc/', '/var/lib/'];

/**
 * The node binary the stand-ins (kubelet, apiserver, systemctl's helpers) run with inside the nodes:
 * this process's, when the nodes can see it; else the machine's on the system PATH (a test run on the
 * Node of a dev dependency in a clone under /tmp still tests its CLI on that Node: the CLI runs outside).
 */
function labNodeBinary(): string | undefined {
  const visible = (p: string) => !NODE_HIDDEN.some((d) => p.startsWith(d));
  if (visible(process.execPath)) return process.execPath;
  for (const d of SYSTEM_PATH.split(':')) {
    const p = path.join(d, 'node');
    try {
      if (existsSync(p) && visible(realpathSync(p))) return p;
    } catch {
      // not this one
    }
  }
  return undefined;
}

const NODE_BIN_FILES = ['kubelet.mjs', 'mini-yaml.mjs', 'fake-apiserver.mjs', 'fake-component.mjs', 'lab-systemctl.sh', 'lab-journalctl.sh'];

interface NodeRuntime {
  node: LabNode;
  index: number;
  /** Host PID of the unshare process (parent of node.pid); 0 when not running. */
  unsharePid: number;
  running: boolean;
  /** Resolves when the unshare process has exited. */
  exited: Promise<void>;
}

// ---------------------------------------------------------------- helpers

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

function findNodeInit(): string {
  // Next to this file, or (if this file was compiled elsewhere) test/lab/ of an ancestor.
  let dir = LAB_DIR;
  if (existsSync(path.join(dir, 'node-init.sh'))) return path.join(dir, 'node-init.sh');
  for (;;) {
    const candidate = path.join(dir, 'test', 'lab', 'node-init.sh');
    if (existsSync(candidate)) return candidate;
    const parent = path.dirname(dir);
    if (parent === dir) throw new Error(`lab: cannot find node-init.sh near ${LAB_DIR}`);
    dir = parent;
  }
}

function onPath(tool: string): boolean {
  if (tool.includes('/')) return existsSync(tool);
  const dirs = `${process.env['PATH'] ?? ''}:${SYSTEM_PATH}`.split(':');
  return dirs.some((d) => d !== '' && existsSync(path.join(d, tool)));
}

/** True while the process exists and is not a zombie. */
function isAlive(pid: number): boolean {
  if (pid <= 0) return false;
  let stat: string;
  try {
    stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  } catch {
    return false;
  }
  const state = stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3);
  return state !== 'Z' && state !== 'X' && state !== '';
}

function parentPid(pid: string): number | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return Number(fields[1]);
  } catch {
    return undefined;
  }
}

/** PIDs whose process group is pgid. */
function groupMembers(pgid: number): number[] {
  const pids: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      if (Number(fields[2]) === pgid) pids.push(Number(entry));
    } catch {
      // gone
    }
  }
  return pids;
}

/** Promise.allSettled over items with at most `limit` of fn running at a time, results in item order. */
async function settledAtMost<T, R>(items: T[], limit: number, fn: (t: T) => Promise<R>): Promise<PromiseSettledResult<R>[]> {
  const results: PromiseSettledResult<R>[] = new Array(items.length);
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < items.length) {
      const i = next++;
      try {
        results[i] = { status: 'fulfilled', value: await fn(items[i] as T) };
      } catch (reason) {
        results[i] = { status: 'rejected', reason };
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  return results;
}

/** kill(2) that ignores a missing process; a negative pid is a process group. */
function killQuietly(pid: number, signal: NodeJS.Signals): void {
  if (!Number.isInteger(pid) || pid === 0 || pid === -1) return;
  try {
    process.kill(pid, signal);
  } catch {
    // already gone
  }
}

function tail(file: string, lines = 30): string {
  try {
    return readFileSync(file, 'utf8').split('\n').slice(-lines).join('\n');
  } catch {
    return '(no log)';
  }
}

interface RunOptions {
  timeoutMs: number;
  input?: string | undefined;
  env?: NodeJS.ProcessEnv;
}

interface RunResult extends ExecResult {
  timedOut: boolean;
}

/** Runs a program in its own process group; on timeout SIGKILLs the whole group. */
function run(cmd: string, args: string[], opts: RunOptions): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, {
      detached: true,
      stdio: [opts.input === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'],
      env: opts.env ?? CHILD_ENV,
    });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    let timedOut = false;
    child.stdout?.on('data', (b: Buffer) => out.push(b));
    child.stderr?.on('data', (b: Buffer) => err.push(b));
    // On timeout kill the group's members but not its leader first: nsenter waits for
    // and reaps its child inside the node; killing nsenter too would leave that child a
    // zombie for the host's init. The whole group goes after a grace period.
    let killer: NodeJS.Timeout | undefined;
    const timer = setTimeout(() => {
      timedOut = true;
      const pgid = child.pid;
      if (pgid === undefined) return;
      const started = Date.now();
      const sweep = (): void => {
        if (Date.now() - started > 2_000) {
          killQuietly(-pgid, 'SIGKILL');
          return;
        }
        for (const pid of groupMembers(pgid)) if (pid !== pgid) killQuietly(pid, 'SIGKILL');
        killer = setTimeout(sweep, 50);
      };
      sweep();
    }, opts.timeoutMs);
    child.on('error', (e) => {
      clearTimeout(timer);
      reject(new Error(`lab: cannot run ${cmd}: ${e.message}`));
    });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      clearTimeout(killer);
      const signum = signal === null ? 0 : (os.constants.signals[signal] ?? 0);
      resolve({
        code: code ?? 128 + signum,
        stdout: Buffer.concat(out).toString('utf8'),
        stderr: Buffer.concat(err).toString('utf8'),
        timedOut,
      });
    });
    if (opts.input !== undefined && child.stdin) {
      child.stdin.on('error', () => undefined); // EPIPE if the command does not read stdin
      child.stdin.end(opts.input);
    }
  });
}

async function runOk(cmd: string, args: string[], timeoutMs = 10_000): Promise<string> {
  const r = await run(cmd, args, { timeoutMs });
  if (r.code !== 0 || r.timedOut) {
    throw new Error(`lab: ${cmd} ${args.join(' ')} failed (code ${r.code}${r.timedOut ? ', timed out' : ''}): ${r.stderr.trim()}`);
  }
  return r.stdout;
}

async function keygen(file: string, comment: string): Promise<string> {
  await rm(file, { force: true });
  await rm(`${file}.pub`, { force: true });
  await runOk('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', comment, '-f', file]);
  return (await readFile(`${file}.pub`, 'utf8')).trim();
}

function knownHostsLine(address: string, port: number, pubKey: string): string {
  const [type, key] = pubKey.split(/\s+/);
  const host = port === 22 ? address : `[${address}]:${port}`;
  return `${host} ${type ?? ''} ${key ?? ''}`;
}

function tcpOpen(address: string, port: number, timeoutMs: number): Promise<boolean> {
  return new Promise((resolve) => {
    const sock = net.connect({ host: address, port });
    const done = (ok: boolean): void => {
      sock.destroy();
      resolve(ok);
    };
    sock.setTimeout(timeoutMs, () => done(false));
    sock.once('connect', () => done(true));
    sock.once('error', () => done(false));
  });
}

function portFree(address: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const srv = net.createServer();
    srv.once('error', () => resolve(false));
    srv.listen({ host: address, port, exclusive: true }, () => srv.close(() => resolve(true)));
  });
}

function parseAddressBase(base: string): string {
  const m = /^127\.(\d{1,3})\.(\d{1,3})$/.exec(base.trim());
  if (!m || Number(m[1]) > 255 || Number(m[2]) > 255) {
    throw new Error(`lab: address base "${base}" must look like 127.X.Y (the lab only uses 127.0.0.0/8)`);
  }
  return `127.${Number(m[1])}.${Number(m[2])}`;
}

async function blockFree(base: string, count: number, ports: number[]): Promise<boolean> {
  const checks = Array.from({ length: count }, (_, i) => ports.map((p) => portFree(`${base}.${i + 1}`, p))).flat();
  const free = await Promise.all(checks);
  return free.every(Boolean);
}

async function pickAddressBase(count: number, ports: number[]): Promise<string> {
  for (let attempt = 0; attempt < 20; attempt++) {
    const b = 20 + Math.floor(Math.random() * 231); // 20..250
    const c = 1 + Math.floor(Math.random() * 250); // 1..250
    const base = `127.${b}.${c}`;
    if (await blockFree(base, count, ports)) return base;
  }
  throw new Error(`lab: found no free 127.x.y block for ports ${ports.join(',')} (is something listening on 0.0.0.0? set RUNBOOK_LAB_PORT)`);
}

/** Single-quotes a word for bash. */
export function shellQuote(s: string): string {
  return /^[A-Za-z0-9_@%+=:,./-]+$/.test(s) ? s : `'${s.replace(/'/g, `'\\''`)}'`;
}

/**
 * JSON.parse for etcdctl -w json output: 64-bit member / cluster IDs and other integers of
 * 16+ digits become decimal strings instead of losing precision as JS numbers.
 */
export function parseEtcdJson<T = unknown>(text: string): T {
  return JSON.parse(text.replace(/([:[,]\s*)(-?\d{16,})(?=\s*[,}\]])/g, '$1"$2"')) as T;
}

/** A decimal uint64 (string or number) as lower-case hex, as etcdctl prints IDs in tables. */
export function etcdIdHex(id: unknown): string {
  try {
    return BigInt(String(id)).toString(16);
  } catch {
    return String(id);
  }
}

function httpStatus(url: string, timeoutMs: number): Promise<number> {
  return new Promise((resolve) => {
    // the lab's own stand-ins (any certificate will do: this checks readiness, not identity)
    const get = url.startsWith('https:') ? (u: string, o: https.RequestOptions, cb: (res: http.IncomingMessage) => void) => https.get(u, { ...o, rejectUnauthorized: false }, cb) : http.get;
    const req = get(url, { timeout: timeoutMs, agent: false }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode ?? 0));
      res.on('error', () => resolve(0));
    });
    req.on('timeout', () => req.destroy());
    req.on('error', () => resolve(0));
  });
}

/** Host-side mounts at or below dir (there should be none: node mounts live in private namespaces). */
function mountsUnder(dir: string): string[] {
  let text: string;
  try {
    text = readFileSync('/proc/self/mounts', 'utf8');
  } catch {
    return [];
  }
  const decode = (s: string): string => s.replace(/\\([0-7]{3})/g, (_, o: string) => String.fromCharCode(parseInt(o, 8)));
  return text
    .split('\n')
    .map((line) => decode(line.split(' ')[1] ?? ''))
    .filter((mp) => mp === dir || mp.startsWith(`${dir}/`))
    .sort((a, b) => b.length - a.length);
}

// ---------------------------------------------------------------- login users (LabOptions.users)

function checkLabUsers(users: LabUser[]): LabUser[] {
  const seen = new Set<string>();
  for (const u of users) {
    if (!/^[a-z_][a-z0-9_-]{0,30}$/.test(u.name) || u.name === 'root') throw new Error(`lab: bad login user name ${JSON.stringify(u.name)}`);
    if (seen.has(u.name)) throw new Error(`lab: login user ${u.name} given twice`);
    seen.add(u.name);
  }
  if (users.length > 0 && !onPath('pivot_root')) throw new Error('lab: users need pivot_root (util-linux); run test/lab/setup.sh as root');
  if (users.some((u) => u.sudo) && !existsSync('/usr/bin/sudo')) throw new Error('lab: users with sudo need /usr/bin/sudo; run test/lab/setup.sh as root');
  return users;
}

/** node-init.sh reads <node state dir>/users ("NAME sudo|nosudo" per line): present = own root + these users. */
async function writeUsersFile(nodeStateDir: string, users: LabUser[]): Promise<void> {
  const file = path.join(nodeStateDir, 'users');
  if (users.length === 0) await rm(file, { force: true });
  else await writeFile(file, users.map((u) => `${u.name} ${u.sudo ? 'sudo' : 'nosudo'}\n`).join(''));
}

// ---------------------------------------------------------------- the lab

export async function startLab(opts: LabOptions = {}): Promise<Lab> {
  if (typeof process.getuid === 'function' && process.getuid() !== 0) {
    throw new Error('lab: must run as root (namespaces, mounts, sshd); see test/lab/setup.sh');
  }
  const missing = ['unshare', 'nsenter', 'ssh', 'ssh-keygen', '/usr/sbin/sshd', 'bash'].filter((t) => !onPath(t));
  if (missing.length > 0) throw new Error(`lab: missing ${missing.join(', ')}; run test/lab/setup.sh as root`);
  const nodeInit = findNodeInit();

  const count = opts.nodes ?? 3;
  if (!Number.isInteger(count) || count < 1 || count > 250) throw new Error(`lab: nodes must be 1..250, got ${count}`);
  const envPort = process.env['RUNBOOK_LAB_PORT'];
  const port = opts.port ?? (envPort ? Number(envPort) : 2222);
  if (!Number.isInteger(port) || port < 1 || port > 65535) throw new Error(`lab: bad port ${String(port)}`);
  const prefix = opts.namePrefix ?? 'master-';
  const etcdMode: EtcdMode = opts.etcd ?? 'none';
  if (!['none', 'static-pod', 'systemd'].includes(etcdMode)) throw new Error(`lab: bad etcd mode ${String(etcdMode)}`);
  const ports = etcdMode === 'none' ? [port] : [port, ...ETCD_PORTS.filter((p) => p !== port)];
  if (etcdMode !== 'none') {
    const missingEtcd = ['etcd', 'etcdctl', 'openssl', 'tar'].filter((t) => !onPath(t));
    if (missingEtcd.length > 0) throw new Error(`lab: missing ${missingEtcd.join(', ')}; run test/lab/setup.sh as root`);
    // the stand-ins run with a node binary inside the nodes, where these dirs are private
    if (!labNodeBinary()) throw new Error(`lab: node (${process.execPath}) is under a dir the lab nodes do not see (${NODE_HIDDEN.join(' ')}), and no node on ${SYSTEM_PATH} is visible to them; install node under /usr or /opt`);
    const hiddenCache = NODE_HIDDEN.find((d) => `${ETCD_CACHE}/`.startsWith(d));
    if (hiddenCache) throw new Error(`lab: the etcd cache ${ETCD_CACHE} is under ${hiddenCache}, which the lab nodes do not see (LAB_ETCD_CACHE)`);
  }

  const explicitBase = opts.addressBase ?? process.env['RUNBOOK_LAB_NET'];
  let addressBase: string;
  if (explicitBase !== undefined && explicitBase !== '') {
    addressBase = parseAddressBase(explicitBase);
    if (!(await blockFree(addressBase, count, ports))) {
      throw new Error(`lab: ${addressBase}.1-${count} port ${ports.join(' or ')} is in use (another lab running?); choose another RUNBOOK_LAB_NET`);
    }
  } else {
    addressBase = await pickAddressBase(count, ports);
  }

  const explicitDir = opts.stateDir ?? (process.env['RUNBOOK_LAB_DIR'] || undefined);
  let stateDir: string;
  let ownsStateDir: boolean;
  if (explicitDir !== undefined) {
    stateDir = path.resolve(explicitDir);
    ownsStateDir = !existsSync(stateDir);
    mkdirSync(stateDir, { recursive: true });
  } else {
    stateDir = await mkdtemp(path.join(os.tmpdir(), 'runbook-lab-'));
    ownsStateDir = true;
  }

  const identityFile = path.join(stateDir, 'id_ed25519');
  const knownHostsFile = path.join(stateDir, 'known_hosts');
  const hostsFile = path.join(stateDir, 'hosts');
  const perNode = <T>(v: T | T[] | undefined, dflt: T): T[] => Array.from({ length: count }, (_, i) => (Array.isArray(v) ? (v[i] ?? dflt) : (v ?? dflt)));
  const etcdVersions = etcdMode === 'none' ? perNode<string>(undefined, '') : perNode(opts.etcdVersion, '3.4').map((v) => resolveEtcdVersion(v));
  const hostTools = perNode(opts.hostTools, true);
  const users = checkLabUsers(opts.users ?? []);
  const sshUser = users[0]?.name ?? 'root';
  const layout = opts.layout ?? 'kubeadm';
  const custom = layout === 'custom';
  const nodes: (LabNode & { etcdVersion: string; memberName: string })[] = Array.from({ length: count }, (_, i) => {
    const name = `${prefix}${i + 1}`;
    const memberName = custom ? `member-${i < 26 ? String.fromCharCode(97 + i) : i + 1}` : name;
    return { name, hostname: name, address: `${addressBase}.${i + 1}`, port, pid: 0, stateDir: path.join(stateDir, name), etcdVersion: etcdVersions[i] ?? '', memberName };
  });
  const dataDir = custom ? '/var/lib/etcd-data' : '/var/lib/etcd';
  const runtimes: NodeRuntime[] = nodes.map((node, index) => ({ node, index, unsharePid: 0, running: false, exited: Promise.resolve() }));
  // ---- bastion lab (LabOptions.bastion): masters in an inner network namespace, one bastion in front
  const withBastion = opts.bastion === true;
  const bastionNode: LabNode = { name: 'bastion', hostname: 'bastion', address: `${addressBase}.253`, port, pid: 0, stateDir: path.join(stateDir, 'bastion') };
  const bastionRt: NodeRuntime | undefined = withBastion ? { node: bastionNode, index: count, unsharePid: 0, running: false, exited: Promise.resolve() } : undefined;
  const bridgeAddress = `${addressBase}.254`;
  if (withBastion && !(await portFree(bridgeAddress, port))) throw new Error(`lab: ${bridgeAddress}:${port} (the bastion bridge) is in use`);
  let innerNet: InnerNet | undefined;
  let bastion: LabBastion | undefined;
  /** Every node the lab boots: the masters, then the bastion. */
  const allRuntimes = (): NodeRuntime[] => (bastionRt ? [...runtimes, bastionRt] : runtimes);
  /** The bastion runs no etcd, whatever the masters run. */
  const modeOf = (rt: NodeRuntime): EtcdMode => (rt === bastionRt ? 'none' : etcdMode);
  /** Command prefix that puts a process into the masters' network namespace (nothing without a bastion). */
  const innerNetPrefix = (): string[] => (innerNet ? ['nsenter', `--net=${innerNet.netnsPath}`, '--'] : []);
  const pkiDir = path.join(stateDir, 'pki');
  const created = [identityFile, `${identityFile}.pub`, knownHostsFile, hostsFile, pkiDir, ...nodes.map((n) => n.stateDir), ...(withBastion ? [bastionNode.stateDir, path.join(stateDir, 'bastion.sock')] : [])];
  const pki = nodePki(pkiDir, custom && etcdMode === 'systemd' ? 'ssl' : 'kubeadm');
  const clusterToken = `lab-${randomBytes(6).toString('hex')}`;
  const etcdEndpoints = nodes.map((n) => `https://${n.address}:2379`);
  const clusterSpec: ClusterSpec = {
    members: nodes,
    token: clusterToken,
    pki,
    apiserverEtcdServers: opts.apiserverEtcdServers ?? (etcdMode === 'systemd' ? 'all' : 'local'),
    ...(custom ? { dataDir, controlPlaneTls: true } : {}),
    ...(opts.kubeletBackoff ? { kubeletBackoff: opts.kubeletBackoff === 'real' ? REAL_KUBELET_BACKOFF : opts.kubeletBackoff } : {}),
  };
  const keepLab = process.env['KEEP_LAB'] === '1';
  let stopped = false;

  // Last resort if the test process exits without stop(): SIGKILL every node's PID 1
  // (the kernel then kills the rest of the node and unshare exits by itself; before
  // PID 1 is known, killing unshare takes the child down through --kill-child).
  // If this process is SIGKILLed instead, node-init's stdin watchdog stops the nodes.
  const exitHook = (): void => {
    for (const rt of allRuntimes()) {
      if (!rt.running) continue;
      if (rt.node.pid > 0) killQuietly(rt.node.pid, 'SIGKILL');
      else killQuietly(rt.unsharePid, 'SIGKILL');
    }
    if (!keepLab) {
      for (const p of ownsStateDir ? [stateDir] : created) {
        try {
          rmSync(p, { recursive: true, force: true });
        } catch {
          // best effort
        }
      }
    }
  };
  process.on('exit', exitHook);

  const resolveNode = (ref: LabNode | number): NodeRuntime => {
    const rt = typeof ref === 'number' ? runtimes[ref] : allRuntimes().find((r) => r.node === ref || r.node.name === ref.name);
    if (!rt) throw new Error(`lab: no such node ${typeof ref === 'number' ? `#${ref}` : ref.name}`);
    return rt;
  };

  // behind a bastion (unless `direct`, from inside the inner namespace): the bastion by its bridge, a master through it
  const sshArgsFor = (node: LabNode, knownHosts: string = knownHostsFile, user = sshUser, direct = false): string[] => [
    '-F', '/dev/null',
    '-i', identityFile,
    '-o', 'IdentitiesOnly=yes',
    '-o', `UserKnownHostsFile=${knownHosts}`,
    '-o', 'GlobalKnownHostsFile=/dev/null',
    '-o', 'StrictHostKeyChecking=yes',
    '-o', 'BatchMode=yes',
    '-o', 'ConnectTimeout=5',
    '-o', 'LogLevel=ERROR',
    ...(bastion && !direct && node !== bastionNode ? ['-o', `ProxyCommand=${['ssh', ...sshArgsFor(bastionNode, knownHosts).slice(0, -1), '-W', '%h:%p', `root@${bastion.address}`].map(shellQuote).join(' ')}`] : []),
    '-p', String(bastion && !direct && node === bastionNode ? bastion.port : node.port),
    `${bastion && !direct && node === bastionNode ? 'root' : user}@${bastion && !direct && node === bastionNode ? bastion.address : node.address}`,
  ];

  const nodeLogs = (rt: NodeRuntime): string =>
    `--- ${rt.node.name} node.log ---\n${tail(path.join(rt.node.stateDir, 'node.log'))}\n` +
    `--- ${rt.node.name} sshd.log ---\n${tail(path.join(rt.node.stateDir, 'sshd.log'))}`;

  const unshareGone = (rt: NodeRuntime): boolean => !isAlive(rt.unsharePid);

  /** Waits until ssh (with the given known_hosts) runs `true` on the node. */
  const waitSsh = async (rt: NodeRuntime, deadline: number, knownHosts: string = knownHostsFile): Promise<void> => {
    const { node } = rt;
    let last = '';
    while (!innerNet && !(await tcpOpen(node.address, node.port, 500))) {
      if (unshareGone(rt)) throw new Error(`lab: node ${node.name} died during startup\n${nodeLogs(rt)}`);
      if (Date.now() > deadline) throw new Error(`lab: ${node.name} sshd not listening on ${node.address}:${node.port}\n${nodeLogs(rt)}`);
      await sleep(20);
    }
    for (;;) {
      // behind a bastion the lab checks each node from inside the inner namespace, directly
      const [cmd = 'ssh', ...args] = [...innerNetPrefix(), 'ssh', ...sshArgsFor(node, knownHosts, sshUser, true), 'true'];
      const r = await run(cmd, args, { timeoutMs: 5_000 });
      if (r.code === 0) return;
      last = r.stderr.trim();
      if (unshareGone(rt)) throw new Error(`lab: node ${node.name} died during startup\n${nodeLogs(rt)}`);
      if (Date.now() > deadline) throw new Error(`lab: ssh to ${node.name} (${node.address}:${node.port}) keeps failing: ${last}\n${nodeLogs(rt)}`);
      await sleep(50);
    }
  };

  const findInitPid = async (rt: NodeRuntime, deadline: number): Promise<number> => {
    const parent = rt.unsharePid;
    for (;;) {
      for (const entry of readdirSync('/proc')) {
        if (!/^\d+$/.test(entry)) continue;
        if (parentPid(entry) === parent) return Number(entry);
      }
      if (unshareGone(rt)) throw new Error(`lab: unshare for ${rt.node.name} exited early\n${nodeLogs(rt)}`);
      if (Date.now() > deadline) throw new Error(`lab: no PID 1 found for ${rt.node.name}\n${nodeLogs(rt)}`);
      await sleep(5);
    }
  };

  const bootNode = async (rt: NodeRuntime): Promise<void> => {
    const { node } = rt;
    const deadline = Date.now() + START_TIMEOUT_MS;
    if (modeOf(rt) !== 'none') {
      // node-init.sh installs these into the node's /etc/lab-bin on every boot
      const binDir = path.join(node.stateDir, 'bin');
      mkdirSync(binDir, { recursive: true });
      await Promise.all(NODE_BIN_FILES.map((f) => copyFile(path.join(path.dirname(nodeInit), f), path.join(binDir, f))));
      await writeFile(path.join(binDir, 'node-path'), `${labNodeBinary() ?? process.execPath}\n`);
      await writeFile(path.join(binDir, 'etcd-cache'), `${ETCD_CACHE}\n`);
      await writeFile(path.join(binDir, 'etcd-version'), `${etcdVersions[rt.index]}\n`);
      await writeFile(path.join(binDir, 'host-tools'), hostTools[rt.index] ? 'yes\n' : 'no\n');
    }
    await writeUsersFile(node.stateDir, users);
    const logFd = openSync(path.join(node.stateDir, 'node.log'), 'a');
    const child = ((): ChildProcess => {
      try {
        const [cmd = 'unshare', ...prefix] = [...innerNetPrefix(), 'unshare'];
        return spawn(
          cmd,
          [...prefix, '--mount', '--uts', '--pid', '--fork', '--mount-proc', '--propagation', 'private', '--kill-child',
            'bash', nodeInit, node.hostname, node.address, String(node.port), node.stateDir, `${identityFile}.pub`, hostsFile, modeOf(rt)],
          // stdin: a socket only this process holds; node-init stops the node on EOF (we died).
          { detached: true, stdio: ['pipe', logFd, logFd], env: CHILD_ENV },
        );
      } finally {
        closeSync(logFd);
      }
    })();
    const spawnError = new Promise<never>((_, reject) => child.once('error', (e) => reject(new Error(`lab: cannot start unshare: ${e.message}`))));
    spawnError.catch(() => undefined);
    rt.exited = new Promise((resolve) => child.once('exit', () => resolve()));
    child.unref();
    const stdin = child.stdin;
    if (stdin instanceof net.Socket) stdin.unref();
    stdin?.on('error', () => undefined);
    if (child.pid === undefined) await spawnError;
    rt.unsharePid = child.pid ?? 0;
    rt.running = true;
    node.pid = 0;
    node.pid = await Promise.race([findInitPid(rt, deadline), spawnError]);
    await Promise.race([waitSsh(rt, deadline), spawnError]);
  };

  const stopRuntime = async (rt: NodeRuntime): Promise<void> => {
    if (!rt.running) return;
    const waitGone = async (ms: number): Promise<boolean> => {
      const until = Date.now() + ms;
      while (isAlive(rt.node.pid) || isAlive(rt.unsharePid)) {
        if (Date.now() > until) return false;
        await sleep(10);
      }
      return true;
    };
    killQuietly(rt.node.pid, 'SIGTERM');
    if (!(await waitGone(2_000))) {
      killQuietly(rt.node.pid, 'SIGKILL');
      killQuietly(rt.unsharePid, 'SIGKILL');
      if (!(await waitGone(5_000))) throw new Error(`lab: node ${rt.node.name} (pid ${rt.node.pid}) does not die`);
    }
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([rt.exited, new Promise<void>((resolve) => (timer = setTimeout(resolve, 1_000)))]);
    clearTimeout(timer);
    rt.running = false;
  };

  const stop = async (): Promise<void> => {
    if (stopped) return;
    stopped = true;
    const results = await Promise.allSettled(allRuntimes().map(stopRuntime));
    const errors = results.flatMap((r) => (r.status === 'rejected' ? [String(r.reason)] : []));
    await innerNet?.stop().catch((e: unknown) => errors.push(`bastion network: ${String(e)}`));
    for (const rt of allRuntimes()) {
      if (!rt.running) continue;
      killQuietly(rt.node.pid, 'SIGKILL');
      killQuietly(rt.unsharePid, 'SIGKILL');
    }
    process.removeListener('exit', exitHook);
    for (const mp of mountsUnder(stateDir)) {
      const r = await run('umount', ['-l', mp], { timeoutMs: 5_000 });
      if (r.code !== 0) errors.push(`umount ${mp}: ${r.stderr.trim()}`);
    }
    if (!keepLab) {
      if (ownsStateDir) {
        await rm(stateDir, { recursive: true, force: true });
      } else {
        await Promise.all(created.map((p) => rm(p, { recursive: true, force: true })));
      }
    }
    if (errors.length > 0) throw new Error(`lab: stop had errors:\n${errors.join('\n')}`);
  };

  // ---- etcd helpers

  const needEtcd = (what: string): void => {
    if (etcdMode === 'none') throw new Error(`lab: ${what} needs startLab({ etcd: 'static-pod' | 'systemd' })`);
  };

  // the node's own version's etcdctl, by path: a node may have no etcd tools on its PATH
  const etcdctlCommand = (endpoints: string[], args: string[], index: number): string =>
    'ETCDCTL_API=3 ' +
    [`${ETCD_IMAGES_DIR}/${etcdVersions[index]}/etcdctl`, `--endpoints=${endpoints.join(',')}`, `--cacert=${pki.caCert}`, `--cert=${pki.healthcheckClientCert}`, `--key=${pki.healthcheckClientKey}`, ...args]
      .map(shellQuote)
      .join(' ');

  const apiserverUrl = (ref: LabNode | number): string => `${custom ? 'https' : 'http'}://${resolveNode(ref).node.address}:6443`;

  /** One round of health checks; returns the health or a string saying what is wrong. */
  const checkEtcdOnce = async (runner: NodeRuntime, endpoints: string[], expectMembers: number): Promise<EtcdHealth | string> => {
    const quick = ['--dial-timeout=1s', '--command-timeout=2s'];
    const cmd = [
      `${etcdctlCommand(endpoints, [...quick, 'endpoint', 'health', '-w', 'json'], runner.index)}; echo "@@rc=$?"`,
      `${etcdctlCommand(endpoints, [...quick, 'endpoint', 'status', '-w', 'json'], runner.index)}; echo "@@rc=$?"`,
      `${etcdctlCommand(endpoints, [...quick, 'member', 'list', '-w', 'json'], runner.index)}; echo "@@rc=$?"`,
    ].join('; ');
    let r: ExecResult;
    try {
      r = await lab.exec(runner.index, cmd, { timeoutMs: 15_000 });
    } catch (e) {
      return e instanceof Error ? e.message : String(e);
    }
    const parts = r.stdout.split(/^@@rc=(\d+)\n?/m); // [out, rc, out, rc, out, rc, '']
    const errLines = r.stderr.split('\n').filter((l) => l !== '' && !l.startsWith('{"level"')).slice(-3).join(' | ');
    if (parts.length < 7) return `etcdctl output not understood: ${r.stdout.slice(0, 300)} ${errLines}`;
    const [healthOut = '', healthRc, statusOut = '', statusRc, membersOut = '', membersRc] = parts;
    if (healthRc !== '0') return `endpoint health failed: ${healthOut.trim()} ${errLines}`;
    if (statusRc !== '0') return `endpoint status failed: ${statusOut.trim()} ${errLines}`;
    if (membersRc !== '0') return `member list failed: ${membersOut.trim()} ${errLines}`;
    try {
      type Status = { Endpoint: string; Status: { header: { cluster_id: string }; leader: string } };
      type Members = { members?: Array<{ ID: string; name?: string; peerURLs?: string[]; clientURLs?: string[] }> };
      const status = parseEtcdJson<Status[]>(statusOut);
      const list = parseEtcdJson<Members>(membersOut);
      if (status.length !== endpoints.length) return `endpoint status answered for ${status.length}/${endpoints.length} endpoints`;
      const clusterIds = new Set(status.map((s) => String(s.Status.header.cluster_id)));
      if (clusterIds.size !== 1) return `endpoints disagree on the cluster ID: ${[...clusterIds].map(etcdIdHex).join(', ')}`;
      const leaders = new Set(status.map((s) => String(s.Status.leader)));
      const [leader = '0'] = [...leaders];
      if (leaders.size !== 1 || leader === '0') return `no single leader: ${[...leaders].map(etcdIdHex).join(', ')}`;
      const members: EtcdMemberInfo[] = (list.members ?? []).map((m) => ({
        id: etcdIdHex(m.ID),
        name: m.name ?? '',
        peerURLs: m.peerURLs ?? [],
        clientURLs: m.clientURLs ?? [],
      }));
      const started = members.filter((m) => m.name !== '' && m.clientURLs.length > 0);
      if (started.length !== expectMembers || members.length !== expectMembers) {
        return `member list has ${members.length} members (${started.length} started), expected ${expectMembers}: ${members.map((m) => m.name || m.id).join(', ')}`;
      }
      const leaderHex = etcdIdHex(leader);
      const leaderName = members.find((m) => m.id === leaderHex)?.name ?? '';
      if (leaderName === '') return `leader ${leaderHex} is not in the member list`;
      return { clusterId: etcdIdHex([...clusterIds][0]), leader: leaderHex, leaderName, members, status };
    } catch (e) {
      return `cannot parse etcdctl output: ${e instanceof Error ? e.message : String(e)}`;
    }
  };

  const etcdDiagnostics = async (rts: NodeRuntime[]): Promise<string> => {
    const logs = etcdMode === 'systemd' ? '/var/log/etcd.log /var/log/kube-apiserver.log' : '/var/log/pods/etcd.log /var/log/pods/kube-apiserver.log /var/log/kubelet.log';
    const out: string[] = [];
    for (const rt of rts) {
      if (!rt.running || !isAlive(rt.node.pid)) {
        out.push(`--- ${rt.node.name}: not running`);
        continue;
      }
      const r = await lab
        .exec(rt.index, `for f in /var/log/lab-boot.log ${logs}; do echo "--- ${rt.node.name} $f"; tail -n 8 "$f" 2>&1 | cut -c1-400; done`, { timeoutMs: 5_000 })
        .catch((e: unknown) => ({ stdout: String(e), stderr: '', code: 1 }));
      out.push(r.stdout.trimEnd());
    }
    return out.join('\n');
  };

  /** An HTTP status seen from inside a node (behind a bastion the test process cannot reach it). */
  const innerHttpStatus = async (rt: NodeRuntime, url: string): Promise<number> => {
    const r = await lab.exec(rt.index, `curl -sk -o /dev/null -m 1.5 -w '%{http_code}' ${shellQuote(url)}`, { timeoutMs: 5_000 }).catch(() => ({ stdout: '0' }));
    return Number(r.stdout.trim()) || 0;
  };

  const waitHealthy = async (wopts: WaitHealthyOptions = {}): Promise<EtcdHealth> => {
    needEtcd('waitHealthy');
    const timeoutMs = wopts.timeoutMs ?? 30_000;
    const deadline = Date.now() + timeoutMs;
    const selected = wopts.nodes ? wopts.nodes.map(resolveNode) : runtimes.filter((rt) => rt.running);
    if (selected.length === 0) throw new Error('lab: waitHealthy: no running node to check');
    const endpoints = selected.map((rt) => `https://${rt.node.address}:2379`);
    const expectMembers = wopts.members ?? selected.length;
    const checkApi = wopts.apiserver ?? true;
    let last = 'not checked yet';
    for (;;) {
      const runner = selected.find((rt) => rt.running && isAlive(rt.node.pid));
      if (!runner) throw new Error('lab: waitHealthy: none of the checked nodes is running');
      const health = await checkEtcdOnce(runner, endpoints, expectMembers);
      if (typeof health === 'string') {
        last = health;
      } else if (checkApi) {
        const codes = await Promise.all(selected.map((rt) => (innerNet ? innerHttpStatus(rt, `${apiserverUrl(rt.index)}/readyz`) : httpStatus(`${apiserverUrl(rt.index)}/readyz`, 1_500))));
        const bad = selected.filter((_, i) => codes[i] !== 200).map((rt, i) => `${rt.node.name}=${codes[i] || 'no answer'}`);
        if (bad.length === 0) return health;
        last = `etcd healthy (leader ${health.leaderName}) but kube-apiserver /readyz not 200 on ${bad.join(', ')}`;
      } else {
        return health;
      }
      if (Date.now() > deadline) {
        throw new Error(`lab: etcd cluster not healthy after ${timeoutMs} ms: ${last}
${await etcdDiagnostics(selected)}`);
      }
      await sleep(150);
    }
  };

  /** Bastion lab: the inner namespace and its bridge, then the bastion node, recorded in known_hosts. */
  const startBastion = async (rt: NodeRuntime): Promise<void> => {
    const hostKey = await keygen(path.join(rt.node.stateDir, 'ssh_host_ed25519_key'), rt.node.hostname);
    const logFd = openSync(path.join(stateDir, 'bastion-net.log'), 'a');
    try {
      innerNet = await startInnerNet({ socket: path.join(stateDir, 'bastion.sock'), bastionAddress: rt.node.address, bridgeAddress, port, logFd });
    } finally {
      closeSync(logFd);
    }
    const line = knownHostsLine(bridgeAddress, port, hostKey);
    bastion = { node: rt.node, address: bridgeAddress, port, innerAddress: rt.node.address, hostKey, knownHostsLine: line, helperPids: [innerNet.holderPid, innerNet.bridgePid], netnsPath: innerNet.netnsPath };
    // (its inner address too: the lab checks every node from inside the namespace first)
    await writeFile(knownHostsFile, `${await readFile(knownHostsFile, 'utf8')}${line}\n${knownHostsLine(rt.node.address, port, hostKey)}\n`);
    await bootNode(rt);
  };

  /** ssh from the test process to a master through the bastion (ProxyCommand): the path the runbook takes. */
  const waitSshViaBastion = async (rt: NodeRuntime): Promise<void> => {
    const deadline = Date.now() + START_TIMEOUT_MS;
    for (;;) {
      const r = await run('ssh', [...sshArgsFor(rt.node), 'true'], { timeoutMs: 10_000 });
      if (r.code === 0) return;
      if (Date.now() > deadline) throw new Error(`lab: ssh to ${rt.node.name} through the bastion keeps failing: ${r.stderr.trim()}\n${nodeLogs(rt)}`);
      await sleep(100);
    }
  };

  const lab: Lab = {
    nodes,
    stateDir,
    identityFile,
    knownHostsFile,
    sshUser,
    etcdMode,
    etcdVersions,
    etcdCache: ETCD_CACHE,
    etcdEndpoints,
    pki,
    clusterToken,
    waitHealthy,
    apiserverUrl,
    get bastion() {
      return bastion;
    },
    layout,
    memberNames: nodes.map((n) => n.memberName),
    dataDir,

    async etcdctl(ref, args, eopts = {}) {
      needEtcd('etcdctl');
      const rt = resolveNode(ref);
      const e = eopts.endpoints ?? 'node';
      const endpoints = e === 'node' ? [`https://${rt.node.address}:2379`] : e === 'all' ? etcdEndpoints : e;
      const execOpts: ExecOptions = { timeoutMs: eopts.timeoutMs ?? 30_000 };
      if (eopts.input !== undefined) execOpts.input = eopts.input;
      return lab.exec(rt.index, etcdctlCommand(endpoints, args, rt.index), execOpts);
    },

    async exec(ref, command, execOpts = {}) {
      const rt = resolveNode(ref);
      if (!rt.running || !isAlive(rt.node.pid)) throw new Error(`lab: node ${rt.node.name} is not running`);
      const timeoutMs = execOpts.timeoutMs ?? 30_000;
      const r = await run('nsenter', ['-t', String(rt.node.pid), '-m', '-u', '-p', '-n', '--', '/bin/bash', '-c', command], {
        timeoutMs,
        input: execOpts.input,
        env: NODE_ENV,
      });
      if (r.timedOut) {
        throw new Error(`lab: exec on ${rt.node.name} timed out after ${timeoutMs} ms: ${command}\nstdout: ${r.stdout}\nstderr: ${r.stderr}`);
      }
      return { code: r.code, stdout: r.stdout, stderr: r.stderr };
    },

    sshArgs(ref, user) {
      return sshArgsFor(resolveNode(ref).node, knownHostsFile, user);
    },

    async stopNode(ref) {
      await stopRuntime(resolveNode(ref));
    },

    async startNode(ref) {
      const rt = resolveNode(ref);
      if (stopped) throw new Error('lab: lab is stopped');
      if (rt.running) return;
      try {
        await bootNode(rt);
      } catch (e) {
        await stopRuntime(rt).catch(() => undefined);
        throw e;
      }
    },

    async regenerateHostKey(ref) {
      const rt = resolveNode(ref);
      if (!rt.running) throw new Error(`lab: node ${rt.node.name} is not running`);
      const keyFile = path.join(rt.node.stateDir, 'ssh_host_ed25519_key');
      const pub = await keygen(keyFile, rt.node.hostname);
      // SIGHUP makes sshd re-exec itself and load the new key (same PID); start it if it is not running.
      const r = await lab.exec(
        rt.index,
        'pid=$(cat /run/sshd.pid 2>/dev/null); if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then kill -HUP "$pid"; ' +
          'else /usr/sbin/sshd -f /run/lab/sshd_config -E /run/lab/sshd.log; fi',
        { timeoutMs: 10_000 },
      );
      if (r.code !== 0) throw new Error(`lab: restarting sshd on ${rt.node.name} failed: ${r.stderr}`);
      const newKnownHosts = path.join(rt.node.stateDir, 'known_hosts.new');
      await writeFile(newKnownHosts, `${knownHostsLine(rt.node.address, rt.node.port, pub)}\n`);
      await waitSsh(rt, Date.now() + START_TIMEOUT_MS, newKnownHosts);
    },

    stop,
  };

  try {
    for (const n of [...nodes, ...(withBastion ? [bastionNode] : [])]) {
      await rm(n.stateDir, { recursive: true, force: true });
      mkdirSync(n.stateDir, { recursive: true, mode: 0o700 });
    }
    const [clientPub, ...hostPubs] = await Promise.all([
      keygen(identityFile, 'runbook-lab'),
      ...nodes.map((n) => keygen(path.join(n.stateDir, 'ssh_host_ed25519_key'), n.hostname)),
    ]);
    if (clientPub === undefined || (statSync(identityFile).mode & 0o077) !== 0) throw new Error('lab: bad client key');
    await writeFile(knownHostsFile, nodes.map((n, i) => `${knownHostsLine(n.address, n.port, hostPubs[i] ?? '')}\n`).join(''));
    await writeFile(hostsFile, nodes.map((n) => `${n.address}\t${n.hostname}\n`).join(''));
    if (bastionRt) await startBastion(bastionRt);
    if (etcdMode !== 'none') {
      // CA + certs once per lab, then a seed tree per node that node-init.sh copies into / on first boot
      await rm(pkiDir, { recursive: true, force: true });
      await generatePki(pkiDir, nodes);
      await Promise.all(nodes.map((n) => writeSeed(path.join(n.stateDir, 'seed'), etcdMode, clusterSpec, n)));
    }
    const started = await settledAtMost(runtimes, BOOT_AT_ONCE, bootNode);
    // the lab's own check of each master went through the inner namespace; now the whole path, as the runbook takes it
    if (bastion) for (const rt of runtimes) await waitSshViaBastion(rt);
    const failed = started.flatMap((r) => (r.status === 'rejected' ? [r.reason instanceof Error ? r.reason.message : String(r.reason)] : []));
    if (failed.length > 0) throw new Error(failed.join('\n'));
    if (etcdMode !== 'none' && opts.waitHealthy !== false) await waitHealthy();
  } catch (e) {
    await stop().catch(() => undefined);
    throw e;
  }
  return lab;
}
