import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { dependsOnEtcdSettings } from '../../src/cli/facts-flow.js';
import { driftMessage, mergeFacts, settingsDiff, watchedInventory } from '../../src/engine/etcd-facts.js';
import { makePlan } from '../../src/engine/plan.js';
import { programSha256 } from '../../src/engine/saved-plan.js';
import type { HostFacts } from '../../src/facts/host-etcd.js';
import { loadInventory } from '../../src/load/load-inventory.js';
import { loadPlaybook } from '../../src/load/load-playbook.js';
import type { Inventory } from '../../src/model/inventory.js';

const M = '/etc/kubernetes/manifests/etcd.yaml';

function inventory(etcd: string, defaults = ''): Inventory {
  const dir = mkdtempSync(join(tmpdir(), 'drift-'));
  const file = join(dir, 'inv.yml');
  writeFileSync(file, `cluster: c\nknown_hosts: /dev/null\n${defaults}hosts:\n  m1:\n    address: 10.0.0.1\n${etcd}`);
  const r = loadInventory(file, { sshConfig: 'none' });
  if (!r.ok) throw new Error(JSON.stringify(r.problems));
  return r.value;
}

/** Facts as a host with a non-default layout gives them (lines as in its manifest). */
function facts(over: Partial<Record<string, string>> = {}): HostFacts {
  const v = { style: 'static-pod', name: 'etcd-a', data_dir: '/var/lib/etcd-data', client_url: 'https://10.0.0.1:2379', peer_url: 'https://10.0.0.1:2380', cacert: '/pki/ca.crt', cert: '/pki/hc.crt', key: '/pki/hc.key', manifest: M, ...over };
  const line: Record<string, number> = { style: 1, manifest: 1, name: 20, data_dir: 12, client_url: 9, peer_url: 15, cacert: 27, cert: 27, key: 27 };
  return {
    settings: Object.fromEntries(Object.entries(v).map(([k, value]) => [k, { value: value as string, at: { file: M, line: line[k] ?? 1 }, ...(k === 'client_url' ? { also: [value as string, 'https://127.0.0.1:2379'] } : {}) }])),
    info: {},
    files: { '/pki/ca.crt': true, '/pki/hc.crt': true, '/pki/hc.key': true },
    stopped: false,
  };
}

describe('mergeFacts: the inventory wins, but must agree with the host', () => {
  it('an inventory of only addresses takes every setting from the host', () => {
    const inv = inventory('');
    const r = mergeFacts(inv, { m1: facts() });
    expect(r.ok).toBe(true);
    if (!r.ok) return;
    const e = r.inventory.hosts[0]?.etcd;
    expect(e).toMatchObject({ name: 'etcd-a', dataDir: '/var/lib/etcd-data', clientUrl: 'https://10.0.0.1:2379', cert: '/pki/hc.crt', style: 'static-pod' });
    expect(r.inventory.hosts[0]?.etcdSource).toBe('host');
    // kubeadm's default where the host says nothing: the stash dir is the runbook's own
    expect(e?.stashDir).toBe('/var/lib/etcd-runbook');
  });

  const table: [string, string, Partial<Record<string, string>>, RegExp | undefined][] = [
    ['the same data dir agrees', '    etcd: { data_dir: /var/lib/etcd-data }\n', {}, undefined],
    ['a wrong data dir is drift, with both values and both places', '    etcd:\n      data_dir: /var/lib/etcd\n', {}, /^m1: etcd\.data_dir: the inventory says \/var\/lib\/etcd \(.*inv\.yml:7\), the host says \/var\/lib\/etcd-data \(\/etc\/kubernetes\/manifests\/etcd\.yaml:12\)$/],
    ['a member name', '    etcd: { name: m1 }\n', {}, /etcd\.name: the inventory says m1 .* the host says etcd-a \(.*etcd\.yaml:20\)/],
    ['the style', '    etcd: { style: systemd }\n', {}, /etcd\.style: the inventory says systemd .* the host says static-pod/],
    ['a peer URL', '    etcd: { peer_url: "https://10.0.0.9:2380" }\n', {}, /etcd\.peer_url: the inventory says https:\/\/10\.0\.0\.9:2380/],
    ['a client URL the host also listens on agrees (trailing slash too)', '    etcd: { client_url: "https://127.0.0.1:2379/" }\n', {}, undefined],
    ['a client certificate that is not on the host', '    etcd: { cert: /pki/other.crt, key: /pki/hc.key }\n', {}, /etcd\.cert: the inventory says \/pki\/other\.crt .*, that file is not on the host/],
  ];
  it.each(table)('%s', (_what, etcd, over, want) => {
    const r = mergeFacts(inventory(etcd), { m1: facts(over) });
    if (want === undefined) {
      expect(r.ok, JSON.stringify(r)).toBe(true);
      return;
    }
    expect(r.ok).toBe(false);
    if (r.ok) return;
    expect(r.drift.map(driftMessage).join('\n')).toMatch(want);
  });

  it('a defaults.etcd value is checked too, with its own line', () => {
    const r = mergeFacts(inventory('', 'defaults:\n  etcd:\n    style: systemd\n'), { m1: facts() });
    expect(r.ok).toBe(false);
    if (!r.ok) expect(r.drift.map(driftMessage)).toEqual([expect.stringMatching(/^m1: etcd\.style: the inventory says systemd \(.*inv\.yml:5\), the host says static-pod/)]);
  });

  it('a host with no usable client certificate, and none in the inventory, is a problem', () => {
    const f = facts();
    delete f.settings.cert;
    delete f.settings.key;
    const r = mergeFacts(inventory(''), { m1: f });
    expect(r.ok).toBe(false);
    if (!r.ok) expect(r.problems.join()).toMatch(/no client certificate for etcdctl.*give etcd\.cert and etcd\.key/);
  });

  it('settingsDiff: what a plan was made with against what the hosts say now', () => {
    const inv = inventory('');
    const now = mergeFacts(inv, { m1: facts() });
    expect(now.ok).toBe(true);
    if (!now.ok) return;
    const diff = settingsDiff(inv, now.inventory, { m1: facts() });
    expect(diff).toContain('m1: etcd.data_dir: the plan was made with /var/lib/etcd, the host says /var/lib/etcd-data (/etc/kubernetes/manifests/etcd.yaml:12)');
    expect(settingsDiff(now.inventory, now.inventory, {})).toEqual([]);
  });
});

