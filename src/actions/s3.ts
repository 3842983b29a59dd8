import { shellQuote as q } from '../util/shell-quote.js';
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

export const s3Upload: Action<Where & { src: string; key: string; meta?: Record<string, unknown> }> = {
  name: 's3.upload',
  changes: 'never',
  shellArgs: [],
  plan(args) {
    const bad = checkPath(args.src, 'src') ?? checkKey(args.key);
    if (bad) return refuse(bad);
    const meta: Record<string, string> = {};
    for (const [k, v] of Object.entries(args.meta ?? {})) meta[k.toLowerCase().replace(/[^a-z0-9-]/g, '-')] = typeof v === 'string' ? v : JSON.stringify(v);
    return ok({ commands: [{ kind: 's3-put', src: args.src, key: args.key, meta, ...loc(args) }], undo: [], changes: false });
  },
};

export const s3Download: Action<Where & { key: string; dest: string; sha256?: string }> = {
  name: 's3.download',
  changes: 'always',
  shellArgs: [],
  plan(args) {
    const bad = checkPath(args.dest, 'dest') ?? checkKey(args.key);
    if (bad) return refuse(bad);
    const dir = args.dest.slice(0, args.dest.lastIndexOf('/')) || '/';
    return ok({
      commands: [
        { kind: 'exec', cmd: `if [ -e ${q(args.dest)} ]; then echo ${q(`refusing: ${args.dest} already exists`)} >&2; exit 17; fi; mkdir -p ${q(dir)}` },
        { kind: 's3-get', key: args.key, dest: args.dest, sha256: args.sha256 || undefined, ...loc(args) },
      ],
      undo: [{ kind: 'exec', cmd: `rm -f -- ${q(args.dest)}` }],
      changes: true,
    });
  },
};

export const s3Verify: Action<Where & { key: string; sha256?: string }> = {
  name: 's3.verify',
  changes: 'never',
  shellArgs: [],
  runOnce: true,
  plan(args) {
    const bad = checkKey(args.key);
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
    return ok({ commands: [{ kind: 'local', op: { op: 's3-prune', prefix: args.prefix, keepLast, maxAgeDays: maxAge, ...loc(args) } }], undo: [], changes: false });
  },
};
