import { randomBytes } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { createServer, type Server, Socket } from 'node:net';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Lab, startLab } from '../lab/lab.js';
import { type LabS3, startS3 } from '../lab/s3.js';
import { expectedKeys, readKeys, writeCensus } from '../support/census.js';
import { runCli } from '../support/cli.js';
import { labEtcdBlock, writeLabInventory } from '../support/lab-inventory.js';
import { s3Helpers } from '../support/s3-client.js';

/** A tiny HTTPS proxy: CONNECT to loopback only, counted. */
function connectProxy(): Promise<{ server: Server; port: number; tunnels: () => number; targets: string[] }> {
  const targets: string[] = [];
  const server = createServer((client) => {
    let head = Buffer.alloc(0);
    const onData = (d: Buffer) => {
      head = Buffer.concat([head, d]);
      const end = head.indexOf('\r\n\r\n');
      if (end < 0) return;
      client.removeListener('data', onData);
      const m = /^CONNECT (127\.\d+\.\d+\.\d+):(\d+) HTTP\/1\.[01]\r\n/.exec(head.toString('latin1'));
      if (!m) {
        client.end('HTTP/1.1 403 Forbidden\r\n\r\n');
        return;
      }
      targets.push(`${m[1]}:${m[2]}`);
      const up = new Socket();
      up.connect(Number(m[2]), m[1] as string, () => {
        client.write('HTTP/1.1 200 Connection Established\r\n\r\n');
        const rest = head.subarray(end + 4);
        if (rest.length) up.write(rest);
        client.pipe(up).pipe(client);
      });
      up.on('error', () => client.destroy());
      client.on('error', () => up.destroy());
    };
    client.on('data', onData);
  });
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve({ server, port: (server.address() as { port: number }).port, tunnels: () => targets.length, targets })));
}

/**
 * S3 as it is in the wild, against the lab's S3 over TLS with a lab CA that checks SigV4 signatures:
 * a profile from shared config files, the CA bundle, an HTTPS proxy, SSE headers, multipart uploads.
 */
