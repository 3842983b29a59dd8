// The bastion lab itself (startLab({ bastion: true })): the masters only behind the bastion, two labs at
// once, and nothing left behind after stop() or after the test process is SIGKILLed.
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, readlinkSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Lab, startLab } from './lab.js';

const ROOT = join(import.meta.dirname, '..', '..');
const alive = (pid: number) => {
  try {
    const st = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return !/^\d+ \(.*\) [ZX]/.test(st);
  } catch {
    return false;
  }
};
const until = async (ok: () => boolean, ms: number) => {
  const end = Date.now() + ms;
  while (!ok()) {
    if (Date.now() > end) return false;
    await new Promise((r) => setTimeout(r, 50));
  }
  return true;
};
const ssh = (args: string[]) => spawnSync('ssh', args, { encoding: 'utf8', timeout: 20_000 });

describe('bastion lab', () => {
  let a: Lab;
  let b: Lab;
  beforeAll(async () => {
    [a, b] = await Promise.all([startLab({ nodes: 1, bastion: true }), startLab({ nodes: 1, bastion: true })]);
  }, 90_000);
  afterAll(async () => {
    await Promise.allSettled([a?.stop(), b?.stop()]);
  });

  it('two labs at once: each master answers only through its own bastion, a direct attempt is refused', () => {
    for (const lab of [a, b]) {
      const via = ssh([...lab.sshArgs(0), 'hostname']);
      expect(via.status, via.stderr).toBe(0);
      expect(via.stdout.trim()).toBe('master-1');
      const n = lab.nodes[0]!;
      const direct = ssh(['-F', '/dev/null', '-o', 'BatchMode=yes', '-o', 'ConnectTimeout=5', '-p', String(n.port), `root@${n.address}`, 'true']);
      expect(direct.stderr).toMatch(/Connection refused/);
    }
    const netns = [a, b].map((l) => readlinkSync(l.bastion!.netnsPath));
    expect(new Set([...netns, readlinkSync('/proc/self/ns/net')]).size).toBe(3);
    expect(a.bastion!.address).not.toBe(b.bastion!.address);
  });

  it('lab.exec runs inside the masters network namespace (the bastion address is local there, not here)', async () => {
    const r = await a.exec(0, `readlink /proc/self/ns/net; exec 3<>/dev/tcp/${a.bastion!.innerAddress}/${a.bastion!.port} && echo reach`);
    expect(r.stdout.trim().split('\n')).toEqual([readlinkSync(a.bastion!.netnsPath), 'reach']);
  });

  it('stop() leaves no process, socket or state dir behind', async () => {
    const pids = [...a.bastion!.helperPids, a.nodes[0]!.pid, a.bastion!.node.pid];
    await a.stop();
    expect(pids.filter(alive)).toEqual([]);
    expect(existsSync(a.stateDir)).toBe(false);
  });
});

describe('bastion lab, the test process SIGKILLed', () => {
  it('the helpers and nodes stop by themselves (stdin watchdogs): no process and no mount left', async () => {
    // the lab compiled to JS next to the sources, run by a child process we then SIGKILL
    const out = mkdtempSync(join(ROOT, 'test', 'lab', '.build-'));
    try {
      const tsc = spawnSync(join(ROOT, 'node_modules', '.bin', 'tsc'), ['--ignoreConfig', '--outDir', out, '--module', 'nodenext', '--moduleResolution', 'nodenext', '--target', 'es2022', '--skipLibCheck', '--types', 'node', join(ROOT, 'test', 'lab', 'lab.ts')], { encoding: 'utf8' });
      expect(tsc.status, tsc.stdout + tsc.stderr).toBe(0);
      const script = join(out, 'child.mjs');
      writeFileSync(
        script,
        `import { startLab } from './lab.js';\nconst lab = await startLab({ nodes: 1, bastion: true });\nconsole.log(JSON.stringify({ pids: [...lab.bastion.helperPids, lab.nodes[0].pid, lab.bastion.node.pid], dir: lab.stateDir }));\nsetInterval(() => {}, 1000);\n`,
      );
      const child = spawn(process.execPath, [script], { stdio: ['ignore', 'pipe', 'inherit'] });
      const line = await new Promise<string>((resolve, reject) => {
        let buf = '';
        child.stdout.on('data', (d: Buffer) => {
          buf += d.toString();
          if (buf.includes('\n')) resolve(buf.split('\n')[0] ?? '');
        });
        child.once('exit', () => reject(new Error(`child exited: ${buf}`)));
      });
      const { pids, dir } = JSON.parse(line) as { pids: number[]; dir: string };
      expect(pids.every(alive)).toBe(true);
      child.kill('SIGKILL');
      const gone = await until(() => pids.every((p) => !alive(p)), 20_000);
      expect(pids.filter(alive), 'still running after the SIGKILL').toEqual([]);
      expect(gone).toBe(true);
      expect(readFileSync('/proc/self/mounts', 'utf8')).not.toContain(dir);
      rmSync(dir, { recursive: true, force: true });
    } finally {
      rmSync(out, { recursive: true, force: true });
    }
  }, 90_000);
});
