// The SSH transport's shell sessions against real sshd nodes: commands side by side on one host, a
// client-side timeout, a session killed on the host mid-command, and what comes after each.
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { defaultSshEnv, loadInventory } from '../../src/load/load-inventory.js';
import type { Host } from '../../src/model/inventory.js';
import { sh } from '../../src/shell/build.js';
import { SshTransport } from '../../src/transport/ssh.js';
import type { ExecOutcome } from '../../src/transport/transport.js';
import { type Lab, startLab } from '../lab/lab.js';
import { pollUntil } from '../support/cli.js';
import { writeLabInventory } from '../support/lab-inventory.js';

let lab: Lab;
let hosts: Host[];
let transport: SshTransport;

beforeAll(async () => {
  lab = await startLab({ nodes: 2 });
  const loaded = loadInventory(writeLabInventory(lab, join(lab.stateDir, 'inventory.yml')), { sshEnv: defaultSshEnv(process.env) });
  if (!loaded.ok) throw new Error(JSON.stringify(loaded.problems));
  hosts = loaded.value.hosts;
  transport = new SshTransport({ acceptNewHostKeys: false, connectTimeoutMs: 10_000, keepaliveIntervalMs: 5_000 });
}, 60_000);

afterAll(async () => {
  await transport?.close();
  await lab?.stop();
});

const stdoutOf = (o: ExecOutcome) => (o.kind === 'exited' ? o.stdout : `(${o.kind}: ${o.message})`);
/** A planned command's wiring: the host's deadline, no sudo. */
const wiring = (deadlineS = 900) => ({ deadlineS, sudo: false });
/** PIDs of the session shells on a node: `bash` processes whose parent is an sshd. */
const sessionShells = async (node: number) =>
  (await lab.exec(node, 'for p in $(pgrep -x bash); do pp=$(awk \'{print $4}\' /proc/$p/stat); [ "$(cat /proc/$pp/comm)" = sshd ] && echo $p; done; true')).stdout.split('\n').filter(Boolean);

describe('shell sessions over real SSH', () => {
  it('commands side by side on one host all get their own output and status (one in the session, the rest on channels)', async () => {
    const h = hosts[0] as Host;
    expect((await transport.connect(h)).ok).toBe(true);
    const runs = await Promise.all(
      Array.from({ length: 6 }, (_, i) => transport.exec(h, sh`echo out-${String(i)}; echo err-${String(i)} >&2; exit ${String(i)}`, { wiring: wiring(), timeoutMs: 60_000 })),
    );
    for (const [i, r] of runs.entries()) expect(r).toMatchObject({ kind: 'exited', code: i, stdout: `out-${i}\n`, stderr: `err-${i}\n`, timedOut: false });
    // and the session is still the one: a single session shell on the host
    expect(await sessionShells(0)).toHaveLength(1);
  });

  it('a client-side timeout ends the session; the next command gets a fresh one and runs', async () => {
    const h = hosts[0] as Host;
    const before = await sessionShells(0);
    expect(before).toHaveLength(1);
    // the client gives up after 2 s; the host's own deadline (5 s) then ends the command and its old shell
    const r = await transport.exec(h, sh`sleep 300`, { wiring: wiring(5), timeoutMs: 2_000 });
    expect(r).toMatchObject({ kind: 'exited', timedOut: true });
    const next = await transport.exec(h, sh`echo after`, { wiring: wiring(), timeoutMs: 60_000 });
    expect(stdoutOf(next)).toBe('after\n');
    await pollUntil('the old session shell to be gone, the new one alone', async () => {
      const now = await sessionShells(0);
      return now.length === 1 && now[0] !== before[0];
    }, 60_000);
  });

  it('a session shell killed on the host mid-command: the command is lost (its outcome unknown), the next one runs', async () => {
    const h = hosts[1] as Host;
    expect((await transport.connect(h)).ok).toBe(true);
    await pollUntil('the session shell of master-2', async () => (await sessionShells(1)).length === 1, 30_000);
    const [shell] = await sessionShells(1);
    const pending = transport.exec(h, sh`echo partial; sleep 300`, { wiring: wiring(), timeoutMs: 600_000 });
    await pollUntil("master-2's command to be running (its sleep)", async () => (await lab.exec(1, 'pgrep -x sleep >/dev/null')).code === 0, 30_000);
    // the shell, and what it ran (its process group, which holds the channel's output open), by PID inside the node
    await lab.exec(1, `kill -9 ${shell}; for p in $(pgrep -x sleep); do kill -9 -- -$(ps -o pgid= -p $p | tr -d ' '); done`);
    const r = await pending;
    expect(r.kind).toBe('lost');
    if (r.kind === 'lost') expect(r.message).toMatch(/master-2.*outcome on the host is unknown/);
    const next = await transport.exec(h, sh`echo after`, { wiring: wiring(), timeoutMs: 60_000 });
    expect(stdoutOf(next)).toBe('after\n');
  });
});
