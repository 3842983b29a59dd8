#!/usr/bin/env node
// kube-apiserver stand-in for the test lab (plain Node.js, no deps).
//
// Takes the real flags it needs and ignores the others:
//   --etcd-servers=https://A:2379[,https://B:2379]  --etcd-cafile  --etcd-certfile  --etcd-keyfile
//   --bind-address=ADDR (default 127.0.0.1)  --secure-port=6443  --advertise-address (unused)
// Serves PLAIN HTTP on bind-address:secure-port, or HTTPS when given --tls-cert-file and
// --tls-private-key-file (as the real one always does; the lab's non-kubeadm layout uses them):
//   GET /readyz, /healthz  200 "ok" if a linearizable read from etcd works right
//                          now (quorum + leader), else 500 "etcd: <why>". Result cached 500 ms.
//   GET /livez             200 "ok" while the process runs
//   GET /version           {"gitVersion":"v0.0.0-lab",...}
// The etcd check is a POST to etcd's gRPC gateway /v3/kv/range (key /registry/health,
// linearizable), over TLS with the client cert, to every --etcd-servers endpoint
// at once; one success is enough (the real apiserver's client also fails over).
// No process is spawned per request, so polling it is cheap.
// With $NOTIFY_SOCKET (systemd Type=notify) it sends READY=1 once etcd answers.

import { spawn } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import * as http from 'node:http';
import * as https from 'node:https';

try {
  writeFileSync('/proc/self/comm', 'kube-apiserver');
} catch {
  // cosmetic only
}

const flags = {};
for (const a of process.argv.slice(2)) {
  const m = /^--([^=]+)(?:=(.*))?$/.exec(a);
  if (m) flags[m[1]] = m[2] ?? 'true';
}
const log = (msg) => process.stderr.write(`${new Date().toISOString()} kube-apiserver: ${msg}\n`);

const servers = (flags['etcd-servers'] ?? '').split(',').filter(Boolean);
if (servers.length === 0) {
  log('--etcd-servers must be given');
  process.exit(1);
}
const bindAddress = flags['bind-address'] ?? '127.0.0.1';
const port = Number(flags['secure-port'] ?? 6443);
const readTls = (f) => (flags[f] ? readFileSync(flags[f]) : undefined);
let tls;
try {
  tls = { ca: readTls('etcd-cafile'), cert: readTls('etcd-certfile'), key: readTls('etcd-keyfile') };
} catch (e) {
  log(`cannot read etcd TLS files: ${e.message}`);
  process.exit(1);
}
const agent = new https.Agent({ keepAlive: true, maxSockets: 2, ...tls });
const httpAgent = new http.Agent({ keepAlive: true, maxSockets: 2 });
const CHECK_TIMEOUT_MS = 1_000;
const CACHE_MS = 500;
const body = JSON.stringify({ key: Buffer.from('/registry/health').toString('base64'), limit: 1 });

function rangeOnce(endpoint) {
  return new Promise((resolve, reject) => {
    const url = new URL('/v3/kv/range', endpoint);
    const mod = url.protocol === 'https:' ? https : http;
    const req = mod.request(
      url,
      {
        method: 'POST',
        agent: url.protocol === 'https:' ? agent : httpAgent,
        headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) },
        timeout: CHECK_TIMEOUT_MS,
      },
      (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (c) => (text += c));
        res.on('end', () => {
          if (res.statusCode === 200 && text.includes('"header"')) resolve();
          else reject(new Error(`${endpoint}: HTTP ${res.statusCode} ${text.slice(0, 200).trim()}`));
        });
      },
    );
    req.on('timeout', () => req.destroy(new Error(`${endpoint}: timeout after ${CHECK_TIMEOUT_MS} ms`)));
    req.on('error', (e) => reject(new Error(`${endpoint}: ${e.message}`)));
    req.end(body);
  });
}

let cached = { at: 0, ok: false, why: 'not checked yet' };
let inflight = null;
function checkEtcd() {
  if (Date.now() - cached.at < CACHE_MS) return Promise.resolve(cached);
  if (inflight) return inflight;
  inflight = Promise.any(servers.map(rangeOnce))
    .then(
      () => ({ at: Date.now(), ok: true, why: '' }),
      (e) => ({ at: Date.now(), ok: false, why: (e.errors ?? [e]).map((x) => x.message).join('; ') }),
    )
    .then((r) => {
      if (r.ok !== cached.ok) log(r.ok ? 'etcd reachable: ready' : `etcd check failed: ${r.why}`);
      cached = r;
      inflight = null;
      return r;
    });
  return inflight;
}

// the real apiserver always serves TLS; the lab's stand-in does when given its serving certificate
const serving = flags['tls-cert-file'] && flags['tls-private-key-file'] ? { cert: readFileSync(flags['tls-cert-file']), key: readFileSync(flags['tls-private-key-file']) } : undefined;
const handler = async (req, res) => {
  const path = (req.url ?? '/').split('?')[0];
  const send = (code, text, type = 'text/plain') => {
    res.writeHead(code, { 'content-type': type });
    res.end(text);
  };
  if (req.method !== 'GET' && req.method !== 'HEAD') return send(405, 'method not allowed');
  if (path === '/livez') return send(200, 'ok');
  if (path === '/version') return send(200, JSON.stringify({ major: '0', minor: '0', gitVersion: 'v0.0.0-lab', platform: 'linux/amd64' }), 'application/json');
  if (path === '/readyz' || path === '/healthz' || path.startsWith('/readyz/') || path.startsWith('/healthz/')) {
    const r = await checkEtcd();
    return r.ok ? send(200, 'ok') : send(500, `[-]etcd failed: ${r.why}\nreadyz check failed`);
  }
  return send(404, 'not found (lab kube-apiserver stand-in serves /readyz /healthz /livez /version)');
};
const server = serving ? https.createServer(serving, handler) : http.createServer(handler);
server.keepAliveTimeout = 5_000;
server.on('error', (e) => {
  log(`cannot listen on ${bindAddress}:${port}: ${e.message}`);
  process.exit(1);
});
server.listen(port, bindAddress, () => {
  log(`serving ${serving ? 'HTTPS' : 'plain HTTP'} on ${bindAddress}:${port}, etcd ${servers.join(',')}`);
  notifyWhenReady();
});

// Type=notify (as the real kube-apiserver unit): READY=1 on $NOTIFY_SOCKET (a unix datagram socket, sent with
// socat: Node has no unix datagram sockets) once etcd answers, as the real one cannot start without its storage.
function notifyWhenReady() {
  const sock = process.env.NOTIFY_SOCKET;
  if (!sock) return;
  const tick = () =>
    checkEtcd().then((r) => {
      if (!r.ok) return void setTimeout(tick, 500);
      const c = spawn('socat', ['-u', 'STDIN', `UNIX-SENDTO:${sock}`], { stdio: ['pipe', 'ignore', 'inherit'] });
      c.on('error', (e) => log(`cannot notify ${sock}: ${e.message}`));
      c.on('exit', (code) => (code === 0 ? log('sent READY=1') : setTimeout(tick, 500)));
      c.stdin.end('READY=1');
    });
  tick();
}

const shutdown = () => {
  server.close();
  process.exit(0);
};
process.on('SIGTERM', shutdown);
process.on('SIGINT', shutdown);
