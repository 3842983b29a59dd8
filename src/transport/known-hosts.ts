import { createHmac } from 'node:crypto';
import { appendFileSync, mkdirSync, readFileSync } from 'node:fs';
import { dirname } from 'node:path';

export interface KnownKey {
  type: string;
  key: Buffer;
  revoked: boolean;
}

/** How OpenSSH names a host in known_hosts: plain for port 22, [addr]:port otherwise. */
export function hostToken(address: string, port: number): string {
  return port === 22 ? address : `[${address}]:${port}`;
}

function patternMatches(pattern: string, token: string): boolean {
  if (pattern.startsWith('|1|')) {
    const [, , salt, hash] = pattern.split('|');
    if (!salt || !hash) return false;
    const h = createHmac('sha1', Buffer.from(salt, 'base64')).update(token).digest('base64');
    return h === hash;
  }
  const negated = pattern.startsWith('!');
  const p = negated ? pattern.slice(1) : pattern;
  const re = new RegExp(`^${p.replace(/[.+^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '.*').replace(/\?/g, '.')}$`);
  return re.test(token) && !negated;
}

/** Keys recorded for a host in a known_hosts file (missing file → none). */
export function lookupKnownHosts(file: string, address: string, port: number): KnownKey[] {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch {
    return [];
  }
  const token = hostToken(address, port);
  const out: KnownKey[] = [];
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (!line || line.startsWith('#')) continue;
    let fields = line.split(/\s+/);
    let revoked = false;
    if (fields[0]?.startsWith('@')) {
      if (fields[0] === '@revoked') revoked = true;
      else continue; // @cert-authority: host certificates are not supported
      fields = fields.slice(1);
    }
    const [hosts, type, b64] = fields;
    if (!hosts || !type || !b64) continue;
    if (!hosts.split(',').some((p) => patternMatches(p, token))) continue;
    out.push({ type, key: Buffer.from(b64, 'base64'), revoked });
  }
  return out;
}

/** The key type inside an SSH public key blob (first length-prefixed string). */
export function blobType(blob: Buffer): string {
  if (blob.length < 4) return '';
  const n = blob.readUInt32BE(0);
  return blob.subarray(4, 4 + n).toString('ascii');
}

export type HostKeyVerdict = { ok: true; added: boolean } | { ok: false; reason: 'changed' | 'unknown' | 'revoked'; message: string };

/** Checked against every file (`file`, or `files` in order: ssh's UserKnownHostsFile list); a new key, where accepted, goes to the first. */
export function verifyHostKey(o: { file?: string; files?: string[]; address: string; port: number; hostName: string; blob: Buffer; acceptNew: boolean }): HostKeyVerdict {
  const files = o.files ?? (o.file === undefined ? [] : [o.file]);
  const opts = { ...o, file: files.join(', ') };
  const known = files.flatMap((f) => lookupKnownHosts(f, opts.address, opts.port));
  const type = blobType(opts.blob);
  const token = hostToken(opts.address, opts.port);
  if (known.some((k) => k.revoked && k.key.equals(opts.blob)))
    return { ok: false, reason: 'revoked', message: `host key of ${opts.hostName} (${token}) is marked @revoked in ${opts.file}: refusing to connect` };
  const valid = known.filter((k) => !k.revoked);
  if (valid.some((k) => k.key.equals(opts.blob))) return { ok: true, added: false };
  if (valid.length > 0) {
    return {
      ok: false,
      reason: 'changed',
      message:
        `HOST KEY CHANGED for ${opts.hostName} (${token}): the ${type} key it presented is not the one in ${opts.file}. ` +
        `This can be a reinstalled node or a machine in the middle. Nothing was run on any host. If you know why it changed, ` +
        `remove the old key with: ssh-keygen -f ${files[0] ?? ''} -R '${token}' and verify the new fingerprint out of band.`,
    };
  }
  if (!opts.acceptNew) {
    return {
      ok: false,
      reason: 'unknown',
      message: `unknown host key for ${opts.hostName} (${token}): it is not in ${opts.file}. Add it after checking its fingerprint (ssh-keyscan -p ${opts.port} ${opts.address}), or pass --accept-new-host-keys to trust keys seen for the first time.`,
    };
  }
  const first = files[0];
  if (first === undefined) return { ok: false, reason: 'unknown', message: `unknown host key for ${opts.hostName} (${token}): no known_hosts file to record it in` };
  mkdirSync(dirname(first), { recursive: true });
  appendFileSync(first, `${token} ${type} ${opts.blob.toString('base64')}\n`);
  return { ok: true, added: true };
}

/** Host key algorithms to ask for, so the server presents a key type we already know. */
export function hostKeyAlgorithms(known: KnownKey[]): string[] | undefined {
  const types = new Set(known.filter((k) => !k.revoked).map((k) => k.type));
  if (types.size === 0) return undefined;
  const out: string[] = [];
  for (const t of types) {
    if (t === 'ssh-rsa') out.push('rsa-sha2-512', 'rsa-sha2-256', 'ssh-rsa');
    else out.push(t);
  }
  return out;
}
