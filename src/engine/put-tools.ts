import { createHash } from 'node:crypto';
import { createReadStream, existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { compareMinor } from '../actions/etcd-version.js';
import type { Command, CommandOutcome } from '../model/command.js';
import { sh } from '../shell/build.js';
import type { SpecialContext } from './run-special.js';

type Outcome = Omit<CommandOutcome, 'durationMs' | 'attempts'>;
const fail = (error: string): Outcome => ({ ok: false, exitCode: 1, signal: null, stdout: '', stderr: '', error });

async function sha256File(file: string): Promise<string> {
  const h = createHash('sha256');
  for await (const chunk of createReadStream(file)) h.update(chunk as Buffer);
  return h.digest('hex');
}

/** The tools dir's version dir for a member version: the exact one, else the newest of the same major.minor. */
export function toolsDirFor(from: string, version: string): string | undefined {
  if (existsSync(join(from, version))) return join(from, version);
  const key = (v: string) => v.split('.').map(Number);
  const same = (existsSync(from) ? readdirSync(from) : [])
    .filter((d) => /^\d+\.\d+\.\d+$/.test(d) && compareMinor(d, version) === 0)
    .sort((a, b) => {
      const [x, y] = [key(a), key(b)];
      return (x[2] ?? 0) - (y[2] ?? 0);
    });
  const best = same.at(-1);
  return best === undefined ? undefined : join(from, best);
}

/** `sha256  name` lines → name → sha256. */
export function parseSha256Sums(text: string): Map<string, string> {
  const out = new Map<string, string>();
  for (const line of text.split('\n')) {
    const m = /^([0-9a-f]{64})\s+\*?(\S+)$/.exec(line.trim());
    if (m) out.set(m[2] as string, m[1] as string);
  }
  return out;
}

/** Copy the tools a host lacks from the jump host's tools dir, checked by sha256 on both sides. */
export async function runPutTools(c: Extract<Command, { kind: 'put-tools' }>, ctx: SpecialContext): Promise<Outcome> {
  const missing = c.missing ?? [];
  if (missing.length === 0) return { ok: true, exitCode: 0, signal: null, stdout: 'nothing to copy: the host has every tool of its version\n', stderr: '', facts: { copied: [] } };
  if (c.version === undefined) return fail('the member version was not found by the step\'s detection: nothing to match tools to');
  const dir = toolsDirFor(c.from, c.version);
  if (dir === undefined) {
    const have = existsSync(c.from) ? readdirSync(c.from).join(', ') : '(no such dir)';
    return fail(`${ctx.host.name} needs ${missing.join(', ')} for etcd ${c.version}, and the tools dir ${c.from} has no ${c.version} (nor another of that minor); it has: ${have || 'nothing'}`);
  }
  const sumsFile = join(dir, 'SHA256SUMS');
  if (!existsSync(sumsFile)) return fail(`${sumsFile} is missing: tools are copied to a master only with their sha256`);
  const sums = parseSha256Sums(readFileSync(sumsFile, 'utf8'));
  const copied: { tool: string; from: string; sha256: string }[] = [];
  for (const tool of missing) {
    const local = join(dir, tool);
    const want = sums.get(tool);
    if (!existsSync(local)) return fail(`${local} is missing (${ctx.host.name} needs ${tool} for etcd ${c.version})`);
    if (want === undefined) return fail(`${sumsFile} has no line for ${tool}`);
    const got = await sha256File(local);
    if (got !== want) return fail(`${local} has sha256 ${got}, ${sumsFile} says ${want}: refusing to copy it`);
    const dest = `${c.dest}/${tool}`;
    const mk = await ctx.transport.exec(ctx.host, sh`mkdir -p ${c.dest}`, { root: true });
    if (mk.kind !== 'exited' || mk.code !== 0) return fail(`cannot create ${c.dest} on ${ctx.host.name}`);
    const up = await ctx.transport.uploadFile(ctx.host, local, dest, 0o755);
    if (up.kind !== 'done') return fail(`${up.kind === 'unreachable' ? 'unreachable' : 'copy failed'}: ${up.message}`);
    const check = await ctx.transport.exec(ctx.host, sh`sha256sum -- ${dest}`, { root: true, deadlineS: 600 });
    const onHost = check.kind === 'exited' ? check.stdout.split(/\s+/)[0] : undefined;
    if (onHost !== want) return fail(`after copying, ${dest} on ${ctx.host.name} has sha256 ${onHost ?? '(unreadable)'}, want ${want}`);
    copied.push({ tool, from: local, sha256: want });
  }
  const text = copied.map((x) => `copied ${x.from} (sha256 ${x.sha256}) to ${c.dest}/${x.tool}`).join('\n');
  return { ok: true, exitCode: 0, signal: null, stdout: `${text}\n`, stderr: '', facts: { copied } };
}
