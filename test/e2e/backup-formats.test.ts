import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Lab, startLab } from '../lab/lab.js';
import { type LabS3, startS3 } from '../lab/s3.js';
import { expectedKeys, readKeys, writeCensus } from '../support/census.js';
import { runCli } from '../support/cli.js';
import { labEtcdBlock, writeLabInventory } from '../support/lab-inventory.js';
import { s3Helpers } from '../support/s3-client.js';

/**
 * Backups compressed (gzip) and encrypted (age) on the jump host, restored by the tool, and the same
 * object opened by hand with the standard tools (`age -d -i KEY | gzip -d | sha256sum`).
 */
describe('backup formats: gzip + age, restored by the tool and by the standard age CLI', () => {
  let lab: Lab;
  let s3: LabS3;
  let inv: string;
  let env: Record<string, string>;
  let s3c: ReturnType<typeof s3Helpers>;
  let identity: string;
  let recipient: string;
  let otherIdentity: string;
  let key = '';
  const N = 300;

  const s3vars = () => ['-e', `s3_endpoint=${s3.endpoint}`, '-e', `s3_bucket=${s3.bucket}`];
  const run = (args: string[], extra: Record<string, string> = {}) => runCli(args, { env: { ...env, ...extra } });

  beforeAll(async () => {
    [lab, s3] = await Promise.all([startLab({ nodes: 1, etcd: 'static-pod' }), startS3()]);
    inv = writeLabInventory(lab, join(lab.stateDir, 'inventory.yml'), { cluster: 'lab-formats', hostExtra: (i) => labEtcdBlock(lab, i, ['style: static-pod']) });
    identity = join(lab.stateDir, 'backup.agekey');
    otherIdentity = join(lab.stateDir, 'other.agekey');
    execFileSync('age-keygen', ['-o', identity], { stdio: 'ignore' });
    execFileSync('age-keygen', ['-o', otherIdentity], { stdio: 'ignore' });
    recipient = execFileSync('age-keygen', ['-y', identity], { encoding: 'utf8' }).trim();
    // no AWS_CA_BUNDLE from the machine: this S3 is plain HTTP
    env = { RUNBOOK_RUNS_DIR: join(lab.stateDir, 'runs'), AWS_ACCESS_KEY_ID: s3.accessKeyId, AWS_SECRET_ACCESS_KEY: s3.secretAccessKey, AWS_REGION: s3.region, AWS_CA_BUNDLE: '' };
    s3c = s3Helpers(s3);
    await writeCensus(lab, N);
  }, 120_000);

  afterAll(async () => {
    await Promise.allSettled([lab?.stop(), s3?.stop()]);
  });

  it('backup.yml -e encrypt_to=age1…: the object is age, the provenance records both sha256s and the format', async () => {
    const runId = `enc-${Date.now()}`;
    const r = await run(['run', 'playbooks/backup.yml', '-i', inv, '--run-id', runId, '-e', `encrypt_to=${recipient}`, ...s3vars(), '--output', 'json']);
    expect(r.code, r.stdout + r.stderr).toBe(0);
    // --output json: the upload's progress as events (bytes of the raw snapshot, its size, rate), the last one done
    const progress = r.stdout.split('\n').filter((l) => l.includes('"transfer.progress"')).map((l) => JSON.parse(l) as { what: string; bytes: number; total: number; done: boolean });
    const snapUp = progress.filter((p) => p.what === 'upload snapshot.db');
    expect(snapUp.at(-1)).toMatchObject({ done: true });
    expect(snapUp.at(-1)?.bytes).toBe(snapUp.at(-1)?.total);
    key = `etcd/lab-formats/${runId}/snapshot.db`;
    const prov = JSON.parse(await s3c.getText(`${key}.json`)) as Record<string, unknown>;
    expect(prov).toMatchObject({ compression: 'gzip', encryption: 'age', recipients: [recipient], verified: true });
    const stored = await s3c.bytes(key);
    // sha256/size are the stored object's (what older verify code reads), snapshotSha256 the raw snapshot's
    expect(createHash('sha256').update(stored).digest('hex')).toBe(prov['sha256']);
    expect(stored.length).toBe(prov['size']);
    expect(stored.subarray(0, 21).toString()).toBe('age-encryption.org/v1');
    expect(prov['snapshotSha256']).not.toBe(prov['sha256']);
    console.log(`backup formats: snapshot ${prov['snapshotSize']} bytes → stored (gzip + age) ${prov['size']} bytes`);
    // the PKI archive is encrypted too (it holds private keys)
    const archive = JSON.parse(await s3c.getText(`etcd/lab-formats/${runId}/etc-kubernetes.tar.gz.json`)) as Record<string, unknown>;
    expect(archive).toMatchObject({ compression: 'none', encryption: 'age' });
  }, 120_000);

  it('the standard tools open the same object: age -d -i KEY | gzip -d gives the sha256 the provenance records', async () => {
    expect(key).not.toBe('');
    const file = join(lab.stateDir, 'object.age');
    writeFileSync(file, await s3c.bytes(key));
    const raw = execFileSync('bash', ['-c', 'age -d -i "$1" "$2" | gzip -d', 'by-hand', identity, file], { maxBuffer: 1 << 30 });
    const prov = JSON.parse(await s3c.getText(`${key}.json`)) as Record<string, unknown>;
    expect(createHash('sha256').update(raw).digest('hex')).toBe(prov['snapshotSha256']);
    expect(raw.length).toBe(prov['snapshotSize']);
    // and it is a bbolt file (etcd's snapshot): the magic 0xED0CDAED at offset 16 of the first page
    expect(raw.readUInt32LE(16)).toBe(0xed0cdaed);
  }, 60_000);

  it('a wrong or missing identity: full-restore fails at the rehearsal, before any host is changed, saying why', async () => {
    for (const [label, extra, want] of [
      ['missing', {}, /encrypted with age to age1[0-9a-z]+; no key to decrypt it: set RUNBOOK_AGE_IDENTITY_FILE/],
      ['wrong', { RUNBOOK_AGE_IDENTITY_FILE: otherIdentity }, /cannot decrypt the backup \(age\).*Tried identities from .*other\.agekey: none of them opens it/],
    ] as const) {
      const runId = `nokey-${label}-${Date.now()}`;
      const r = await run(['run', 'playbooks/full-restore.yml', '-i', inv, '--yes', '--run-id', runId, '-e', `snapshot_key=${key}`, ...s3vars()], extra);
      expect(r.code, r.stdout + r.stderr).toBe(1);
      expect(r.stdout).toMatch(want);
      expect(r.stdout).toMatch(/refusing it before any host is touched/);
      const journal = readFileSync(join(env['RUNBOOK_RUNS_DIR']!, runId, 'journal.jsonl'), 'utf8');
      expect(journal).not.toMatch(/"type":"command.start"[^\n]*"kind":"(exec|upload|fetch|edit|s3-put|s3-get)"/);
      expect((await lab.exec(0, `test -e /var/lib/etcd-runbook/restore/${runId}`)).code).not.toBe(0);
      // the identity is a secret: never in the output or the journal
      const secret = readFileSync(otherIdentity, 'utf8').match(/AGE-SECRET-KEY-1[0-9A-Z]+/)?.[0] ?? 'none';
      expect(r.stdout + r.stderr + journal).not.toContain(secret);
    }
    expect(await readKeys(lab, 0)).toEqual(expectedKeys(N));
  }, 120_000);

  it('full-restore with RUNBOOK_AGE_IDENTITY_FILE decrypts and decompresses on the fly and brings back every key', async () => {
    const del = await lab.etcdctl(0, ['del', '/census/', '--prefix']);
    expect(del.code).toBe(0);
    expect(await readKeys(lab, 0)).toEqual([]);
    const runId = `restore-${Date.now()}`;
    const r = await run(['run', 'playbooks/full-restore.yml', '-i', inv, '--yes', '--run-id', runId, '-e', `snapshot_key=${key}`, ...s3vars()], { RUNBOOK_AGE_IDENTITY_FILE: identity });
    expect(r.code, r.stdout + r.stderr).toBe(0);
    expect(await readKeys(lab, 0, '/census/', 's')).toEqual(expectedKeys(N));
    const secret = readFileSync(identity, 'utf8').match(/AGE-SECRET-KEY-1[0-9A-Z]+/)?.[0] ?? 'none';
    const journal = readFileSync(join(env['RUNBOOK_RUNS_DIR']!, runId, 'journal.jsonl'), 'utf8');
    expect(r.stdout + r.stderr + journal).not.toContain(secret);
    // the snapshot on the member is the raw one, by the recorded sha256; no partial file is left
    const prov = JSON.parse(await s3c.getText(`${key}.json`)) as Record<string, unknown>;
    const onHost = await lab.exec(0, `sha256sum /var/lib/etcd-runbook/restore/${runId}/snapshot.db; ls -a /var/lib/etcd-runbook/restore/${runId}`);
    expect(onHost.stdout.split(/\s+/)[0]).toBe(prov['snapshotSha256']);
    expect(onHost.stdout).not.toContain('runbook-partial');
  }, 240_000);

  it('compress=false with a passphrase from RUNBOOK_AGE_PASSPHRASE: age -d with the passphrase opens it', async () => {
    const runId = `pass-${Date.now()}`;
    const pass = 'correct horse battery staple 42';
    const r = await run(['run', 'playbooks/backup.yml', '-i', inv, '--run-id', runId, '-e', 'compress=false', '-e', 'encrypt_to=passphrase', ...s3vars()], { RUNBOOK_AGE_PASSPHRASE: pass });
    expect(r.code, r.stdout + r.stderr).toBe(0);
    expect(r.stdout + r.stderr).not.toContain(pass);
    const k = `etcd/lab-formats/${runId}/snapshot.db`;
    const prov = JSON.parse(await s3c.getText(`${k}.json`)) as Record<string, unknown>;
    expect(prov).toMatchObject({ compression: 'none', encryption: 'age' });
    const file = join(lab.stateDir, 'pass.age');
    writeFileSync(file, await s3c.bytes(k));
    // age reads a passphrase only from a terminal: script(1) gives it one
    const raw = execFileSync('script', ['-qec', `age -d -o ${join(lab.stateDir, 'pass.db')} ${file}`, '/dev/null'], { input: `${pass}\n`, encoding: 'utf8' });
    expect(raw).not.toMatch(/error/i);
    expect(createHash('sha256').update(readFileSync(join(lab.stateDir, 'pass.db'))).digest('hex')).toBe(prov['snapshotSha256']);
  }, 120_000);

  it('the catalogue lists them as encrypted and compressed, and verify --deep decrypts with the key (and says NOT CHECKED without it)', async () => {
    const runId = key.split('/')[2] as string;
    const list = await run(['snapshots', 'list', '-i', inv, ...s3vars(), '--output', 'json']);
    expect(list.code, list.stderr).toBe(0);
    const rows = JSON.parse(list.stdout) as { runId: string; encryption: string; compression: string }[];
    expect(rows.find((r) => r.runId === runId)).toMatchObject({ encryption: 'age', compression: 'gzip' });
    expect(rows.some((r) => r.runId.startsWith('pass-') && r.encryption === 'age' && r.compression === 'none')).toBe(true);
    const table = await run(['snapshots', 'list', '-i', inv, ...s3vars()]);
    console.log(`snapshots list (encrypted backups):\n${table.stdout}`);
    expect(table.stdout).toMatch(new RegExp(`${runId}\\s.*\\sage\\s+gzip`));
    const without = await run(['snapshots', 'verify', runId, '--deep', '--etcd-tools-dir', lab.etcdCache, '-i', inv, ...s3vars()]);
    expect(without.code).toBe(1);
    expect(without.stdout + without.stderr).toMatch(/NOT CHECKED .*no key to decrypt it/);
    const deep = await run(['snapshots', 'verify', runId, '--deep', '--etcd-tools-dir', lab.etcdCache, '-i', inv, ...s3vars()], { RUNBOOK_AGE_IDENTITY_FILE: identity });
    expect(deep.code, deep.stdout + deep.stderr).toBe(0);
    expect(deep.stdout).toMatch(new RegExp(`ok\\s+${runId}: .*booted on etcd`));
  }, 120_000);
});
