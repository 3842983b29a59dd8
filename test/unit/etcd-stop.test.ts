// etcd.stop waits until the etcd process is gone (not only its port), and with leader_last the leader stops
// after the others: the commands the plan holds, run by bash against a real flock and real listening sockets.
import { type ChildProcess, spawn } from 'node:child_process';
import { chmodSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import type { Command } from '../../src/model/command.js';
import type { Host } from '../../src/model/inventory.js';
import { showShell } from '../../src/shell/render.js';
import { fixtureHost, planFor } from '../support/action-fixtures.js';

const cleanups: (() => void)[] = [];
afterEach(() => {
  for (const c of cleanups.splice(0)) c();
});

function host(n: number, dir: string, peerPort: number): Host {
  return fixtureHost(n, 'static-pod', { dataDir: join(dir, `data${n}`), stashDir: join(dir, `stash${n}`), peerUrl: `http://127.0.0.${n}:${peerPort}` }, '127.0.0');
}

function planStop(args: Record<string, unknown>, h: Host, cluster: Host[]): string[] {
  const p = planFor('etcd.stop', args, h, cluster);
  if (!p.ok) throw new Error(p.message);
  return p.plan.commands.map((c: Command) => (c.kind === 'exec' ? showShell(c.cmd) : JSON.stringify(c)));
}

function bash(cmd: string): { child: ChildProcess; done: Promise<{ code: number | null; stderr: string }>; stderr: () => string } {
  const child = spawn('bash', ['-c', cmd], { stdio: ['ignore', 'ignore', 'pipe'] });
  let err = '';
  child.stderr?.on('data', (d: Buffer) => {
    err += d.toString();
  });
  const done = new Promise<{ code: number | null; stderr: string }>((res) => child.on('close', (code) => res({ code, stderr: err })));
  cleanups.push(() => {
    if (child.exitCode === null && child.pid) child.kill('SIGKILL');
  });
  return { child, done, stderr: () => err };
}

/** Resolves once `text` has appeared on the process's stderr. */
function saw(p: ReturnType<typeof bash>, text: string): Promise<void> {
  return new Promise((res, rej) => {
    const check = () => {
      if (p.stderr().includes(text)) res();
    };
    p.child.stderr?.on('data', check);
    p.child.on('close', () => (p.stderr().includes(text) ? res() : rej(new Error(`exited without '${text}': ${p.stderr()}`))));
    check();
  });
}

function tempDir(): string {
  const d = mkdtempSync(join(tmpdir(), 'rb-etcd-stop-'));
  cleanups.push(() => rmSync(d, { recursive: true, force: true }));
  return d;
}

describe('etcd.stop waits until no etcd process holds the data dir', () => {
  it("the wait fails while a process holds the db's flock (as bbolt does), passes once it is released or when there is no db", async () => {
    const dir = tempDir();
    const h = host(1, dir, 2380);
    const cmds = planStop({}, h, [h]);
    // manifest out, port closed, process gone
    expect(cmds).toHaveLength(3);
    const gone = cmds[2] ?? '';
    expect(gone).toContain(`${h.etcd.dataDir}/member/snap/db`);
    expect((await bash(gone).done).code, 'no db: nothing holds it').toBe(0);

    const db = join(h.etcd.dataDir, 'member', 'snap', 'db');
    mkdirSync(join(h.etcd.dataDir, 'member', 'snap'), { recursive: true });
    writeFileSync(db, 'bolt');
    // an exclusive flock held by another process, as a running etcd's bbolt holds it
    // (one process: the shell becomes the sleep that keeps fd 9, and with it the lock, until it is killed)
    const holder = bash(`exec 9<> ${db}; flock -x 9; echo held >&2; exec sleep 600`);
    await saw(holder, 'held');
    expect((await bash(gone).done).code, 'the db is locked: etcd still runs').not.toBe(0);
    holder.child.kill('SIGKILL');
    await holder.done;
    expect((await bash(gone).done).code, 'the lock is released with the process').toBe(0);
  });

  it('the undo of etcd.start (a stop) waits for the process too', () => {
    const dir = tempDir();
    const h = host(1, dir, 2380);
    const p = planFor('etcd.start', {}, h, [h]);
    if (!p.ok) throw new Error(p.message);
    const undo = p.plan.undo.map((c) => (c.kind === 'exec' ? showShell(c.cmd) : ''));
    expect(undo.at(-1)).toContain('flock -n -s 9 9< ');
  });
});

describe('etcd.stop leader_last', () => {
  /** A fake etcdctl in the host's tools dir that answers `endpoint status -w json` for member 11, leader `leader`. */
  function fakeEtcdctl(h: Host, answer: string | undefined): void {
    const bin = join(h.etcd.stashDir, 'bin');
    mkdirSync(bin, { recursive: true });
    const body = answer === undefined ? 'echo "context deadline exceeded" >&2; exit 1' : `printf '%s\\n' '${answer}'`;
    writeFileSync(join(bin, 'etcdctl'), `#!/bin/bash\n${body}\n`);
    chmodSync(join(bin, 'etcdctl'), 0o755);
  }
  const status = (member: number, leader: number) => `[{"Endpoint":"x","Status":{"header":{"cluster_id":9,"member_id":${member},"revision":5,"raft_term":2},"version":"3.4.23","dbSize":20480,"leader":${leader},"raftIndex":8,"raftTerm":2}}]`;

  async function listen(address: string): Promise<{ server: Server; port: number }> {
    const server = createServer((s) => s.destroy());
    await new Promise<void>((res, rej) => {
      server.once('error', rej);
      server.listen(0, address, () => res());
    });
    cleanups.push(() => server.close());
    const port = (server.address() as { port: number }).port;
    return { server, port };
  }

  it('the leader waits until every other member has closed its peer port, then goes on', async () => {
    const dir = tempDir();
    const p2 = await listen('127.0.0.2');
    const p3 = await listen('127.0.0.3');
    const [h1, h2, h3] = [host(1, dir, 1), host(2, dir, p2.port), host(3, dir, p3.port)];
    fakeEtcdctl(h1, status(11, 11));
    const cmds = planStop({ leader_last: true, timeout: 60 }, h1, [h1, h2, h3]);
    expect(cmds).toHaveLength(4);
    const run = bash(cmds[0] ?? '');
    await saw(run, 'the leader: stopping after the other members');
    // while a peer port is open the command can only be waiting (its bound is 60 s)
    p2.server.close();
    await new Promise<void>((res) => p2.server.once('close', () => res()));
    expect(run.child.exitCode, 'one member still listens').toBeNull();
    p3.server.close();
    const r = await run.done;
    expect(r.code).toBe(0);
    expect(r.stderr).not.toContain('stopping all the same');
  });

  it.each([
    ['a follower', status(11, 22)],
    ['a member with no leader', status(11, 0)],
    ['a member that does not answer', undefined],
  ])('%s stops at once, with the others still listening', async (_what, answer) => {
    const dir = tempDir();
    const p2 = await listen('127.0.0.2');
    const [h1, h2] = [host(1, dir, 1), host(2, dir, p2.port)];
    fakeEtcdctl(h1, answer);
    const cmds = planStop({ leader_last: true, timeout: 60 }, h1, [h1, h2]);
    const r = await bash(cmds[0] ?? '').done;
    expect(r.code).toBe(0);
    expect(r.stderr).not.toContain('the leader');
  });

  it('a bad value is refused, and so is leader_last on the apiserver', () => {
    const dir = tempDir();
    const h = host(1, dir, 2380);
    expect(() => planStop({ leader_last: 'yes' }, h, [h])).toThrow(/leader_last must be true or false/);
    const p = planFor('apiserver.stop', { leader_last: true }, h, [h]);
    expect(p).toMatchObject({ ok: false, message: expect.stringMatching(/leader_last is for etcd\.stop/) });
  });
});
