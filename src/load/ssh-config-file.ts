/**
 * An OpenSSH client config file (and the files it Includes) as a flat list of conditions and directives.
 * The `ssh-config` package parses the text; this file follows Include (globs, ~/.ssh-relative paths,
 * conditional inclusion inside Host/Match) which that package leaves as a plain directive. The only
 * importer of ssh-config.
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { isAbsolute, join } from 'node:path';
import SSHConfig, { type Line, LineType } from 'ssh-config';

export type Condition = { kind: 'all' } | { kind: 'host'; patterns: string[] } | { kind: 'match'; tokens: string[] };

export type ConfigItem =
  | { kind: 'condition'; condition: Condition; file: string }
  | { kind: 'directive'; key: string; values: string[]; file: string };

export type ConfigRead = { ok: true; items: ConfigItem[]; files: string[] } | { ok: false; message: string };

/** OpenSSH's own limit on nested Include. */
const MAX_INCLUDE_DEPTH = 16;

function valuesOf(line: Line): string[] {
  if (line.type !== LineType.DIRECTIVE) return [];
  return typeof line.value === 'string' ? [line.value] : line.value.map((v) => v.val);
}

/** `*` and `?` in each path segment, matched against the directory listing (sorted, as glob(3) does). */
export function expandGlob(pattern: string): string[] {
  if (!/[*?[]/.test(pattern)) return [pattern];
  const parts = pattern.split('/');
  let paths = [parts[0] === '' ? '/' : parts[0] ?? ''];
  for (const part of parts.slice(1)) {
    if (part === '') continue;
    if (!/[*?[]/.test(part)) {
      paths = paths.map((p) => join(p, part));
      continue;
    }
    const re = new RegExp(`^${part.replace(/[.+^${}()|\\]/g, '\\$&').replace(/\*/g, '.*').replace(/\?/g, '.')}$`);
    paths = paths.flatMap((dir) => {
      try {
        return readdirSync(dir)
          .filter((e) => !e.startsWith('.') && re.test(e))
          .sort()
          .map((e) => join(dir, e));
      } catch {
        return [];
      }
    });
  }
  return paths;
}

interface ReadContext {
  home: string;
  files: string[];
}

function readOne(file: string, depth: number, enclosing: Condition, ctx: ReadContext): { ok: true; items: ConfigItem[] } | { ok: false; message: string } {
  if (depth > MAX_INCLUDE_DEPTH) return { ok: false, message: `${file}: Include nested deeper than ${MAX_INCLUDE_DEPTH} (a loop?)` };
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (e) {
    return { ok: false, message: `cannot read ssh config ${file}: ${(e as NodeJS.ErrnoException).code ?? String(e)}` };
  }
  ctx.files.push(file);
  let parsed: SSHConfig;
  try {
    parsed = SSHConfig.parse(text);
  } catch (e) {
    return { ok: false, message: `ssh config ${file}: ${(e as Error).message}` };
  }
  const items: ConfigItem[] = [];
  const handle = (line: Line, current: Condition): string | undefined => {
    if (line.type !== LineType.DIRECTIVE) return undefined;
    const key = line.param.toLowerCase();
    if (key !== 'include') {
      items.push({ kind: 'directive', key, values: valuesOf(line), file });
      return undefined;
    }
    for (const raw of valuesOf(line)) {
      const tilde = raw === '~' || raw.startsWith('~/') ? join(ctx.home, raw.slice(1)) : raw;
      // OpenSSH: a relative Include in a user config is relative to ~/.ssh
      const pattern = isAbsolute(tilde) ? tilde : join(ctx.home, '.ssh', tilde);
      for (const f of expandGlob(pattern)) {
        try {
          if (!statSync(f).isFile()) continue;
        } catch {
          continue; // a missing Include is ignored, as OpenSSH does
        }
        const sub = readOne(f, depth + 1, current, ctx);
        if (!sub.ok) return sub.message;
        items.push(...sub.items);
        // a Host or Match inside the included file ends at its end: the including block's condition again
        items.push({ kind: 'condition', condition: current, file });
      }
    }
    return undefined;
  };
  for (const line of parsed) {
    if (line.type !== LineType.DIRECTIVE) continue;
    const key = line.param.toLowerCase();
    if ((key === 'host' || key === 'match') && 'config' in line) {
      const condition: Condition = key === 'host' ? { kind: 'host', patterns: valuesOf(line) } : { kind: 'match', tokens: valuesOf(line) };
      items.push({ kind: 'condition', condition, file });
      for (const sub of line.config) {
        const bad = handle(sub, condition);
        if (bad) return { ok: false, message: bad };
      }
      continue;
    }
    const bad = handle(line, enclosing);
    if (bad) return { ok: false, message: bad };
  }
  return { ok: true, items };
}

/** Read a config file and everything it Includes, in order. */
export function readSshConfig(file: string, home: string): ConfigRead {
  const ctx: ReadContext = { home, files: [] };
  const r = readOne(file, 0, { kind: 'all' }, ctx);
  return r.ok ? { ok: true, items: r.items, files: ctx.files } : r;
}
