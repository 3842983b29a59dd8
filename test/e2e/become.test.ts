// A non-root SSH user with become, end to end: the lab's nodes have a root of their own, a real user
// `ops` with a NOPASSWD sudo rule (and `guest` without one), and an sshd that refuses root. backup.yml
// and full-restore.yml run as ops (the DR suite's own tests, with its inventory logging in as ops), then
// the hosts' sshd and sudo logs show who did what, and a user without a sudo rule is refused up front.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { runCli } from '../support/cli.js';
import { drSuite } from '../support/dr-suite.js';
import { labEtcdBlock, writeLabInventory } from '../support/lab-inventory.js';

// master-1 has no etcd tools: they are copied from the jump host (put-tools) through sudo
const ctx = drSuite('static-pod', { full: false, noTools: [0], users: [{ name: 'ops', sudo: true }, { name: 'guest', sudo: false }] });

describe('as ops through sudo -n', () => {
  it('every login was ops, root never logged in (and cannot), and the engine worked through sudo', async () => {
    const lab = ctx.lab();
    expect(lab.sshUser).toBe('ops');
    for (const [i, n] of lab.nodes.entries()) {
      const sshd = readFileSync(join(n.stateDir, 'sshd.log'), 'utf8');
      const accepted = [...sshd.matchAll(/Accepted publickey for (\S+) from/g)].map((m) => m[1]);
      // the lab's own start-up check and the runbook's sessions: all ops
      expect(accepted.length, sshd).toBeGreaterThan(2);
      expect(new Set(accepted)).toEqual(new Set(['ops']));
      // every privileged command went through sudo as ops: the lock, the tools, the stream of the
      // snapshot out of the data dir, the manifests moved, the restore
      const sudo = (await lab.exec(i, 'cat /var/log/sudo.log')).stdout;
      const runs = sudo.split('\n').filter((l) => / : ops : .*USER=root ; COMMAND=/.test(l));
      expect(runs.length).toBeGreaterThan(10);
      console.log(`${n.name}: ${accepted.length} ssh logins, all as ops; ${runs.length} commands run through sudo as ops`);
      expect(sudo).not.toMatch(/ : ops : .*(password is required|not allowed|incorrect)/);
      expect(sudo).toMatch(/COMMAND=\/usr\/bin\/timeout .*mkdir -p \/var\/lib\/etcd-runbook/);
      expect(sudo).toMatch(/COMMAND=\/usr\/bin\/timeout .*snapshot restore/);
      if (i === 0) expect(sudo).toMatch(/COMMAND=\/usr\/bin\/timeout .*cat > \/var\/lib\/etcd-runbook\/bin\/\.etcdctl/);
      // the restored data dir is root's, 0700, as etcd wants it (not ops')
      const dd = await lab.exec(i, 'stat -c "%U %a" /var/lib/etcd /var/lib/etcd/member');
      expect(dd.stdout.trim().split('\n')).toEqual(['root 700', 'root 700']);
      // and the sshd of this lab mode refuses root outright
      const root = spawnSync('ssh', [...lab.sshArgs(i, 'root'), 'true'], { encoding: 'utf8' });
      expect(root.status).toBe(255);
      expect(root.stderr).toMatch(/Permission denied/);
    }
  });

  it('root-only files written and fetched through sudo; a step with become: false runs as ops itself', async () => {
    const lab = ctx.lab();
    const out = mkdtempSync(join(lab.stateDir, 'fetched-'));
    const runId = `files-${Date.now()}`;
    const r = await runCli(['run', 'test/fixtures/e2e/become-files.yml', '-i', ctx.inventory(), '--run-id', runId, '-e', `out=${out}`], { env: ctx.env() });
    expect(r.code, r.stdout + r.stderr).toBe(0);
    const events = readFileSync(join(ctx.env()['RUNBOOK_RUNS_DIR'] as string, runId, 'journal.jsonl'), 'utf8')
      .trim()
      .split('\n')
      .map((l) => (JSON.parse(l) as { event: { type: string; step?: string; host?: string; stdoutTail?: string } }).event);
    const said = (step: string, host: string) =>
      events.filter((e) => e.type === 'command.end' && e.step === step && e.host === host).map((e) => e.stdoutTail).join('');
    for (const [i, n] of lab.nodes.entries()) {
      expect(readFileSync(join(out, n.name), 'utf8')).toBe(`for root on ${n.name}\n`);
      const st = await lab.exec(i, 'stat -c "%U %a" /var/lib/runbook-become /var/lib/runbook-become/only-root');
      expect(st.stdout.trim().split('\n')).toEqual(['root 700', 'root 600']);
      expect(said('who runs the steps', n.name)).toBe('root\n');
      expect(said('who runs a step without become', n.name)).toBe('ops\nnot readable\n');
    }
  });

  it('a user without a sudo rule is refused before any host is changed, saying why', async () => {
    const lab = ctx.lab();
    const inv = writeLabInventory(lab, join(lab.stateDir, 'inventory-guest.yml'), { cluster: 'lab-static-pod', user: 'guest', hostExtra: (i) => labEtcdBlock(lab, i, ['style: static-pod']) });
    const before = await Promise.all(lab.nodes.map((_, i) => lab.exec(i, 'find /var/lib/etcd-runbook /etc/kubernetes -printf "%p %s %T@\\n" 2>/dev/null | sort')));
    const runId = `guest-${Date.now()}`;
    const r = await runCli(['run', 'playbooks/backup.yml', '-i', inv, '--run-id', runId, ...ctx.s3vars()], { env: ctx.env() });
    console.log(`runbook run backup.yml as guest (exit ${r.code}):\n${r.stdout}${r.stderr}`);
    expect(r.code, r.stdout + r.stderr).toBe(1);
    expect(r.stdout + r.stderr).toMatch(/master-1: sudo -n as guest failed: sudo: a password is required/);
    expect(r.stdout + r.stderr).toMatch(/refused before any step: .*become/);
    const journal = readFileSync(join(ctx.env()['RUNBOOK_RUNS_DIR'] as string, runId, 'journal.jsonl'), 'utf8');
    expect(journal).not.toMatch(/"type":"step.start"/);
    const after = await Promise.all(lab.nodes.map((_, i) => lab.exec(i, 'find /var/lib/etcd-runbook /etc/kubernetes -printf "%p %s %T@\\n" 2>/dev/null | sort')));
    expect(after.map((x) => x.stdout)).toEqual(before.map((x) => x.stdout));
    // runbook unlock as guest: a refusal, not an empty answer that would read as "not locked"
    const unlock = await runCli(['unlock', '-i', inv], { env: ctx.env() });
    expect(unlock.code).toBe(1);
    expect(unlock.stderr).toMatch(/master-1: sudo -n as guest failed: sudo: a password is required/);
    // guest did log in (so the refusal is sudo's, not ssh's), and sudo refused it
    const sudo = (await lab.exec(0, 'cat /var/log/sudo.log')).stdout;
    expect(sudo).toMatch(/ : guest : a password is required/);
  });
});
