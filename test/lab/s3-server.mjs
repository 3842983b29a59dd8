// Child process started by test/lab/s3.ts: runs the npm `s3rver` package (a local S3 API
// server, files on disk) until SIGTERM/SIGINT or until its stdin reaches EOF (the test
// process that started it is gone).
//
//   node s3-server.mjs --address=127.0.0.1 --port=0 --dir=/tmp/x --bucket=etcd-backups
//
// Prints one JSON line on stdout when it listens: {"address":"127.0.0.1","port":41234}.

import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);
const S3rver = require('s3rver');

const flags = {};
for (const a of process.argv.slice(2)) {
  const m = /^--([^=]+)=(.*)$/.exec(a);
  if (m) flags[m[1]] = m[2];
}
const buckets = (flags.bucket ?? 'etcd-backups').split(',').filter(Boolean);

const server = new S3rver({
  address: flags.address ?? '127.0.0.1',
  port: Number(flags.port ?? 0),
  directory: flags.dir,
  silent: true,
  // path-style only: a vhost middleware would treat "127.0.0.1" hosts oddly anyway
  vhostBuckets: false,
  configureBuckets: buckets.map((name) => ({ name })),
});

let closing = false;
const shutdown = async (code) => {
  if (closing) return;
  closing = true;
  try {
    await server.close();
  } catch {
    // not running
  }
  process.exit(code);
};
process.on('SIGTERM', () => shutdown(0));
process.on('SIGINT', () => shutdown(0));
process.stdin.on('end', () => shutdown(0));
process.stdin.on('error', () => shutdown(0));
process.stdin.resume();

try {
  const addr = await server.run();
  process.stdout.write(`${JSON.stringify({ address: addr.address, port: addr.port })}\n`);
} catch (e) {
  process.stderr.write(`s3-server: cannot start s3rver: ${e instanceof Error ? e.message : e}\n`);
  process.exit(1);
}
