// A command as a host's bash session runs it (wire.ts: SESSION_INIT, sessionShell), against a real local
// bash through the shell session: what `timeout -k K S bash -c TEXT` would give, without its programs.
import { type ChildProcessWithoutNullStreams, spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { afterEach, describe, expect, it } from 'vitest';
import { sh } from '../../src/shell/build.js';
import { renderShell } from '../../src/shell/render.js';
import { SESSION_FRAMING, sessionShell } from '../../src/shell/wire.js';
import type { Shell } from '../../src/model/shell.js';
import { type ShellChannel, ShellSession } from '../../src/transport/shell-session.js';
import type { ExecOutcome } from '../../src/transport/transport.js';

const children: ChildProcessWithoutNullStreams[] = [];
afterEach(() => {
  for (const c of children.splice(0)) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
});

/** A session on a local `bash --noprofile --norc`, as SESSION_SHELL gives one on a host; every byte it writes between commands is kept. */
async function bashSession(): Promise<{ s: ShellSession; child: ChildProcessWithoutNullStreams }> {
  const child = spawn('bash', ['--noprofile', '--norc'], { stdio: 'pipe' });
  children.push(child);
  const ch: ShellChannel = {
    write: (t) => {
      if (child.stdin.writable) child.stdin.write(t);
    },
    onStdout: (f) => child.stdout.on('data', f),
    onStderr: (f) => child.stderr.on('data', f),
    onClose: (f) => child.on('close', f),
    close: () => {
      child.stdin.end();
      child.kill('SIGKILL');
    },
  };
  const s = await ShellSession.open(ch, 10_000, SESSION_FRAMING);
  if (!s) throw new Error('no session');
  return { s, child };
}

const run = (s: ShellSession, cmd: Shell, deadlineS = 30, killAfterS = 10): Promise<ExecOutcome> => {
  if (!s.reserve()) throw new Error('session not idle');
  return s.run(renderShell(sessionShell(cmd, { deadlineS, sudo: false }, killAfterS), () => ''), { inline: true, timeoutMs: 60_000, maxOutputBytes: 1 << 20 });
};
const lit = (text: string): Shell => ({ sh: [{ lit: text }] });
/** Processes on this machine whose command line holds `marker` (the tests' own sleeps). */
const alive = (marker: string) => spawn('pgrep', ['-f', marker]);
const pids = (marker: string) =>
  new Promise<string[]>((resolve) => {
    let out = '';
    const p = alive(marker);
    p.stdout.on('data', (d) => (out += d));
    p.on('close', () => resolve(out.split('\n').filter(Boolean)));
  });

describe("a host's bash session runs a wired command", () => {
  it("with the command's own output, error output and status, and nothing of the session's in reach", async () => {
    const { s, child } = await bashSession();
    expect(await run(s, sh`echo out; echo err >&2; exit 3`)).toMatchObject({ kind: 'exited', code: 3, stdout: 'out\n', stderr: 'err\n', timedOut: false });
    // no positional parameters, none of the session's helpers or variables, stdin /dev/null, not its fds 8 and 9
    const seen = await run(s, lit('echo "[$#|$1|$__rb_c$__rb_w$__rb_s|$(type -t __rb_wait __rb_b __rb_x || echo none)]"; read -r x; echo "read=$?"; [ -e /proc/$BASHPID/fd/8 ] || [ -e /proc/$BASHPID/fd/9 ] || echo "no 8, no 9"'));
    expect(seen).toMatchObject({ kind: 'exited', code: 0, stdout: '[0|||none]\nread=1\nno 8, no 9\n' });
    // its own process group, a child of the session shell (no `timeout`, no second bash)
    const pg = await run(s, lit('me=$BASHPID; echo $(ps -o pgid= -p $me) $me $(ps -o ppid= -p $me)'));
    const [pgid, pid, ppid] = pg.kind === 'exited' ? pg.stdout.trim().split(/\s+/) : [];
    expect(pgid).toBe(pid);
    expect(Number(ppid)).toBe(child.pid);
    // a syntax error is the command's (status 2), and the session goes on
    expect(await run(s, lit('if then'))).toMatchObject({ kind: 'exited', code: 2 });
    expect(await run(s, sh`echo still`)).toMatchObject({ kind: 'exited', code: 0, stdout: 'still\n', stderr: '' });
  });

  it('one after another, hundreds of times: no job notice or stray byte, the same session throughout', async () => {
    const { s } = await bashSession();
    for (let i = 0; i < 300; i++) {
      const r = await run(s, i % 3 === 0 ? sh`kill -9 $BASHPID` : i % 3 === 1 ? sh`exit ${i % 256}` : sh`echo ${String(i)}`);
      const want = i % 3 === 0 ? { code: 137, stdout: '' } : i % 3 === 1 ? { code: i % 256, stdout: '' } : { code: 0, stdout: `${i}\n` };
      expect(r, `command ${i}`).toMatchObject({ kind: 'exited', ...want, stderr: '' });
    }
    expect(s.dead).toBe(false);
  });

  it('at the deadline: TERM to its whole process group, status 124; the session goes on', async () => {
    const { s } = await bashSession();
    const marker = `rb-term-${process.pid}-${Date.now()}`;
    // a grandchild in the background and one in the foreground: both are the command's, both go
    const r = await run(s, lit(`sleep 300 ${marker}-a 2>/dev/null & exec -a ${marker}-b sleep 300`), 1);
    expect(r).toMatchObject({ kind: 'exited', code: 124, timedOut: false });
    expect(await pids(marker)).toEqual([]);
    expect(await run(s, sh`echo next`)).toMatchObject({ kind: 'exited', code: 0, stdout: 'next\n', stderr: '' });
  }, 30_000);

  it('a command that ignores TERM gets KILL the grace period later: status 137', async () => {
    const { s } = await bashSession();
    const started = Date.now();
    const r = await run(s, lit("trap '' TERM; sleep 30"), 1, 2);
    expect(r).toMatchObject({ kind: 'exited', code: 137 });
    // 1 s deadline + 2 s grace, not the 30 s sleep
    expect(Date.now() - started).toBeLessThan(20_000);
    expect(await run(s, sh`echo next`)).toMatchObject({ kind: 'exited', code: 0, stdout: 'next\n' });
  }, 40_000);

  /** The session's children other than the command asking (`$BASHPID`), as `pid pgid command`. */
  const others = (session: number | undefined) => lit(`me=$BASHPID; ps -o pid=,pgid=,args= --ppid ${session} | awk -v me=$me '$1 != me'`);
  it('one watchdog per session, in a process group of its own: 20 commands leave nothing behind and start nothing', async () => {
    const { s, child } = await bashSession();
    const before = await run(s, others(child.pid));
    for (let i = 0; i < 20; i++) await run(s, sh`true`, 600);
    const after = await run(s, others(child.pid));
    // the same one process before and after, not the session's own group
    expect(after).toMatchObject({ kind: 'exited', code: 0 });
    expect(after.kind === 'exited' && after.stdout).toBe(before.kind === 'exited' && before.stdout);
    const [pid, pgid] = after.kind === 'exited' ? after.stdout.trim().split(/\s+/) : [];
    expect(after.kind === 'exited' && after.stdout.trim().split('\n')).toHaveLength(1);
    expect(pgid).toBe(pid);
    expect(Number(pgid)).not.toBe(child.pid);
  });

  it('the session killed mid-command: its watchdog still ends the command at the deadline, then leaves', async () => {
    const { s, child } = await bashSession();
    const dog = await run(s, others(child.pid));
    const dogPid = dog.kind === 'exited' ? dog.stdout.trim().split(/\s+/)[0] : undefined;
    const marker = `rb-orphan-${process.pid}-${Date.now()}`;
    if (!s.reserve()) throw new Error('session not idle');
    const running = s.run(renderShell(sessionShell(lit(`exec -a ${marker} sleep 300`), { deadlineS: 2, sudo: false }, 1), () => ''), { inline: true, timeoutMs: 60_000, maxOutputBytes: 1 << 20 });
    await pollUntil(async () => (await pids(marker)).length === 1);
    child.kill('SIGKILL');
    expect(await running).toMatchObject({ kind: 'lost' });
    // nobody waits for the command now: the deadline (2 s) still ends it, and the watchdog goes (it looks every 5 s)
    await pollUntil(async () => (await pids(marker)).length === 0);
    await pollUntil(async () => gone(Number(dogPid)));
  }, 40_000);

  it('a watchdog killed on the host is started again: the next command still has its deadline', async () => {
    const { s, child } = await bashSession();
    const dog = await run(s, others(child.pid));
    const dogPid = Number(dog.kind === 'exited' ? dog.stdout.trim().split(/\s+/)[0] : Number.NaN);
    process.kill(dogPid, 'SIGKILL');
    await pollUntil(async () => gone(dogPid));
    expect(await run(s, lit('sleep 30'), 1)).toMatchObject({ kind: 'exited', code: 124 });
    expect(await run(s, sh`echo next`)).toMatchObject({ kind: 'exited', code: 0, stdout: 'next\n', stderr: '' });
  }, 40_000);
});

describe('a watchdog that does not answer', () => {
  it('the command keeps its own status, and the session ends right after its end marker (the transport opens a fresh one for the next)', async () => {
    const { s, child } = await bashSession();
    const listing = await run(s, lit(`me=$BASHPID; ps -o pid= --ppid ${child.pid} | awk -v me=$me '$1 != me'`));
    const dogPid = Number(listing.kind === 'exited' ? listing.stdout.trim() : Number.NaN);
    // stopped, not dead: the session still sees it, and it answers nothing
    process.kill(dogPid, 'SIGSTOP');
    try {
      expect(await run(s, sh`exit 3`)).toMatchObject({ kind: 'exited', code: 3, stdout: '', stderr: '' });
      await pollUntil(async () => s.dead);
      expect(child.exitCode ?? child.signalCode).not.toBeNull();
    } finally {
      process.kill(dogPid, 'SIGKILL');
    }
  }, 40_000);
});

/** The process has exited (reaped, or a zombie its parent has not reaped yet). */
function gone(pid: number): boolean {
  try {
    return readFileSync(`/proc/${pid}/stat`, 'utf8').split(' ')[2] === 'Z';
  } catch {
    return true;
  }
}

/** Ask until `ok` holds (every 50 ms, at most 20 s). */
async function pollUntil(ok: () => Promise<boolean>): Promise<void> {
  const end = Date.now() + 20_000;
  while (!(await ok())) {
    if (Date.now() > end) throw new Error('pollUntil: timed out');
    await new Promise((r) => setTimeout(r, 50));
  }
}
