import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { appendFileSync, existsSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import * as net from 'node:net';
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { type Ran, ssh } from './ssh-run.js';
import { startLab, type Lab, type LabNode } from './lab.js';


/** ssh with the lab key and strict checking, written out by hand (not via lab.sshArgs). */
function strictSsh(lab: Lab, node: LabNode, command: string): Promise<Ran> {
  return ssh(
    [
      '-F', '/dev/null',
      '-i', lab.identityFile,
      '-o', 'IdentitiesOnly=yes',
      '-o', `UserKnownHostsFile=${lab.knownHostsFile}`,
      '-o', 'GlobalKnownHostsFile=/dev/null',
      '-o', 'StrictHostKeyChecking=yes',
      '-o', 'BatchMode=yes',
      '-o', 'ConnectTimeout=5',
      '-p', String(node.port),
      `root@${node.address}`,
    ],
    command,
  );
}

function processExists(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return !/^\d+ \(.*\) [ZX]/.test(stat);
  } catch {
    return false;
  }
}

function tcpOpen(address: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const sock = net.connect({ host: address, port });
    sock.setTimeout(2_000, () => {
      sock.destroy();
      resolve(false);
    });
    sock.once('connect', () => {
      sock.destroy();
      resolve(true);
    });
    sock.once('error', () => resolve(false));
  });
}

