// The become preflight: which hosts need `sudo -n`, and what a refusal says. A fake transport plays sudo.
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { checkBecome, hostsNeedingSudo } from '../../src/engine/check-become.js';
import { makePlan } from '../../src/engine/plan.js';
import { loadInventory } from '../../src/load/load-inventory.js';
import { loadPlaybook } from '../../src/load/load-playbook.js';
import type { Host } from '../../src/model/inventory.js';
import type { Shell } from '../../src/model/shell.js';
import { renderShell } from '../../src/shell/render.js';
import { channelShell } from '../../src/shell/wire.js';
import type { ExecOptions, ExecOutcome, Transport } from '../../src/transport/transport.js';
import { fakeTransportWith } from '../support/fake-transport.js';

const INVENTORY = `cluster: c
hosts:
  r: { address: 10.0.0.1, user: root }
  o: { address: 10.0.0.2, user: ops }
  n: { address: 10.0.0.3, user: ops, become: false }
groups:
  masters: [r, o, n]
`;

function setup(steps: string) {
  const dir = mkdtempSync(join(tmpdir(), 'rb-become-'));
  writeFileSync(join(dir, 'inv.yml'), INVENTORY);
  writeFileSync(join(dir, 'pb.yml'), `name: t\nhosts: masters\nsteps:\n${steps}`);
  const inv = loadInventory(join(dir, 'inv.yml'));
  if (!inv.ok) throw new Error(JSON.stringify(inv.problems));
  const pb = loadPlaybook(join(dir, 'pb.yml'), { inventory: inv.value });
  if (!pb.ok) throw new Error(JSON.stringify(pb.problems));
  const planned = makePlan({ playbook: pb.value, inventory: inv.value, extraVars: {}, limit: undefined, run: { id: 'R', dir: '/tmp', user: 'u', started: 'now', commit: 'x' }, tags: undefined, startAt: undefined });
  if (!planned.ok) throw new Error(planned.message);
  return { hosts: inv.value.hosts, program: planned.plan };
}

const plain = '  - name: look\n    action: shell\n    changes: false\n    args: { cmd: "ls /" }\n';
const withBecome = '  - name: look\n    action: shell\n    changes: false\n    become: true\n    args: { cmd: "ls /" }\n';

/** A host whose sudo has no passwordless rule for the user answers as sudo does; the commands are kept. */
function fakeSudo(noRule: Set<string>): Transport & { seen: string[] } {
  const seen: string[] = [];
  // what a channel of its own would give the host: the command as the transport wires it
  const exec = async (h: Host, shell: Shell, opts?: ExecOptions): Promise<ExecOutcome> => {
    const text = renderShell(opts?.wiring ? channelShell(shell, opts.wiring) : shell, () => '');
    seen.push(`${h.name}: ${text}`);
    const refused = text.startsWith('sudo -n ') && noRule.has(h.name);
    return { kind: 'exited', code: refused ? 1 : 0, signal: null, stdout: '', stderr: refused ? 'sudo: a password is required\n' : '', durationMs: 1, timedOut: false };
  };
  return { seen, ...fakeTransportWith(exec) };
}

describe('hostsNeedingSudo', () => {
  it.each([
    ['a plain step', plain, ['o']],
    ['a step with become: true', withBecome, ['o', 'n']],
  ])('%s: root never, a non-root user with become, a step that asks for it', (_, steps, want) => {
    const { hosts, program } = setup(steps);
    expect(hostsNeedingSudo(hosts, program).map((h) => h.name)).toEqual(want);
  });
});

describe('checkBecome', () => {
  it('runs only `sudo -n … true` on the hosts that need it, and passes when sudo does', async () => {
    const { hosts, program } = setup(plain);
    const t = fakeSudo(new Set());
    expect(await checkBecome(hosts, program, t)).toEqual({ ok: true, checked: ['o'] });
    expect(t.seen).toEqual(["o: sudo -n -- timeout -k 10 30 bash -c true"]);
  });

  it('a user without a passwordless rule: refused per host, with sudo\'s own words and what to do', async () => {
    const { hosts, program } = setup(withBecome);
    const r = await checkBecome(hosts, program, fakeSudo(new Set(['o', 'n'])));
    expect(r).toEqual({
      ok: false,
      refused: [
        { host: 'o', message: 'o: sudo -n as ops failed: sudo: a password is required' },
        { host: 'n', message: 'n: sudo -n as ops failed: sudo: a password is required' },
      ],
      summary: 'become on o, n needs a passwordless sudo rule for ops (sudo -n never prompts; e.g. "ops ALL=(root) NOPASSWD: ALL" in /etc/sudoers.d), or log in as root',
    });
  });

  it('no program (a resume without its program file): the hosts that say become are still checked', async () => {
    const { hosts } = setup(plain);
    const r = await checkBecome(hosts, undefined, fakeSudo(new Set(['o'])));
    expect(r.ok).toBe(false);
  });
});
