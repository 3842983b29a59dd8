// dist/cli.js, the `runbook` command: runs the whole CLI (dist/runbook.cjs, one CommonJS bundle made by
// scripts/bundle.mjs) through V8's code cache. Compiling the bundle's functions costs every start tens of
// milliseconds (Node 20 has no compile cache of its own); the cache holds them compiled, as the first run
// of each command left them. A cache file is named after the bundle's sha256 (fixed at build time), this
// Node's version and architecture, and the command: V8 also checks its own version and flags, and a cache
// it rejects is made again. No cache can be read or written (RUNBOOK_CODE_CACHE=off, or no writable cache
// directory): the bundle is compiled as usual, nothing else changes.
//
// The command caps V8's young generation at 4 MiB a semi-space (Node 20's default lets it grow to 16):
// a restore streams gigabytes through chunks that live a few milliseconds but outlast a scavenge or two in
// the members' SSH windows; V8 reads that survival as a reason to grow the young generation, and 30 MiB of
// RSS went to it, with tens of MiB of dead chunks' memory waiting for the rarer scavenges (4 GiB restore
// to 3 members, lab: peak RSS 145-159 MiB without the cap, 123-146 MiB with it, no slower). V8 reads the flag only
// when the process starts, so it is on Node's command line: dist/cli.js's first two lines are a shell
// script that execs Node with it on the same file (scripts/bundle.mjs writes them). It costs every start
// 20-40 ms on the lab machine: with any V8 flag Node compiles its own built-in modules instead of taking
// them from its embedded cache. `node dist/cli.js` runs without it.
import { mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { homedir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Script } from 'node:vm';

declare const RUNBOOK_BUNDLE_SHA256: string;

const bundle = join(dirname(fileURLToPath(import.meta.url)), 'runbook.cjs');

/** $RUNBOOK_CODE_CACHE (a directory, or `off`), else $XDG_CACHE_HOME/etcd-runbook, else ~/.cache/etcd-runbook. */
function cacheDir(env: NodeJS.ProcessEnv): string | undefined {
  const set = env['RUNBOOK_CODE_CACHE'];
  if (set === 'off') return undefined;
  if (set) return set;
  const xdg = env['XDG_CACHE_HOME'];
  if (xdg) return join(xdg, 'etcd-runbook');
  try {
    return join(homedir(), '.cache', 'etcd-runbook');
  } catch {
    return undefined;
  }
}

/** Each command warms the functions it runs: one cache per command word (the rest share one). */
const COMMANDS = new Set(['validate', 'plan', 'run', 'runs', 'snapshots', 'unlock', 'facts', 'resume', 'rollback']);

function readCache(file: string | undefined): Buffer | undefined {
  if (!file) return undefined;
  try {
    return readFileSync(file);
  } catch {
    return undefined;
  }
}

function writeCache(file: string, data: Buffer): void {
  try {
    mkdirSync(dirname(file), { recursive: true, mode: 0o700 });
    // another runbook may write the same file now: each writes its own, the rename is atomic
    const tmp = `${file}.${process.pid}.tmp`;
    writeFileSync(tmp, data, { mode: 0o600 });
    renameSync(tmp, file);
  } catch {
    // no cache this time: the next start compiles again
  }
}

/**
 * V8 rejects a cache made under other flags: `runbook` (with the flags its first lines exec Node with) and
 * `node dist/cli.js` keep a cache each instead of overwriting each other's. A 32-bit FNV-1a of Node's own
 * arguments, in hex.
 */
function flagsTag(execArgv: string[]): string {
  let h = 0x811c9dc5;
  for (const ch of execArgv.join('\0')) h = Math.imul(h ^ (ch.codePointAt(0) ?? 0), 0x01000193) >>> 0;
  return h.toString(16).padStart(8, '0');
}

// ASCII, without a shebang (bundle.mjs sees to both): read as latin1, a third of the time of utf8
const source = readFileSync(bundle, 'latin1');
const command = process.argv.slice(2).find((a) => !a.startsWith('-'));
const dir = cacheDir(process.env);
const file = dir && join(dir, `v8-${RUNBOOK_BUNDLE_SHA256.slice(0, 32)}-${source.length}-${process.version}-${process.arch}-${flagsTag(process.execArgv)}-${command !== undefined && COMMANDS.has(command) ? command : 'other'}.bin`);
const cachedData = readCache(file);
// no importModuleDynamically: from a code cache Node 20 would not honour it, and the bundle has no import() (bundle.mjs checks)
// strict, as the ESM sources were written (the bundle's own "use strict" comes after esbuild's banner line)
const script = new Script(`(function (exports, require, module, __filename, __dirname) {'use strict';${source}\n})`, { filename: bundle, cachedData });
// made after the run, so that it holds every function this command compiled, not only the top level
if (file && (cachedData === undefined || script.cachedDataRejected)) process.once('exit', () => writeCache(file, script.createCachedData()));
const module = { exports: {} };
// called as Node calls a CommonJS module: `this` is its exports
(script.runInThisContext() as (this: object, e: object, r: NodeJS.Require, m: object, f: string, d: string) => void).call(module.exports, module.exports, createRequire(bundle), module, bundle, dirname(bundle));
