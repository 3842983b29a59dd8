import { createRequire } from 'node:module';
import { createReadStream, createWriteStream, mkdirSync, readFileSync, statSync } from 'node:fs';
import { pipeline } from 'node:stream/promises';
import { needsSudo } from '../util/become.js';
import type { Shell } from '../model/shell.js';
import { sh } from '../shell/build.js';
import { renderShell } from '../shell/render.js';
import { channelShell, INTERNAL_TIMEOUT_S, SESSION_FRAMING, SESSION_SHELL, sessionShell, type Wiring } from '../shell/wire.js';
import { connect as netConnect, Socket } from 'node:net';
import { posix } from 'node:path';
import type { Duplex, Readable } from 'node:stream';
import type { AnyAuthMethod, Client, ClientChannel, ConnectConfig, SFTPWrapper } from 'ssh2';
import type { Host, SshEndpoint } from '../model/inventory.js';
import { hostKeyAlgorithms, lookupKnownHosts, verifyHostKey } from './known-hosts.js';
import { type ShellChannel, ShellSession } from './shell-session.js';
import type { ExecOptions, ExecOutcome, TransferOutcome, Transport } from './transport.js';
import type { WarmSockets } from './warm-sockets.js';

export interface SshOptions {
  /** Record keys of hosts seen for the first time on every host (else per host: StrictHostKeyChecking accept-new). */
  acceptNewHostKeys: boolean;
  /** Per hop: the ssh config's ConnectTimeout, else this. */
  connectTimeoutMs: number;
  /** --connect-timeout was given: it beats the ssh config's ConnectTimeout. */
  connectTimeoutFixed?: boolean;
  /** Per hop: the ssh config's ServerAliveInterval, else this. */
  keepaliveIntervalMs: number;
  /** Cap on output kept in memory per command (the tail is kept). */
  maxOutputBytes?: number;
  /** TCP connections the caller opened ahead, taken for a host's first hop where there is one. */
  warm?: WarmSockets | undefined;
}

interface Conn {
  client: Client;
  sftp: Promise<SFTPWrapper> | undefined;
  closed: boolean;
  /** The host's long-lived shell for commands without stdin (see shell-session.ts). */
  shell: ShellSession | undefined;
  /** The session being opened, until a command claims it (the others meanwhile take exec channels). */
  shellOpening: Promise<ShellSession | undefined> | undefined;
  /** A session is being opened (claimed or not). */
  shellStarting: boolean;
  /** The host gave no session: its commands use exec channels. */
  shellUnusable: boolean;
  /** The TCP connection under it (to the host, or to its first jump host). */
  socket: Socket | undefined;
}

type Opened = { ok: true; conn: Conn } | { ok: false; message: string; hostKey: boolean };
type Hop = { ok: true; client: Client; socket: Socket | undefined } | { ok: false; message: string; hostKey: boolean };

/** How a hop is named in messages: the target by its inventory name, a jump host as "bastion (jump host for master-1)". */
function hopLabel(ep: SshEndpoint, host: Host, isTarget: boolean): string {
  return isTarget ? host.name : `jump host ${ep.name} (on the way to ${host.name})`;
}

/** ssh2's client and key parser, loaded on the first connection: plan, validate and --help never need them. */
interface Ssh2 {
  Client: typeof import('ssh2').Client;
  parseKey: typeof import('ssh2').utils.parseKey;
}
let ssh2: Ssh2 | undefined;
function loadSsh2(): Ssh2 {
  // required, not imported: an import() of a CommonJS file first scans its source for named exports.
  // In the CLI's bundle (scripts/bundle.mjs) `require` is the bundle's own: esbuild bundles ssh2 there, run
  // on first use and compiled from the code cache like the rest; from the sources it is node_modules'.
  // The two literal require() calls are what lets esbuild see and bundle them.
  if (ssh2) return ssh2;
  const both = (r: NodeJS.Require): unknown[] => [r('ssh2/lib/client.js'), r('ssh2/lib/protocol/keyParser.js')];
  const [client, keyParser] = typeof require === 'function' ? [require('ssh2/lib/client.js'), require('ssh2/lib/protocol/keyParser.js')] : both(createRequire(import.meta.url));
  ssh2 = { Client: client as Ssh2['Client'], parseKey: (keyParser as Pick<Ssh2, 'parseKey'>).parseKey };
  return ssh2;
}

