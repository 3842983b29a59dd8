import { createHash, type Hash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream';
import { ReadableStream } from 'node:stream/web';
import { constants, createGunzip, createGzip } from 'node:zlib';

/**
 * How a backup is stored: gzip (Node's own zlib; Node 20 has no zstd, and `gzip -d` is everywhere)
 * then age (the standard format; `age -d -i KEY` decrypts it without this program). Every stage is a
 * stream: a multi-GB snapshot is never held in memory (age works in 64 KiB chunks).
 */
export type Compression = 'gzip' | 'none';
export type Encryption = 'age' | 'none';

/** A streaming stage: bytes in, bytes out (node's pipeline takes these as transforms). */
export type Stage = (source: AsyncIterable<Uint8Array>) => AsyncIterable<Uint8Array>;

/**
 * The secrets this jump host holds for backups, from files or the environment only (never the
 * inventory): age identities to decrypt, a passphrase, and recipients read from a file.
 */
export interface BackupKeys {
  identities: string[];
  passphrase: string | undefined;
  recipientsFile: string[];
  /** Where each came from, for messages (never the values). */
  sources: { identities: string | undefined; recipients: string | undefined; passphrase: string | undefined };
}

export const NO_KEYS: BackupKeys = { identities: [], passphrase: undefined, recipientsFile: [], sources: { identities: undefined, recipients: undefined, passphrase: undefined } };

/** Lines of an age key or recipients file: comments and blanks dropped. */
export function keyLines(text: string): string[] {
  return text
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l !== '' && !l.startsWith('#'));
}

/**
 * The keys named by the environment: `RUNBOOK_AGE_IDENTITY_FILE` (an age identity file, as age-keygen
 * writes it), `RUNBOOK_AGE_RECIPIENTS_FILE` (age1… public keys, one a line), `RUNBOOK_AGE_PASSPHRASE`.
 * A file that is named but unreadable is a problem returned, never silently no keys.
 */
export function readBackupKeys(env: NodeJS.ProcessEnv): { ok: true; keys: BackupKeys } | { ok: false; message: string } {
  const read = (name: string): string | { error: string } | undefined => {
    const f = env[name];
    if (!f) return undefined;
    try {
      return readFileSync(f, 'utf8');
    } catch (e) {
      return { error: `${name}=${f}: ${(e as Error).message}` };
    }
  };
  const id = read('RUNBOOK_AGE_IDENTITY_FILE');
  const rc = read('RUNBOOK_AGE_RECIPIENTS_FILE');
  for (const r of [id, rc]) if (typeof r === 'object') return { ok: false, message: r.error };
  const identities = typeof id === 'string' ? keyLines(id) : [];
  const bad = identities.find((l) => !/^AGE-SECRET-KEY-(PQ-)?1[0-9A-Z]+$/.test(l));
  if (bad !== undefined) return { ok: false, message: `RUNBOOK_AGE_IDENTITY_FILE=${env['RUNBOOK_AGE_IDENTITY_FILE']}: a line is not an age identity (AGE-SECRET-KEY-1…)` };
  const recipientsFile = typeof rc === 'string' ? keyLines(rc) : [];
  const badR = recipientsFile.find((l) => checkRecipient(l) !== undefined);
  if (badR !== undefined) return { ok: false, message: `RUNBOOK_AGE_RECIPIENTS_FILE=${env['RUNBOOK_AGE_RECIPIENTS_FILE']}: ${checkRecipient(badR)}` };
  const passphrase = env['RUNBOOK_AGE_PASSPHRASE'] || undefined;
  return {
    ok: true,
    keys: {
      identities,
      passphrase,
      recipientsFile,
      sources: {
        identities: env['RUNBOOK_AGE_IDENTITY_FILE'] || undefined,
        recipients: env['RUNBOOK_AGE_RECIPIENTS_FILE'] || undefined,
        passphrase: passphrase ? 'RUNBOOK_AGE_PASSPHRASE' : undefined,
      },
    },
  };
}

/** The secret values among the keys (for the redactor). */
export function secretKeyValues(keys: BackupKeys): string[] {
  return [...keys.identities, ...(keys.passphrase ? [keys.passphrase] : [])];
}

