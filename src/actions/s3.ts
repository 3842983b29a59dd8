import type { S3Settings, Text } from '../model/command.js';
import { isCat, isRef, sh } from '../shell/build.js';
import { checkEncryptTo } from '../storage/codec.js';
import { type Action, checkPath, ok, refuse } from './action.js';

/** The S3 connection: one `s3` map (the playbooks' `vars.s3`), with `bucket`/`endpoint`/`region` args overriding it. */
interface Where {
  s3?: Record<string, unknown>;
  bucket?: string;
  endpoint?: string;
  region?: string;
}

type Loc = { endpoint: string; region: string; bucket: string; s3?: S3Settings };

const SETTINGS = ['bucket', 'endpoint', 'region', 'addressing', 'ca_bundle', 'proxy', 'connect_timeout_s', 'request_timeout_s', 'max_attempts', 'sse', 'sse_kms_key_id'];

/** The location and settings from the args, or what is wrong with them (checked when planning). Pure. */
export function s3Where(a: Where): Loc | string {
  const m = a.s3 ?? {};
  if (typeof m !== 'object' || m === null || Array.isArray(m)) return 's3 must be a map (bucket, endpoint, region, addressing, ca_bundle, proxy, …)';
  const unknown = Object.keys(m).find((k) => !SETTINGS.includes(k));
  if (unknown) return `s3.${unknown} is not an S3 setting (${SETTINGS.join(', ')})`;
  const str = (k: string): string => (m[k] === undefined || m[k] === null ? '' : String(m[k]));
  const bucket = a.bucket || str('bucket');
  if (!bucket) return 'bucket: give s3.bucket (or the bucket arg)';
  const endpoint = a.endpoint ?? str('endpoint');
  if (endpoint && !/^https?:\/\/[^/\s]+\/?$/.test(endpoint)) return `endpoint '${endpoint}' must be http(s)://HOST[:PORT]`;
  const num = (k: string, min: number): number | undefined | string => {
    if (str(k) === '') return undefined;
    const n = Number(m[k]);
    return Number.isFinite(n) && n >= min ? n : `s3.${k} '${str(k)}' must be a number ≥ ${min}`;
  };
  const addressing = str('addressing') || 'auto';
  if (!['auto', 'path', 'virtual'].includes(addressing)) return `s3.addressing '${addressing}' must be auto, path or virtual`;
  const sse = str('sse');
  if (!['', 'none', 'AES256', 'aws:kms'].includes(sse)) return `s3.sse '${sse}' must be AES256 (SSE-S3), aws:kms (SSE-KMS) or ''`;
  if (str('sse_kms_key_id') && sse !== 'aws:kms') return 's3.sse_kms_key_id needs s3.sse: aws:kms';
  const proxy = str('proxy');
  if (proxy && !/^https?:\/\/[^/\s]+\/?$/.test(proxy)) return `s3.proxy must be http(s)://HOST:PORT`;
  // a planned value is saved with the plan and the journal: a proxy password belongs in HTTPS_PROXY
  if (proxy && /^https?:\/\/[^/@\s]*@/.test(proxy)) return 's3.proxy must not hold a user or password (it would be saved in the plan and the journal): put the whole URL in HTTPS_PROXY instead';
  if (proxy && endpoint.startsWith('http://')) return `s3.proxy is for https endpoints (CONNECT); the endpoint ${endpoint} is plain http`;
  const ca = str('ca_bundle');
  if (ca && !ca.startsWith('/')) return `s3.ca_bundle '${ca}' must be an absolute path on this machine`;
  const nums = { connectTimeoutS: num('connect_timeout_s', 1), requestTimeoutS: num('request_timeout_s', 1), maxAttempts: num('max_attempts', 1) };
  for (const v of Object.values(nums)) if (typeof v === 'string') return v;
  const settings: S3Settings = {
    ...(addressing !== 'auto' ? { addressing: addressing as 'path' | 'virtual' } : {}),
    ...(ca ? { caBundle: ca } : {}),
    ...(proxy ? { proxy } : {}),
    ...(sse && sse !== 'none' ? { sse: sse as 'AES256' | 'aws:kms' } : {}),
    ...(str('sse_kms_key_id') ? { sseKmsKeyId: str('sse_kms_key_id') } : {}),
    ...Object.fromEntries(Object.entries(nums).filter(([, v]) => v !== undefined)),
  };
  return { endpoint, region: a.region || str('region') || 'us-east-1', bucket, ...(Object.keys(settings).length ? { s3: settings } : {}) };
}

function checkKey(key: unknown): string | undefined {
  if (typeof key !== 'string' || key === '' || key.startsWith('/') || key.split('/').includes('..')) return `key '${String(key)}' must be a relative object key without '..'`;
  return undefined;
}

/** A sha256 given now must look like one; one known only at run time is checked when it arrives. */
function checkSha(v: unknown): string | undefined {
  if (v === undefined || v === '' || typeof v === 'object') return undefined;
  return /^[0-9a-f]{64}$/.test(String(v)) ? undefined : `sha256 '${String(v)}' is not 64 hex digits`;
}

/** Where s3.download streams to before the file is verified and renamed into place. */
export const partialOf = (dest: string): string => `${dest.slice(0, dest.lastIndexOf('/') + 1)}.${dest.slice(dest.lastIndexOf('/') + 1)}.runbook-partial`;

