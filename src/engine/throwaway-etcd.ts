import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { accessSync, constants, createReadStream, existsSync, openSync, closeSync, readFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { delimiter, join } from 'node:path';
import { type CommandSet, commandSetOf, commandsFor, compareMinor } from '../actions/etcd-version.js';
import { parseKeyCount, parseSnapshotStatus, type SnapshotStatus } from '../facts/etcd-json.js';
import { parseSha256Sums, toolsDirFor } from './put-tools.js';

/**
 * A snapshot booted on a throwaway etcd on this machine (the jump host), as the full restore's rehearsal
 * does on a member: `snapshot status`, `snapshot restore` into a scratch dir, etcd on two spare loopback
 * ports, count its keys and read its revision, stop it. Programs are started with argument vectors: no
 * shell is involved.
 */

export type Tool = 'etcd' | 'etcdctl' | 'etcdutl';

export interface LocalTools {
  version: string;
  set: CommandSet;
  paths: Partial<Record<Tool, string>>;
  /** Where they came from: the tools dir's version dir, or 'PATH'. */
  from: string;
}

interface Ran {
  code: number | null;
  stdout: string;
  stderr: string;
}

function run(file: string, args: string[], env: NodeJS.ProcessEnv, timeoutMs = 120_000): Promise<Ran> {
  return new Promise((resolve) => {
    execFile(file, args, { env, timeout: timeoutMs, maxBuffer: 16 * 1024 * 1024 }, (err, stdout, stderr) => {
      const code = err ? (typeof (err as { code?: unknown }).code === 'number' ? ((err as { code: number }).code as number) : null) : 0;
      resolve({ code, stdout: String(stdout), stderr: err && !stderr ? err.message : String(stderr) });
    });
  });
}

/** The version a tool reports (`etcd --version`, `etcdctl version`, `etcdutl version`). */
async function toolVersion(tool: Tool, path: string, env: NodeJS.ProcessEnv): Promise<string | undefined> {
  const r = await run(path, tool === 'etcd' ? ['--version'] : ['version'], env, 20_000);
  const m = new RegExp(`^${tool === 'etcd' ? 'etcd Version' : `${tool} version`}:\\s*(\\S+)`, 'm').exec(r.stdout);
  return m?.[1];
}

async function sha256File(file: string): Promise<string> {
  const h = createHash('sha256');
  for await (const chunk of createReadStream(file)) h.update(chunk as Buffer);
  return h.digest('hex');
}

/**
 * The tools of the backup's etcd major.minor on this machine: from the tools dir (`DIR/<version>/` with
 * SHA256SUMS, the exact version else the newest of that minor, as `etcd_tools_dir` on the masters), else
 * from the PATH. A tool of another major.minor is never used.
 */
export async function findLocalTools(version: string, opts: { toolsDir: string | undefined; path: string }): Promise<{ ok: true; tools: LocalTools } | { ok: false; reason: string }> {
  const set = commandSetOf(version);
  if (!set) return { ok: false, reason: `etcd '${version}' is not a version this tool drives (3.4, 3.5, 3.6)` };
  const needed = commandsFor(set).tools;
  const env = { PATH: opts.path };
  const paths: Partial<Record<Tool, string>> = {};
  if (opts.toolsDir !== undefined) {
    const dir = toolsDirFor(opts.toolsDir, version);
    if (!dir) return { ok: false, reason: `the tools dir ${opts.toolsDir} has no ${version} (nor another ${set}.x)` };
    const sumsFile = join(dir, 'SHA256SUMS');
    if (!existsSync(sumsFile)) return { ok: false, reason: `${sumsFile} is missing: tools are used only with their sha256` };
    const sums = parseSha256Sums(readFileSync(sumsFile, 'utf8'));
    for (const t of needed) {
      const p = join(dir, t);
      if (!existsSync(p)) return { ok: false, reason: `${p} is missing (etcd ${version} needs ${needed.join(', ')})` };
      const got = await sha256File(p);
      if (got !== sums.get(t)) return { ok: false, reason: `${p} has sha256 ${got}, ${sumsFile} says ${sums.get(t) ?? '(no line)'}: refusing it` };
      paths[t] = p;
    }
    return { ok: true, tools: { version, set, paths, from: dir } };
  }
  for (const t of needed) {
    const seen: string[] = [];
    for (const d of opts.path.split(delimiter).filter(Boolean)) {
      const p = join(d, t);
      try {
        accessSync(p, constants.X_OK);
      } catch {
        continue;
      }
      const v = await toolVersion(t, p, env);
      if (v !== undefined && compareMinor(v, version) === 0) {
        paths[t] = p;
        break;
      }
      seen.push(`${p} (${v ?? 'no version'})`);
    }
    if (!paths[t]) return { ok: false, reason: `no ${t} ${set}.x on the PATH${seen.length ? ` (found ${seen.join(', ')})` : ''}: give --etcd-tools-dir DIR with DIR/${version}/{${needed.join(',')}} and SHA256SUMS` };
  }
  return { ok: true, tools: { version, set, paths, from: 'PATH' } };
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const a = s.address();
      const port = typeof a === 'object' && a ? a.port : 0;
      s.close(() => resolve(port));
    });
  });
}

