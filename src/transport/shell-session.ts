import { randomBytes } from 'node:crypto';
import { StringDecoder } from 'node:string_decoder';
import type { ExecOutcome } from './transport.js';

/** What a shell session needs of an SSH channel (ssh.ts adapts ssh2's; the unit tests adapt a local `sh`). */
export interface ShellChannel {
  write(text: string): void;
  onStdout(f: (chunk: Buffer) => void): void;
  onStderr(f: (chunk: Buffer) => void): void;
  onClose(f: () => void): void;
  close(): void;
}

export interface SessionRunOptions {
  timeoutMs?: number | undefined;
  onStdout?: ((text: string) => void) | undefined;
  onStderr?: ((text: string) => void) | undefined;
  /** Cap on output kept per stream (the tail is kept). */
  maxOutputBytes: number;
  /**
   * The text isolates the command itself (wire.ts's `sessionShell`: its own subshell, stdin from /dev/null)
   * and leaves the command's status in `$?`: the session runs it as it is, not in a subshell of its own.
   */
  inline?: boolean | undefined;
}

const nonce = () => randomBytes(16).toString('hex');

/**
 * How a session's shell is told where a command's output begins and ends: `begin(id)` prints `B<id>` on a
 * line of its own to stdout and to stderr, `end(id)` prints `E<id> <status of the last command>` to stdout
 * and `E<id>` to stderr, each followed by a newline. `init` runs once when the session starts (and may
 * define what begin and end call).
 */
export interface SessionProtocol {
  init?: string | undefined;
  begin(id: string): string;
  end(id: string): string;
}

/** The markers as printf commands, for any POSIX shell (the id is hex: a word that needs no quoting). */
export const POSIX_FRAMING: SessionProtocol = {
  begin: (id) => `printf 'B%s\\n' ${id}; printf 'B%s\\n' ${id} >&2`,
  end: (id) => `printf 'E%s %d\\n' ${id} $?; printf 'E%s\\n' ${id} >&2`,
};

/** How much of `text`'s end could be the start of `marker` (held back from live output until more arrives). */
function partialMarker(text: string, marker: string): number {
  for (let n = Math.min(marker.length - 1, text.length); n > 0; n--) if (marker.startsWith(text.slice(-n))) return n;
  return 0;
}

/** One stream (stdout or stderr) of a command framed by `B<nonce>\n` … `E<nonce>`. */
class Framed {
  private pending = '';
  private begun = false;
  ended = false;
  /** Bytes that arrived before the command's begin marker: written by something an earlier command left behind. */
  stray = false;
  kept = '';
  /** The rest of the end marker's line (the exit status on stdout). */
  trailer = '';
  constructor(
    private readonly id: string,
    private readonly max: number,
    private readonly live: ((text: string) => void) | undefined,
  ) {}

  push(text: string): void {
    this.pending += text;
    if (!this.begun) {
      const b = this.pending.indexOf(`B${this.id}\n`);
      if (b < 0) {
        // keep only what could still become the marker
        const keep = partialMarker(this.pending, `B${this.id}\n`);
        if (this.pending.length > keep) this.stray = true;
        this.pending = this.pending.slice(this.pending.length - keep);
        return;
      }
      if (b > 0) this.stray = true;
      this.begun = true;
      this.pending = this.pending.slice(b + this.id.length + 2);
    }
    if (this.ended) {
      this.trailer += this.pending;
      this.pending = '';
      return;
    }
    const e = this.pending.indexOf(`E${this.id}`);
    if (e >= 0) {
      this.emit(this.pending.slice(0, e));
      this.trailer = this.pending.slice(e + this.id.length + 1);
      this.pending = '';
      this.ended = true;
      return;
    }
    const hold = partialMarker(this.pending, `E${this.id}`);
    this.emit(this.pending.slice(0, this.pending.length - hold));
    this.pending = this.pending.slice(this.pending.length - hold);
  }

  /** Everything of the command's output seen so far, held-back bytes included (for a lost command). */
  flush(): void {
    if (this.begun && !this.ended) this.emit(this.pending);
    this.pending = '';
  }

  private emit(s: string): void {
    if (!s) return;
    this.kept = this.kept.length + s.length > this.max ? (this.kept + s).slice(-this.max) : this.kept + s;
    this.live?.(s);
  }
}

interface Current {
  out: Framed;
  err: Framed;
  settle: () => void;
}

