import { describe, expect, it } from 'vitest';
import { commandSetOf, commandsFor, compareMinor, DEFAULT_BUMP_REVISION } from '../../src/actions/etcd-version.js';
import { snapshotStatusCommand } from '../../src/actions/etcd.js';
import { parseEtcdTools } from '../../src/facts/etcd-tools.js';
import { TOOLS_MARK } from '../../src/actions/etcd-tools.js';
import { snapshotTooNew } from '../../src/engine/run-special.js';
import { etcdDefaults } from '../../src/load/load-inventory.js';
import type { Host } from '../../src/model/inventory.js';
import { directRoute } from '../../src/load/resolve-ssh.js';
import { showShell } from '../../src/shell/render.js';

const h: Host = { name: 'm1', address: '10.0.0.1', port: 22, user: 'root', identityFile: undefined, ssh: directRoute({ name: 'm1', address: '10.0.0.1', port: 22, user: 'root' }), become: false, down: false, groups: [], vars: {}, etcd: etcdDefaults('m1', '10.0.0.1', 'static-pod') };

describe('etcd versions → command sets', () => {
  it.each([
    ['3.4.23', '3.4'],
    ['v3.4.0', '3.4'],
    ['3.5.16', '3.5'],
    ['3.5.30', '3.5'],
    ['3.5', '3.5'],
    ['3.6.0', '3.6'],
    ['3.7.1', '3.6'],
    ['3.3.27', undefined],
    ['4.0.0', undefined],
    ['banana', undefined],
  ])('%s → %s', (v, set) => expect(commandSetOf(v)).toBe(set));

  it('the command table: what each set uses', () => {
    const row = (s: '3.4' | '3.5' | '3.6') => {
      const c = commandsFor(s);
      return [c.offline, c.tools.join(' '), c.bumpRevision, c.learnerRejoin, c.etcdctlSnapshotStatus];
    };
    expect(row('3.4')).toEqual(['etcdctl', 'etcd etcdctl', false, false, true]);
    expect(row('3.5')).toEqual(['etcdutl', 'etcd etcdctl etcdutl', true, true, true]);
    expect(row('3.6')).toEqual(['etcdutl', 'etcd etcdctl etcdutl', true, true, false]);
    expect(DEFAULT_BUMP_REVISION).toBe(1_000_000_000);
  });

  it.each([
    ['3.4', 'ETCDCTL_API=3 /var/lib/etcd-runbook/bin/etcdctl snapshot status /s.db -w json'],
    ['3.5', '/var/lib/etcd-runbook/bin/etcdutl snapshot status /s.db -w json'],
    ['3.6', '/var/lib/etcd-runbook/bin/etcdutl snapshot status /s.db -w json'],
  ] as const)('snapshot status on %s: %s', (set, want) => expect(showShell(snapshotStatusCommand(h, commandsFor(set), '/s.db'))).toBe(want));

  it('compares major.minor only', () => {
    expect(compareMinor('3.5.30', '3.5.16')).toBe(0);
    expect(compareMinor('3.5.0', '3.4.23')).toBe(1);
    expect(compareMinor('3.4.23', '3.6.1')).toBe(-1);
  });
});

describe('a snapshot written by a newer etcd is refused', () => {
  it.each([
    [{ version: '3.5.0' }, '3.4.23', '', /written by etcd 3\.5\.0 \(its own status\), newer than the etcd 3\.4\.23/],
    [{}, '3.4.23', '3.5.16', /written by etcd 3\.5\.16 \(the backup's provenance\)/],
    [{ version: '3.5.0' }, '3.5.30', '3.5.16', undefined],
    [{}, '3.5.16', '3.4.23', undefined],
    [{}, '', '3.6.0', undefined],
  ])('%j restored by %s, provenance %s', (facts, using, by, want) => {
    const r = snapshotTooNew(facts, using, by);
    if (want === undefined) expect(r).toBeUndefined();
    else expect(r).toMatch(want);
  });
});

describe('etcd.tools detection output', () => {
  const out = (lines: string[]) => ['noise', TOOLS_MARK, ...lines].join('\n');
  it('a 3.5 member with etcdctl only: etcdutl and etcd are missing', () => {
    const r = parseEtcdTools(out(['version 3.5.16', 'source running member at https://x:2379', 'tool etcdctl /usr/bin/etcdctl 3.5.16']));
    expect(r).toEqual({ ok: true, facts: { version: '3.5.16', set: '3.5', source: 'running member at https://x:2379', tools: { etcdctl: { path: '/usr/bin/etcdctl', version: '3.5.16' } }, missing: ['etcd', 'etcdutl'] } });
  });
  it('3.4 needs no etcdutl', () => {
    const r = parseEtcdTools(out(['version 3.4.23', 'source binary /usr/bin/etcd', 'tool etcd /usr/bin/etcd 3.4.23', 'tool etcdctl /usr/bin/etcdctl 3.4.23']));
    expect(r.ok && r.facts.missing).toEqual([]);
  });
  it('a forced version must agree with the host, and is used when nothing says', () => {
    expect(parseEtcdTools(out(['version 3.5.16', 'source x']), '3.4')).toMatchObject({ ok: false, reason: expect.stringMatching(/runs etcd 3\.5\.16 .* forces version 3\.4/) });
    expect(parseEtcdTools(out(['version ', 'source ']), '3.5.16')).toMatchObject({ ok: true, facts: { version: '3.5.16', set: '3.5' } });
    expect(parseEtcdTools(out(['version ', 'source ']))).toMatchObject({ ok: false, reason: expect.stringMatching(/cannot tell which etcd/) });
    expect(parseEtcdTools(out(['version 3.3.1', 'source x']))).toMatchObject({ ok: false, reason: expect.stringMatching(/not a version this tool drives/) });
  });
});
