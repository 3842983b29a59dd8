import { execFile, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { bumpOf, restoreCommand, whileUnhealthy } from '../../src/actions/etcd.js';
import { sh } from '../../src/shell/build.js';
import { type CommandSet, commandsFor } from '../../src/actions/etcd-version.js';
import { actionNames, findAction } from '../../src/actions/registry.js';
import { checkCluster, parseClusterFacts, parseKeyCount, parseMembers, MEMBERS_MARK, STATUS_MARK } from '../../src/facts/etcd-json.js';
import type { Host } from '../../src/model/inventory.js';
import type { Step } from '../../src/model/playbook.js';
import type { Command } from '../../src/model/command.js';
import { showShell } from '../../src/shell/render.js';
import { fixtureHost, fixtureStep, planFor } from '../support/action-fixtures.js';

/** Commands with their shell text, as the plan shows them. */
const text = (cs: Command[]) => cs.map((c) => (c.kind === 'exec' ? { ...c, cmd: showShell(c.cmd) } : c));

const host = (n: number, style: 'static-pod' | 'systemd' = 'static-pod'): Host => fixtureHost(n, style);

describe('restore command by etcd command set', () => {
  const h = host(1);
  const base = { snapshot: '/s/snap.db', token: 'tok-2', initialCluster: 'm1=https://10.0.0.1:2380', dataDir: '/var/lib/etcd' };
  const tail = '/s/snap.db --name=m1 --initial-cluster=m1=https://10.0.0.1:2380 --initial-cluster-token=tok-2 --initial-advertise-peer-urls=https://10.0.0.1:2380 --data-dir=/var/lib/etcd';
  it.each([
    ['3.4', {}, `ETCDCTL_API=3 /var/lib/etcd-runbook/bin/etcdctl snapshot restore ${tail}`],
    ['3.4', { bump_revision: 0 }, `ETCDCTL_API=3 /var/lib/etcd-runbook/bin/etcdctl snapshot restore ${tail}`],
    ['3.5', {}, `/var/lib/etcd-runbook/bin/etcdutl snapshot restore ${tail} --bump-revision=1000000000 --mark-compacted`],
    ['3.5', { bump_revision: 5000 }, `/var/lib/etcd-runbook/bin/etcdutl snapshot restore ${tail} --bump-revision=5000 --mark-compacted`],
    ['3.5', { bump_revision: 0 }, `/var/lib/etcd-runbook/bin/etcdutl snapshot restore ${tail}`],
    ['3.5', { bump_revision: 7, mark_compacted: false }, `/var/lib/etcd-runbook/bin/etcdutl snapshot restore ${tail} --bump-revision=7`],
    ['3.6', { skip_hash_check: true }, `/var/lib/etcd-runbook/bin/etcdutl snapshot restore ${tail} --skip-hash-check --bump-revision=1000000000 --mark-compacted`],
  ] as const)('etcd %s %j', (set, extra, want) => {
    const etcd = commandsFor(set);
    const bump = bumpOf(etcd, extra as { bump_revision?: number; mark_compacted?: boolean });
    if (typeof bump === 'string') throw new Error(bump);
    expect(showShell(restoreCommand(h, etcd, { ...base, ...extra }, bump))).toBe(want);
  });
  it('a bump asked for on 3.4 is refused, never dropped', () => {
    expect(bumpOf(commandsFor('3.4'), { bump_revision: 1000 })).toMatch(/3\.4 cannot bump the revision/);
    expect(bumpOf(commandsFor('3.4'), { mark_compacted: true })).toMatch(/no --mark-compacted/);
    expect(bumpOf(commandsFor('3.5'), { bump_revision: -1 })).toMatch(/whole number/);
  });
});

const step = (action: string): Step => fixtureStep(action);

function plan(action: string, args: Record<string, unknown>, h = host(2), set: CommandSet = '3.4') {
  const p = planFor(action, args, h, [host(1), host(2), host(3)], { set });
  return p.ok ? { ...p, plan: { ...p.plan, commands: text(p.plan.commands), undo: text(p.plan.undo) } } : p;
}

describe('etcd actions plan commands as data', () => {
  it('stop on a static pod moves the manifest out of the manifests dir, waits for the port, and undoes by moving it back', () => {
    const p = plan('etcd.stop', {});
    if (!p.ok) throw new Error(p.message);
    expect(p.plan.commands[0]).toMatchObject({ kind: 'exec', cmd: expect.stringContaining('mv -T -- /etc/kubernetes/manifests/etcd.yaml /var/lib/etcd-runbook/stopped/etcd.yaml') });
    expect(p.plan.commands[1]).toMatchObject({ poll: { until: 'fails' }, cmd: expect.stringContaining('/dev/tcp/10.0.0.2/2379') });
    expect(p.plan.undo[0]).toMatchObject({ cmd: expect.stringContaining('mv -T -- /var/lib/etcd-runbook/stopped/etcd.yaml /etc/kubernetes/manifests/etcd.yaml') });
  });
  it('stop on systemd uses systemctl', () => {
    const p = plan('etcd.stop', {}, host(2, 'systemd'));
    if (!p.ok) throw new Error(p.message);
    expect(p.plan.commands[0]).toMatchObject({ cmd: expect.stringContaining('systemctl stop etcd.service') });
    expect(p.plan.undo[0]).toMatchObject({ cmd: expect.stringContaining('systemctl start --no-block etcd.service') });
  });
  it('restore refuses an existing data dir and undoes by moving the restored dir aside, never deleting', () => {
    const p = plan('etcd.snapshot_restore', { snapshot: '/s/snap.db', token: 'new' });
    if (!p.ok) throw new Error(p.message);
    expect(p.plan.commands[0]).toMatchObject({ cmd: expect.stringMatching(/^if \[ -e \/var\/lib\/etcd\/member \]; then .*exit 17; fi; mkdir -p -m 700 \/var\/lib\/etcd/) });
    expect(p.plan.commands[1]).toMatchObject({ cmd: expect.stringContaining('--initial-cluster=m1=https://10.0.0.1:2380,m2=https://10.0.0.2:2380,m3=https://10.0.0.3:2380') });
    expect(p.plan.commands[1]).toMatchObject({ cmd: expect.stringContaining('--data-dir=/var/lib/etcd/.restore-R || { rc=$?; rm -rf -- /var/lib/etcd/.restore-R; exit $rc; }') });
    expect(p.plan.commands[2]).toMatchObject({ cmd: 'chown -R --reference=/var/lib/etcd -- /var/lib/etcd/.restore-R/member && mv -T -- /var/lib/etcd/.restore-R/member /var/lib/etcd/member && rmdir -- /var/lib/etcd/.restore-R' });
    expect(JSON.stringify(p.plan.undo)).not.toMatch(/rm -rf/);
  });
  it.each([
    ['etcd.snapshot_restore', { snapshot: 'relative.db', token: 't' }, /must be an absolute path/],
    ['etcd.snapshot_restore', { snapshot: '/a/../b', token: 't' }, /must not contain '\.\.'/],
    ['etcd.snapshot_restore', { snapshot: '/s.db', token: 't', mark_compacted: true, version: '3.4' }, /3\.4 has no --mark-compacted/],
    ['etcd.member_remove', { id: 'zz; rm -rf /', name: 'm2' }, /not a hex id/],
    ['s3.download', { key: '../x', dest: '/x', bucket: 'b' }, /relative object key/],
  ])('%s %j is refused', (action, args, msg) => {
    const p = plan(action, args);
    expect(p.ok).toBe(false);
    if (!p.ok) expect(p.message).toMatch(msg);
  });
  it.each([['3.4'], ['3.5']] as const)('rejoin (etcd %s) has an undo for every part that changes the host, also when it fails half-way', (set) => {
    const p = plan('etcd.rejoin', {}, host(2), set);
    if (!p.ok) throw new Error(p.message);
    const parts = (p.plan.partialUndo ?? []).map((u) => text(u).map((c) => (c.kind === 'exec' ? c.cmd : JSON.stringify(c))));
    expect(parts).toHaveLength(p.plan.commands.length);
    const cmd = (i: number) => {
      const c = p.plan.commands[i];
      return c?.kind === 'exec' ? c.cmd : JSON.stringify(c);
    };
    // what each part changes, and what undoes it when the step fails right after that part
    expect(cmd(1)).toContain('mv -T -- /var/lib/etcd/member /var/lib/etcd/member.before-R');
    expect(parts[1]).toEqual([expect.stringContaining('mv -T -- /var/lib/etcd/member.before-R /var/lib/etcd/member')]);
    expect(cmd(2)).toMatch(set === '3.5' ? /member add m2 --learner --peer-urls=https:\/\/10\.0\.0\.2:2380/ : /member add m2 --peer-urls=https:\/\/10\.0\.0\.2:2380/);
    // removed by the id looked up, tried again while etcd says "unhealthy cluster"
    expect(parts[2]).toEqual([expect.stringMatching(/-v p=https:\/\/10\.0\.0\.2:2380 .*out=\$\(\{ .*member remove "\$id"; \} 2>&1\).*\*'unhealthy cluster'\*\) sleep 1;;/s)]);
    expect(p.plan.commands[3]).toMatchObject({ kind: 'edit', path: '/var/lib/etcd-runbook/stopped/etcd.yaml' });
    expect(parts[3]).toEqual([expect.stringMatching(/^if \[ -e (\/var\/lib\/etcd-runbook\/runs\/R\/[^ ]+\/previous) \]; then cp -a -- \1 (\S+) && mv -f -- \2 \/var\/lib\/etcd-runbook\/stopped\/etcd\.yaml; fi$/)]);
    expect(cmd(4)).toContain('mv -T -- /var/lib/etcd-runbook/stopped/etcd.yaml /etc/kubernetes/manifests/etcd.yaml');
    expect(parts[4]).toEqual([expect.stringContaining('mv -T -- /etc/kubernetes/manifests/etcd.yaml /var/lib/etcd-runbook/stopped/etcd.yaml'), expect.stringContaining('/dev/tcp/10.0.0.2/2379')]);
    // the first part only copies the manifest aside; the rest only wait and look
    expect(cmd(0)).toMatch(/cp -a -- /);
    for (const i of [0, ...parts.keys()].filter((i) => i === 0 || i > 4)) expect(parts[i], `part ${i}: ${cmd(i)}`).toEqual([]);
    // the whole undo: out of the cluster while it still runs, then stopped, then manifest and data dir back
    expect(p.plan.undo.map((c) => (c.kind === 'exec' ? c.cmd : ''))).toEqual([parts[2]?.[0], ...(parts[4] ?? []), parts[3]?.[0], parts[1]?.[0]]);
    expect(p.plan.commands[2]).toMatchObject({ parse: { parser: 'member-add', name: 'm2' } });
    expect(p.plan.commands[3]).toMatchObject({ kind: 'edit', edits: [{ flag: '--initial-cluster-state', value: 'existing' }, { flag: '--initial-cluster', value: { fact: 'initial_cluster' } }] });
  });
});

