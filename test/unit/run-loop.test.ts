// The run loop and rollback against a fake transport: no host, every command recorded.
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { makePlan } from '../../src/engine/plan.js';
import { runPlaybook } from '../../src/engine/run.js';
import { foldEvents } from '../../src/engine/run-state.js';
import type { Shell } from '../../src/model/shell.js';
import { showShell } from '../../src/shell/render.js';
import { loadInventory } from '../../src/load/load-inventory.js';
import { loadPlaybook } from '../../src/load/load-playbook.js';
import type { RunEvent } from '../../src/model/events.js';
import type { Host } from '../../src/model/inventory.js';
import type { ExecOutcome, Transport } from '../../src/transport/transport.js';
import { fakeTransportWith } from '../support/fake-transport.js';

/** The planned command inside its wire form (`timeout … bash -c CMD`), as text. */
function innerText(s: Shell): string {
  const sub = s.sh.find((p) => 'sub' in p);
  return sub && 'sub' in sub ? showShell(sub.sub) : showShell(s);
}

/** Fails a command when `fails(host, cmd)` says so; records every command per host. */
function fakeTransport(fails: (host: string, cmd: string) => boolean, unreachable = new Set<string>()): Transport & { log: string[] } {
  const log: string[] = [];
  const exec = async (h: Host, shell: Shell): Promise<ExecOutcome> => {
    const cmd = innerText(shell);
    if (unreachable.has(h.name)) return { kind: 'unreachable', message: 'no route' };
    log.push(`${h.name}: ${cmd}`);
    const bad = fails(h.name, cmd);
    return { kind: 'exited', code: bad ? 1 : 0, signal: null, stdout: '', stderr: bad ? 'boom' : '', durationMs: 1, timedOut: false };
  };
  return { log, ...fakeTransportWith(exec) };
}

const INVENTORY = 'cluster: c\nhosts:\n  a: { address: 10.0.0.1 }\n  b: { address: 10.0.0.2 }\ngroups:\n  masters: [a, b]\n';

function setup(steps: string, inventoryText = INVENTORY) {
  const dir = mkdtempSync(join(tmpdir(), 'rb-loop-'));
  writeFileSync(join(dir, 'inv.yml'), inventoryText);
  writeFileSync(join(dir, 'payload.txt'), 'x\n');
  writeFileSync(join(dir, 'pb.yml'), `name: t\nhosts: masters\nsteps:\n${steps}`);
  const inv = loadInventory(join(dir, 'inv.yml'));
  if (!inv.ok) throw new Error(JSON.stringify(inv.problems));
  const pb = loadPlaybook(join(dir, 'pb.yml'), { inventory: inv.value });
  if (!pb.ok) throw new Error(JSON.stringify(pb.problems));
  return { inventory: inv.value, playbook: pb.value };
}

const step = (name: string, cmd: string, undo: string) => `  - name: ${name}\n    action: shell\n    args: { cmd: "${cmd}" }\n    undo: "${undo}"\n`;

async function run(steps: string, t: Transport, inventoryText?: string) {
  const { inventory, playbook } = setup(steps, inventoryText);
  const events: RunEvent[] = [];
  const run = { id: 'R', dir: '/tmp', user: 'u', started: 'now', commit: 'x' };
  const planned = makePlan({ playbook, inventory, extraVars: {}, limit: undefined, run, tags: undefined, startAt: undefined });
  if (!planned.ok) throw new Error(planned.message);
  // the write-ahead barrier: a command of a step that changes hosts (step.planned), or of an undo, reaches
  // the host only after its command.start is durable; a read-only step's need not wait
  let durable = 0;
  let early = 0;
  let unguarded = 0;
  const guarded: Transport = {
    ...t,
    exec: (h, shell, o) => {
      const start = events.findLast((e) => e.type === 'command.start' && e.host === h.name);
      const changes = start?.type === 'command.start' && (start.phase !== 'do' || events.some((e) => e.type === 'step.planned' && e.step === start.step && e.host === h.name));
      if (changes && durable < events.indexOf(start) + 1) early++;
      if (!changes) unguarded++;
      return t.exec(h, shell, o);
    },
  };
  const out = await runPlaybook({
    program: planned.plan,
    playbook,
    inventory,
    extraVars: {},
    run,
    forks: 1,
    noRollback: false,
    transport: guarded,
    emit: (e) => events.push(e),
    journaled: async () => {
      durable = events.length;
    },
    confirm: async () => true,
    signal: new AbortController().signal,
    stores: () => {
      throw new Error('no store in this test');
    },
  });
  expect(early, 'commands of changing steps sent before their command.start was durable').toBe(0);
  return { out, events, unguarded };
}