describe('S3 in the wild: profiles, custom CA over TLS, proxy, SSE, multipart', () => {
  let lab: Lab;
  let s3: LabS3;
  let inv: string;
  let env: Record<string, string>;
  let s3c: ReturnType<typeof s3Helpers>;
  let proxy: Awaited<ReturnType<typeof connectProxy>>;
  let headerLog: string;
  let key = '';
  const N = 200;
  const creds = { accessKeyId: `LAB${randomBytes(6).toString('hex').toUpperCase()}`, secretAccessKey: randomBytes(20).toString('base64url') };

  const s3vars = (ca = true) => ['-e', `s3_endpoint=${s3.endpoint}`, '-e', `s3_bucket=${s3.bucket}`, ...(ca ? ['-e', `s3_ca_bundle=${s3.caFile}`] : [])];
  const run = (args: string[], extra: Record<string, string> = {}) => runCli(args, { env: { ...env, ...extra } });
  const logLines = () =>
    readFileSync(headerLog, 'utf8')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as { method: string; url: string; sse?: string; kmsKeyId?: string });

  beforeAll(async () => {
    lab = await startLab({ nodes: 1, etcd: 'static-pod' });
    headerLog = join(lab.stateDir, 's3-headers.jsonl');
    [s3, proxy] = await Promise.all([startS3({ credentials: creds, tlsDir: join(lab.stateDir, 's3-tls'), headerLog }), connectProxy()]);
    inv = writeLabInventory(lab, join(lab.stateDir, 'inventory.yml'), { cluster: 'lab-wild', hostExtra: (i) => labEtcdBlock(lab, i, ['style: static-pod']) });
    // credentials only in a profile of the shared files; nothing from this machine's environment
    const config = join(lab.stateDir, 'aws-config');
    const credentials = join(lab.stateDir, 'aws-credentials');
    writeFileSync(config, '[profile lab-backup]\nregion = us-east-1\n\n[profile wrong-secret]\nregion = us-east-1\n');
    writeFileSync(credentials, `[lab-backup]\naws_access_key_id = ${creds.accessKeyId}\naws_secret_access_key = ${creds.secretAccessKey}\n\n[wrong-secret]\naws_access_key_id = ${creds.accessKeyId}\naws_secret_access_key = not-the-secret\n`);
    env = {
      RUNBOOK_RUNS_DIR: join(lab.stateDir, 'runs'),
      AWS_CONFIG_FILE: config,
      AWS_SHARED_CREDENTIALS_FILE: credentials,
      AWS_PROFILE: 'lab-backup',
      AWS_ACCESS_KEY_ID: '',
      AWS_SECRET_ACCESS_KEY: '',
      AWS_SESSION_TOKEN: '',
      AWS_REGION: '',
      // this machine points AWS_CA_BUNDLE at the system roots: a run without s3_ca_bundle falls back to it
      AWS_CA_BUNDLE: '/etc/ssl/certs/ca-certificates.crt',
      HTTPS_PROXY: '',
      https_proxy: '',
    };
    s3c = s3Helpers({ ...s3, caFile: s3.caFile });
    await writeCensus(lab, N);
  }, 120_000);

  afterAll(async () => {
    proxy?.server.close();
    await Promise.allSettled([lab?.stop(), s3?.stop()]);
  });

  it('the lab S3 checks signatures: the default s3rver key and a wrong secret are refused', async () => {
    const bad = s3Helpers({ ...s3, accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER', caFile: s3.caFile });
    await expect(bad.exists('x')).resolves.toBe(false);
    await expect(s3Helpers({ ...s3, secretAccessKey: 'nope', caFile: s3.caFile }).getText('x')).rejects.toThrow(/SignatureDoesNotMatch|signature/i);
  });

  it('without the CA bundle (only the system roots): a clear TLS error, nothing uploaded', async () => {
    const runId = `noca-${Date.now()}`;
    const r = await run(['run', 'playbooks/backup.yml', '-i', inv, '--run-id', runId, ...s3vars(false)]);
    expect(r.code, r.stdout + r.stderr).toBe(1);
    expect(r.stdout).toMatch(/TLS: the certificate of https:\/\/127\.[0-9.]+:\d+ does not verify .*s3\.ca_bundle/);
    expect(await s3c.exists(`etcd/lab-wild/${runId}/snapshot.db`)).toBe(false);
  }, 120_000);

  it('AWS_PROFILE from shared files + s3_ca_bundle + an HTTPS proxy + SSE-KMS: backup passes, tunnels counted, headers sent', async () => {
    const runId = `profile-${Date.now()}`;
    const before = proxy.tunnels();
    const r = await run(['run', 'playbooks/backup.yml', '-i', inv, '--run-id', runId, ...s3vars(), '-e', `s3_proxy=http://127.0.0.1:${proxy.port}`, '-e', 's3_sse=aws:kms', '-e', 's3_sse_kms_key_id=lab-kms-key-1']);
    expect(r.code, r.stdout + r.stderr).toBe(0);
    key = `etcd/lab-wild/${runId}/snapshot.db`;
    expect(await s3c.exists(key)).toBe(true);
    expect(proxy.tunnels()).toBeGreaterThan(before);
    expect(new Set(proxy.targets)).toEqual(new Set([`${s3.address}:${s3.port}`]));
    const puts = logLines().filter((l) => l.method === 'PUT' && l.url.includes(runId));
    expect(puts.length).toBeGreaterThan(0);
    for (const p of puts.filter((l) => !l.url.includes('partNumber='))) expect(p, p.url).toMatchObject({ sse: 'aws:kms', kmsKeyId: 'lab-kms-key-1' });
    console.log(`s3 wild: ${proxy.tunnels() - before} CONNECT tunnels for one backup; ${puts.length} PUTs with SSE aws:kms`);
  }, 120_000);

  it('a profile with the wrong secret: refused by the server, said so', async () => {
    const r = await run(['run', 'playbooks/backup.yml', '-i', inv, '--run-id', `wrong-${Date.now()}`, ...s3vars()], { AWS_PROFILE: 'wrong-secret' });
    expect(r.code, r.stdout + r.stderr).toBe(1);
    expect(r.stdout).toMatch(/SignatureDoesNotMatch/);
  }, 120_000);

  it('full-restore over TLS with the CA and the profile, through HTTPS_PROXY', async () => {
    expect(key).not.toBe('');
    await lab.etcdctl(0, ['del', '/census/', '--prefix']);
    const before = proxy.tunnels();
    const r = await run(['run', 'playbooks/full-restore.yml', '-i', inv, '--yes', '--run-id', `restore-${Date.now()}`, '-e', `snapshot_key=${key}`, ...s3vars()], { HTTPS_PROXY: `http://127.0.0.1:${proxy.port}` });
    expect(r.code, r.stdout + r.stderr).toBe(0);
    expect(proxy.tunnels()).toBeGreaterThan(before);
    expect(await readKeys(lab, 0, '/census/', 's')).toEqual(expectedKeys(N));
  }, 240_000);

  it('a snapshot over 8 MiB goes up as a multipart upload (parts with their Content-MD5), SSE-S3 asked for at its creation, verified by the ETag of every part', async () => {
    // incompressible values, stored as is: the object is over one part
    for (let i = 0; i < 12; i++) {
      const put = await lab.etcdctl(0, ['put', `/big/${i}`], { input: randomBytes(600_000).toString('base64') });
      expect(put.code, put.stderr).toBe(0);
    }
    const runId = `multipart-${Date.now()}`;
    const r = await run(['run', 'playbooks/backup.yml', '-i', inv, '--run-id', runId, ...s3vars(), '-e', 'compress=false', '-e', 's3_sse=AES256']);
    expect(r.code, r.stdout + r.stderr).toBe(0);
    const k = `etcd/lab-wild/${runId}/snapshot.db`;
    const prov = JSON.parse(await s3c.getText(`${k}.json`)) as Record<string, unknown>;
    expect(Number(prov['size'])).toBeGreaterThan(8 * 1024 * 1024);
    expect(await s3c.sha256(k)).toBe(prov['sha256']);
    // s3rver's part ETags are the MD5s of the parts: the upload was verified by them, not by reading it back
    expect(prov['verifiedBy']).toBe('etag (MD5 of the bytes sent)');
    const lines = logLines().filter((l) => l.url.includes(runId) && l.url.includes('snapshot.db?'));
    const parts = lines.filter((l) => l.method === 'PUT' && /partNumber=\d+/.test(l.url));
    expect(lines.some((l) => l.method === 'POST' && l.url.includes('uploads'))).toBe(true);
    expect(parts.length).toBeGreaterThanOrEqual(2);
    expect(lines.find((l) => l.method === 'POST' && /[?&]uploads(=|&|$)/.test(l.url))).toMatchObject({ sse: 'AES256' });
    console.log(`s3 wild: multipart upload of ${prov['size']} bytes in ${parts.length} parts`);
    // not on a TTY: the upload's progress is a line every 10%, the last one done (bytes, rate, ETA)
    const progress = r.stdout.split('\n').filter((l) => /master-1 upload snapshot\.db: /.test(l));
    // one line per tenth reached (a chunk that spans two tenths gives one line for both), the last one 100%
    const pcts = progress.map((l) => Number(/: (\d+)% /.exec(l)?.[1]));
    expect(pcts.length).toBeGreaterThanOrEqual(5);
    expect(pcts.length).toBeLessThanOrEqual(10);
    for (const [i, p] of pcts.entries()) if (i > 0) expect(Math.floor(p / 10)).toBeGreaterThan(Math.floor((pcts[i - 1] as number) / 10));
    expect(pcts.at(-1)).toBe(100);
    expect(progress[1]).toMatch(/\d+% [\d.]+ MiB of [\d.]+ MiB, [\d.]+ (B|KiB|MiB|GiB)\/s, ETA /);
    expect(progress.at(-1)).toMatch(/100% .*, done$/);
    console.log(`s3 wild: progress lines of the upload:\n${progress.join('\n')}`);
  }, 240_000);
});