describe('etcd JSON facts', () => {
  // ids above 2^53: JSON.parse alone would corrupt them
  const members = `{"header":{"cluster_id":17237436991929493444,"member_id":9372538179322589801,"raft_term":2},"members":[{"ID":9372538179322589801,"name":"m1","peerURLs":["https://10.0.0.1:2380"],"clientURLs":["https://10.0.0.1:2379"]},{"ID":10501334649042878790,"peerURLs":["https://10.0.0.2:2380"]}]}`;
  const status = `[{"Endpoint":"https://10.0.0.1:2379","Status":{"header":{"cluster_id":17237436991929493444,"member_id":9372538179322589801,"revision":1005,"raft_term":2},"version":"3.4.23","dbSize":123,"leader":9372538179322589801,"raftIndex":1200,"raftTerm":2}}]`;
  it('keeps 64-bit ids exact, as hex', () => {
    const m = parseMembers(members);
    expect(m.map((x) => x.id)).toEqual(['8211f1d0f64f3269', '91bc3c398fb3c146']);
    expect(m.map((x) => x.started)).toEqual([true, false]);
  });
  it('reads leader, cluster id, revisions; unstarted members fail the health check', () => {
    const f = parseClusterFacts(`${MEMBERS_MARK}\n${members}\n${STATUS_MARK}\n${status}\n`, ['https://10.0.0.1:2379', 'https://10.0.0.2:2379']);
    expect(f).toMatchObject({ leader: '8211f1d0f64f3269', leaderName: 'm1', clusterIds: ['ef37ad9dc622a7c4'], revisions: [1005], unreachable: ['https://10.0.0.2:2379'], version: '3.4.23' });
    expect(checkCluster(f, { members: 2 })).toEqual({ ok: false, reason: 'members not started yet: 91bc3c398fb3c146' });
    expect(checkCluster(f, { quorumOf: 3 })).toEqual({ ok: false, reason: 'only 1 of 3 members answer, quorum needs 2' });
    expect(checkCluster(parseClusterFacts('', []), {})).toEqual({ ok: false, reason: 'no endpoint answered' });
  });
  it.each([
    ['{"header":{"revision":7},"kvs":[],"count":1000}', { count: 1000, revision: 7 }],
    ['{"header":{"revision":3}}', { count: 0, revision: 3 }],
  ])('key count of %s', (text, want) => expect(parseKeyCount(text)).toEqual(want));
});