async function stop(child: ChildProcess, exited: Promise<void>): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  child.kill('SIGTERM');
  let timer: NodeJS.Timeout | undefined;
  const late = await Promise.race([exited.then(() => false), new Promise<boolean>((r) => (timer = setTimeout(() => r(true), 10_000)))]);
  clearTimeout(timer);
  if (late) {
    child.kill('SIGKILL');
    await exited;
  }
}

export type BootResult = { ok: true; status: SnapshotStatus; keys: number; revision: number } | { ok: false; reason: string };

/** Status, restore and boot a snapshot file in `workDir` (a fresh scratch dir the caller removes). */
export async function bootSnapshot(file: string, tools: LocalTools, opts: { workDir: string; path: string; tag: string }): Promise<BootResult> {
  const env = { PATH: opts.path, ETCDCTL_API: '3' };
  const offline = commandsFor(tools.set).offline;
  const offlineTool = tools.paths[offline] as string;
  const st = await run(offlineTool, ['snapshot', 'status', file, '-w', 'json'], env);
  if (st.code !== 0) return { ok: false, reason: `${offline} snapshot status failed (exit ${st.code}): ${st.stderr.trim().split('\n').at(-1) ?? ''}` };
  let status: SnapshotStatus;
  try {
    status = parseSnapshotStatus(st.stdout);
  } catch (e) {
    return { ok: false, reason: `cannot parse snapshot status: ${(e as Error).message}` };
  }
  const [cport, pport] = [await freePort(), await freePort()];
  const client = `http://127.0.0.1:${cport}`;
  const peer = `http://127.0.0.1:${pport}`;
  const data = join(opts.workDir, 'data');
  const rs = await run(offlineTool, ['snapshot', 'restore', file, '--name=verify', `--initial-cluster=verify=${peer}`, `--initial-cluster-token=verify-${opts.tag}`, `--initial-advertise-peer-urls=${peer}`, `--data-dir=${data}`], env);
  if (rs.code !== 0) return { ok: false, reason: `${offline} snapshot restore failed (exit ${rs.code}): ${rs.stderr.trim().split('\n').at(-1) ?? ''}` };
  const logFile = join(opts.workDir, 'etcd.log');
  const log = openSync(logFile, 'a', 0o600);
  const child = spawn(tools.paths.etcd as string, ['--name=verify', `--data-dir=${data}`, `--listen-client-urls=${client}`, `--advertise-client-urls=${client}`, `--listen-peer-urls=${peer}`, `--initial-advertise-peer-urls=${peer}`, `--initial-cluster=verify=${peer}`], { env, stdio: ['ignore', log, log] });
  closeSync(log);
  const exited = new Promise<void>((r) => child.once('exit', () => r()));
  try {
    for (let i = 0; i < 150; i++) {
      if (child.exitCode !== null) break;
      const g = await run(tools.paths.etcdctl as string, [`--endpoints=${client}`, '--dial-timeout=1s', '--command-timeout=3s', 'get', '', '--prefix', '--keys-only', '--limit=1', '-w', 'json'], env, 10_000);
      if (g.code === 0) {
        const k = parseKeyCount(g.stdout);
        return { ok: true, status, keys: k.count, revision: k.revision };
      }
      await new Promise((r) => setTimeout(r, 200));
    }
    const tail = readFileSync(logFile, 'utf8').trim().split('\n').slice(-3).join(' | ');
    return { ok: false, reason: `the throwaway etcd booted from the snapshot did not answer: ${tail}` };
  } finally {
    await stop(child, exited);
  }
}
