// A local S3 endpoint for the test lab: the npm `s3rver` package (dev dependency) in a child
// process, on a loopback address and a free port, with a fresh directory and an
// `etcd-backups` bucket. The nodes share the host's network, so runbooks on the lab nodes
// reach it at the same endpoint as the test process.
//
//   const s3 = await startS3();
//   new S3Client({ endpoint: s3.endpoint, region: s3.region, forcePathStyle: true,
//     credentials: { accessKeyId: s3.accessKeyId, secretAccessKey: s3.secretAccessKey },
//     requestChecksumCalculation: 'WHEN_REQUIRED', responseChecksumValidation: 'WHEN_REQUIRED' });
//   await s3.stop();
//
// s3rver checks signatures with the fixed credentials S3RVER / S3RVER. It does not
// implement the newer flexible checksums (CRC32 trailers): configure SDK v3 clients with
// requestChecksumCalculation / responseChecksumValidation 'WHEN_REQUIRED' as above.

import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import * as os from 'node:os';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';

export interface S3Options {
  /** Loopback address to listen on. Default 127.0.0.1. */
  address?: string;
  /** Default: a free port chosen by the kernel. */
  port?: number;
  /** Storage directory. Default: a fresh mkdtemp dir, removed by stop() (unless KEEP_LAB=1). */
  dir?: string;
  /** Bucket created at start. Default "etcd-backups". */
  bucket?: string;
  /** Only this key is accepted, its SigV4 signatures checked (s3rver alone checks only the key id). */
  credentials?: { accessKeyId: string; secretAccessKey: string };
  /** Serve HTTPS with a certificate from a fresh lab CA made in this directory (openssl). */
  tlsDir?: string;
  /** Append one JSON line per request (method, url, range, server-side-encryption headers) to this file. */
  headerLog?: string;
  /** Append one JSON line per request when it ends, with its start and end times (see s3-server.mjs). */
  requestLog?: string;
}

export interface LabS3 {
  /** e.g. http://127.0.0.1:41234 (path-style buckets); https://… with tlsDir. */
  endpoint: string;
  /** With tlsDir: the lab CA's certificate (PEM) that signed the server's. */
  caFile: string | undefined;
  address: string;
  port: number;
  bucket: string;
  accessKeyId: string;
  secretAccessKey: string;
  region: string;
  /** Where s3rver keeps the objects (bucket/key as files plus metadata). */
  dir: string;
  /** Host PID of the server process. */
  pid: number;
  /** Stops the server (SIGTERM, then SIGKILL) and removes a directory it created. Idempotent. */
  stop(): Promise<void>;
}

const HERE = path.dirname(fileURLToPath(import.meta.url));

function findServerScript(): string {
  let dir = HERE;
  if (existsSync(path.join(dir, 's3-server.mjs'))) return path.join(dir, 's3-server.mjs');
  for (;;) {
    const candidate = path.join(dir, 'test', 'lab', 's3-server.mjs');
    if (existsSync(candidate)) return candidate;
    const parent = path.dirname(dir);
    if (parent === dir) throw new Error(`s3: cannot find s3-server.mjs near ${HERE}`);
    dir = parent;
  }
}

