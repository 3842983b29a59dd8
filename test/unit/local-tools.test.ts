import { createHash } from 'node:crypto';
import { chmodSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { findLocalTools } from '../../src/engine/throwaway-etcd.js';

const root = mkdtempSync(join(tmpdir(), 'runbook-tools-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));

/** A fake tool that prints the version line the real one prints. */
function tool(dir: string, name: string, version: string): string {
  mkdirSync(dir, { recursive: true });
  const text = `#!/bin/sh\necho '${name === 'etcd' ? 'etcd Version' : `${name} version`}: ${version}'\n`;
  writeFileSync(join(dir, name), text);
  chmodSync(join(dir, name), 0o755);
  return createHash('sha256').update(text).digest('hex');
}

function toolsDir(version: string, bad?: string): string {
  const dir = join(root, 'tools');
  const sums = ['etcd', 'etcdctl', 'etcdutl'].map((t) => {
    const sum = tool(join(dir, version), t, version);
    return `${bad === t ? '0'.repeat(64) : sum}  ${t}`;
  });
  writeFileSync(join(dir, version, 'SHA256SUMS'), `${sums.join('\n')}\n`);
  return dir;
}

describe('etcd tools for a deep verify, on this machine', () => {
  it('from a tools dir: the newest of the same minor, sha256-checked', async () => {
    const dir = toolsDir('3.5.16');
    const r = await findLocalTools('3.5.21', { toolsDir: dir, path: '' });
    expect(r).toEqual({ ok: true, tools: { version: '3.5.21', set: '3.5', from: join(dir, '3.5.16'), paths: { etcd: join(dir, '3.5.16', 'etcd'), etcdctl: join(dir, '3.5.16', 'etcdctl'), etcdutl: join(dir, '3.5.16', 'etcdutl') } } });
    expect(await findLocalTools('3.4.23', { toolsDir: dir, path: '' })).toEqual({ ok: false, reason: `the tools dir ${dir} has no 3.4.23 (nor another 3.4.x)` });
  });

  it('a tool whose sha256 does not match SHA256SUMS is refused', async () => {
    const dir = toolsDir('3.6.1', 'etcdctl');
    const r = await findLocalTools('3.6.1', { toolsDir: dir, path: '' });
    expect(r.ok).toBe(false);
    expect(!r.ok && r.reason).toMatch(/etcdctl has sha256 [0-9a-f]{64}, .*SHA256SUMS says 0{64}: refusing it$/);
  });

  it('from the PATH: only tools of the same major.minor, first match wins', async () => {
    const [a, b] = [join(root, 'a'), join(root, 'b')];
    tool(a, 'etcd', '3.4.23');
    tool(a, 'etcdctl', '3.4.23');
    tool(b, 'etcd', '3.5.16');
    tool(b, 'etcdctl', '3.5.16');
    const path = `${a}:${b}`;
    expect(await findLocalTools('3.4.30', { toolsDir: undefined, path })).toMatchObject({ ok: true, tools: { set: '3.4', from: 'PATH', paths: { etcd: join(a, 'etcd'), etcdctl: join(a, 'etcdctl') } } });
    // 3.5 needs etcdutl too: none on this PATH
    expect(await findLocalTools('3.5.16', { toolsDir: undefined, path })).toEqual({ ok: false, reason: 'no etcdutl 3.5.x on the PATH: give --etcd-tools-dir DIR with DIR/3.5.16/{etcd,etcdctl,etcdutl} and SHA256SUMS' });
    expect(await findLocalTools('3.6.0', { toolsDir: undefined, path })).toEqual({ ok: false, reason: `no etcd 3.6.x on the PATH (found ${join(a, 'etcd')} (3.4.23), ${join(b, 'etcd')} (3.5.16)): give --etcd-tools-dir DIR with DIR/3.6.0/{etcd,etcdctl,etcdutl} and SHA256SUMS` });
    expect(await findLocalTools('2.3.8', { toolsDir: undefined, path })).toEqual({ ok: false, reason: "etcd '2.3.8' is not a version this tool drives (3.4, 3.5, 3.6)" });
  });
});
