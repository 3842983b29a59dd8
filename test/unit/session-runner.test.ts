// A command as a host's bash session runs it (wire.ts: SESSION_INIT, sessionShell), against a real local
// bash through the shell session: what `timeout -k K S bash -c TEXT` would give, without its programs.
import { type ChildProcessWithoutNullStreams, spawn } from 'node:child_process';
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

  it('a command that ends in time leaves no watchdog behind', async () => {
    const { s, child } = await bashSession();
    for (let i = 0; i < 20; i++) await run(s, sh`true`, 600);
    const kids = await run(s, lit(`ps -o pid= --ppid ${child.pid} | wc -l`));
    // the session's children now: the subshell running `ps` and its own watchdog, none of the 20 before
    expect(kids.kind === 'exited' && Number(kids.stdout.trim())).toBe(2);
  });
});
