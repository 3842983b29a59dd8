// Build step: bundle src/cli.ts into dist/runbook.cjs, one CommonJS file, and src/launch.ts into
// dist/cli.js, the `runbook` command that runs it through V8's code cache (launch.ts says how), so that
// a start reads two files and compiles almost nothing: `runbook --help`/`validate` start in about 0.1 s.
// Packages that only some commands need (the AWS SDK, ajv) stay outside the bundle and are required
// lazily from node_modules by their one importer; ssh2, age and listr2 are in it but run only on first
// use; the rest of the CLI's modules run their top level at start, but no command's work is done before
// it is asked for.
import { createHash } from 'node:crypto';
import { chmodSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const dist = join(root, 'dist');
rmSync(dist, { recursive: true, force: true });
// the schemas' validators first (dist/schemas/*.cjs): the bundle takes them in (schema-check.ts)
await import('./compile-schemas.mjs');
const common = { bundle: true, platform: 'node', target: 'node20', logLevel: 'warning' };
await build({
  ...common,
  entryPoints: [join(root, 'src', 'cli.ts')],
  outfile: join(dist, 'runbook.cjs'),
  format: 'cjs',
  sourcemap: true,
  // loaded lazily from node_modules at run time (ssh2 is bundled, run on first use: its optional native
  // parts, never built here, stay outside and it does without them, as it does from node_modules)
  external: ['cpu-features', '*.node', '@aws-sdk/*', '@smithy/*', 'https-proxy-agent', 'ajv', 'ajv-formats'],
  // the modules' own import.meta.url (the package root, createRequire) is the bundle's file URL
  define: { 'import.meta.url': '__runbook_import_meta_url' },
  banner: { js: "const __runbook_import_meta_url = require('node:url').pathToFileURL(__filename).href;" },
});
// the launcher reads the bundle as latin1 (a third of the time of utf8 for ~1 MB): it must be ASCII. esbuild
// escapes strings, identifiers and regexps; what it leaves are comments of bundled packages: their non-ASCII
// characters become '?'. Anything else non-ASCII stops the build. The shebang goes too (the launcher has it).
const lines = readFileSync(join(dist, 'runbook.cjs'), 'utf8').replace(/^#!.*\n/, '').split('\n');
for (const [i, line] of lines.entries()) {
  if (!/[^\x00-\x7f]/.test(line)) continue;
  if (!/^\s*(\*|\/\/|\/\*)/.test(line)) throw new Error(`dist/runbook.cjs:${i + 1}: a non-ASCII character outside a comment line: ${line.slice(0, 120)}`);
  lines[i] = line.replace(/[^\x00-\x7f]/gu, '?');
}
const bundle = lines.join('\n');
writeFileSync(join(dist, 'runbook.cjs'), bundle);
// a script compiled from V8's code cache has no dynamic import() (Node 20 drops its callback): every
// package the bundle loads on demand is bundled (esbuild turns its import() into a require) or required
const dynamicImport = /(?<![\w.$])import\s*\(/.exec(bundle);
if (dynamicImport) throw new Error(`dist/runbook.cjs has a dynamic import() at offset ${dynamicImport.index}: bundle that package, or require it`);
const sha256 = createHash('sha256').update(bundle).digest('hex');
// dist/cli.js is a shell script and the ES module it starts: sh runs the first two lines, which exec Node with
// the command's flags (src/launch.ts says why) on this same file; Node skips the #! line and reads the
// second as a string and a comment. Not `#!/usr/bin/env -S node FLAGS`: BusyBox's env has no -S.
const NODE_FLAGS = '--max-semi-space-size=4';
await build({
  ...common,
  entryPoints: [join(root, 'src', 'launch.ts')],
  outfile: join(dist, 'cli.js'),
  format: 'esm',
  define: { RUNBOOK_BUNDLE_SHA256: JSON.stringify(sha256) },
  banner: { js: `#!/bin/sh\n':' //; exec node ${NODE_FLAGS} "$0" "$@"` },
});
// a program (npm makes a package's bins executable when it installs them; this is for the checkout's own)
chmodSync(join(dist, 'cli.js'), 0o755);
