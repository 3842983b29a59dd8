// Child process started by test/lab/s3.ts: runs the npm `s3rver` package (a local S3 API
// server, files on disk) until SIGTERM/SIGINT or until its stdin reaches EOF (the test
// process that started it is gone).
//
//   node s3-server.mjs --address=127.0.0.1 --port=0 --dir=/tmp/x --bucket=etcd-backups
//     [--credentials=ID:SECRET,…]   only these keys, SigV4 signatures checked (s3rver checks only the key id)
//     [--tls-cert=FILE --tls-key=FILE]   HTTPS
//     [--header-log=FILE]   one JSON line per request: method, url, range, server-side-encryption headers
//     [--request-log=FILE]  one JSON line per request when it ends: method, url, user agent, client
//                           address, range, status,
//                           content lengths, whether the response finished, start (headers in) and
//                           end (ms, monotonic): the bench counts parts in flight and GETs from it
//
// Prints one JSON line on stdout when it listens: {"address":"127.0.0.1","port":41234}.

import { createHash, createHmac } from 'node:crypto';
import { appendFileSync, readFileSync } from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);
const S3rver = require('s3rver');

const flags = {};
for (const a of process.argv.slice(2)) {
  const m = /^--([^=]+)=(.*)$/.exec(a);
  if (m) flags[m[1]] = m[2];
}
const buckets = (flags.bucket ?? 'etcd-backups').split(',').filter(Boolean);
const credentials = new Map((flags.credentials ?? '').split(',').filter(Boolean).map((c) => [c.slice(0, c.indexOf(':')), c.slice(c.indexOf(':') + 1)]));

const enc = (s) => encodeURIComponent(s).replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);
const hmac = (k, s) => createHmac('sha256', k).update(s).digest();

/** Why a request's SigV4 header signature does not verify with the known secrets, or undefined when it does. */
function sigv4Problem(req) {
  const auth = req.headers.authorization ?? '';
  const m = /^AWS4-HMAC-SHA256 Credential=([^/]+)\/(\d{8})\/([^/]+)\/([^/]+)\/aws4_request, ?SignedHeaders=([^,]+), ?Signature=([0-9a-f]{64})$/.exec(auth);
  if (!m) return ['AccessDenied', 'a signed request (SigV4 Authorization header) is required'];
  const [, id, date, region, service, signed, signature] = m;
  const secret = credentials.get(id);
  if (secret === undefined) return ['InvalidAccessKeyId', 'The AWS Access Key Id you provided does not exist in our records.'];
  const [path, query = ''] = (req.url ?? '/').split('?');
  const q = query
    .split('&')
    .filter(Boolean)
    .map((kv) => {
      const i = kv.indexOf('=');
      const k = decodeURIComponent(i < 0 ? kv : kv.slice(0, i));
      const v = i < 0 ? '' : decodeURIComponent(kv.slice(i + 1));
      return [enc(k), enc(v)];
    })
    .sort((a, b) => (a[0] === b[0] ? (a[1] < b[1] ? -1 : 1) : a[0] < b[0] ? -1 : 1))
    .map(([k, v]) => `${k}=${v}`)
    .join('&');
  const names = signed.split(';');
  const headers = names.map((n) => `${n}:${String(req.headers[n] ?? '').trim().replace(/\s+/g, ' ')}\n`).join('');
  const canonical = [req.method, path, q, headers, signed, req.headers['x-amz-content-sha256'] ?? 'UNSIGNED-PAYLOAD'].join('\n');
  const toSign = ['AWS4-HMAC-SHA256', req.headers['x-amz-date'], `${date}/${region}/${service}/aws4_request`, createHash('sha256').update(canonical).digest('hex')].join('\n');
  const key = hmac(hmac(hmac(hmac(`AWS4${secret}`, date), region), service), 'aws4_request');
  if (createHmac('sha256', key).update(toSign).digest('hex') !== signature) return ['SignatureDoesNotMatch', 'The request signature we calculated does not match the signature you provided. Check your key and signing method.'];
  return undefined;
}

const server = new S3rver({
  address: flags.address ?? '127.0.0.1',
  port: Number(flags.port ?? 0),
  directory: flags.dir,
  silent: true,
  // path-style only: a vhost middleware would treat "127.0.0.1" hosts oddly anyway
  vhostBuckets: false,
  configureBuckets: buckets.map((name) => ({ name })),
});

if (credentials.size > 0) {
  // only the given keys: the built-in S3RVER key is gone, and s3rver's own check of the key id stays
  const Account = require('s3rver/lib/models/account');
  Account.DUMMY_ACCOUNT.revokeAccessKey('S3RVER');
  for (const [id, secret] of credentials) Account.DUMMY_ACCOUNT.createKeyPair(id, secret);
}

const app = server.callback();
let requestSeq = 0;
/** Times a request from its headers to the last byte of its response (or the connection's end). */
function logRequest(file, req, res) {
  const id = ++requestSeq;
  const start = performance.now();
  res.once('close', () => {
    const line = { id, method: req.method, url: req.url, agent: String(req.headers['user-agent'] ?? '').slice(0, 60), from: req.socket.remoteAddress, range: req.headers.range, status: res.statusCode, finished: res.writableFinished, lengthIn: req.headers['content-length'], lengthOut: res.getHeader('content-length'), start, end: performance.now() };
    appendFileSync(file, `${JSON.stringify(line)}\n`);
  });
}
const handler = (req, res) => {
  if (flags['request-log']) logRequest(flags['request-log'], req, res);
  if (flags['header-log']) {
    const h = req.headers;
    appendFileSync(flags['header-log'], `${JSON.stringify({ method: req.method, url: req.url, range: h['range'], sse: h['x-amz-server-side-encryption'], kmsKeyId: h['x-amz-server-side-encryption-aws-kms-key-id'] })}\n`);
  }
  if (credentials.size > 0) {
    const bad = sigv4Problem(req);
    if (bad) {
      req.resume();
      res.writeHead(403, { 'content-type': 'application/xml' });
      res.end(`<?xml version="1.0" encoding="UTF-8"?><Error><Code>${bad[0]}</Code><Message>${bad[1]}</Message></Error>`);
      return;
    }
  }
  app(req, res);
};
const tls = flags['tls-cert'] ? { cert: readFileSync(flags['tls-cert']), key: readFileSync(flags['tls-key']) } : undefined;
const httpServer = tls ? https.createServer(tls, handler) : http.createServer(handler);

let closing = false;
const shutdown = async (code) => {
  if (closing) return;
  closing = true;
  httpServer.closeAllConnections?.();
  await new Promise((r) => httpServer.close(() => r()));
  process.exit(code);
};
process.on('SIGTERM', () => shutdown(0));
process.on('SIGINT', () => shutdown(0));
process.stdin.on('end', () => shutdown(0));
process.stdin.on('error', () => shutdown(0));
process.stdin.resume();

try {
  await server.configureBuckets();
  await new Promise((resolve, reject) => {
    httpServer.once('error', reject);
    httpServer.listen(Number(flags.port ?? 0), flags.address ?? '127.0.0.1', resolve);
  });
  const addr = httpServer.address();
  process.stdout.write(`${JSON.stringify({ address: addr.address, port: addr.port })}\n`);
} catch (e) {
  process.stderr.write(`s3-server: cannot start s3rver: ${e instanceof Error ? e.message : e}\n`);
  process.exit(1);
}
