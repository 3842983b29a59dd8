import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { expect, it } from 'vitest';
import type { Lab } from '../lab/lab.js';
import { runCli } from '../support/cli.js';
import { drSuite } from '../support/dr-suite.js';

/** Line of the first line of a host file that contains `text` (1-based). */
async function lineOn(lab: Lab, node: number, file: string, text: string): Promise<number> {
  const r = await lab.exec(node, `grep -n -F -- ${JSON.stringify(text)} ${file} | head -1 | cut -d: -f1`);
  return Number(r.stdout.trim());
}

/** What a refused run must leave alone on a node: manifests, the runbook's dir (no lock, no run state), etcd's process. */
async function untouched(lab: Lab, node: number): Promise<string> {
  const r = await lab.exec(node, `sha256sum /etc/kubernetes/manifests/*.yaml; find /var/lib/etcd-runbook ${lab.dataDir} -maxdepth 1 | sort; cut -d' ' -f22 /proc/$(cat /run/pods/etcd.pid)/stat`);
  return r.stdout;
}

// Laid out by hand (member names member-a.., not the hostnames; data dir /var/lib/etcd-data; an HTTPS control
// plane), and an inventory of nothing but addresses and the ssh user and key: every playbook reads the rest
// from the masters' own manifests.
drSuite('static-pod', {
  full: true,
  layout: 'custom',
  more: (ctx) => {
    const M = '/etc/kubernetes/manifests/etcd.yaml';

    it('runbook facts: each master\'s etcd settings and where they are written, as a table and as JSON', async () => {
      const { lab, inv, env } = ctx();
      const text = await runCli(['facts', '-i', inv], { env });
      expect(text.code, text.stdout + text.stderr).toBe(0);
      console.log(`runbook facts -i inventory.yml (static-pod, custom layout):\n${text.stdout}`);
      const nameLine = await lineOn(lab, 1, M, '--name=');
      const dataLine = await lineOn(lab, 1, M, '--data-dir=');
      expect(text.stdout).toMatch(new RegExp(`name +member-b +${M}:${nameLine}`));
      expect(text.stdout).toMatch(new RegExp(`data_dir +/var/lib/etcd-data +${M}:${dataLine}`));
      expect(text.stdout).toMatch(/cert +\/etc\/kubernetes\/pki\/etcd\/healthcheck-client\.crt .*kubeadm's healthcheck-client/);
      expect(text.stdout).not.toMatch(/DRIFT/);
      const json = await runCli(['facts', '-i', inv, '-o', 'json'], { env });
      expect(json.code, json.stderr).toBe(0);
      console.log(`runbook facts -i inventory.yml -o json (master-2 of 3):\n${JSON.stringify((JSON.parse(json.stdout) as { hosts: unknown[] }).hosts[1], null, 2)}`);
      const hosts = (JSON.parse(json.stdout) as { hosts: { host: string; ok: boolean; settings: Record<string, { value: string; file: string; line: number }> }[] }).hosts;
      expect(hosts.map((h) => [h.host, h.ok, h.settings['name']?.value, h.settings['style']?.value])).toEqual(lab.nodes.map((n, i) => [n.name, true, lab.memberNames[i], 'static-pod']));
      expect(hosts[1]?.settings['data_dir']).toEqual({ value: '/var/lib/etcd-data', file: M, line: dataLine });
      expect(hosts[1]?.settings['peer_url']?.value).toBe(`https://${lab.nodes[1]?.address}:2380`);
      expect(hosts[1]?.settings['apiserver_url']?.value).toBe(`https://${lab.nodes[1]?.address}:6443`);
      // --write-inventory: the discovered values, which then agree with the hosts
      const written = join(lab.stateDir, 'facts-inventory.yml');
      const w = await runCli(['facts', '-i', inv, '--write-inventory', written], { env });
      expect(w.code, w.stderr).toBe(0);
      expect(readFileSync(written, 'utf8')).toMatch(/master-2:[\s\S]*name: member-b[\s\S]*data_dir: \/var\/lib\/etcd-data/);
      expect((await runCli(['facts', '-i', written, '-o', 'json'], { env })).code).toBe(0);
    }, 60_000);

    it('plan is offline and says its settings are unchecked; plan --facts reads them from the hosts', async () => {
      const { inv, env } = ctx();
      const args = ['plan', 'playbooks/reinitialize-member.yml', '-i', inv, '-e', 'member=master-2', '--run-id', 'facts-plan'];
      const offline = await runCli(args, { env });
      expect(offline.code, offline.stderr).toBe(0);
      expect(offline.stdout).toMatch(/nothing was contacted/);
      expect(offline.stdout).toMatch(/etcd settings: from the inventory and kubeadm's defaults, NOT checked against the hosts/);
      expect(offline.stdout).not.toMatch(/etcd-data|member-b/);
      const read = await runCli([...args, '--facts'], { env });
      expect(read.code, read.stderr).toBe(0);
      expect(read.stdout).toMatch(/the hosts were read, nothing was changed/);
      expect(read.stdout).toMatch(/master-2: static-pod, member member-b, data dir \/var\/lib\/etcd-data/);
      // the facts are compiled into the commands: the member removed by its own name, its data dir moved aside
      expect(read.stdout).toMatch(/member remove|member-b/);
      expect(read.stdout).toMatch(/\/var\/lib\/etcd-data\/member/);
    }, 60_000);

    it('run --plan: an offline plan is refused (its settings are not the hosts\'), a plan --facts runs', async () => {
      const { lab, inv, env, s3vars } = ctx();
      const offline = join(lab.stateDir, 'backup-offline.json');
      expect((await runCli(['plan', 'playbooks/backup.yml', '-i', inv, '--run-id', `offline-${Date.now()}`, '--out', offline, ...s3vars()], { env })).code).toBe(0);
      const refused = await runCli(['run', '--plan', offline], { env });
      expect(refused.code, refused.stdout + refused.stderr).toBe(1);
      expect(refused.stdout).toContain(`master-2: etcd.data_dir: the plan was made with /var/lib/etcd, the host says /var/lib/etcd-data (${M}:${await lineOn(lab, 1, M, '--data-dir=')})`);
      expect(refused.stdout).toMatch(/refused before any step: the hosts' etcd settings are not those the plan was made with \(it took them from the inventory, unchecked\)/);
      const withFacts = join(lab.stateDir, 'backup-facts.json');
      expect((await runCli(['plan', 'playbooks/backup.yml', '-i', inv, '--facts', '--run-id', `facts-${Date.now()}`, '--out', withFacts, ...s3vars()], { env })).code).toBe(0);
      const ran = await runCli(['run', '--plan', withFacts], { env });
      expect(ran.code, ran.stdout + ran.stderr).toBe(0);
      for (const i of [0, 1, 2]) expect((await lab.exec(i, 'test -e /var/lib/etcd-runbook/lock')).code).not.toBe(0);
    }, 120_000);

    it('an inventory with a wrong data dir for one master is refused before anything changes', async () => {
      const { lab, inv, env, s3vars } = ctx();
      const bad = join(lab.stateDir, 'inventory-wrong-data-dir.yml');
      const lines = readFileSync(inv, 'utf8').split('\n');
      const at = lines.indexOf('  master-2:') + 1;
      lines.splice(at, 0, '    etcd: { data_dir: /var/lib/etcd }');
      writeFileSync(bad, lines.join('\n'));
      const before = await Promise.all([0, 1, 2].map((i) => untouched(lab, i)));
      const runId = `drift-${Date.now()}`;
      const r = await runCli(['run', 'playbooks/full-restore.yml', '-i', bad, '--yes', '--run-id', runId, '-e', 'snapshot_key=etcd/none/snapshot.db', ...s3vars()], { env });
      expect(r.code, r.stdout + r.stderr).toBe(1);
      const message = `master-2: etcd.data_dir: the inventory says /var/lib/etcd (${bad}:${at + 1}), the host says /var/lib/etcd-data (${M}:${await lineOn(lab, 1, M, '--data-dir=')})`;
      console.log(`drift refusal:\n${r.stdout}`);
      expect(r.stdout).toContain(message);
      expect(r.stdout).toMatch(/refused before any step: the inventory disagrees with the hosts on 1 setting\(s\) \(master-2 etcd\.data_dir\).*nothing was changed/);
      expect(await Promise.all([0, 1, 2].map((i) => untouched(lab, i)))).toEqual(before);
      for (const i of [0, 1, 2]) expect((await lab.exec(i, 'test -e /var/lib/etcd-runbook/lock')).code).not.toBe(0);
      const journal = readFileSync(join(env['RUNBOOK_RUNS_DIR'] ?? '', runId, 'journal.jsonl'), 'utf8');
      expect(journal).not.toContain('"type":"step.start"');
      expect(journal).toContain('"type":"run.end","status":"failed"');
    }, 60_000);
  },
});