type ParsedKey = import('ssh2').ParsedKey;
/** Each identity file parsed once per process (a parse costs milliseconds): the key, or why it cannot be used. */
const parsedKeys = new Map<string, ParsedKey | string>();

function parseKeyFile(f: string): ParsedKey | string {
  let got = parsedKeys.get(f);
  if (got === undefined) {
    try {
      const parsed = (ssh2 as Ssh2).parseKey(readFileSync(f)) as ParsedKey | ParsedKey[] | Error;
      // a file with several keys: the first, as OpenSSH takes it
      const key = Array.isArray(parsed) ? parsed[0] : parsed;
      got = key === undefined ? `${f}: no key in it` : key instanceof Error ? `${f}: ${key.message}` : key;
    } catch (e) {
      got = `cannot read identity file ${f}: ${(e as NodeJS.ErrnoException).code ?? String(e)}`;
    }
    parsedKeys.set(f, got);
  }
  return got;
}

/** The key files that can be used as they are (missing, unreadable and passphrase-protected ones are skipped, with the reason). */
function usableKeys(files: string[]): { keys: ParsedKey[]; skipped: string[] } {
  const keys: ParsedKey[] = [];
  const skipped: string[] = [];
  for (const f of files) {
    const k = parseKeyFile(f);
    if (typeof k === 'string') skipped.push(k);
    else keys.push(k);
  }
  return { keys, skipped };
}

/** The one place that talks ssh2. One connection per host (through its jump hosts), opened lazily and reused. */
export class SshTransport implements Transport {
  private readonly conns = new Map<string, Promise<Opened>>();

  constructor(private readonly opts: SshOptions) {}

  private open(host: Host): Promise<Opened> {
    const existing = this.conns.get(host.name);
    if (existing) {
      return existing.then((o) => {
        if (o.ok && o.conn.closed) {
          this.conns.delete(host.name);
          return this.open(host);
        }
        // a host-key refusal is final; a network failure may be retried by a later command
        if (!o.ok && !o.hostKey) this.conns.delete(host.name);
        return o;
      });
    }
    const p = this.dial(host);
    this.conns.set(host.name, p);
    return p;
  }

  /** Connect to every jump host in turn, each through the one before (forwardOut), then to the host itself. */
  private async dial(host: Host): Promise<Opened> {
    const hops = [...host.ssh.jumps, host.ssh];
    const chain: Client[] = [];
    let socket: Socket | undefined;
    for (const [i, ep] of hops.entries()) {
      const r = await this.hop(ep, chain.at(-1), hopLabel(ep, host, i === hops.length - 1));
      if (!r.ok) {
        for (const c of chain.reverse()) c.end();
        return r;
      }
      chain.push(r.client);
      socket ??= r.socket;
    }
    const client = chain.at(-1) as Client;
    const conn: Conn = { client, sftp: undefined, closed: false, shell: undefined, shellOpening: undefined, shellStarting: false, shellUnusable: false, socket };
    // the chain lives and dies with the host's connection
    client.on('close', () => {
      conn.closed = true;
      for (const c of chain.slice(0, -1).reverse()) c.end();
    });
    for (const c of chain.slice(0, -1))
      c.on('close', () => {
        conn.closed = true;
        client.end();
      });
    return { ok: true, conn };
  }