describe('every action that changes a host can be decided after a crash', () => {
  const samples: Record<string, Record<string, unknown>> = {
    'file.move': { src: '/a', dest: '/b' },
    'file.write': { dest: '/a', content: 'x' },
    'file.upload': { src: 'package.json', dest: '/a' },
    'file.mkdir': { path: '/a' },
    'etcd.snapshot_save': { path: '/s/snap.db' },
    'etcd.snapshot_restore': { snapshot: '/s/snap.db', token: 't' },
    'etcd.stage_restore': { snapshot: '/s/snap.db', token: 't' },
    'etcd.place_restore': {},
    'etcd.member_remove': { id: 'abc', name: 'm2' },
    'etcd.member_add': { name: 'm2', peer_url: 'https://10.0.0.2:2380' },
    'etcd.set_flags': { set: { '--x': 'y' } },
    'etcd.rejoin': {},
    'etcd.stop': {},
    'etcd.start': {},
    'apiserver.stop': {},
    'apiserver.start': {},
    'controlplane.restart': {},
    's3.download': { key: 'k', dest: '/d/x', bucket: 'b' },
  };
  const changing = actionNames().filter((n) => findAction(n)?.changes === 'always');
  it('the table covers every changing action', () => expect(changing.sort()).toEqual(Object.keys(samples).sort()));
  it.each(Object.keys(samples))('%s is repeatable or has a probe', (name) => {
    const a = findAction(name);
    const p = a?.plan(samples[name] as never, { host: host(2), cluster: [host(1), host(2), host(3)], inventory: { file: 'i', cluster: 'c', knownHosts: 'k', sshConfig: '', hosts: [host(1), host(2), host(3)], groups: {}, vars: {} }, step: step(name), stepIndex: 0, runId: 'R', baseDir: process.cwd(), undo: undefined, etcd: commandsFor('3.5') });
    expect(p?.ok, JSON.stringify(p)).toBe(true);
    if (!p?.ok) return;
    expect(a?.repeatable === true || p.plan.probe !== undefined).toBe(true);
    if (p.plan.probe) expect(showShell(p.plan.probe.cmd)).toMatch(/echo (done|partial|not-started)/);
  });
});

