// Masters behind a bastion (startLab({ bastion: true })): the test process, the runbook's jump host, cannot
// reach them; an inventory that names them only by ssh alias, with a generated ssh config (ProxyJump
// bastion), plans, backs up and restores through the bastion; a direct inventory is refused at connect; an
// unknown bastion key is refused like any other host's. The DR suite's own backup and full-restore tests run
// first (test/support/dr-suite.ts), with the alias-only inventory.
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { expect, it } from 'vitest';
import { holdEnv, runCli, waitForFile } from '../support/cli.js';
import { drSuite } from '../support/dr-suite.js';
import { labEtcdBlock, writeLabInventory, writeLabSshConfig } from '../support/lab-inventory.js';
import { CLI, ROOT } from '../support/paths.js';

const esc = (s: string) => s.replace(/[.[\]]/g, '\\$&');

drSuite('static-pod', {
  full: false,
  bastion: true,
  more: (ctx) => {
    it('plan of the alias-only inventory shows every master reached via the bastion; -u and --private-key change the masters, not the bastion', async () => {
      const { lab, inv, env, s3vars } = ctx();
      const b = lab.bastion!;
      const r = await runCli(['plan', 'playbooks/backup.yml', '-i', inv, ...s3vars()], { env });
      expect(r.code, r.stderr).toBe(0);
      for (const n of lab.nodes) expect(r.stdout).toMatch(new RegExp(`^  ${n.name} root@${esc(n.address)}:${n.port} via bastion \\(root@${esc(b.address)}:${b.port}\\)  \\[key ${esc(lab.identityFile)}\\]$`, 'm'));
      console.log(r.stdout.split('\n').slice(0, 6).join('\n'));
      const u = await runCli(['plan', 'playbooks/backup.yml', '-i', inv, '-u', 'ops', '--private-key', '/keys/ops', ...s3vars()], { env: { ...env, SSH_AUTH_SOCK: '' } });
      expect(u.stdout).toMatch(new RegExp(`^  master-1 ops@${esc(lab.nodes[0]!.address)}:\\d+ via bastion \\(root@${esc(b.address)}:${b.port}\\)  \\[key /keys/ops, key ${esc(lab.identityFile)}\\]$`, 'm'));
    });

    it('(a) a direct connection to a master fails: run refused at connect, nothing changed', async () => {
      const { lab, env, s3vars } = ctx();
      const direct = writeLabInventory(lab, join(lab.stateDir, 'inventory-direct.yml'), { cluster: 'lab-static-pod', hostExtra: (i) => labEtcdBlock(lab, i, ['style: static-pod']) });
      const r = await runCli(['run', 'playbooks/backup.yml', '-i', direct, '-F', 'none', ...s3vars()], { env });
      expect(r.code, r.stdout + r.stderr).toBe(1);
      const out = r.stdout + r.stderr;
      expect(out).toMatch(new RegExp(`cannot connect to master-1 at ${esc(lab.nodes[0]!.address)}:${lab.nodes[0]!.port}: ECONNREFUSED`));
      expect(out).toMatch(/refused before any step: master-1, master-2, master-3 unreachable/);
      // no lock was taken on any master
      for (const i of [0, 1, 2]) expect((await lab.exec(i, 'test -e /var/lib/etcd-runbook/lock')).code).not.toBe(0);
    });

    it('(c) a bastion whose host key is not in known_hosts is refused, exit 2', async () => {
      const { lab, inv, env, s3vars } = ctx();
      const b = lab.bastion!;
      const kh = join(lab.stateDir, 'known_hosts-no-bastion');
      writeFileSync(kh, readFileSync(lab.knownHostsFile, 'utf8').split('\n').filter((l) => !l.includes(b.hostKey.split(' ')[1] ?? '-')).join('\n'));
      const cfg = writeLabSshConfig(lab, join(lab.stateDir, 'ssh_config-no-bastion-key'), { knownHosts: kh });
      const r = await runCli(['run', 'playbooks/backup.yml', '-i', inv, '-F', cfg, ...s3vars()], { env });
      expect(r.code, r.stdout + r.stderr).toBe(2);
      expect(r.stdout + r.stderr).toMatch(new RegExp(`unknown host key for jump host bastion \\(on the way to master-1\\) \\(\\[${esc(b.address)}\\]:${b.port}\\)`));
      expect(r.stdout + r.stderr).toMatch(/failed host-key verification; nothing was changed/);
    });

    it('--private-key gives the masters their key when the ssh config names none; a jump host keeps its own', async () => {
      const { lab, inv, env } = ctx();
      const cfg = writeLabSshConfig(lab, join(lab.stateDir, 'ssh_config-no-key'), { identity: 'none' });
      const noAgent = { ...env, SSH_AUTH_SOCK: '' };
      const without = await runCli(['unlock', '-i', inv, '-F', cfg], { env: noAgent });
      expect(without.stdout).toMatch(/master-1: unreachable: no identity file and no ssh-agent for jump host bastion/);
      // the bastion gets its key from its own Host block, as with ssh -i (which reaches no ProxyJump host)
      const cfg2 = writeLabSshConfig(lab, join(lab.stateDir, 'ssh_config-bastion-key'), { identity: 'bastion' });
      const still = await runCli(['unlock', '-i', inv, '-F', cfg2], { env: noAgent });
      expect(still.stdout).toMatch(/master-1: unreachable: no identity file and no ssh-agent for master-1/);
      const withKey = await runCli(['unlock', '-i', inv, '-F', cfg2, '--private-key', lab.identityFile], { env: noAgent });
      expect(withKey.stdout, withKey.stderr).toMatch(/^master-1: unlocked\nmaster-2: unlocked\nmaster-3: unlocked\n$/);
    });

    it('resume of a run SIGKILLed mid-way reuses the run\'s -F and --private-key (recorded in its journal)', async () => {
      const { lab, env } = ctx();
      const noAgent = { ...env, SSH_AUTH_SOCK: '' };
      // the inventory's own ssh config would fail (no known_hosts); the run's -F and --private-key work
      const good = writeLabSshConfig(lab, join(lab.stateDir, 'ssh_config-resume'), { identity: 'bastion' });
      const bad = writeLabSshConfig(lab, join(lab.stateDir, 'ssh_config-no-known-hosts'), { identity: 'bastion', knownHosts: '/dev/null' });
      const inv = writeLabInventory(lab, join(lab.stateDir, 'inventory-resume.yml'), { cluster: 'lab-static-pod', sshConfig: bad, hostExtra: (i) => labEtcdBlock(lab, i, ['style: static-pod']) });
      const runId = `demo-resume-${Date.now()}`;
      const hold = mkdtempSync(join(lab.stateDir, 'hold-'));
      const victim = spawn(process.execPath, [CLI, 'run', 'playbooks/demo-files.yml', '-i', inv, '-F', good, '--private-key', lab.identityFile, '--run-id', runId], {
        cwd: ROOT,
        env: { ...process.env, ...noAgent, ...holdEnv('move marker aside', hold) },
        stdio: 'ignore',
      });
      const closed = new Promise((r) => victim.on('close', r));
      await Promise.race([waitForFile(join(hold, 'held')), closed.then(() => Promise.reject(new Error('the run ended before the hold')))]);
      victim.kill('SIGKILL');
      await closed;
      const journal = readFileSync(join(env['RUNBOOK_RUNS_DIR']!, runId, 'journal.jsonl'), 'utf8');
      expect(journal).toContain(`"ssh":{"configFile":"${good}","privateKey":"${lab.identityFile}"}`);
      const r = await runCli(['resume', runId, '--yes'], { env: noAgent });
      expect(r.code, r.stdout + r.stderr).toBe(0);
      expect(r.stdout).toMatch(/OK all steps completed/);
      // each recorded setting was needed: the inventory's own config refuses the keys, -F alone has no master key
      const own = await runCli(['unlock', '-i', inv], { env: noAgent });
      expect(own.stdout).toMatch(/master-1: unreachable: unknown host key for jump host bastion/);
      const noKey = await runCli(['unlock', '-i', inv, '-F', good], { env: noAgent });
      expect(noKey.stdout).toMatch(/master-1: unreachable: no identity file and no ssh-agent for master-1/);
    });
  },
});
