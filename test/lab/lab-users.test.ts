// startLab({ users }): a root of its own on every node, real login users, sudo with and without a rule,
// and an sshd that refuses root. The DR playbooks as such a user: test/e2e/become.test.ts.
import { readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startLab, type Lab } from './lab.js';
import { ssh } from './ssh-run.js';

describe('test lab with login users', () => {
  let lab: Lab;

  beforeAll(async () => {
    lab = await startLab({ nodes: 2, users: [{ name: 'ops', sudo: true }, { name: 'guest', sudo: false }] });
  }, 30_000);

  afterAll(async () => {
    await lab?.stop();
  }, 30_000);

  it('logs in as ops (sshArgs default), whose sudo -n works, on a root of mode 0755 (the machine\'s is not)', async () => {
    expect(lab.sshUser).toBe('ops');
    for (const i of [0, 1]) {
      const r = await ssh(lab.sshArgs(i), 'id -un; stat -c %a /; sudo -n id -u; sudo -n cat /etc/shadow | grep -c "^ops:"; echo "$PATH"');
      expect(r.code, r.stderr).toBe(0);
      expect(r.stdout.trim().split('\n')).toEqual(['ops', '755', '0', '1', expect.stringMatching(/^\/etc\/lab-bin:/)]);
    }
    console.log(`machine's / is ${(statSync('/').mode & 0o777).toString(8)}; a node's / is 755`);
  });

  it('guest logs in but sudo -n refuses it; root cannot log in at all', async () => {
    const g = await ssh(lab.sshArgs(0, 'guest'), 'id -un; sudo -n true');
    expect(g.code).toBe(1);
    expect(g.stdout.trim()).toBe('guest');
    expect(g.stderr).toMatch(/sudo: a password is required/);
    const root = await ssh(lab.sshArgs(0, 'root'), 'true');
    expect(root.code).toBe(255);
    expect(readFileSync(join(lab.nodes[0]?.stateDir ?? '', 'sshd.log'), 'utf8')).toMatch(/User root from \S+ not allowed because not listed in AllowUsers/);
  });

  it('the users live in the node\'s /etc overlay only; lab.exec sees the node\'s new root', async () => {
    expect(readFileSync('/etc/passwd', 'utf8')).not.toMatch(/^ops:/m);
    const r = await lab.exec(0, 'getent passwd ops | cut -d: -f6; stat -c "%U %a" /home/ops/.ssh /home/ops/.ssh/authorized_keys; cat /var/log/sudo.log | grep -c " : ops : "');
    expect(r.stdout.trim().split('\n')).toEqual(['/home/ops', 'ops 700', 'ops 600', expect.stringMatching(/^[1-9]/)]);
  });

  it('a rebooted node keeps its users (the /etc overlay) and gets a fresh /home', async () => {
    await lab.stopNode(1);
    await lab.startNode(1);
    const r = await ssh(lab.sshArgs(1), 'sudo -n id -un');
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout.trim()).toBe('root');
    expect((await lab.exec(1, 'grep -c "^ops:" /etc/passwd')).stdout.trim()).toBe('1');
  });
});
