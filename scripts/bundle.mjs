// Build step: bundle src/cli.ts into dist/cli.js (plus chunks that load on demand), so that starting the
// CLI reads a few files instead of ~300 small modules: `runbook --help`/`validate` start in about 0.1 s.
// Packages that only some commands need (SSH, the AWS SDK, age, ajv) stay outside the bundle and are
// imported lazily from node_modules by their one importer; the commands' own modules become chunks.
import { rmSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const dist = join(root, 'dist');
rmSync(dist, { recursive: true, force: true });
await build({
  entryPoints: [join(root, 'src', 'cli.ts')],
  outdir: dist,
  bundle: true,
  splitting: true,
  format: 'esm',
  platform: 'node',
  target: 'node20',
  chunkNames: 'chunks/[name]-[hash]',
  sourcemap: true,
  // loaded lazily, and ssh2 has optional native parts: resolved from node_modules at run time
  external: ['ssh2', '@aws-sdk/*', '@smithy/*', 'age-encryption', 'https-proxy-agent', 'ajv', 'ajv-formats'],
  // bundled CommonJS packages call require() for Node's own modules
  banner: { js: "import { createRequire as __runbookRequire } from 'node:module';\nconst require = __runbookRequire(import.meta.url);" },
  logLevel: 'warning',
});