/** The inventory with every etcd setting it does not give set to another value (what facts could change). */
function placeholderInventory(inv: Inventory): Inventory {
  return {
    ...inv,
    hosts: inv.hosts.map((h, i) => {
      const g = h.etcdGiven ?? {};
      const e = { ...h.etcd };
      const p = `/runbook-facts-probe-${i}`;
      if (g['name'] === undefined) e.name = `runbook-facts-probe-${i}`;
      if (g['data_dir'] === undefined) e.dataDir = `${p}/data`;
      if (g['client_url'] === undefined) e.clientUrl = `https://192.0.2.${i + 1}:12379`;
      if (g['peer_url'] === undefined) e.peerUrl = `https://192.0.2.${i + 1}:12380`;
      if (g['cacert'] === undefined) e.cacert = `${p}/ca.crt`;
      if (g['cert'] === undefined) e.cert = `${p}/client.crt`;
      if (g['key'] === undefined) e.key = `${p}/client.key`;
      if (g['manifest'] === undefined) e.manifest = `${p}/etcd`;
      if (g['apiserver_url'] === undefined) e.apiserverUrl = `https://192.0.2.${i + 1}:16443`;
      if (g['style'] === undefined) e.style = e.style === 'systemd' ? 'static-pod' : 'systemd';
      return { ...h, etcd: e };
    }),
  };
}

describe('dependsOnEtcdSettings: which playbooks need the hosts read', () => {
  const inv = inventory('  m2:\n    address: 10.0.0.2\n  m3:\n    address: 10.0.0.3\n');
  const plan = (file: string, extraVars: Record<string, string> = {}) => {
    const pb = loadPlaybook(file, { inventory: { ...inv, groups: { ...inv.groups, masters: ['m1', 'm2', 'm3'] } }, extraVars });
    if (!pb.ok) throw new Error(JSON.stringify(pb.problems));
    return dependsOnEtcdSettings({ playbook: pb.value, inventory: { ...inv, groups: { ...inv.groups, masters: ['m1', 'm2', 'm3'] } }, extraVars, limit: undefined, run: { id: 'r', dir: '', user: 'u', started: '', commit: '' }, tags: undefined, startAt: undefined });
  };
  it.each([
    ['playbooks/demo-files.yml', {}, false],
    ['playbooks/backup.yml', {}, true],
    ['playbooks/reinitialize-member.yml', { member: 'm1' }, true],
    ['playbooks/full-restore.yml', { snapshot_key: 'etcd/c/x/snapshot.db', s3_bucket: 'b' }, true],
    ['playbooks/force-new-cluster.yml', { survivor: 'm1' }, true],
  ] as const)('%s: %s', (file, vars, want) => {
    expect(plan(file, vars)).toBe(want);
  });

  // what decides it: the real compile, with the settings the hosts' facts could change watched
  it.each([
    ['playbooks/demo-files.yml', {}, []],
    ['playbooks/backup.yml', {}, ['name', 'clientUrl']],
  ] as const)('compiling %s reads the settings facts would fill in: %s', (file, vars, some) => {
    const full = { ...inv, groups: { ...inv.groups, masters: ['m1', 'm2', 'm3'] } };
    const pb = loadPlaybook(file, { inventory: full, extraVars: vars });
    if (!pb.ok) throw new Error(JSON.stringify(pb.problems));
    const input = { playbook: pb.value, extraVars: vars, limit: undefined, run: { id: 'r', dir: '', user: 'u', started: '', commit: '' }, tags: undefined, startAt: undefined };
    const read = new Set<string>();
    const watched = makePlan({ ...input, inventory: watchedInventory(full, (k) => read.add(k)) });
    const plain = makePlan({ ...input, inventory: full });
    // watching changes nothing in the program
    expect(watched.ok && plain.ok && programSha256(watched.plan) === programSha256(plain.plan)).toBe(true);
    expect(read.size > 0).toBe(some.length > 0);
    for (const k of some) expect(read).toContain(k);
    // and other values for those settings do change a program that reads them (reading is depending)
    const probe = makePlan({ ...input, inventory: placeholderInventory(full) });
    expect(probe.ok && plain.ok && programSha256(probe.plan) !== programSha256(plain.plan)).toBe(some.length > 0);
  });
});
