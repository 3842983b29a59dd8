#!/usr/bin/env node
// kubelet stand-in for the test lab (plain Node.js, no deps). Runs inside a lab
// node as the "kubelet" systemd-style unit (see lab-systemctl.sh). It only
// does static pods, as processes, without containers:
//
// - Every non-hidden regular file in the manifest dir (default
//   /etc/kubernetes/manifests, flag --pod-manifest-path=DIR) is a pod, whatever
//   its name, so a stray etcd.yaml.bak becomes a second pod. It is polled every
//   250 ms.
// - A pod runs spec.containers[0].command + args as one process (no shell), in
//   its own session, with env from containers[0].env, stdout+stderr appended
//   to /var/log/pods/<id>.log. Its PID is in /run/pods/<id>.pid while the
//   process runs (not during a restart back-off). /run/pods/<id>.status exists
//   as long as the pod does: "state=running|waiting|stopping pid=N restarts=N
//   [last="exit code 1"] file=...".
// - <id> is metadata.name when the file is <name>.yaml / .yml / .json, and
//   <name>_<file name> otherwise (e.g. "etcd_etcd.yaml.bak").
// - hostPath volumes: DirectoryOrCreate / FileOrCreate paths are created; when
//   hostPath.path differs from the volumeMount's mountPath, the pod gets a
//   private mount namespace with hostPath bind-mounted on mountPath (so editing
//   the etcd-data hostPath in etcd.yaml points etcd at another directory, as
//   with a real kubelet). Identical paths need nothing.
// - restartPolicy is always Always: a pod that exits is started again after a
//   back-off of 0.5 s, doubling to 5 s at most (reset once it ran 10 s); flags
//   --crash-backoff-min-ms, --crash-backoff-max-ms and --crash-backoff-reset-ms set it
//   (the real kubelet: 10 s doubling to 300 s, reset after 10 min).
// - A changed manifest (parsed content, so comments and whitespace do not
//   count) stops the pod (SIGTERM, SIGKILL after 5 s) and starts the new one.
//   A removed manifest stops the pod. A file that does not parse counts as
//   removed once it has been unparseable for 1 s.
// - Like the real kubelet, stopping the kubelet itself (SIGTERM) leaves its
//   pods running; a new kubelet adopts them (state in /run/lab-kubelet) if
//   their manifests did not change.
// - Images: an image whose repository the lab has (/etc/lab-bin/images/<last path part of the
//   repository>, e.g. etcd for registry.k8s.io/etcd:3.5.16-0) runs with the dir of its tag
//   (without the -N build suffix: images/etcd/3.5.16) first on PATH, so `command: [etcd]` runs
//   that version. A tag the lab does not have fails the pod start (like an image that cannot be
//   pulled), and is retried with the back-off. Other images run with the kubelet's PATH.
// - No probes, no API server registration.