  /** One ssh connection: over TCP, or over a channel the previous hop opened to it. */
  private hop(ep: SshEndpoint, via: Client | undefined, label: string): Promise<Hop> {
    const timeoutMs = this.opts.connectTimeoutFixed || ep.connectTimeoutS === undefined ? this.opts.connectTimeoutMs : ep.connectTimeoutS * 1000;
    const at = `${ep.address}:${ep.port}`;
    return new Promise((resolve) => {
      let settled = false;
      let hostKeyProblem: string | undefined;
      let sock: Duplex | undefined;
      const done = (o: Hop) => {
        if (!settled) {
          settled = true;
          clearTimeout(timer);
          if (!o.ok) sock?.destroy();
          resolve(o);
        }
      };
      const timer = setTimeout(() => done({ ok: false, message: `could not connect to ${label} at ${at} within ${timeoutMs} ms`, hostKey: false }), timeoutMs);
      const handshake = (s: Duplex) => {
        sock = s;
        // loaded once the TCP connection is on its way: the host's sshd starts up meanwhile
        loadSsh2();
        const { keys, skipped } = usableKeys(ep.identityFiles);
        if (keys.length === 0 && !ep.agent) {
          done({ ok: false, message: skipped.length ? `${skipped.join('; ')} (for ${label}), and no ssh-agent` : `no identity file and no ssh-agent for ${label}: give identity_file, --private-key or IdentityFile`, hostKey: false });
          return;
        }
        const client: Client = new (ssh2 as Ssh2).Client();
        const known = ep.knownHosts.flatMap((f) => lookupKnownHosts(f, ep.address, ep.port));
        const auths: AnyAuthMethod[] = keys.map((key) => ({ type: 'publickey' as const, username: ep.user, key }));
        if (ep.agent) auths.push({ type: 'agent', username: ep.user, agent: ep.agent });
        const keepaliveMs = ep.serverAliveIntervalS === undefined ? this.opts.keepaliveIntervalMs : ep.serverAliveIntervalS * 1000;
        const cfg: ConnectConfig = {
          sock: s as never,
          username: ep.user,
          readyTimeout: timeoutMs,
          keepaliveInterval: keepaliveMs,
          keepaliveCountMax: ep.serverAliveCountMax ?? 3,
          authHandler: auths,
          hostVerifier: (key: Buffer) => {
            const v = verifyHostKey({ files: ep.knownHosts, address: ep.address, port: ep.port, hostName: label, blob: key, acceptNew: this.opts.acceptNewHostKeys || ep.hostKeys === 'accept-new' });
            if (!v.ok) hostKeyProblem = v.message;
            return v.ok;
          },
        };
        const algos = hostKeyAlgorithms(known);
        if (algos) cfg.algorithms = { serverHostKey: algos as never };
        client.on('ready', () => done({ ok: true, client, socket: s instanceof Socket ? s : undefined }));
        client.on('error', (e: Error & { level?: string }) => {
          if (hostKeyProblem) done({ ok: false, message: hostKeyProblem, hostKey: true });
          else if (e.level === 'client-authentication')
            done({ ok: false, message: `authentication as ${ep.user} failed on ${label}: check identity_file, --private-key, IdentityFile or ssh-agent${skipped.length ? ` (skipped ${skipped.join('; ')})` : ''}`, hostKey: false });
          else done({ ok: false, message: `ssh to ${label} failed: ${e.message}`, hostKey: false });
        });
        client.on('close', () => done({ ok: false, message: hostKeyProblem ?? `connection to ${label} closed during handshake`, hostKey: hostKeyProblem !== undefined }));
        client.connect(cfg);
      };
      if (via) {
        via.forwardOut('127.0.0.1', 0, ep.address, ep.port, (err, channel) => {
          if (err) done({ ok: false, message: `cannot connect to ${label} at ${at} through the jump host before it: ${err.message}`, hostKey: false });
          else if (settled) channel.close();
          else handshake(channel);
        });
        return;
      }
      const warm = this.opts.warm?.take(ep);
      const s = warm ?? netConnect({ host: ep.address, port: ep.port });
      // Without this every small command waits on Nagle + delayed ACK (~40-50 ms).
      s.setNoDelay(true);
      coalesceWrites(s);
      sock = s;
      s.once('error', (e: NodeJS.ErrnoException) => done({ ok: false, message: `cannot connect to ${label} at ${at}: ${e.code ?? e.message}`, hostKey: false }));
      if (s.connecting) s.once('connect', () => handshake(s));
      else handshake(s);
    });
  }

  async connect(host: Host) {
    const o = await this.open(host);
    // the shell session opens while the caller does other things: the first command finds it ready
    if (o.ok) void this.startShell(o.conn);
    return o.ok ? { ok: true as const } : { ok: false as const, message: o.message, hostKey: o.hostKey };
  }