describe('rejoin by command set', () => {
  it('3.5: member add --learner, then a polled promote; the undo removes the member (learner or voter) by peer URL', () => {
    const p = plan('etcd.rejoin', {}, host(2), '3.5');
    if (!p.ok) throw new Error(p.message);
    const cmds = p.plan.commands.map((c) => ('cmd' in c ? String(c.cmd) : c.kind));
    const add = cmds.findIndex((c) => c.includes('member add m2 --learner'));
    const promote = cmds.findIndex((c) => c.includes('member promote'));
    expect(add).toBeGreaterThan(0);
    expect(promote).toBeGreaterThan(add);
    expect(p.plan.commands[promote]).toMatchObject({ poll: { until: 'succeeds' } });
    expect(p.plan.partialUndo).toHaveLength(p.plan.commands.length);
    expect(p.plan.undo.map((c) => ('cmd' in c ? String(c.cmd) : '')).join('\n')).toMatch(/member remove "\$id"/);
    expect(p.plan.note).toMatch(/learner/);
  });
  it('3.4: added as a voter, no promote', () => {
    const p = plan('etcd.rejoin', {}, host(2), '3.4');
    if (!p.ok) throw new Error(p.message);
    const all = p.plan.commands.map((c) => ('cmd' in c ? String(c.cmd) : c.kind)).join('\n');
    expect(all).not.toMatch(/--learner|member promote/);
    expect(all).toMatch(/member add m2 --peer-urls=/);
  });
});