import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import {
  appendFileSync,
  closeSync,
  existsSync,
  mkdirSync,
  openSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { hostname } from 'node:os';
import { parseYaml } from './mini-yaml.mjs';

const flag = (name, dflt) => {
  const a = process.argv.find((x) => x.startsWith(`--${name}=`));
  return a ? a.slice(name.length + 3) : dflt;
};

const MANIFESTS = flag('pod-manifest-path', '/etc/kubernetes/manifests');
const POD_LOG_DIR = flag('pod-log-dir', '/var/log/pods');
const PID_DIR = flag('pod-pid-dir', '/run/pods');
const STATE_DIR = flag('state-dir', '/run/lab-kubelet');
const TICK_MS = 250;
/** A whole number of milliseconds from a flag, or the default; anything else stops the kubelet at once. */
const msFlag = (name, dflt) => {
  const v = flag(name, String(dflt));
  if (!/^[0-9]+$/.test(v)) {
    process.stderr.write(`kubelet: --${name}=${v}: not a whole number of milliseconds\n`);
    process.exit(2);
  }
  return Number(v);
};
// crash back-off (lab.ts's kubeletBackoff): the lab's short one by default, the real kubelet's is 10 s to 300 s, reset after 10 min
const BACKOFF_MIN_MS = msFlag('crash-backoff-min-ms', 500);
const BACKOFF_MAX_MS = msFlag('crash-backoff-max-ms', 5_000);
const BACKOFF_RESET_AFTER_MS = msFlag('crash-backoff-reset-ms', 10_000);
const STOP_GRACE_MS = 5_000;
const INVALID_GRACE_MS = 1_000;
const DEFAULT_PATH = '/etc/lab-bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';

try {
  writeFileSync('/proc/self/comm', 'kubelet');
} catch {
  // cosmetic only
}

const log = (msg) => process.stdout.write(`${new Date().toISOString()} kubelet: ${msg}\n`);

/** Field 22 of /proc/PID/stat (start time), or null if the process is gone or a zombie. */
function procStart(pid) {
  if (!pid) return null;
  let stat;
  try {
    stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  } catch {
    return null;
  }
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  if (fields[0] === 'Z' || fields[0] === 'X') return null;
  return fields[19] ?? null; // fields[0] is field 3
}

function killGroup(pid, signal) {
  try {
    process.kill(-pid, signal);
    return;
  } catch {
    // not a group leader (or gone): the process itself
  }
  try {
    process.kill(pid, signal);
  } catch {
    // gone
  }
}

function writeAtomic(file, text) {
  const tmp = `${file}.tmp${process.pid}`;
  writeFileSync(tmp, text);
  renameSync(tmp, file);
}

// ---------------------------------------------------------------- manifests

function podSpec(doc) {
  if (!doc || typeof doc !== 'object' || Array.isArray(doc)) throw new Error('not a mapping');
  const name = doc.metadata?.name;
  if (typeof name !== 'string' || name === '') throw new Error('metadata.name missing');
  const containers = doc.spec?.containers;
  if (!Array.isArray(containers) || containers.length === 0) throw new Error('spec.containers missing');
  const c = containers[0];
  const strList = (v, what) => {
    if (v === undefined || v === null) return [];
    if (!Array.isArray(v) || v.some((x) => typeof x !== 'string')) throw new Error(`${what} must be a list of strings`);
    return v;
  };
  const argv = [...strList(c.command, 'command'), ...strList(c.args, 'args')];
  if (argv.length === 0) throw new Error('containers[0].command missing (images are not run in the lab)');
  const env = {};
  for (const e of Array.isArray(c.env) ? c.env : []) {
    if (e && typeof e.name === 'string') env[e.name] = e.value === null || e.value === undefined ? '' : String(e.value);
  }
  const volumes = new Map();
  for (const v of Array.isArray(doc.spec.volumes) ? doc.spec.volumes : []) {
    if (v && typeof v.name === 'string') volumes.set(v.name, v);
  }
  const mounts = [];
  for (const m of Array.isArray(c.volumeMounts) ? c.volumeMounts : []) {
    const v = m && volumes.get(m.name);
    if (!v?.hostPath?.path || typeof m.mountPath !== 'string') continue;
    mounts.push({ hostPath: String(v.hostPath.path), mountPath: m.mountPath, type: String(v.hostPath.type ?? ''), readOnly: String(m.readOnly) === 'true' });
  }
  return { name, argv, env, mounts, image: typeof c.image === 'string' ? c.image : '' };
}

const IMAGES_DIR = '/etc/lab-bin/images';

/** The image's dir of binaries (see the header), '' for an image the lab does not model; throws for a missing tag. */
function imageDir(image) {
  const m = /^(?:.*\/)?([^/:@]+)(?::([^@]+))?(?:@.*)?$/.exec(image);
  if (!m) return '';
  const repo = `${IMAGES_DIR}/${m[1]}`;
  if (!existsSync(repo)) return '';
  const tag = (m[2] ?? 'latest').replace(/-\d+$/, '');
  const dir = `${repo}/${tag}`;
  if (!existsSync(dir)) throw new Error(`image ${image} is not present in the lab (no ${dir})`);
  return dir;
}

/** file -> { hash, spec, invalidSince } of the last valid parse, for debouncing half-written files */
const lastValid = new Map();

/** @returns {Map<string, {id, file, hash, spec}>} */
function scan(now) {
  let entries;
  try {
    entries = readdirSync(MANIFESTS).sort();
  } catch {
    entries = [];
  }
  const parsed = [];
  for (const base of entries) {
    if (base.startsWith('.')) continue;
    const file = `${MANIFESTS}/${base}`;
    let text;
    try {
      if (!statSync(file).isFile()) continue;
      text = readFileSync(file, 'utf8');
    } catch {
      continue; // vanished
    }
    try {
      const doc = parseYaml(text);
      const spec = podSpec(doc);
      const hash = createHash('sha256').update(JSON.stringify(doc)).digest('hex').slice(0, 16);
      lastValid.set(file, { hash, spec, invalidSince: 0, error: '' });
      parsed.push({ base, file, hash, spec });
    } catch (e) {
      const prev = lastValid.get(file);
      const msg = e instanceof Error ? e.message : String(e);
      if (prev?.hash) {
        if (!prev.invalidSince) prev.invalidSince = now;
        if (now - prev.invalidSince < INVALID_GRACE_MS) {
          parsed.push({ base, file, hash: prev.hash, spec: prev.spec });
          continue;
        }
      }
      if (!prev || prev.error !== msg) log(`ignoring ${file}: ${msg}`);
      lastValid.set(file, { hash: '', spec: null, invalidSince: prev?.invalidSince || now, error: msg });
    }
  }
  const present = new Set(entries.map((base) => `${MANIFESTS}/${base}`));
  for (const file of [...lastValid.keys()]) if (!present.has(file)) lastValid.delete(file);
  const out = new Map();
  for (const p of parsed) {
    const canonical = p.base.replace(/\.(ya?ml|json)$/, '') === p.spec.name;
    let id = canonical && !out.has(p.spec.name) ? p.spec.name : `${p.spec.name}_${p.base}`;
    id = id.replace(/[/\0]/g, '_');
    out.set(id, { id, file: p.file, hash: p.hash, spec: p.spec });
  }
  return out;
}

// ---------------------------------------------------------------- pods

/**
 * @typedef {{ id: string, file: string, hash: string, spec: any, pid: number, start: string|null,
 *   startedAt: number, state: 'running'|'waiting'|'stopping', nextStartAt: number, backoff: number,
 *   stopDeadline: number, killed: boolean, next: any, lastExit: string }} Pod
 */
/** @type {Map<string, Pod>} */
const pods = new Map();

const pidFile = (id) => `${PID_DIR}/${id}.pid`;
const stateFile = (id) => `${STATE_DIR}/${id}.json`;
const statusFile = (id) => `${PID_DIR}/${id}.status`;

/** /run/pods/<id>.status: one line "state=running|waiting|stopping pid=N restarts=N last=... file=..." while the pod exists. */
function writeStatus(p) {
  try {
    mkdirSync(PID_DIR, { recursive: true });
    const last = p.lastExit ? ` last=${JSON.stringify(p.lastExit)}` : '';
    writeAtomic(statusFile(p.id), `state=${p.state} pid=${p.pid} restarts=${p.restarts}${last} file=${p.file}\n`);
  } catch {
    // best effort
  }
}

function removePod(p) {
  forget(p);
  rmSync(statusFile(p.id), { force: true });
  pods.delete(p.id);
}

function newPod(d) {
  return { id: d.id, file: d.file, hash: d.hash, spec: d.spec, pid: 0, start: null, startedAt: 0, state: 'waiting', nextStartAt: 0, backoff: BACKOFF_MIN_MS, stopDeadline: 0, killed: false, next: null, lastExit: '', restarts: 0 };
}

const alive = (p) => p.pid > 0 && p.start !== null && procStart(p.pid) === p.start;

function forget(p) {
  rmSync(pidFile(p.id), { force: true });
  rmSync(stateFile(p.id), { force: true });
  p.pid = 0;
  p.start = null;
}

function prepareMounts(spec) {
  const binds = [];
  for (const m of spec.mounts) {
    const t = m.type;
    if (t === 'DirectoryOrCreate') mkdirSync(m.hostPath, { recursive: true, mode: 0o755 });
    else if (t === 'FileOrCreate') {
      mkdirSync(m.hostPath.replace(/\/[^/]*$/, '') || '/', { recursive: true });
      closeSync(openSync(m.hostPath, 'a', 0o644));
    } else if (t === 'Directory' || t === 'File') {
      const st = statSync(m.hostPath, { throwIfNoEntry: false });
      if (!st || (t === 'Directory' ? !st.isDirectory() : !st.isFile())) throw new Error(`hostPath type check failed: ${m.hostPath} is not a ${t}`);
    }
    if (m.hostPath.replace(/\/+$/, '') !== m.mountPath.replace(/\/+$/, '')) binds.push(m);
  }
  return binds;
}

function startPod(p) {
  const now = Date.now();
  mkdirSync(POD_LOG_DIR, { recursive: true });
  mkdirSync(PID_DIR, { recursive: true });
  mkdirSync(STATE_DIR, { recursive: true });
  const logPath = `${POD_LOG_DIR}/${p.id}.log`;
  p.state = 'running';
  p.startedAt = now;
  p.killed = false;
  let cmd;
  let args;
  try {
    const binds = prepareMounts(p.spec);
    const fromImage = imageDir(p.spec.image);
    p.path = fromImage ? `${fromImage}:${process.env.PATH || DEFAULT_PATH}` : process.env.PATH || DEFAULT_PATH;
    if (binds.length === 0) {
      [cmd, ...args] = p.spec.argv;
    } else {
      // private mount namespace; unshare and sh exec, so the PID stays that of the pod
      let script = '';
      binds.forEach((_, i) => {
        const h = `"$${2 * i + 1}"`;
        const mp = `"$${2 * i + 2}"`;
        script += `if [ -d ${h} ]; then mkdir -p ${mp}; else mkdir -p "$(dirname ${mp})" && touch ${mp}; fi && mount --bind ${h} ${mp} || exit 1; `;
      });
      script += `shift ${2 * binds.length}; exec "$@"`;
      cmd = 'unshare';
      args = ['--mount', '--propagation', 'private', '--', '/bin/sh', '-c', script, 'pod-mounts', ...binds.flatMap((b) => [b.hostPath, b.mountPath]), ...p.spec.argv];
    }
  } catch (e) {
    appendFileSync(logPath, `kubelet: cannot start pod ${p.id}: ${e instanceof Error ? e.message : e}\n`);
    died(p, `setup failed: ${e instanceof Error ? e.message : e}`);
    return;
  }
  const fd = openSync(logPath, 'a');
  let child;
  try {
    child = spawn(cmd, args, {
      detached: true,
      stdio: ['ignore', fd, fd],
      cwd: '/',
      env: { PATH: p.path, HOSTNAME: hostname(), HOME: '/root', ...p.spec.env },
    });
  } finally {
    closeSync(fd);
  }
  child.on('error', (e) => {
    appendFileSync(logPath, `kubelet: cannot run ${cmd}: ${e.message}\n`);
    if (p.pid === 0 && p.state === 'running') died(p, e.message);
  });
  if (child.pid === undefined) return; // 'error' follows
  const pid = child.pid;
  child.on('exit', (code, signal) => {
    if (p.pid === pid) p.lastExit = signal ? `signal ${signal}` : `exit code ${code}`;
    setImmediate(tick);
  });
  p.pid = pid;
  p.start = procStart(pid);
  writeAtomic(pidFile(p.id), `${pid}\n`);
  writeAtomic(stateFile(p.id), JSON.stringify({ id: p.id, file: p.file, hash: p.hash, pid, start: p.start }));
  writeStatus(p);
  log(`started pod ${p.id} (${p.file}) pid ${pid}: ${p.spec.argv.join(' ')}`);
}

function died(p, why) {
  const now = Date.now();
  if (p.startedAt && now - p.startedAt >= BACKOFF_RESET_AFTER_MS) p.backoff = BACKOFF_MIN_MS;
  const delay = p.backoff;
  p.backoff = Math.min(p.backoff * 2, BACKOFF_MAX_MS);
  log(`pod ${p.id} pid ${p.pid || '-'} ended (${why || p.lastExit || 'gone'}); restarting in ${delay} ms`);
  forget(p);
  p.state = 'waiting';
  p.restarts++;
  p.nextStartAt = now + delay;
  writeStatus(p);
}

function beginStop(p, next) {
  log(`stopping pod ${p.id} pid ${p.pid} (${next ? 'manifest changed' : 'manifest removed'})`);
  p.state = 'stopping';
  p.stopDeadline = Date.now() + STOP_GRACE_MS;
  p.next = next;
  writeStatus(p);
  killGroup(p.pid, 'SIGTERM');
}

let ticking = false;
/** Once its first pass over the manifests has run: logged, so a test can wait for "the new kubelet looked". */
let synced = false;
function tick() {
  if (ticking) return;
  ticking = true;
  try {
    const now = Date.now();
    const desired = scan(now);
    for (const p of [...pods.values()]) {
      const d = desired.get(p.id);
      if (p.state === 'stopping') {
        p.next = d ?? null;
        if (!alive(p)) {
          log(`pod ${p.id} stopped`);
          removePod(p);
          if (p.next) {
            const np = newPod(p.next);
            pods.set(np.id, np);
            startPod(np);
          }
        } else if (!p.killed && now >= p.stopDeadline) {
          log(`pod ${p.id} pid ${p.pid} did not stop in ${STOP_GRACE_MS} ms: SIGKILL`);
          killGroup(p.pid, 'SIGKILL');
          p.killed = true;
        }
        continue;
      }
      if (!d || d.hash !== p.hash) {
        if (p.state === 'running' && alive(p)) {
          beginStop(p, d ?? null);
        } else {
          removePod(p);
          if (d) {
            const np = newPod(d);
            pods.set(np.id, np);
            startPod(np);
          } else log(`pod ${p.id} removed`);
        }
        continue;
      }
      if (!p.spec) p.spec = d.spec; // adopted pod
      if (p.state === 'running' && !alive(p)) died(p, '');
      if (p.state === 'waiting' && now >= p.nextStartAt) startPod(p);
    }
    for (const [id, d] of desired) {
      if (pods.has(id)) continue;
      const p = newPod(d);
      pods.set(id, p);
      startPod(p);
    }
    if (!synced) {
      synced = true;
      log(`first sync done: ${[...pods.values()].map((p) => `${p.id}=${p.state}`).join(' ') || 'no pods'}`);
    }
  } catch (e) {
    log(`tick failed: ${e instanceof Error ? e.stack : e}`);
  } finally {
    ticking = false;
  }
}

// Adopt pods left running by a previous kubelet (kubelet restart).
function adopt() {
  let files;
  try {
    files = readdirSync(STATE_DIR).filter((f) => f.endsWith('.json'));
  } catch {
    return;
  }
  for (const f of files) {
    try {
      const s = JSON.parse(readFileSync(`${STATE_DIR}/${f}`, 'utf8'));
      const p = newPod({ id: s.id, file: s.file, hash: s.hash, spec: null });
      p.pid = s.pid;
      p.start = s.start;
      if (alive(p)) {
        p.state = 'running';
        p.startedAt = Date.now();
        pods.set(p.id, p);
        writeStatus(p);
        log(`adopted running pod ${p.id} pid ${p.pid}`);
      } else {
        forget(p);
      }
    } catch {
      rmSync(`${STATE_DIR}/${f}`, { force: true });
    }
  }
}

process.on('SIGTERM', () => {
  log('SIGTERM: exiting, pods keep running');
  process.exit(0);
});
process.on('SIGINT', () => process.exit(0));

log(`watching ${MANIFESTS}`);
adopt();
tick();
setInterval(tick, TICK_MS);
