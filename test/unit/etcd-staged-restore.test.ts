// The full restore's two parts: etcd.stage_restore (while etcd runs) and etcd.place_restore (one rename while
// it is stopped), and the rehearsal of what was staged. Plans as data; the rename run by bash on real dirs.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import type { CommandSet } from '../../src/actions/etcd-version.js';
import { applyParse } from '../../src/engine/run-special.js';
import type { Command } from '../../src/model/command.js';
import type { Host } from '../../src/model/inventory.js';
import { showShell } from '../../src/shell/render.js';
import { fixtureHost, planFor } from '../support/action-fixtures.js';

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

const host = (n: number, dataDir = '/var/lib/etcd'): Host => fixtureHost(n, 'static-pod', { dataDir });

function plan(action: string, args: Record<string, unknown>, h = host(2), set: CommandSet = '3.4') {
  return planFor(action, args, h, [host(1), host(2), host(3)], { set, stepIndex: 4 });
}
const shown = (cs: Command[] | undefined) => (cs ?? []).map((c) => (c.kind === 'exec' ? showShell(c.cmd) : JSON.stringify(c)));

describe('etcd.stage_restore', () => {
  it('restores into a scratch dir beside the data, owned like it, renamed whole; undone by removing only what it wrote', () => {
    const p = plan('etcd.stage_restore', { snapshot: '/s/snap.db', token: 'tok' }, host(2), '3.5');
    if (!p.ok) throw new Error(p.message);
    const c = shown(p.plan.commands);
    expect(c[0]).toBe('mkdir -p -m 700 /var/lib/etcd && rm -rf -- /var/lib/etcd/.restore-R.partial /var/lib/etcd/.restore-R');
    expect(c[1]).toMatch(/^\/var\/lib\/etcd-runbook\/bin\/etcdutl snapshot restore \/s\/snap\.db --name=m2 --initial-cluster=m1=https:\/\/10\.0\.0\.1:2380,m2=https:\/\/10\.0\.0\.2:2380,m3=https:\/\/10\.0\.0\.3:2380 --initial-cluster-token=tok --initial-advertise-peer-urls=https:\/\/10\.0\.0\.2:2380 --data-dir=\/var\/lib\/etcd\/\.restore-R\.partial --bump-revision=1000000000 --mark-compacted \|\| /);
    expect(c[2]).toBe('chown -R --reference=/var/lib/etcd -- /var/lib/etcd/.restore-R.partial && mv -T -- /var/lib/etcd/.restore-R.partial /var/lib/etcd/.restore-R');
    // never the member dir: the live data is not touched
    expect(c.join('\n')).not.toMatch(/\/var\/lib\/etcd\/member\b/);
    expect(shown(p.plan.undo)).toEqual(['rm -rf -- /var/lib/etcd/.restore-R.partial /var/lib/etcd/.restore-R']);
    expect(p.plan.probe && showShell(p.plan.probe.cmd)).toBe('if [ -e /var/lib/etcd/.restore-R ]; then echo done; elif [ -e /var/lib/etcd/.restore-R.partial ]; then echo partial; else echo not-started; fi');
  });
  it('a bump 3.4 cannot do is refused', () => {
    expect(plan('etcd.stage_restore', { snapshot: '/s/snap.db', token: 'tok', bump_revision: 5 })).toMatchObject({ ok: false, message: expect.stringMatching(/cannot bump/) });
    expect(plan('etcd.stage_restore', { snapshot: '/s/snap.db', token: '' })).toMatchObject({ ok: false, message: expect.stringMatching(/token/) });
  });
});