/**
 * A long-lived shell on one SSH channel that runs commands one at a time, so a command costs a line on a
 * channel that is already open instead of a channel, a session process and a login shell of its own.
 * A text runs in a subshell with stdin from /dev/null (it cannot change or read the session's shell), or,
 * `inline`, as it is when it isolates itself (wire.ts's `sessionShell`). Its output is framed on both
 * streams by markers with a fresh random nonce (the protocol's begin and end), the exit status after the
 * end marker on stdout. A command that leaves something behind that writes to the session's output
 * taints it: the session is closed after that command (its own output is still exact: bytes before its
 * begin marker are not its). A client-side timeout or a lost channel closes the session, and the outcome
 * is reported the way an exec channel reports it.
 */
export class ShellSession {
  busy = false;
  dead = false;
  private current: Current | undefined;
  private readonly outDecoder = new StringDecoder('utf8');
  private readonly errDecoder = new StringDecoder('utf8');

  private constructor(
    private readonly ch: ShellChannel,
    private readonly protocol: SessionProtocol,
  ) {
    ch.onStdout((b) => this.data('out', this.outDecoder.write(b)));
    ch.onStderr((b) => this.data('err', this.errDecoder.write(b)));
    ch.onClose(() => {
      this.dead = true;
      this.current?.settle();
    });
  }

  /** Start the session on a channel whose shell reads commands from stdin; resolves once it answers (else undefined). */
  static open(ch: ShellChannel, timeoutMs: number, protocol: SessionProtocol = POSIX_FRAMING): Promise<ShellSession | undefined> {
    const s = new ShellSession(ch, protocol);
    s.reserve();
    if (protocol.init) ch.write(`${protocol.init}\n`);
    return s.run("printf ''", { timeoutMs, maxOutputBytes: 4096 }).then((o) => {
      if (o.kind === 'exited' && o.code === 0 && !s.dead) return s;
      s.close();
      return undefined;
    });
  }

  private data(stream: 'out' | 'err', text: string): void {
    const c = this.current;
    // output while no command runs: a background writer from an earlier command
    if (!c) {
      if (text) this.close();
      return;
    }
    (stream === 'out' ? c.out : c.err).push(text);
    if (c.out.ended && c.err.ended && c.out.trailer.includes('\n') && c.err.trailer.includes('\n')) c.settle();
  }

  /** Take the session for one command (false if it is taken or gone); `run` then runs it. */
  reserve(): boolean {
    if (this.busy || this.dead) return false;
    this.busy = true;
    return true;
  }

  /** Run one command on a reserved session. */
  run(text: string, opts: SessionRunOptions): Promise<ExecOutcome> {
    if (!this.busy || this.current || this.dead) throw new Error('shell session: run without reserve');
    const id = nonce();
    const started = Date.now();
    return new Promise<ExecOutcome>((resolve) => {
      let timedOut = false;
      const out = new Framed(id, opts.maxOutputBytes, opts.onStdout);
      const err = new Framed(id, opts.maxOutputBytes, opts.onStderr);
      const timer =
        opts.timeoutMs === undefined
          ? undefined
          : setTimeout(() => {
              timedOut = true;
              this.close();
            }, opts.timeoutMs);
      const settle = () => {
        if (this.current !== cur) return;
        this.current = undefined;
        if (timer) clearTimeout(timer);
        this.busy = false;
        if (out.ended && err.ended) {
          const code = Number.parseInt(out.trailer.trim(), 10);
          if (out.stray || err.stray) this.close();
          resolve({ kind: 'exited', code: Number.isNaN(code) ? null : code, signal: null, stdout: out.kept, stderr: err.kept, durationMs: Date.now() - started, timedOut: false });
          return;
        }
        out.flush();
        err.flush();
        if (timedOut) resolve({ kind: 'exited', code: null, signal: null, stdout: out.kept, stderr: err.kept, durationMs: Date.now() - started, timedOut: true });
        else resolve({ kind: 'lost', message: 'dropped before the command finished; its outcome on the host is unknown', stdout: out.kept, stderr: err.kept });
      };
      const cur: Current = { out, err, settle };
      this.current = cur;
      // the markers are the session's arguments, never part of the command's text; the command cannot see them
      const body = opts.inline ? text : `(\n${text.trim() ? text : ':'}\n) </dev/null`;
      this.ch.write(`${this.protocol.begin(id)}; ${body}\n${this.protocol.end(id)}\n`);
    });
  }

  close(): void {
    if (this.dead) return;
    this.dead = true;
    this.ch.close();
    this.current?.settle();
  }
}