describe('run loop and rollback (fake transport)', () => {
  it("a transfer runs as its step's become says: the host's become, or the step's become: false", async () => {
    const t = fakeTransport(() => false);
    const uploads: string[] = [];
    t.upload = async (h, dest) => {
      uploads.push(`${h.name} ${dest} sudo=${h.become && h.user !== 'root'}`);
      return { kind: 'done', bytes: 0, durationMs: 0 };
    };
    const inv = 'cluster: c\ndefaults: { user: ops, become: true }\nhosts:\n  a: { address: 10.0.0.1 }\ngroups:\n  masters: [a]\n';
    const up = (name: string, dest: string, become: string) => `  - name: ${name}\n    action: file.upload\n${become}    args: { src: payload.txt, dest: ${dest} }\n`;
    const { out } = await run(up('as root', '/etc/x', '') + up('as the login user', '/home/ops/x', '    become: false\n'), t, inv);
    expect(out).toMatchObject({ status: 'ok' });
    expect(uploads).toEqual(['a /etc/x sudo=true', 'a /home/ops/x sudo=false']);
  });

  it('undoes newest first, only since the last rollback point, only where the step ran', async () => {
    const t = fakeTransport((h, cmd) => h === 'b' && cmd === 'do-3');
    const { out } = await run(step('one', 'do-1', 'undo-1') + '  - rollback_point: p\n' + step('two', 'do-2', 'undo-2') + step('three', 'do-3', 'undo-3') + step('four', 'do-4', 'undo-4'), t);
    expect(out).toMatchObject({ status: 'rolled_back', exitCode: 1, failedStep: 'three' });
    const on = (h: string) => t.log.filter((l) => l.startsWith(`${h}: `)).map((l) => l.slice(3));
    expect(on('a')).toEqual(['do-1', 'do-2', 'do-3', 'undo-3', 'undo-2']);
    expect(on('b')).toEqual(['do-1', 'do-2', 'do-3', 'undo-2']);
    // the unwind is one host at a time, strictly newest first across hosts: 'two' ran on a then b, so it is
    // undone on b then a, after 'three' on a (the newest)
    const unwind = t.log.slice(t.log.findIndex((l) => l.includes('undo-')));
    expect(unwind).toEqual(['a: undo-3', 'b: undo-2', 'a: undo-2']);
  });

  it('a failed undo stops older undos on that host, goes on elsewhere, and needs attention (exit 3)', async () => {
    const t = fakeTransport((h, cmd) => (h === 'a' && cmd === 'undo-2') || (h === 'b' && cmd === 'do-3'));
    const { out, events } = await run(step('one', 'do-1', 'undo-1') + step('two', 'do-2', 'undo-2') + step('three', 'do-3', 'undo-3'), t);
    expect(out).toMatchObject({ status: 'needs_attention', exitCode: 3 });
    const undos = (h: string) => t.log.filter((l) => l.startsWith(`${h}: undo`));
    expect(undos('a')).toEqual(['a: undo-3', 'a: undo-2']); // undo-2 failed: undo-1 is not tried on a
    expect(undos('b')).toEqual(['b: undo-2', 'b: undo-1']);
    const end = events.find((e) => e.type === 'rollback.end');
    expect(end).toMatchObject({ ok: false, remaining: [{ host: 'a', steps: ['two', 'one'] }] });
  });

  it('an unreachable host is reported with what is left there; the others are unwound', async () => {
    const down = new Set<string>();
    const t = fakeTransport(() => false, down);
    const inner = t.exec;
    let n = 0;
    t.exec = async (h, cmd, o) => {
      if (h.name === 'b' && innerText(cmd) === 'do-2' && n++ === 0) down.add('b');
      return inner(h, cmd, o);
    };
    const { out } = await run(step('one', 'do-1', 'undo-1') + step('two', 'do-2', 'undo-2'), t);
    expect(out).toMatchObject({ status: 'needs_attention', exitCode: 3 });
    expect(out.message).toMatch(/b: one \(unreachable\)/);
    expect(t.log.filter((l) => l.includes('undo'))).toEqual(['a: undo-2', 'a: undo-1']);
  });

  it('retries keep the undo an earlier attempt made owed, even when a later attempt fails on its first command', async () => {
    let attempt = 0;
    const t = fakeTransport((h, cmd) => {
      if (h !== 'a' || !cmd.startsWith('do-x')) return cmd === 'do-y';
      attempt++;
      return attempt > 1; // attempt 1 completes (until stays false), attempt 2 fails at once
    });
    const steps =
      '  - name: x\n    action: shell\n    args: { cmd: "do-x" }\n    undo: "undo-x"\n    register: r\n    retries: 1\n    delay: 0\n    until: r.stdout == "never"\n    hosts: a\n' +
      step('y', 'do-y', 'undo-y');
    const { out } = await run(steps, t);
    expect(out).toMatchObject({ status: 'rolled_back' });
    expect(t.log.filter((l) => l.startsWith('a: '))).toEqual(['a: do-x', 'a: do-x', 'a: undo-x']);
  });

  it('the live run and the journal fold agree: the state the run ended in is the fold of what it emitted', async () => {
    const t = fakeTransport((h, cmd) => h === 'b' && cmd === 'do-3');
    const { events } = await run(step('one', 'do-1', 'undo-1') + '  - rollback_point: p\n' + step('two', 'do-2', 'undo-2') + step('three', 'do-3', 'undo-3'), t);
    const s = foldEvents(events, ['a', 'b']);
    expect(s).toMatchObject({ lastPoint: 'p', stack: [], inFlight: [], failedStep: 'three', unwinding: false });
  });

  it('a run-time value is filled into the planned command on the host that registered it, nothing re-rendered', async () => {
    const t = fakeTransport(() => false);
    const { events } = await run('  - name: one\n    action: shell\n    changes: false\n    args: { cmd: "echo hi" }\n    register: r\n' + '  - name: two\n    action: shell\n    changes: false\n    args: { cmd: "echo {{ r.rc }}" }\n', t);
    const two = events.filter((e) => e.type === 'command.end' && e.step === 'two');
    expect(two.map((e) => e.type === 'command.end' && [e.planned, e.command])).toEqual([
      ["echo '<r.rc>'", 'echo 0'],
      ["echo '<r.rc>'", 'echo 0'],
    ]);
  });
});