/** An age recipient this tool can encrypt to: X25519 (`age1…`) or the hybrid post-quantum kind. */
export function checkRecipient(r: string): string | undefined {
  if (/^AGE-SECRET-KEY-/i.test(r)) return 'that is an age identity (a secret key), not a recipient: give its public key (age-keygen -y KEYFILE); secret keys come only from RUNBOOK_AGE_IDENTITY_FILE';
  return /^age1[0-9a-z]{20,}$/.test(r) ? undefined : `'${r.slice(0, 80)}' is not an age recipient (age1…)`;
}

/**
 * What the upload encrypts to, as planned: public keys, and two words that name run-time sources
 * (`recipients-file`: the keys in $RUNBOOK_AGE_RECIPIENTS_FILE; `passphrase`: $RUNBOOK_AGE_PASSPHRASE).
 */
export type EncryptTo = string[];

export function checkEncryptTo(list: string[]): string | undefined {
  if (list.includes('passphrase') && list.length > 1) return "encrypt_to: 'passphrase' must be alone (age encrypts a file to a passphrase or to recipients, not both)";
  for (const r of list) {
    if (r === 'passphrase' || r === 'recipients-file') continue;
    const bad = checkRecipient(r);
    if (bad) return `encrypt_to: ${bad}`;
  }
  return undefined;
}

/** Turn a node Duplex factory (zlib) into a stage; errors on either side reach the consumer. */
function viaStream(make: () => NodeJS.ReadWriteStream & Readable): Stage {
  return (source) => {
    const t = make();
    pipeline(Readable.from(source), t, () => undefined);
    return t;
  };
}

const toWeb = (source: AsyncIterable<Uint8Array>): ReadableStream<Uint8Array> => ReadableStream.from(source) as ReadableStream<Uint8Array>;

async function* fromWeb(s: globalThis.ReadableStream<Uint8Array>): AsyncIterable<Uint8Array> {
  const r = s.getReader();
  for (;;) {
    const { done, value } = await r.read();
    if (done) return;
    yield value;
  }
}

function ageEncrypt(recipients: string[], passphrase: string | undefined): Stage {
  return async function* (source) {
    // loaded on first use: a command that never encrypts does not pay for age's crypto at start-up
    const { Encrypter } = await import('age-encryption');
    const e = new Encrypter();
    if (passphrase !== undefined) e.setPassphrase(passphrase);
    for (const r of recipients) e.addRecipient(r);
    yield* fromWeb(await e.encrypt(toWeb(source) as unknown as globalThis.ReadableStream<Uint8Array>));
  };
}

function ageDecrypt(keys: BackupKeys): Stage {
  return async function* (source) {
    const { Decrypter } = await import('age-encryption');
    const d = new Decrypter();
    for (const i of keys.identities) d.addIdentity(i);
    if (keys.passphrase) d.addPassphrase(keys.passphrase);
    let out: globalThis.ReadableStream<Uint8Array>;
    try {
      out = await d.decrypt(toWeb(source) as unknown as globalThis.ReadableStream<Uint8Array>);
    } catch (e) {
      throw new DecodeError(`cannot decrypt the backup (age): ${(e as Error).message}. ${keysHint(keys)}`);
    }
    yield* fromWeb(out);
  };
}

/** A failure to decode (wrong key, not gzip): the message says what to do. */
export class DecodeError extends Error {}

function keysHint(keys: BackupKeys): string {
  const have = [keys.sources.identities && `identities from ${keys.sources.identities}`, keys.sources.passphrase && `a passphrase from ${keys.sources.passphrase}`].filter(Boolean);
  return have.length ? `Tried ${have.join(' and ')}: none of them opens it` : 'No key was given: set RUNBOOK_AGE_IDENTITY_FILE=FILE (an age identity file) or RUNBOOK_AGE_PASSPHRASE';
}

export interface EncodeOptions {
  compression: Compression;
  /** age recipients (public keys); empty with no passphrase = no encryption. */
  recipients: string[];
  passphrase?: string | undefined;
}