  async exec(host: Host, shell: Shell, opts: ExecOptions = {}): Promise<ExecOutcome> {
    const wiring = wiringOf(host, opts);
    const o = await this.open(host);
    if (!o.ok) return { kind: 'unreachable', message: o.message };
    const { conn } = o;
    const max = this.opts.maxOutputBytes ?? 16 * 1024 * 1024;
    // no stdin to feed: the host's shell session runs it, if it is idle (else a channel of its own, as below)
    const session = opts.input === undefined ? await this.idleShell(conn) : undefined;
    if (session) {
      const run = { timeoutMs: opts.timeoutMs, onStdout: opts.onStdout, onStderr: opts.onStderr, maxOutputBytes: max };
      const r = wiring ? await session.run(toText(sessionShell(shell, wiring)), { ...run, inline: true }) : await session.run(toText(shell), run);
      return r.kind === 'lost' ? { ...r, message: `connection to ${host.name} ${r.message}` } : r;
    }
    const command = toText(wiring ? channelShell(shell, wiring) : shell);
    const started = Date.now();
    return new Promise<ExecOutcome>((resolve) => {
      conn.client.exec(command, (err, stream: ClientChannel) => {
        if (err) {
          if (conn.closed) resolve({ kind: 'unreachable', message: `connection to ${host.name} is gone: ${err.message}` });
          else resolve({ kind: 'lost', message: `could not open a channel on ${host.name}: ${err.message}`, stdout: '', stderr: '' });
          return;
        }
        let stdout = '';
        let stderr = '';
        let code: number | null = null;
        let signal: string | null = null;
        let exited = false;
        let timedOut = false;
        const keep = (acc: string, s: string) => (acc.length + s.length > max ? (acc + s).slice(-max) : acc + s);
        const onClientClose = () => stream.close();
        conn.client.once('close', onClientClose);
        const timer =
          opts.timeoutMs === undefined
            ? undefined
            : setTimeout(() => {
                timedOut = true;
                stream.signal('KILL');
                stream.close();
              }, opts.timeoutMs);
        stream.on('data', (d: Buffer) => {
          const s = d.toString('utf8');
          stdout = keep(stdout, s);
          opts.onStdout?.(s);
        });
        stream.stderr.on('data', (d: Buffer) => {
          const s = d.toString('utf8');
          stderr = keep(stderr, s);
          opts.onStderr?.(s);
        });
        const input = opts.input;
        if (input === undefined) stream.end();
        else if (Buffer.isBuffer(input)) stream.end(input);
        else input.pipe(stream);
        stream.on('exit', (c: number | null, sig?: string) => {
          exited = true;
          code = c ?? null;
          signal = sig ?? null;
        });
        stream.on('close', () => {
          if (timer) clearTimeout(timer);
          conn.client.removeListener('close', onClientClose);
          if (exited || timedOut) resolve({ kind: 'exited', code, signal, stdout, stderr, durationMs: Date.now() - started, timedOut });
          else resolve({ kind: 'lost', message: `connection to ${host.name} dropped before the command finished; its outcome on the host is unknown`, stdout, stderr });
        });
      });
    });
  }

  /**
   * The connection's shell session, reserved for the caller, if it is idle (opened on first use); undefined
   * while another command has it (the caller takes an exec channel: commands on one host still run side by
   * side) or if the host would not give one.
   */
  private async idleShell(conn: Conn): Promise<ShellSession | undefined> {
    if (conn.shell?.dead) conn.shell = undefined;
    if (conn.shell) return conn.shell.reserve() ? conn.shell : undefined;
    // being opened: the first to ask waits for it, the others meanwhile take channels of their own
    if (conn.shellOpening) {
      const opening = conn.shellOpening;
      conn.shellOpening = undefined;
      const session = await opening;
      return session?.reserve() ? session : undefined;
    }
    if (conn.shellStarting || conn.shellUnusable || conn.closed) return undefined;
    void this.startShell(conn);
    return this.idleShell(conn);
  }

  /** Open the connection's shell session (once at a time); it becomes conn.shell. */
  private startShell(conn: Conn): Promise<ShellSession | undefined> {
    if (conn.shell || conn.shellStarting || conn.shellUnusable || conn.closed) return Promise.resolve(conn.shell);
    conn.shellStarting = true;
    const opening: Promise<ShellSession | undefined> = (async () => {
      const ch = await new Promise<ClientChannel | undefined>((resolve) => conn.client.exec(SESSION_SHELL, (err, c) => resolve(err ? undefined : c)));
      const session = ch ? await ShellSession.open(shellChannel(ch), this.opts.connectTimeoutMs, SESSION_FRAMING) : undefined;
      conn.shellStarting = false;
      // nobody claimed it: a later command finds it as conn.shell
      conn.shellOpening = undefined;
      if (!session) conn.shellUnusable = true;
      else {
        conn.shell = session;
        conn.client.once('close', () => session.close());
      }
      return session;
    })();
    conn.shellOpening = opening;
    return opening;
  }