describe('etcd.place_restore', () => {
  function setUp(): { h: Host; data: string; cmd: string; undo: string } {
    const d = mkdtempSync(join(tmpdir(), 'rb-place-'));
    dirs.push(d);
    const data = join(d, 'etcd');
    const h = host(2, data);
    const p = plan('etcd.place_restore', {}, h);
    if (!p.ok) throw new Error(p.message);
    return { h, data, cmd: shown(p.plan.commands)[0] ?? '', undo: shown(p.plan.undo)[0] ?? '' };
  }
  it('renames the staged member into place and removes the empty staging dir; undone by moving it aside, not deleting', () => {
    const { data, cmd, undo } = setUp();
    mkdirSync(join(data, '.restore-R', 'member', 'snap'), { recursive: true });
    writeFileSync(join(data, '.restore-R', 'member', 'snap', 'db'), 'restored');
    const r = spawnSync('bash', ['-c', cmd], { encoding: 'utf8' });
    expect(r.status, r.stderr).toBe(0);
    expect(readdirSync(data)).toEqual(['member']);
    expect(existsSync(join(data, 'member', 'snap', 'db'))).toBe(true);
    const u = spawnSync('bash', ['-c', undo], { encoding: 'utf8' });
    expect(u.status, u.stderr).toBe(0);
    expect(existsSync(join(data, '.rolled-back-R', 'member', 'snap', 'db'))).toBe(true);
    expect(existsSync(join(data, 'member'))).toBe(false);
  });
  it('refuses when a member dir is there (exit 17), and when nothing was staged', () => {
    const { data, cmd } = setUp();
    mkdirSync(join(data, 'member'), { recursive: true });
    mkdirSync(join(data, '.restore-R', 'member'), { recursive: true });
    const r = spawnSync('bash', ['-c', cmd], { encoding: 'utf8' });
    expect(r.status).toBe(17);
    expect(existsSync(join(data, '.restore-R', 'member'))).toBe(true);
    rmSync(join(data, 'member'), { recursive: true });
    rmSync(join(data, '.restore-R'), { recursive: true });
    const none = spawnSync('bash', ['-c', cmd], { encoding: 'utf8' });
    expect(none.status).toBe(1);
    expect(none.stderr).toMatch(/no restore staged by this run/);
  });
});

describe('etcd.rehearse_restore staged: true', () => {
  it('boots a copy of the staged member alone (--force-new-cluster), and reports the revision without the bump', () => {
    const p = plan('etcd.rehearse_restore', { staged: true }, host(1), '3.5');
    if (!p.ok) throw new Error(p.message);
    const c = p.plan.commands[0];
    if (c?.kind !== 'exec') throw new Error('no command');
    const text = showShell(c.cmd);
    expect(text).toContain('cp -a -- /var/lib/etcd/.restore-R/member /var/lib/etcd-runbook/runs/R/05-x/rehearsal/member');
    expect(text).toMatch(/bin\/etcd --name=m1 --data-dir=\/var\/lib\/etcd-runbook\/runs\/R\/05-x\/rehearsal .*--force-new-cluster/);
    expect(text).not.toMatch(/snapshot restore/);
    expect(c.parse).toEqual({ parser: 'key-count', bump: 1_000_000_000 });
    const on34 = plan('etcd.rehearse_restore', { staged: true }, host(1), '3.4');
    expect(on34.ok && on34.plan.commands[0]?.kind === 'exec' && on34.plan.commands[0].parse).toEqual({ parser: 'key-count' });
  });
  it('the registered revision is the one read minus the bump; a revision below the bump is refused', () => {
    const out = (rev: number) => JSON.stringify({ header: { revision: rev }, count: 7 });
    expect(applyParse({ parser: 'key-count', bump: 1000 }, out(1042))).toMatchObject({ ok: true, facts: { count: 7, revision: 42 } });
    expect(applyParse({ parser: 'key-count', bump: 1000 }, out(42))).toMatchObject({ ok: false, reason: expect.stringMatching(/below the restore's bump/) });
    expect(applyParse({ parser: 'key-count' }, out(42))).toMatchObject({ ok: true, facts: { revision: 42 } });
  });
  it('snapshot and staged are one or the other', () => {
    expect(plan('etcd.rehearse_restore', { staged: true, snapshot: '/s.db' })).toMatchObject({ ok: false, message: expect.stringMatching(/not both/) });
    expect(plan('etcd.rehearse_restore', { staged: 'maybe' })).toMatchObject({ ok: false, message: expect.stringMatching(/staged must be true or false/) });
    expect(plan('etcd.rehearse_restore', {})).toMatchObject({ ok: false, message: expect.stringMatching(/snapshot must be a non-empty path/) });
  });
});