/**
 * What a member of an `s3.download` runs, fed the snapshot on stdin: the bytes go into the hidden partial
 * file, then the file as written is hashed; stdout is its sha256 (first word). Read back rather than
 * `tee | hash` in one pass: coreutils' tee moves 8 KiB at a time through one more pipe, and on the lab that
 * cost 3 to 4 s of CPU per 256 MiB for three members, more than the read back (the file is in the page
 * cache). `openssl dgst` where the host has it: it uses the CPU's SHA instructions, coreutils' `sha256sum`
 * does not (1.4 s of CPU per 256 MiB on the lab against 0.2 s). Both read stdin, so no file name reaches
 * their output.
 */
export const receiveCommand = (partial: string) =>
  sh`umask 077 && cat > ${partial} && if command -v openssl >/dev/null 2>&1; then openssl dgst -sha256 -r < ${partial}; else sha256sum < ${partial}; fi`;

const metaText = (v: unknown): Text => (typeof v === 'string' || isRef(v) || isCat(v) ? v : JSON.stringify(v));

/** `encrypt_to`: a list, or one string of recipients separated by spaces or commas ('' = none). */
function encryptList(v: unknown): string[] | string {
  if (v === undefined || v === null || v === '') return [];
  const items = Array.isArray(v) ? v.map(String) : typeof v === 'string' ? v.split(/[\s,]+/) : undefined;
  if (!items) return 'encrypt_to must be a list of age recipients or a string of them';
  return items.map((x) => x.trim()).filter(Boolean);
}

export const s3Upload: Action<Where & { src: string; key: string; meta?: Record<string, unknown>; compress?: boolean | string; encrypt_to?: unknown }> = {
  name: 's3.upload',
  changes: 'never',
  shellArgs: [],
  runtimeArgs: ['meta'],
  plan(args) {
    const bad = checkPath(args.src, 'src') ?? checkKey(args.key);
    if (bad) return refuse(bad);
    const where = s3Where(args);
    if (typeof where === 'string') return refuse(where);
    const compress = args.compress === undefined ? false : args.compress === true || args.compress === 'true' ? true : args.compress === false || args.compress === 'false' || args.compress === '' ? false : undefined;
    if (compress === undefined) return refuse(`compress '${String(args.compress)}' must be true or false`);
    const to = encryptList(args.encrypt_to);
    if (typeof to === 'string') return refuse(to);
    const badTo = checkEncryptTo(to);
    if (badTo) return refuse(badTo);
    const meta: Record<string, Text> = {};
    for (const [k, v] of Object.entries(args.meta ?? {})) meta[k.toLowerCase().replace(/[^a-z0-9-]/g, '-')] = metaText(v);
    return ok({ commands: [{ kind: 's3-put', src: args.src, key: args.key, meta, ...where, compression: compress ? 'gzip' : 'none', ...(to.length ? { encryptTo: to } : {}) }], undo: [], changes: false });
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
    const where = s3Where(args);
    if (typeof where === 'string') return refuse(where);
    const dir = args.dest.slice(0, args.dest.lastIndexOf('/')) || '/';
    return ok({
      commands: [
        { kind: 'exec', cmd: sh`if [ -e ${args.dest} ]; then echo ${`refusing: ${args.dest} already exists`} >&2; exit 17; fi; mkdir -p ${dir}` },
        { kind: 's3-get', key: args.key, dest: args.dest, sha256: args.sha256 || undefined, ...where },
      ],
      undo: [{ kind: 'exec', cmd: sh`rm -f -- ${args.dest} ${partialOf(args.dest)}` }],
      changes: true,
      // the file streams into a hidden partial name and is renamed into place once verified
      probe: {
        cmd: sh`if [ -e ${args.dest} ] || [ -e ${partialOf(args.dest)} ]; then echo partial; else echo not-started; fi`,
        cleanup: [{ kind: 'exec', cmd: sh`rm -f -- ${args.dest} ${partialOf(args.dest)}` }],
      },
    });
  },
};

/** s3.verify (reads the whole object) and s3.provenance (reads only its record and header): one key, checked alike. */
function objectCheck(name: 's3.verify' | 's3.provenance', op: 's3-verify' | 's3-provenance'): Action<Where & { key: string; sha256?: Text }> {
  return {
    name,
    changes: 'never',
    shellArgs: [],
    runOnce: true,
    runtimeArgs: ['sha256'],
    plan(args) {
      const bad = checkKey(args.key) ?? checkSha(args.sha256);
      if (bad) return refuse(bad);
      const where = s3Where(args);
      if (typeof where === 'string') return refuse(where);
      return ok({ commands: [{ kind: 'local', op: { op, key: args.key, sha256: args.sha256 || undefined, ...where } }], undo: [], changes: false });
    },
  };
}

export const s3Verify = objectCheck('s3.verify', 's3-verify');
export const s3Provenance = objectCheck('s3.provenance', 's3-provenance');

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
    const where = s3Where(args);
    if (typeof where === 'string') return refuse(where);
    return ok({ commands: [{ kind: 'local', op: { op: 's3-prune', prefix: args.prefix, keepLast, maxAgeDays: maxAge, ...where } }], undo: [], changes: false });
  },
};