  private sftp(conn: Conn): Promise<SFTPWrapper> {
    if (!conn.sftp) {
      conn.sftp = new Promise((res, rej) => conn.client.sftp((err, s) => (err ? rej(err) : res(s))));
      conn.sftp.catch(() => {
        conn.sftp = undefined;
      });
    }
    return conn.sftp;
  }

  /** Write to a hidden temp name in the same directory, then rename over the target: kubelet ignores dotfiles. */
  private async putAtomically(host: Host, dest: string, bytes: number, write: (sftp: SFTPWrapper, tmp: string) => Promise<void>): Promise<TransferOutcome> {
    const o = await this.open(host);
    if (!o.ok) return { kind: 'unreachable', message: o.message };
    const started = Date.now();
    const tmp = posix.join(posix.dirname(dest), `.${posix.basename(dest)}.runbook-${process.pid}`);
    try {
      const sftp = await this.sftp(o.conn);
      await write(sftp, tmp);
      await new Promise<void>((res, rej) => sftp.ext_openssh_rename(tmp, dest, (e) => (e ? rej(e) : res())));
      return { kind: 'done', bytes, durationMs: Date.now() - started };
    } catch (e) {
      return { kind: 'failed', message: `writing ${dest} on ${host.name}: ${(e as Error).message}` };
    }
  }

  /** For a sudo user, SFTP cannot write root's files: a privileged shell reads the bytes from stdin instead. */
  private async putViaSudo(host: Host, dest: string, mode: number, input: Buffer | Readable, bytes: number): Promise<TransferOutcome> {
    const started = Date.now();
    const tmp = posix.join(posix.dirname(dest), `.${posix.basename(dest)}.runbook-${process.pid}`);
    const cmd = sh`umask 077 && cat > ${tmp} && chmod ${mode.toString(8)} ${tmp} && mv -f -- ${tmp} ${dest}`;
    const r = await this.exec(host, cmd, { root: true, input, deadlineS: 6 * 3600 });
    if (r.kind === 'unreachable') return { kind: 'unreachable', message: r.message };
    if (r.kind === 'lost') return { kind: 'failed', message: `writing ${dest} on ${host.name}: ${r.message}` };
    if (r.code !== 0) return { kind: 'failed', message: `writing ${dest} on ${host.name}: ${r.stderr.trim() || `exit ${r.code}`}` };
    return { kind: 'done', bytes, durationMs: Date.now() - started };
  }

  upload(host: Host, dest: string, content: Buffer, mode: number): Promise<TransferOutcome> {
    if (needsSudo(host)) return this.putViaSudo(host, dest, mode, content, content.length);
    return this.putAtomically(host, dest, content.length, async (sftp, tmp) => {
      await new Promise<void>((res, rej) => sftp.writeFile(tmp, content, { mode }, (e) => (e ? rej(e) : res())));
      await new Promise<void>((res, rej) => sftp.chmod(tmp, mode, (e) => (e ? rej(e) : res())));
    });
  }

  uploadFile(host: Host, localPath: string, dest: string, mode: number): Promise<TransferOutcome> {
    if (needsSudo(host)) return this.putViaSudo(host, dest, mode, createReadStream(localPath), statSync(localPath).size);
    return this.putAtomically(host, dest, statSync(localPath).size, (sftp, tmp) =>
      new Promise<void>((res, rej) => sftp.fastPut(localPath, tmp, { mode }, (e) => (e ? rej(e) : res()))),
    );
  }

  async stream(host: Host, shell: Shell, opts: { root?: boolean; deadlineS?: number } = {}) {
    const wiring = wiringOf(host, opts);
    const command = toText(wiring ? channelShell(shell, wiring) : shell);
    const o = await this.open(host);
    if (!o.ok) return { kind: 'unreachable' as const, message: o.message };
    const { conn } = o;
    return new Promise<{ kind: 'ok'; stdout: Readable; done: Promise<ExecOutcome> } | { kind: 'unreachable'; message: string }>((resolve) => {
      conn.client.exec(command, (err, ch: ClientChannel) => {
        if (err) {
          resolve({ kind: 'unreachable', message: `could not open a channel on ${host.name}: ${err.message}` });
          return;
        }
        const started = Date.now();
        let stderr = '';
        let code: number | null = null;
        let signal: string | null = null;
        let exited = false;
        ch.stderr.on('data', (d: Buffer) => {
          stderr = (stderr + d.toString('utf8')).slice(-65536);
        });
        ch.on('exit', (c: number | null, sig?: string) => {
          exited = true;
          code = c ?? null;
          signal = sig ?? null;
        });
        const done = new Promise<ExecOutcome>((res) =>
          ch.on('close', () =>
            res(exited ? { kind: 'exited', code, signal, stdout: '', stderr, durationMs: Date.now() - started, timedOut: false } : { kind: 'lost', message: `connection to ${host.name} dropped mid-stream`, stdout: '', stderr }),
          ),
        );
        resolve({ kind: 'ok', stdout: ch, done });
      });
    });
  }