describe('test lab', () => {
  let lab: Lab;
  let stopped = false;

  beforeAll(async () => {
    lab = await startLab({ nodes: 3 });
  }, 30_000);

  afterAll(async () => {
    if (!stopped) await lab?.stop();
  }, 30_000);

  it('starts 3 nodes on distinct loopback addresses with live PID 1s', () => {
    expect(lab.nodes).toHaveLength(3);
    expect(new Set(lab.nodes.map((n) => n.address)).size).toBe(3);
    for (const node of lab.nodes) {
      expect(node.address).toMatch(/^127\.\d+\.\d+\.\d+$/);
      expect(node.pid).toBeGreaterThan(1);
      expect(processExists(node.pid)).toBe(true);
      expect(existsSync(node.stateDir)).toBe(true);
    }
    expect(lab.nodes.map((n) => n.name)).toEqual(['master-1', 'master-2', 'master-3']);
    expect(statSync(lab.identityFile).mode & 0o777).toBe(0o600);
    const knownHosts = readFileSync(lab.knownHostsFile, 'utf8');
    for (const node of lab.nodes) {
      expect(knownHosts).toContain(`[${node.address}]:${node.port} ssh-ed25519 AAAA`);
    }
  });

  it('gives every node its own hostname', async () => {
    for (const node of lab.nodes) {
      const r = await lab.exec(node, 'hostname; cat /etc/hostname');
      expect(r.code).toBe(0);
      expect(r.stdout.trim().split('\n')).toEqual([node.hostname, node.hostname]);
    }
  });

  it('runs exec inside the node (pid namespace, exit codes, stdin)', async () => {
    const r = await lab.exec(0, 'echo $$; cat /proc/1/cmdline | tr "\\0" " "; exit 7');
    expect(r.code).toBe(7);
    expect(r.stdout).toContain('node-init.sh');
    const echoed = await lab.exec(1, 'cat', { input: 'hello\n' });
    expect(echoed.stdout).toBe('hello\n');
  });

  it('kills a timed-out exec inside the node', async () => {
    await expect(lab.exec(0, 'echo started > /tmp/t; sleep 30', { timeoutMs: 300 })).rejects.toThrow(/timed out/);
    const ps = await lab.exec(0, 'cat /tmp/t; pgrep -x sleep || echo none');
    expect(ps.stdout.trim().split('\n')).toEqual(['started', 'none']);
  });

  it('keeps /etc private to each node', async () => {
    const token = randomBytes(8).toString('hex');
    const w = await lab.exec(0, `echo ${token} > /etc/kubernetes/x && cat /etc/kubernetes/x`);
    expect(w.code).toBe(0);
    expect(w.stdout.trim()).toBe(token);
    const other = await lab.exec(1, 'test -e /etc/kubernetes/x');
    expect(other.code).toBe(1);
    const hostHasIt = existsSync('/etc/kubernetes/x') && readFileSync('/etc/kubernetes/x', 'utf8').includes(token);
    expect(hostHasIt).toBe(false);
    const layout = await lab.exec(2, 'test -d /etc/kubernetes/manifests && test -d /etc/kubernetes/pki/etcd && stat -c %a /var/lib/etcd && ls -A /var/lib/etcd | wc -l');
    expect(layout.stdout.trim().split('\n')).toEqual(['700', '0']);
  });

  it('lets mv /var/lib/etcd work like on a real host', async () => {
    const hostHadMoved = existsSync('/var/lib/etcd.moved');
    const r = await lab.exec(0, 'echo data > /var/lib/etcd/member && mv /var/lib/etcd /var/lib/etcd.moved && test ! -e /var/lib/etcd && cat /var/lib/etcd.moved/member');
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout.trim()).toBe('data');
    expect((await lab.exec(1, 'test -d /var/lib/etcd && test ! -e /var/lib/etcd.moved')).code).toBe(0);
    expect(existsSync('/var/lib/etcd.moved')).toBe(hostHadMoved);
  });

  it('accepts ssh with the lab key and strict known_hosts on every node', async () => {
    const results = await Promise.all(lab.nodes.map((node) => strictSsh(lab, node, 'hostname; command -v etcdctl sshd mv')));
    results.forEach((r, i) => {
      const node = lab.nodes[i];
      expect(r.stderr).toBe('');
      expect(r.code).toBe(0);
      expect(r.stdout.trim().split('\n')).toEqual([node?.hostname, '/usr/bin/etcdctl', '/usr/sbin/sshd', '/usr/bin/mv']);
    });
    const viaHelper = await ssh(lab.sshArgs(2), 'hostname');
    expect(viaHelper.stdout.trim()).toBe('master-3');
  });

  it('rejects a changed host key until known_hosts is updated', async () => {
    const node = lab.nodes[2];
    if (!node) throw new Error('no node 3');
    await lab.regenerateHostKey(node);
    const r = await strictSsh(lab, node, 'true');
    expect(r.code).toBe(255);
    expect(r.stderr).toMatch(/HOST IDENTIFICATION HAS CHANGED|Host key verification failed/);
    // as an operator does: drop the old key's line, add the new key's (the lab wrote it next to the node's state)
    const entry = `[${node.address}]:${node.port}`;
    const removed = spawnSync('ssh-keygen', ['-R', entry, '-f', lab.knownHostsFile], { encoding: 'utf8' });
    expect(removed.status, removed.stderr).toBe(0);
    const newLine = readFileSync(join(node.stateDir, 'known_hosts.new'), 'utf8');
    expect(newLine.startsWith(`${entry} ssh-ed25519 `)).toBe(true);
    appendFileSync(lab.knownHostsFile, newLine);
    const again = await strictSsh(lab, node, 'hostname');
    expect(again.stderr).toBe('');
    expect(again.code).toBe(0);
    expect(again.stdout.trim()).toBe(node.hostname);
  }, 30_000);

  it('makes a stopped node unreachable', async () => {
    const node = lab.nodes[1];
    if (!node) throw new Error('no node 2');
    const pid = node.pid;
    await lab.stopNode(node);
    expect(processExists(pid)).toBe(false);
    expect(await tcpOpen(node.address, node.port)).toBe(false);
    await expect(lab.exec(node, 'true')).rejects.toThrow(/not running/);
    // the other nodes are unaffected
    expect((await strictSsh(lab, lab.nodes[0] as LabNode, 'true')).code).toBe(0);
  }, 30_000);

  it('boots a stopped node again with /etc and /var/lib kept and tmpfs dirs reset', async () => {
    const node = lab.nodes[0];
    if (!node) throw new Error('no node 1');
    const before = await lab.exec(node, 'echo keep > /etc/kubernetes/manifests/etcd.yaml && echo gone > /tmp/scratch && echo ok');
    expect(before.stdout.trim()).toBe('ok');
    const oldPid = node.pid;
    await lab.stopNode(node);
    await lab.startNode(node);
    expect(node.pid).not.toBe(oldPid);
    expect(processExists(node.pid)).toBe(true);
    const after = await strictSsh(lab, node, 'hostname; cat /etc/kubernetes/manifests/etcd.yaml; test -e /tmp/scratch || echo no-scratch; ls -d /var/lib/etcd*');
    expect(after.code).toBe(0);
    expect(after.stdout.trim().split('\n')).toEqual([node.hostname, 'keep', 'no-scratch', '/var/lib/etcd.moved']);
  }, 30_000);

  it('tears everything down on stop()', async () => {
    const pids = lab.nodes.map((n) => n.pid);
    await lab.stop();
    stopped = true;
    for (const pid of pids) expect(processExists(pid)).toBe(false);
    for (const node of lab.nodes) expect(await tcpOpen(node.address, node.port)).toBe(false);
    const kept = process.env['KEEP_LAB'] === '1';
    // A state dir given by RUNBOOK_LAB_DIR that existed before is kept, but emptied of the lab's files.
    if (kept || !process.env['RUNBOOK_LAB_DIR']) expect(existsSync(lab.stateDir)).toBe(kept);
    expect(existsSync(lab.identityFile)).toBe(kept);
    for (const node of lab.nodes) expect(existsSync(node.stateDir)).toBe(kept);
  }, 30_000);
});
