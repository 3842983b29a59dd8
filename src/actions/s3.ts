import type { Text } from '../model/command.js';
import { isCat, isRef, sh } from '../shell/build.js';
import { type Action, checkPath, ok, refuse } from './action.js';

interface Where {
  bucket: string;
  endpoint?: string;
  region?: string;
}

const loc = (a: Where) => ({ endpoint: a.endpoint ?? '', region: a.region || 'us-east-1', bucket: a.bucket });

function checkKey(key: unknown): string | undefined {
  if (typeof key !== 'string' || key === '' || key.startsWith('/') || key.split('/').includes('..')) return `key '${String(key)}' must be a relative object key without '..'`;
  return undefined;
}

/** A sha256 given now must look like one; one known only at run time is checked when it arrives. */
function checkSha(v: unknown): string | undefined {
  if (v === undefined || v === '' || typeof v === 'object') return undefined;
  return /^[0-9a-f]{64}$/.test(String(v)) ? undefined : `sha256 '${String(v)}' is not 64 hex digits`;
}

const metaText = (v: unknown): Text => (typeof v === 'string' || isRef(v) || isCat(v) ? v : JSON.stringify(v));

export const s3Upload: Action<Where & { src: string; key: string; meta?: Record<string, unknown> }> = {
  name: 's3.upload',
  changes: 'never',
  shellArgs: [],
  runtimeArgs: ['meta'],
  plan(args) {
    const bad = checkPath(args.src, 'src') ?? checkKey(args.key);
    if (bad) return refuse(bad);
    const meta: Record<string, Text> = {};
    for (const [k, v] of Object.entries(args.meta ?? {})) meta[k.toLowerCase().replace(/[^a-z0-9-]/g, '-')] = metaText(v);
    return ok({ commands: [{ kind: 's3-put', src: args.src, key: args.key, meta, ...loc(args) }], undo: [], changes: false });
  },
};

export const s3Download: Action<Where & { key: string; dest: string; sha256?: Text }> = {
  name: 's3.download',
  changes: 'always',
  shellArgs: [],
  runtimeArgs: ['sha256'],
  plan(args) {
    const bad = checkPath(args.dest, 'dest') ?? checkKey(args.key) ?? checkSha(args.sha256);
    if (bad) return refuse(bad);
    const dir = args.dest.slice(0, args.dest.lastIndexOf('/')) || '/';
    return ok({
      commands: [
        { kind: 'exec', cmd: sh`if [ -e ${args.dest} ]; then echo ${`refusing: ${args.dest} already exists`} >&2; exit 17; fi; mkdir -p ${dir}` },
        { kind: 's3-get', key: args.key, dest: args.dest, sha256: args.sha256 || undefined, ...loc(args) },
      ],
      undo: [{ kind: 'exec', cmd: sh`rm -f -- ${args.dest}` }],
      changes: true,
      // the file lands by an atomic rename and is verified after: one that is there may not be verified yet
      probe: { cmd: sh`if [ -e ${args.dest} ]; then echo partial; else echo not-started; fi`, cleanup: [{ kind: 'exec', cmd: sh`rm -f -- ${args.dest}` }] },
    });
  },
};

export const s3Verify: Action<Where & { key: string; sha256?: Text }> = {
  name: 's3.verify',
  changes: 'never',
  shellArgs: [],
  runOnce: true,
  runtimeArgs: ['sha256'],
  plan(args) {
    const bad = checkKey(args.key) ?? checkSha(args.sha256);
    if (bad) return refuse(bad);
    return ok({ commands: [{ kind: 'local', op: { op: 's3-verify', key: args.key, sha256: args.sha256 || undefined, ...loc(args) } }], undo: [], changes: false });
  },
};

export const s3Prune: Action<Where & { prefix: string; keep_last: number | string; max_age_days?: number | string }> = {
  name: 's3.prune',
  changes: 'never',
  shellArgs: [],
  runOnce: true,
  plan(args) {
    const keepLast = Number(args.keep_last);
    if (!Number.isInteger(keepLast) || keepLast < 1) return refuse('keep_last must be at least 1');
    const maxAge = args.max_age_days === undefined || args.max_age_days === '' ? undefined : Number(args.max_age_days);
    if (maxAge !== undefined && (!Number.isFinite(maxAge) || maxAge <= 0)) return refuse('max_age_days must be a positive number of days');
    return ok({ commands: [{ kind: 'local', op: { op: 's3-prune', prefix: args.prefix, keepLast, maxAgeDays: maxAge, ...loc(args) } }], undo: [], changes: false });
  },
};
