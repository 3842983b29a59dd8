import { GetObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { describe, expect, it } from 'vitest';
import { s3Where } from '../../src/actions/s3.js';
import { noProxyMatches, pathStyleFor, proxyFor, s3ClientConfig } from '../../src/storage/s3.js';
import type { StoreLocation } from '../../src/storage/store.js';

/** The URL the SDK builds for a GET with these settings (stopped before signing: no network, no credentials). */
async function urlOf(loc: StoreLocation): Promise<string> {
  const c = new S3Client({ ...s3ClientConfig(loc), credentials: { accessKeyId: 'x', secretAccessKey: 'y' } });
  let url = '';
  c.middlewareStack.add(
    () => async (args) => {
      const r = args.request as { protocol: string; hostname: string; port?: number; path: string };
      url = `${r.protocol}//${r.hostname}${r.port ? `:${r.port}` : ''}${r.path}`;
      throw new Error('captured');
    },
    { step: 'build', priority: 'low' },
  );
  await c.send(new GetObjectCommand({ Bucket: loc.bucket, Key: 'etcd/x/snapshot.db' })).catch((e: Error) => {
    if (e.message !== 'captured') throw e;
  });
  return url;
}

describe('S3 addressing: auto = path-style for IP / localhost / explicit port / non-DNS bucket, else virtual-hosted', () => {
  const table: [string, Partial<StoreLocation>, string][] = [
    ['AWS, DNS bucket', { endpoint: '', bucket: 'etcd-backups' }, 'https://etcd-backups.s3.eu-west-1.amazonaws.com/etcd/x/snapshot.db'],
    ['AWS, bucket with dots (not DNS-compatible under TLS)', { endpoint: '', bucket: 'etcd.backups' }, 'https://s3.eu-west-1.amazonaws.com/etcd.backups/etcd/x/snapshot.db'],
    ['IP endpoint', { endpoint: 'http://127.0.0.1:9000', bucket: 'etcd-backups' }, 'http://127.0.0.1:9000/etcd-backups/etcd/x/snapshot.db'],
    ['DNS name with a port (MinIO)', { endpoint: 'https://minio.internal:9000', bucket: 'etcd-backups' }, 'https://minio.internal:9000/etcd-backups/etcd/x/snapshot.db'],
    ['localhost', { endpoint: 'http://localhost', bucket: 'etcd-backups' }, 'http://localhost/etcd-backups/etcd/x/snapshot.db'],
    ['DNS name, default port', { endpoint: 'https://objects.example.net', bucket: 'etcd-backups' }, 'https://etcd-backups.objects.example.net/etcd/x/snapshot.db'],
    ['DNS name, forced path', { endpoint: 'https://objects.example.net', bucket: 'etcd-backups', addressing: 'path' }, 'https://objects.example.net/etcd-backups/etcd/x/snapshot.db'],
    ['DNS name, non-DNS bucket', { endpoint: 'https://objects.example.net', bucket: 'Etcd_Backups' }, 'https://objects.example.net/Etcd_Backups/etcd/x/snapshot.db'],
    ['DNS name with a port, forced virtual', { endpoint: 'https://minio.internal:9000', bucket: 'etcd-backups', addressing: 'virtual' }, 'https://etcd-backups.minio.internal:9000/etcd/x/snapshot.db'],
    // the SDK's own endpoint rules never put a bucket in front of an IP address
    ['IP endpoint, forced virtual: the SDK keeps it path-style', { endpoint: 'http://127.0.0.1:9000', bucket: 'etcd-backups', addressing: 'virtual' }, 'http://127.0.0.1:9000/etcd-backups/etcd/x/snapshot.db'],
  ];
  for (const [what, l, want] of table) {
    it(`${what} → ${want}`, async () => {
      const loc: StoreLocation = { endpoint: '', region: 'eu-west-1', bucket: 'b', ...l };
      expect(await urlOf(loc)).toBe(want);
    });
  }
  it('pathStyleFor is the rule itself', () => {
    expect(pathStyleFor({ endpoint: 'http://[::1]:9000', bucket: 'etcd-backups' })).toBe(true);
    expect(pathStyleFor({ endpoint: '', bucket: 'etcd-backups' })).toBe(false);
  });
});

describe('S3 settings', () => {
  it('timeouts and retries reach the client', async () => {
    const cfg = s3ClientConfig({ endpoint: 'http://127.0.0.1:1', region: 'r', bucket: 'b', maxAttempts: 5, connectTimeoutS: 2, requestTimeoutS: 30 });
    expect(cfg.maxAttempts).toBe(5);
    const h = cfg.requestHandler as unknown as { configProvider: Promise<{ connectionTimeout: number; socketTimeout: number }> };
    expect(await h.configProvider).toMatchObject({ connectionTimeout: 2000, socketTimeout: 30000 });
  });

  it('proxy: the setting, else HTTPS_PROXY unless NO_PROXY names the host', () => {
    const loc = (o: Partial<StoreLocation> = {}): StoreLocation => ({ endpoint: 'https://s3.corp.example:443', region: 'r', bucket: 'b', ...o });
    expect(proxyFor(loc({ proxy: 'http://p:3128' }), {})).toBe('http://p:3128');
    expect(proxyFor(loc(), { HTTPS_PROXY: 'http://q:3128' })).toBe('http://q:3128');
    expect(proxyFor(loc(), { HTTPS_PROXY: 'http://q:3128', NO_PROXY: '.corp.example' })).toBeUndefined();
    expect(proxyFor(loc({ endpoint: '' }), { https_proxy: 'http://q:3128', no_proxy: 'localhost' })).toBe('http://q:3128');
    expect(noProxyMatches('a.b.c', '*')).toBe(true);
    expect(noProxyMatches('xb.c', 'b.c')).toBe(false);
  });

  const cases: [string, Record<string, unknown>, RegExp | object][] = [
    ['the map with flat overrides', { s3: { bucket: 'a', region: 'r1', sse: 'AES256' }, bucket: 'b' }, { bucket: 'b', region: 'r1', endpoint: '', s3: { sse: 'AES256' } }],
    ['SSE-KMS with a key', { s3: { bucket: 'a', sse: 'aws:kms', sse_kms_key_id: 'k' } }, { s3: { sse: 'aws:kms', sseKmsKeyId: 'k' } }],
    ['empty settings are defaults', { s3: { bucket: 'a', ca_bundle: '', proxy: '', addressing: 'auto', max_attempts: '' } }, { bucket: 'a', region: 'us-east-1' }],
    ['numbers as text (from templates)', { s3: { bucket: 'a', connect_timeout_s: '5', max_attempts: '2' } }, { s3: { connectTimeoutS: 5, maxAttempts: 2 } }],
    ['no bucket', { s3: {} }, /bucket: give s3.bucket/],
    ['unknown setting', { s3: { bucket: 'a', acl: 'x' } }, /s3.acl is not an S3 setting/],
    ['bad addressing', { s3: { bucket: 'a', addressing: 'dns' } }, /must be auto, path or virtual/],
    ['key id without KMS', { s3: { bucket: 'a', sse_kms_key_id: 'k' } }, /needs s3.sse: aws:kms/],
    ['relative CA bundle', { s3: { bucket: 'a', ca_bundle: 'ca.pem' } }, /absolute path/],
    ['a proxy with a password (it would be saved with the plan)', { s3: { bucket: 'a', endpoint: 'https://s3.example.invalid', proxy: 'http://u:secret@p:3128' } }, /must not hold a user or password .* HTTPS_PROXY/],
    ['a proxy for a plain-http endpoint (CONNECT is for https)', { s3: { bucket: 'a', endpoint: 'http://127.0.0.1:9000', proxy: 'http://p:3128' } }, /is for https endpoints/],
    ['zero attempts', { s3: { bucket: 'a', max_attempts: 0 } }, /max_attempts '0' must be a number ≥ 1/],
  ];
  for (const [what, args, want] of cases) {
    it(`s3Where: ${what}`, () => {
      const r = s3Where(args);
      if (want instanceof RegExp) expect(r).toMatch(want);
      else expect(r).toMatchObject(want);
    });
  }
});
