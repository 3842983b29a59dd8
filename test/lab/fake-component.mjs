#!/usr/bin/env node
// kube-controller-manager / kube-scheduler stand-in for the test lab (plain Node.js, no deps).
//
// Usage: fake-component.mjs NAME --bind-address=ADDR --secure-port=PORT [other flags ignored]
// Serves PLAIN HTTP on bind-address:secure-port (HTTPS with --tls-cert-file and --tls-private-key-file):
// GET /healthz -> 200 "ok". It does what the engine
// depends on for these components: a process that runs, answers health while it runs, and whose
// start time shows whether it was restarted (the real ones cache what they read from etcd until
// they restart, which is why a full restore restarts them).

import { readFileSync, writeFileSync } from 'node:fs';
import * as http from 'node:http';
import * as https from 'node:https';

const [name = 'component', ...rest] = process.argv.slice(2);
try {
  writeFileSync('/proc/self/comm', name.slice(0, 15));
} catch {
  // cosmetic only
}
const flags = {};
for (const a of rest) {
  const m = /^--([^=]+)(?:=(.*))?$/.exec(a);
  if (m) flags[m[1]] = m[2] ?? 'true';
}
const bindAddress = flags['bind-address'] ?? '127.0.0.1';
const port = Number(flags['secure-port'] ?? 0);
const handler = (req, res) => {
  const ok = req.url === '/healthz' || req.url === '/livez' || req.url === '/readyz';
  res.writeHead(ok ? 200 : 404, { 'content-type': 'text/plain' });
  res.end(ok ? 'ok' : 'not found');
};
const tls = flags['tls-cert-file'] && flags['tls-private-key-file'] ? { cert: readFileSync(flags['tls-cert-file']), key: readFileSync(flags['tls-private-key-file']) } : undefined;
const server = tls ? https.createServer(tls, handler) : http.createServer(handler);
server.listen(port, bindAddress, () => process.stderr.write(`${new Date().toISOString()} ${name}: listening on ${bindAddress}:${port}\n`));
for (const sig of ['SIGTERM', 'SIGINT']) process.on(sig, () => server.close(() => process.exit(0)));