/** The stages that turn a raw snapshot into the stored object, in order (gzip, then age). */
export function encodeChain(o: EncodeOptions): Stage[] {
  const out: Stage[] = [];
  // level 6 (zlib's default): bbolt pages compress well; higher levels cost much CPU for little
  if (o.compression === 'gzip') out.push(viaStream(() => createGzip({ level: constants.Z_DEFAULT_COMPRESSION, chunkSize: 128 * 1024 })));
  if (o.recipients.length > 0 || o.passphrase !== undefined) out.push(ageEncrypt(o.recipients, o.passphrase));
  return out;
}

/** How a stored object was encoded, by its provenance record: records without the fields are none/none. */
export function formatOf(provenance: Record<string, unknown>): { compression: Compression; encryption: Encryption } {
  return { compression: provenance['compression'] === 'gzip' ? 'gzip' : 'none', encryption: provenance['encryption'] === 'age' ? 'age' : 'none' };
}

/**
 * The stages that turn a stored object back into the raw snapshot (age, then gunzip), by its provenance
 * record; or why it cannot be read with the keys at hand (refused before any byte is fetched).
 */
export function decodeChain(provenance: Record<string, unknown>, keys: BackupKeys): { ok: true; stages: Stage[] } | { ok: false; message: string } {
  const f = formatOf(provenance);
  const stages: Stage[] = [];
  if (f.encryption === 'age') {
    if (keys.identities.length === 0 && !keys.passphrase) {
      const to = Array.isArray(provenance['recipients']) ? ` to ${(provenance['recipients'] as unknown[]).join(', ')}` : '';
      return { ok: false, message: `the backup is encrypted with age${to}; no key to decrypt it: set RUNBOOK_AGE_IDENTITY_FILE=FILE (an age identity file) or RUNBOOK_AGE_PASSPHRASE` };
    }
    stages.push(ageDecrypt(keys));
  }
  if (f.compression === 'gzip') {
    // zlib's default 16 KiB output chunks become 16 KiB SSH packets to every member: 128 KiB chunks fill
    // ssh2's 32 KiB packets (half the packets: each is a cipher, random padding and a socket write)
    const gunzip = viaStream(() => createGunzip({ chunkSize: 128 * 1024 }));
    stages.push(async function* (source) {
      try {
        yield* gunzip(source);
      } catch (e) {
        if (e instanceof DecodeError) throw e;
        throw new DecodeError(`cannot decompress the backup (gzip): ${(e as Error).message}`);
      }
    });
  }
  return { ok: true, stages };
}

/** How many bytes from the start of an age file hold its header (recipient stanzas and MAC) in practice. */
export const AGE_HEADER_BYTES = 64 * 1024;

/**
 * Whether the keys at hand open an age file, from its first bytes only (the header: the file key is
 * unwrapped and the header's MAC checked), so a wrong key is refused without reading the whole object.
 * Undefined when they do; else what is wrong, as `ageDecrypt` would say it.
 */
export async function ageKeysOpen(head: Uint8Array, keys: BackupKeys): Promise<string | undefined> {
  const { Decrypter } = await import('age-encryption');
  const d = new Decrypter();
  for (const i of keys.identities) d.addIdentity(i);
  if (keys.passphrase) d.addPassphrase(keys.passphrase);
  try {
    await d.decryptHeader(head);
    return undefined;
  } catch (e) {
    return `cannot decrypt the backup (age): ${(e as Error).message}. ${keysHint(keys)}`;
  }
}

/** A stage that counts and hashes what passes through. */
export function tap(h: Hash = createHash('sha256')): { stage: Stage; result: () => { sha256: string; size: number } } {
  let size = 0;
  let digest: string | undefined;
  return {
    stage: async function* (source) {
      for await (const c of source) {
        h.update(c);
        size += c.length;
        yield c;
      }
    },
    result: () => {
      digest ??= h.digest('hex');
      return { sha256: digest, size };
    },
  };
}

/** Source through the stages, as one readable. */
export function through(source: AsyncIterable<Uint8Array> | Iterable<Uint8Array>, stages: Stage[]): Readable {
  let it: AsyncIterable<Uint8Array> = Symbol.asyncIterator in source ? source : Readable.from(source);
  for (const s of stages) it = s(it);
  return Readable.from(it, { objectMode: false });
}