describe('controlplane.restart, run by bash against a stand-in kubelet', () => {
  // the stand-in serves a component's port while its manifest is in place, and logs every stop and start
  async function kubelet(dir: string, names: string[]) {
    const log: string[] = [];
    const servers = new Map<string, Server>();
    const ports = new Map<string, number>();
    const listen = (n: string, port = 0) =>
      new Promise<number>((res) => {
        const srv = createServer((_, r) => r.end('ok'));
        srv.listen(port, '127.0.0.1', () => res((srv.address() as AddressInfo).port));
        servers.set(n, srv);
      });
    for (const n of names) ports.set(n, await listen(n));
    const tick = setInterval(async () => {
      for (const n of names) {
        const there = existsSync(join(dir, 'manifests', `${n}.yaml`));
        const up = servers.has(n);
        if (up && !there) {
          const s = servers.get(n)!;
          servers.delete(n);
          s.closeAllConnections();
          s.close();
          log.push(`stop ${n}`);
        } else if (!up && there) {
          servers.set(n, undefined as never);
          await listen(n, ports.get(n));
          log.push(`start ${n}`);
        }
      }
    }, 20);
    return { log, ports, stop: () => { clearInterval(tick); for (const s of servers.values()) s?.close(); } };
  }

  /** A fresh dir with a manifest for each of `names`, and the kubelet stand-in running them. */
  const running = async (prefix: string, names: string[]) => {
    const dir = mkdtempSync(join(tmpdir(), prefix));
    mkdirSync(join(dir, 'manifests'));
    for (const n of names) writeFileSync(join(dir, 'manifests', `${n}.yaml`), 'x');
    return { dir, k: await kubelet(dir, names) };
  };

  /** A master whose control-plane components live under `dir` and answer on the stand-in's ports (none: port 9). */
  const standIn = (dir: string, ports: Map<string, number>, etcd: Partial<Host['etcd']>): Host => {
    const base = host(1).etcd;
    const component = (c: Host['etcd']['scheduler'], n: string) => ({ ...c, manifest: join(dir, 'manifests', `${n}.yaml`), healthUrl: `http://127.0.0.1:${ports.get(n) ?? 9}` });
    return fixtureHost(1, 'static-pod', { stashDir: join(dir, 'stash'), controllerManager: component(base.controllerManager, 'kube-controller-manager'), scheduler: component(base.scheduler, 'kube-scheduler'), ...etcd });
  };

  it('restarts both components at once: both stopped before either starts, both healthy again, exit 0', async () => {
    const { dir, k } = await running('cp-restart-', ['kube-controller-manager', 'kube-scheduler']);
    try {
      const h = standIn(dir, k.ports, { manifest: join(dir, 'manifests', 'etcd.yaml') });
      const p = plan('controlplane.restart', { timeout: 60 }, h);
      if (!p.ok) throw new Error(JSON.stringify(p));
      expect(p.plan.commands).toHaveLength(1);
      // asynchronously: the stand-in runs in this process
      const r = await new Promise<{ status: number | null; stdout: string; stderr: string }>((res) =>
        execFile('bash', ['-c', (p.plan.commands[0] as { cmd: string }).cmd], (err, stdout, stderr) => res({ status: err ? (typeof err.code === 'number' ? err.code : 1) : 0, stdout, stderr })),
      );
      expect(r.status, r.stderr).toBe(0);
      expect(r.stdout).toMatch(/kube-controller-manager healthy again/);
      expect(r.stdout).toMatch(/kube-scheduler healthy again/);
      expect(k.log.slice(0, 2).every((l) => l.startsWith('stop'))).toBe(true);
      expect(k.log.slice(2).sort()).toEqual(['start kube-controller-manager', 'start kube-scheduler']);
      for (const n of ['kube-controller-manager', 'kube-scheduler']) expect(existsSync(join(dir, 'manifests', `${n}.yaml`))).toBe(true);
    } finally {
      k.stop();
    }
  });

  it('apiserver.stop/start with_controllers: all three out in one go, and back in; only what the run stopped comes back', async () => {
    // this host has no kube-scheduler: nothing of it may appear
    const { dir, k } = await running('with-controllers-', ['kube-apiserver', 'kube-controller-manager']);
    try {
      const h = standIn(dir, k.ports, { apiserverManifest: join(dir, 'manifests', 'kube-apiserver.yaml'), apiserverUrl: `https://127.0.0.1:${k.ports.get('kube-apiserver')}` });
      // each command as the engine runs it: a poll is tried again until it succeeds (or fails), at most 20 s
      const runAll = async (cs: { kind: string; cmd?: unknown; poll?: { until: string } | undefined }[]) => {
        for (const c of cs) {
          if (c.kind !== 'exec') throw new Error(c.kind);
          const cmd = String(c.cmd);
          for (let i = 0; ; i++) {
            const status = await new Promise<number>((res) => execFile('bash', ['-c', cmd], (err) => res(err ? (typeof err.code === 'number' ? err.code : 1) : 0)));
            if (!c.poll && status !== 0) throw new Error(`${cmd}: exit ${status}`);
            if (!c.poll || (c.poll.until === 'succeeds') === (status === 0)) break;
            if (i > 400) throw new Error(`${cmd}: still ${status}`);
            await new Promise((r) => setTimeout(r, 50));
          }
        }
      };
      const stop = plan('apiserver.stop', { with_controllers: true, timeout: 20 }, h);
      if (!stop.ok) throw new Error(stop.message);
      await runAll(stop.plan.commands);
      expect(k.log.sort()).toEqual(['stop kube-apiserver', 'stop kube-controller-manager']);
      expect(readdirSync(join(dir, 'manifests'))).toEqual([]);
      const start = plan('apiserver.start', { with_controllers: true, timeout: 20 }, h);
      if (!start.ok) throw new Error(start.message);
      // its undo stops the controllers again, then the apiserver
      expect(start.plan.undo.map((c) => (c.kind === 'exec' ? String(c.cmd) : '')).join('\n')).toMatch(/kube-controller-manager-stopped[\s\S]*kube-apiserver/);
      await runAll(start.plan.commands);
      expect(k.log.slice(2).sort()).toEqual(['start kube-apiserver', 'start kube-controller-manager']);
      expect(readdirSync(join(dir, 'manifests')).sort()).toEqual(['kube-apiserver.yaml', 'kube-controller-manager.yaml']);
      // started again: started once more by a repeated step is the same
      await runAll(start.plan.commands);
      expect(k.log).toHaveLength(4);
    } finally {
      k.stop();
    }
  });

  it('a host without them skips both, saying so', () => {
    const dir = mkdtempSync(join(tmpdir(), 'cp-restart-'));
    const base = host(1);
    const h: Host = { ...base, etcd: { ...base.etcd, stashDir: join(dir, 'stash'), controllerManager: { ...base.etcd.controllerManager, manifest: join(dir, 'kcm.yaml') }, scheduler: { ...base.etcd.scheduler, manifest: join(dir, 'ks.yaml') } } };
    for (const style of ['static-pod', 'systemd'] as const) {
      const p = plan('controlplane.restart', {}, { ...h, etcd: { ...h.etcd, style } });
      if (!p.ok) throw new Error(JSON.stringify(p));
      const r = spawnSync('bash', ['-c', (p.plan.commands[0] as { cmd: string }).cmd], { encoding: 'utf8' });
      expect(r.status, r.stderr).toBe(0);
      expect(r.stdout.match(/nothing to restart/g), style).toHaveLength(2);
    }
  });
});

