// The shell session's framing against a real local `sh` (POSIX_FRAMING: any shell an SSH channel can run).
import { type ChildProcessWithoutNullStreams, spawn } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { pollUntil } from '../support/cli.js';
import { type ShellChannel, ShellSession } from '../../src/transport/shell-session.js';

const children: ChildProcessWithoutNullStreams[] = [];
afterEach(() => {
  for (const c of children.splice(0)) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
});

function localShell(): { ch: ShellChannel; child: ChildProcessWithoutNullStreams } {
  const child = spawn('sh', [], { stdio: 'pipe' });
  children.push(child);
  let closed = false;
  const ch: ShellChannel = {
    write: (t) => {
      if (!closed) child.stdin.write(t);
    },
    onStdout: (f) => child.stdout.on('data', f),
    onStderr: (f) => child.stderr.on('data', f),
    onClose: (f) => child.on('close', f),
    close: () => {
      closed = true;
      child.stdin.end();
      child.kill('SIGKILL');
    },
  };
  return { ch, child };
}

async function session(): Promise<{ s: ShellSession; child: ChildProcessWithoutNullStreams }> {
  const { ch, child } = localShell();
  const s = await ShellSession.open(ch, 10_000);
  if (!s) throw new Error('no session');
  return { s, child };
}

const opts = { timeoutMs: 20_000, maxOutputBytes: 1 << 20 };
const run = (s: ShellSession, text: string, o: Parameters<ShellSession['run']>[1] = opts) => {
  if (!s.reserve()) throw new Error('session not idle');
  return s.run(text, o);
};

describe('shell session', () => {
  it('runs commands one after another with their own output, error output and exit status', async () => {
    const { s, child } = await session();
    const a = await run(s, "echo out; echo err >&2; exit 3", opts);
    expect(a).toMatchObject({ kind: 'exited', code: 3, stdout: 'out\n', stderr: 'err\n', timedOut: false });
    const b = await run(s, 'printf no-newline; printf e >&2', opts);
    expect(b).toMatchObject({ kind: 'exited', code: 0, stdout: 'no-newline', stderr: 'e' });
    // the same shell process ran both
    const c = await run(s, 'echo $$', opts);
    expect(c.kind === 'exited' && Number(c.stdout.trim())).toBe(child.pid);
  });

  it('keeps the session shell out of reach: cd, exit, variables and stdin stay in the command', async () => {
    const { s } = await session();
    expect(await run(s, 'cd /; X=1; exit 0', opts)).toMatchObject({ code: 0 });
    expect(await run(s, 'pwd; echo "x=$' + '{X:-unset}"', opts)).toMatchObject({ code: 0, stdout: `${process.cwd()}\nx=unset\n` });
    // a command that reads stdin gets EOF, not the next command
    expect(await run(s, 'cat; echo read-done', opts)).toMatchObject({ code: 0, stdout: 'read-done\n' });
    expect(s.dead).toBe(false);
  });

  it('streams live output without the markers, also when a chunk ends mid-marker', async () => {
    const { s } = await session();
    const live: string[] = [];
    const r = await run(s, "printf 'a\\nb'; sleep 0.1; printf 'c\\n'; printf 'E'", { ...opts, onStdout: (t) => live.push(t) });
    expect(r).toMatchObject({ code: 0, stdout: 'a\nbc\nE' });
    expect(live.join('')).toBe('a\nbc\nE');
  });

  it('multi-line commands and large output come through whole', async () => {
    const { s } = await session();
    const r = await run(s, "for i in 1 2 3; do\n  echo line $i\ndone\nhead -c 300000 /dev/zero | tr '\\0' x", opts);
    expect(r.kind === 'exited' && r.stdout.length).toBe(3 * 7 + 300000);
  });

  it('a command that times out closes the session and says so', async () => {
    const { s } = await session();
    const r = await run(s, 'echo started; sleep 30', { ...opts, timeoutMs: 300 });
    expect(r).toMatchObject({ kind: 'exited', timedOut: true, code: null, stdout: 'started\n' });
    expect(s.dead).toBe(true);
  });

  it('a session that dies mid-command reports the command lost, with the output so far', async () => {
    const { s, child } = await session();
    const r = run(s, 'echo partial; kill -9 $$; sleep 1', opts);
    expect(await r).toMatchObject({ kind: 'lost', stdout: 'partial\n' });
    expect(s.dead).toBe(true);
    expect(child.signalCode).toBe('SIGKILL');
  });

  it('output left behind by a background writer, arriving between commands, closes the session', async () => {
    const { s } = await session();
    const go = join(mkdtempSync(join(tmpdir(), 'shell-session-')), 'go');
    // the writer inherits the session's stdout and writes, after its command has ended, once told to
    expect(await run(s, `(while [ ! -e ${go} ]; do sleep 0.02; done; echo stray) &`, opts)).toMatchObject({ code: 0, stdout: '' });
    expect(s.dead).toBe(false);
    writeFileSync(go, '');
    await pollUntil('the session to close', () => s.dead, 20_000);
    expect(s.reserve()).toBe(false);
  });

  it('one command at a time: a session is reserved, then run, and free again once the command ends', async () => {
    const { s } = await session();
    expect(() => s.run('true', opts)).toThrow(/without reserve/);
    expect(s.reserve()).toBe(true);
    const r = s.run('sleep 0.2', opts);
    expect(s.reserve()).toBe(false);
    expect(await r).toMatchObject({ code: 0 });
    expect(s.reserve()).toBe(true);
  });
});
