import { execFileSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { type BackupKeys, checkEncryptTo, decodeChain, encodeChain, formatOf, NO_KEYS, readBackupKeys, tap, through } from '../../src/storage/codec.js';

const dir = mkdtempSync(join(tmpdir(), 'codec-'));
const idFile = join(dir, 'id.agekey');
execFileSync('age-keygen', ['-o', idFile], { stdio: 'ignore' });
const recipient = execFileSync('age-keygen', ['-y', idFile], { encoding: 'utf8' }).trim();
const keys = (env: Record<string, string>): BackupKeys => {
  const r = readBackupKeys(env);
  if (!r.ok) throw new Error(r.message);
  return r.keys;
};

async function collect(src: Iterable<Uint8Array> | AsyncIterable<Uint8Array>, stages: ReturnType<typeof encodeChain>): Promise<Buffer> {
  const out: Buffer[] = [];
  for await (const c of through(src, stages)) out.push(Buffer.from(c));
  return Buffer.concat(out);
}

const raw = Buffer.concat(Array.from({ length: 40 }, (_, i) => Buffer.from(`/registry/pods/ns/p-${i} ${'x'.repeat(3000)}\n`)));

describe('codec: encode and decode by the provenance', () => {
  for (const [compression, encrypted] of [
    ['none', false],
    ['gzip', false],
    ['none', true],
    ['gzip', true],
  ] as const) {
    it(`${compression}${encrypted ? ' + age' : ''}: round trip, and the provenance names the chain`, async () => {
      const t = tap();
      const stored = await collect([raw], [t.stage, ...encodeChain({ compression, recipients: encrypted ? [recipient] : [] })]);
      expect(t.result().sha256).toMatch(/^[0-9a-f]{64}$/);
      const prov = { compression, encryption: encrypted ? 'age' : 'none' };
      const d = decodeChain(prov, keys({ RUNBOOK_AGE_IDENTITY_FILE: idFile }));
      if (!d.ok) throw new Error(d.message);
      expect((await collect([stored], d.stages)).equals(raw)).toBe(true);
      if (compression === 'gzip') expect(stored.length).toBeLessThan(raw.length / 4);
    });
  }

  it('an old record (no fields) reads as none/none; a missing key is a message, not a throw', () => {
    expect(formatOf({ sha256: 'x' })).toEqual({ compression: 'none', encryption: 'none' });
    const d = decodeChain({ encryption: 'age', recipients: [recipient] }, NO_KEYS);
    expect(d).toEqual({ ok: false, message: expect.stringMatching(new RegExp(`encrypted with age to ${recipient}; no key to decrypt it: set RUNBOOK_AGE_IDENTITY_FILE`)) });
  });

  it('a wrong identity fails at the header, naming where the keys came from (never the key)', async () => {
    const other = join(dir, 'other.agekey');
    execFileSync('age-keygen', ['-o', other], { stdio: 'ignore' });
    const stored = await collect([raw], encodeChain({ compression: 'none', recipients: [recipient] }));
    const d = decodeChain({ encryption: 'age' }, keys({ RUNBOOK_AGE_IDENTITY_FILE: other }));
    if (!d.ok) throw new Error(d.message);
    await expect(collect([stored], d.stages)).rejects.toThrow(/cannot decrypt the backup \(age\).*Tried identities from .*other\.agekey: none of them opens it/);
  });

  it('a corrupt gzip stream is a decode error', async () => {
    const gz = await collect([raw], encodeChain({ compression: 'gzip', recipients: [] }));
    gz[gz.length >> 1] = (gz[gz.length >> 1] ?? 0) ^ 0xff;
    const d = decodeChain({ compression: 'gzip' }, NO_KEYS);
    if (!d.ok) throw new Error(d.message);
    await expect(collect([gz], d.stages)).rejects.toThrow(/cannot decompress the backup \(gzip\)/);
  });

  it('gunzip hands on chunks that fill SSH packets (32 KiB), not zlib\'s default 16 KiB', async () => {
    const big = Buffer.alloc(4 * 1024 * 1024, 'etcd snapshot bytes ');
    const gz = await collect([big], encodeChain({ compression: 'gzip', recipients: [] }));
    const d = decodeChain({ compression: 'gzip' }, NO_KEYS);
    if (!d.ok) throw new Error(d.message);
    const sizes: number[] = [];
    for await (const c of through([gz], d.stages)) sizes.push(c.length);
    expect(sizes.reduce((a, b) => a + b, 0)).toBe(big.length);
    // every chunk but the last is a full one, and several SSH packets long
    expect(Math.min(...sizes.slice(0, -1))).toBeGreaterThanOrEqual(64 * 1024);
  });

  const checks: [string[], RegExp | undefined][] = [
    [[recipient], undefined],
    [['recipients-file', recipient], undefined],
    [['passphrase'], undefined],
    [['passphrase', recipient], /must be alone/],
    [['AGE-SECRET-KEY-1QQQQ'], /that is an age identity \(a secret key\), not a recipient/],
    [['ssh-ed25519 AAAA'], /is not an age recipient/],
  ];
  for (const [list, want] of checks) {
    it(`encrypt_to ${JSON.stringify(list).slice(0, 50)} → ${want ?? 'ok'}`, () => {
      const r = checkEncryptTo(list);
      if (want) expect(r).toMatch(want);
      else expect(r).toBeUndefined();
    });
  }

  it('key files: a bad line or an unreadable file is a problem', () => {
    const bad = join(dir, 'bad.agekey');
    writeFileSync(bad, '# comment\nnot-a-key\n');
    expect(readBackupKeys({ RUNBOOK_AGE_IDENTITY_FILE: bad })).toMatchObject({ ok: false, message: expect.stringMatching(/not an age identity/) });
    expect(readBackupKeys({ RUNBOOK_AGE_RECIPIENTS_FILE: join(dir, 'none') })).toMatchObject({ ok: false, message: expect.stringMatching(/ENOENT/) });
    expect(keys({ RUNBOOK_AGE_RECIPIENTS_FILE: writeRecipients() }).recipientsFile).toEqual([recipient]);
  });
});

function writeRecipients(): string {
  const f = join(dir, 'recipients.txt');
  writeFileSync(f, `# backup key\n${recipient}\n\n`);
  return f;
}
