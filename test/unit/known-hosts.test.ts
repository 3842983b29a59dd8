import { createHmac } from 'node:crypto';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { lookupKnownHosts, verifyHostKey } from '../../src/transport/known-hosts.js';

const blob = (name: string) => {
  const t = Buffer.from('ssh-ed25519');
  const len = Buffer.alloc(4);
  len.writeUInt32BE(t.length);
  return Buffer.concat([len, t, Buffer.from(name.padEnd(36, 'x'))]);
};
const A = blob('key-a');
const B = blob('key-b');

function file(lines: string[]): string {
  const f = join(mkdtempSync(join(tmpdir(), 'rb-kh-')), 'known_hosts');
  writeFileSync(f, `${lines.join('\n')}\n`);
  return f;
}

describe('known_hosts', () => {
  const salt = Buffer.from('0123456789abcdef0123');
  const hashed = `|1|${salt.toString('base64')}|${createHmac('sha1', salt).update('[10.0.0.5]:2222').digest('base64')}`;
  it.each([
    ['[127.0.10.1]:2222', '127.0.10.1', 2222, 1],
    ['127.0.10.1', '127.0.10.1', 22, 1],
    ['127.0.10.1', '127.0.10.1', 2222, 0],
    ['other,[127.0.10.1]:2222', '127.0.10.1', 2222, 1],
    ['127.0.10.*', '127.0.10.9', 22, 1],
    [hashed, '10.0.0.5', 2222, 1],
    [hashed, '10.0.0.6', 2222, 0],
  ])('%s matches %s:%d → %d keys', (pattern, addr, port, n) => {
    expect(lookupKnownHosts(file([`${pattern} ssh-ed25519 ${A.toString('base64')}`]), addr, port)).toHaveLength(n);
  });

  it('accepts the known key, refuses a changed one even with acceptNew, adds an unknown one only with acceptNew', () => {
    const f = file([`[h]:22 ssh-ed25519 ${A.toString('base64')}`, `h ssh-ed25519 ${A.toString('base64')}`]);
    const base = { file: f, address: 'h', port: 22, hostName: 'm1' };
    expect(verifyHostKey({ ...base, blob: A, acceptNew: false })).toEqual({ ok: true, added: false });
    expect(verifyHostKey({ ...base, blob: B, acceptNew: true })).toMatchObject({ ok: false, reason: 'changed' });
    const g = { ...base, address: 'new-host' };
    expect(verifyHostKey({ ...g, blob: B, acceptNew: false })).toMatchObject({ ok: false, reason: 'unknown' });
    expect(verifyHostKey({ ...g, blob: B, acceptNew: true })).toEqual({ ok: true, added: true });
    expect(readFileSync(f, 'utf8')).toMatch(/^new-host ssh-ed25519 /m);
    expect(verifyHostKey({ ...g, blob: B, acceptNew: false })).toEqual({ ok: true, added: false });
  });
});