  async fetch(host: Host, src: string, localDest: string): Promise<TransferOutcome> {
    if (needsSudo(host)) {
      const started = Date.now();
      const s = await this.stream(host, sh`cat -- ${src}`, { root: true, deadlineS: 6 * 3600 });
      if (s.kind !== 'ok') return { kind: 'unreachable', message: s.message };
      mkdirSync(posix.dirname(localDest), { recursive: true });
      await pipeline(s.stdout, createWriteStream(localDest, { mode: 0o600 }));
      const end = await s.done;
      if (end.kind !== 'exited' || end.code !== 0) return { kind: 'failed', message: `fetching ${src} from ${host.name}: ${end.kind === 'exited' ? end.stderr.trim() : end.message}` };
      return { kind: 'done', bytes: statSync(localDest).size, durationMs: Date.now() - started };
    }
    const o = await this.open(host);
    if (!o.ok) return { kind: 'unreachable', message: o.message };
    const started = Date.now();
    try {
      mkdirSync(posix.dirname(localDest), { recursive: true });
      const sftp = await this.sftp(o.conn);
      await new Promise<void>((res, rej) => sftp.fastGet(src, localDest, (e) => (e ? rej(e) : res())));
      return { kind: 'done', bytes: statSync(localDest).size, durationMs: Date.now() - started };
    } catch (e) {
      return { kind: 'failed', message: `fetching ${src} from ${host.name}: ${(e as Error).message}` };
    }
  }

  async close(): Promise<void> {
    this.opts.warm?.close();
    const all = await Promise.all(this.conns.values());
    this.conns.clear();
    for (const o of all) {
      if (!o.ok || o.conn.closed) continue;
      o.conn.client.end();
      // once the goodbye is handed to the kernel the connection is done with: no waiting for the host's
      // side of the close (the process would otherwise stay that long after the run)
      const sock = o.conn.socket;
      if (sock) {
        if (sock.writableFinished) sock.destroy();
        else sock.once('finish', () => sock.destroy());
      }
    }
  }
}

/**
 * ssh2 hands the socket each SSH packet in pieces (with AES-GCM: the length, the ciphertext and the tag,
 * three writes), and with no Nagle each write is a syscall and a TCP segment of its own. Corked until the
 * end of the tick, they go out as one writev: a 32 KiB channel packet is one segment, not three, and a
 * small command's packets still leave at once.
 */
function coalesceWrites(s: Socket): void {
  const write = s.write.bind(s) as (...args: unknown[]) => boolean;
  let corked = false;
  const uncork = () => {
    corked = false;
    s.uncork();
  };
  s.write = ((...args: unknown[]) => {
    if (!corked) {
      corked = true;
      s.cork();
      process.nextTick(uncork);
    }
    return write(...args);
  }) as typeof s.write;
}

/** An ssh2 channel as a shell session sees it. */
function shellChannel(ch: ClientChannel): ShellChannel {
  return {
    write: (text) => ch.write(text),
    onStdout: (f) => ch.on('data', f),
    onStderr: (f) => ch.stderr.on('data', f),
    onClose: (f) => ch.on('close', f),
    close: () => ch.close(),
  };
}

function noHoles(): string {
  throw new Error('a command reached the transport with a run-time value not filled in');
}

/** How the host runs it: as the planner wired it, or, for an engine-internal command, under its deadline and the host's become. */
function wiringOf(host: Host, opts: { wiring?: Wiring | undefined; root?: boolean | undefined; deadlineS?: number | undefined }): Wiring | undefined {
  if (opts.wiring) return opts.wiring;
  return opts.root ? { deadlineS: opts.deadlineS ?? INTERNAL_TIMEOUT_S, sudo: needsSudo(host) } : undefined;
}

/** The text the host's shell gets. */
function toText(shell: Shell): string {
  return renderShell(shell, noHoles);
}