describe('polls of the cluster give up on a member that is not up yet in a second, then try again', () => {
  it.each([
    ['etcd.wait_healthy', {}],
    ['etcd.check_revision', { snapshot_revision: 10 }],
  ])('%s', (action, args) => {
    const p = plan(action, args);
    if (!p.ok) throw new Error(JSON.stringify(p));
    const c = p.plan.commands[0] as { cmd: string; poll?: { intervalMs: number } };
    expect(c.cmd).toMatch(/--dial-timeout=1s --command-timeout=3s/);
    expect(c.cmd).not.toMatch(/--dial-timeout=3s/);
    expect(c.poll?.intervalMs).toBeLessThanOrEqual(1000);
  });
  it('wait_healthy asks etcd only once every member port is open (a closed one fails the try at once)', () => {
    const p = plan('etcd.wait_healthy', {});
    if (!p.ok) throw new Error(JSON.stringify(p));
    const cmd = (p.plan.commands[0] as { cmd: string }).cmd;
    expect(cmd).toMatch(/^timeout 2 bash -c 'exec 3<>\/dev\/tcp\/10\.0\.0\.1\/2379' 2>\/dev\/null && .*\/dev\/tcp\/10\.0\.0\.3\/2379.* && \{ echo /);
    // with quorum_of, a member may be down: no port check
    const q = plan('etcd.wait_healthy', { quorum_of: 3 });
    if (!q.ok) throw new Error(JSON.stringify(q));
    expect((q.plan.commands[0] as { cmd: string }).cmd).not.toMatch(/dev\/tcp/);
  });
  it('a one-off read keeps the patient timeouts', () => {
    const p = plan('etcd.status', {});
    if (!p.ok) throw new Error(JSON.stringify(p));
    expect((p.plan.commands[0] as { cmd: string }).cmd).toMatch(/--dial-timeout=3s --command-timeout=10s/);
  });
});

describe('a membership change etcd refuses as "unhealthy cluster" is tried again', () => {
  const dir = mkdtempSync(join(tmpdir(), 'unhealthy-'));
  // a stand-in for etcdctl: refuses as unhealthy until its count runs out, then succeeds (or fails otherwise)
  const fake = (n: number, other = false) => sh`c=$(cat ${join(dir, 'count')} 2>/dev/null || echo 0); echo $((c + 1)) > ${join(dir, 'count')}; if [ "$c" -lt ${String(n)} ]; then echo 'Error: etcdserver: unhealthy cluster' >&2; exit 1; fi; ${other ? sh`echo 'Error: etcdserver: member not found' >&2; exit 1` : sh`echo removed`}`;
  const run = (change: ReturnType<typeof sh>) => {
    writeFileSync(join(dir, 'count'), '0');
    const r = spawnSync('bash', ['-c', showShell(whileUnhealthy(change))], { encoding: 'utf8' });
    return { code: r.status, out: r.stdout, err: r.stderr, tries: Number(readFileSync(join(dir, 'count'), 'utf8')) };
  };
  it('refused twice, then done: exit 0 after three tries, its output passed on', () => {
    expect(run(fake(2))).toMatchObject({ code: 0, out: 'removed\n', tries: 3 });
  });
  it('any other error is final at once', () => {
    expect(run(fake(0, true))).toMatchObject({ code: 1, err: 'Error: etcdserver: member not found\n', tries: 1 });
  });
});
