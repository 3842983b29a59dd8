import { partialOf, receiveCommand } from '../actions/s3.js';
import { describeEdits } from '../facts/manifest-edit.js';
import type { Command, S3Settings, Text } from '../model/command.js';
import { isCat, isRef } from '../shell/build.js';
import { refLabel, showShell } from '../shell/render.js';

function text(t: Text): string {
  if (isRef(t)) return refLabel(t);
  if (isCat(t)) return t.cat.map((p) => (typeof p === 'string' ? p : refLabel(p))).join('');
  return t;
}

/** The S3 settings that differ from the defaults, as the plan shows them. */
function where(s: S3Settings | undefined): string {
  if (!s) return '';
  const parts = [
    s.addressing && s.addressing !== 'auto' ? `${s.addressing}-style` : '',
    s.caBundle ? `CA ${s.caBundle}` : '',
    s.proxy ? `via proxy ${s.proxy.replace(/\/\/[^@/]*@/, '//***@')}` : '',
    s.sse ? `SSE ${s.sse}${s.sseKmsKeyId ? ` key ${s.sseKmsKeyId}` : ''}` : '',
  ].filter(Boolean);
  return parts.length ? ` [${parts.join(', ')}]` : '';
}

/**
 * One line that shows a command exactly as it will run, run-time values and secrets by name (uploads
 * summarised). A shell command is shown as the text bash runs; wire.ts says how the host runs it (deadline, sudo).
 */
export function describeCommand(c: Command): string {
  switch (c.kind) {
    case 'exec': {
      const s = showShell(c.cmd);
      return c.poll ? `${s}    # repeated every ${c.poll.intervalMs / 1000}s until it ${c.poll.until}, at most ${c.poll.timeoutMs / 1000}s` : s;
    }
    case 'upload':
      return `sftp put → ${c.dest} (mode ${c.mode.toString(8).padStart(4, '0')}, ${c.summary})`;
    case 'put-tools':
      return `copy the etcd tools this host lacks, at the member's version, from ${c.from}/<version>/ on this machine (sha256 checked against its SHA256SUMS, and again on the host) into ${c.dest}`;
    case 'fetch':
      return `sftp get ${c.src} → ${c.dest} (on this machine)`;
    case 'local':
      switch (c.op.op) {
        case 'assert':
          return `assert ${c.op.that.join(' and ')} (on this machine)`;
        case 'confirm':
          return `confirm: operator must type '${c.op.expect}' (on this machine)`;
        case 'message':
          return `message: ${text(c.op.text)}`;
        case 's3-verify':
          return `read s3://${c.op.bucket}/${c.op.key} and check its sha256${c.op.sha256 ? ` = ${text(c.op.sha256)}` : ' against the recorded one'}; decrypt and decompress as its provenance says and check the snapshot's sha256 (on this machine)${where(c.op.s3)}`;
        case 's3-provenance':
          return `HEAD s3://${c.op.bucket}/${c.op.key} and read its provenance ${c.op.key}.json: a recorded sha256${c.op.sha256 ? ` that is ${text(c.op.sha256)}` : ''}, the keys to decrypt it (an age header: its first 64 KiB); the object itself is read once, by the download (on this machine)${where(c.op.s3)}`;
        case 's3-prune':
          return `s3 prune s3://${c.op.bucket}/${c.op.prefix}: keep newest ${c.op.keepLast}${c.op.maxAgeDays === undefined ? '' : `, delete older than ${c.op.maxAgeDays}d`}, never the only verified backup (on this machine)${where(c.op.s3)}`;
      }
      return 'local';
    case 'edit':
      return `edit ${c.path}: ${describeEdits(c.edits)} (everything else kept byte-for-byte)`;
    case 's3-put':
      return `stream ${c.src} → sha256 → ${c.compression === 'gzip' ? 'gzip → ' : ''}${c.encryptTo?.length ? `age to ${c.encryptTo.join(', ')} → ` : ''}sha256 → s3://${c.bucket}/${c.key} (multipart, read back and verified; provenance ${c.key}.json)${where(c.s3)}`;
    case 's3-get':
      return `s3://${c.bucket}/${c.key} → sha256${c.sha256 ? ` = ${text(c.sha256)}` : ' (from its provenance)'}, decrypt and decompress as its provenance says, on this machine, read once for every host of the step running at once → stream to ${c.dest}, on the host: ${showShell(receiveCommand(partialOf(c.dest)))} → renamed into place when all hashes match${where(c.s3)}`;
  }
}

/** The bracket the plan shows with a command: how it runs on the host (sudo, and a shell command's deadline). */
export function describeDeadline(c: Command): string | undefined {
  if (c.kind === 'local') return undefined;
  if (c.kind !== 'exec') return c.sudo ? 'sudo -n' : undefined;
  return `${c.sudo ? 'sudo -n, ' : ''}deadline ${c.timeoutS}s${c.poll ? ' per try' : ''}`;
}