function openssl(args: string[]): void {
  const r = spawnSync('openssl', args, { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`s3: openssl ${args.join(' ')} failed: ${r.stderr}`);
}

/** A lab CA and a server certificate for the address (SAN IP), P-256; returns the CA's PEM file. */
async function makeTls(dir: string, address: string): Promise<string> {
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const f = (n: string) => path.join(dir, n);
  writeFileSync(f('ca.cnf'), '[req]\ndistinguished_name = dn\nprompt = no\n[dn]\nCN = lab-s3-ca\n[ext]\nbasicConstraints = critical, CA:TRUE\nkeyUsage = critical, keyCertSign\nsubjectKeyIdentifier = hash\n');
  openssl(['req', '-x509', '-new', '-config', f('ca.cnf'), '-extensions', 'ext', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', f('ca.key'), '-out', f('ca.crt'), '-days', '30', '-sha256']);
  writeFileSync(f('s3.cnf'), `[req]\ndistinguished_name = dn\nprompt = no\n[dn]\nCN = lab-s3\n[ext]\nbasicConstraints = critical, CA:FALSE\nkeyUsage = critical, digitalSignature\nextendedKeyUsage = serverAuth\nauthorityKeyIdentifier = keyid\nsubjectAltName = IP:${address}, DNS:localhost\n`);
  openssl(['req', '-x509', '-new', '-config', f('s3.cnf'), '-extensions', 'ext', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', f('s3.key'), '-out', f('s3.crt'), '-days', '30', '-sha256', '-CA', f('ca.crt'), '-CAkey', f('ca.key')]);
  return f('ca.crt');
}

export async function startS3(opts: S3Options = {}): Promise<LabS3> {
  const address = opts.address ?? '127.0.0.1';
  if (!/^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(address)) throw new Error(`s3: address ${address} must be in 127.0.0.0/8`);
  const bucket = opts.bucket ?? 'etcd-backups';
  const ownsDir = opts.dir === undefined;
  const dir = opts.dir ?? (await mkdtemp(path.join(os.tmpdir(), 'runbook-s3-')));
  mkdirSync(dir, { recursive: true });
  const script = findServerScript();
  const extra: string[] = [];
  if (opts.credentials) extra.push(`--credentials=${opts.credentials.accessKeyId}:${opts.credentials.secretAccessKey}`);
  if (opts.headerLog) extra.push(`--header-log=${opts.headerLog}`);
  if (opts.requestLog) extra.push(`--request-log=${opts.requestLog}`);
  const caFile = opts.tlsDir ? await makeTls(opts.tlsDir, address) : undefined;
  if (opts.tlsDir) extra.push(`--tls-cert=${path.join(opts.tlsDir, 's3.crt')}`, `--tls-key=${path.join(opts.tlsDir, 's3.key')}`);

  const child = spawn(process.execPath, [script, `--address=${address}`, `--port=${opts.port ?? 0}`, `--dir=${dir}`, `--bucket=${bucket}`, ...extra], {
    // stdin: a pipe only we hold; the server exits on EOF, i.e. when this process dies
    stdio: ['pipe', 'pipe', 'pipe'],
    env: { PATH: process.env['PATH'] ?? '/usr/bin:/bin', NODE_ENV: 'production' },
  });
  const pid = child.pid;
  if (pid === undefined) {
    await new Promise((resolve) => child.once('error', resolve));
    throw new Error('s3: cannot start node for s3-server.mjs');
  }
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const exitHook = (): void => {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // gone
    }
  };
  process.on('exit', exitHook);

  let stderr = '';
  child.stderr?.on('data', (b: Buffer) => {
    stderr = (stderr + b.toString()).slice(-4000);
  });
  const port = await new Promise<number>((resolve, reject) => {
    let out = '';
    const timer = setTimeout(() => reject(new Error(`s3: s3rver did not start in 10 s: ${stderr}`)), 10_000);
    child.stdout?.on('data', (b: Buffer) => {
      out += b.toString();
      const nl = out.indexOf('\n');
      if (nl < 0) return;
      clearTimeout(timer);
      try {
        resolve(Number((JSON.parse(out.slice(0, nl)) as { port: number }).port));
      } catch {
        reject(new Error(`s3: unexpected output from s3-server.mjs: ${out}`));
      }
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`s3: s3-server.mjs exited with code ${code}: ${stderr}`));
    });
  }).catch(async (e: unknown) => {
    exitHook();
    process.removeListener('exit', exitHook);
    if (ownsDir) await rm(dir, { recursive: true, force: true });
    throw e;
  });
  child.stdout?.resume();
  // do not keep the test process alive for the server; its stdin EOF ends it when we exit
  child.unref();
  for (const stream of [child.stdin, child.stdout, child.stderr]) (stream as unknown as { unref?: () => void } | null)?.unref?.();

  let stopped = false;
  return {
    endpoint: `${caFile ? 'https' : 'http'}://${address}:${port}`,
    caFile,
    address,
    port,
    bucket,
    accessKeyId: opts.credentials?.accessKeyId ?? 'S3RVER',
    secretAccessKey: opts.credentials?.secretAccessKey ?? 'S3RVER',
    region: 'us-east-1',
    dir,
    pid,
    async stop() {
      if (stopped) return;
      stopped = true;
      child.kill('SIGTERM');
      let timer: NodeJS.Timeout | undefined;
      const killed = await Promise.race([exited.then(() => false), new Promise<boolean>((resolve) => (timer = setTimeout(() => resolve(true), 3_000)))]);
      clearTimeout(timer);
      if (killed) {
        child.kill('SIGKILL');
        await exited;
      }
      child.stdin?.destroy();
      process.removeListener('exit', exitHook);
      if (ownsDir && process.env['KEEP_LAB'] !== '1') await rm(dir, { recursive: true, force: true });
    },
  };
}