describe('faults become data', () => {
  it('a filter given the wrong type is a plan error with the filter named, not an internal error', () => {
    const { inventory, playbook } = setup('  - name: s\n    action: shell\n    changes: false\n    args: { cmd: "echo {{ groups.masters | join(\',\') }} {{ cluster | join(\',\') }}" }\n');
    const planned = makePlan({ playbook, inventory, extraVars: {}, limit: undefined, run: { id: 'R', dir: '/tmp', user: 'u', started: 'now', commit: 'x' }, tags: undefined, startAt: undefined });
    expect(planned.ok && planned.plan.errors.map((e) => e.message)).toEqual(['join: needs a list, got a string', 'join: needs a list, got a string']);
  });

  it('a run-time value that cannot be evaluated fails its step on that host, and the run unwinds', async () => {
    const t = fakeTransport(() => false);
    const { out, events } = await run(step('one', 'do-1', 'undo-1') + '  - name: two\n    action: shell\n    changes: false\n    args: { cmd: "echo hi" }\n    register: r\n' + '  - name: three\n    action: shell\n    changes: false\n    args: { cmd: "echo {{ r.stdout | from_json }}" }\n', t);
    expect(out).toMatchObject({ status: 'rolled_back', failedStep: 'three' });
    expect(events.some((e) => e.type === 'command.end' && e.step === 'three' && /from_json: not JSON/.test(e.error ?? ''))).toBe(true);
    expect(t.log.filter((l) => l.includes('undo-1'))).toEqual(['b: undo-1', 'a: undo-1']); // newest first
  });
});
