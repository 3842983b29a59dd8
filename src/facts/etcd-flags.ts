/**
 * The command-line flags of a control-plane component as its host declares them: a kubeadm static-pod
 * manifest (the container's command/args list), or a systemd unit with its drop-ins (ExecStart=, with
 * Environment=/EnvironmentFile= variables). Every flag keeps the file and line it was read from, so a
 * refusal can point at the host's own text. Pure.
 */
import { isMap, isScalar, isSeq, LineCounter, parseDocument, type Scalar, type YAMLMap, type YAMLSeq } from 'yaml';

export interface Where {
  file: string;
  line: number;
}

export interface Flag {
  /** The value (`true` for a bare flag such as --force-new-cluster). */
  value: string | true;
  at: Where;
}

export interface ParsedCommand {
  /** The program the command runs (first word), as written. */
  binary: string;
  binaryAt: Where;
  /** Flags by name without the dashes (`data-dir`); a later one wins, as with the programs themselves. */
  flags: Record<string, Flag>;
}

export type ParseResult = { ok: true; command: ParsedCommand } | { ok: false; message: string; at?: Where | undefined };

export interface TextFile {
  file: string;
  text: string;
}

/** Words of a command (each with its line) → binary + flags; `--flag value` and `--flag=value` both. */
function flagsOf(words: { text: string; at: Where }[]): ParseResult {
  const [first, ...rest] = words;
  if (!first) return { ok: false, message: 'the command is empty' };
  const flags: Record<string, Flag> = Object.create(null) as Record<string, Flag>;
  for (let i = 0; i < rest.length; i++) {
    const w = rest[i] as { text: string; at: Where };
    const m = /^--?([A-Za-z0-9][A-Za-z0-9-]*)(?:=([\s\S]*))?$/.exec(w.text);
    if (!m) continue;
    const name = m[1] as string;
    if (m[2] !== undefined) {
      flags[name] = { value: m[2], at: w.at };
      continue;
    }
    const next = rest[i + 1];
    if (next && !next.text.startsWith('-')) {
      flags[name] = { value: next.text, at: w.at };
      i++;
    } else flags[name] = { value: true, at: w.at };
  }
  return { ok: true, command: { binary: first.text, binaryAt: first.at, flags } };
}

/**
 * A static-pod manifest: the container named `container` (else the first one), its `command` then `args`.
 */
export function parseManifest(f: TextFile, container: string): ParseResult {
  const lc = new LineCounter();
  const doc = parseDocument(f.text, { lineCounter: lc, uniqueKeys: false });
  if (doc.errors.length) {
    const e = doc.errors[0];
    return { ok: false, message: `not valid YAML: ${(e?.message ?? '').split('\n')[0]}`, at: { file: f.file, line: e?.linePos?.[0]?.line ?? 1 } };
  }
  const spec = doc.getIn(['spec'], true);
  const containers = isMap(spec) ? spec.get('containers', true) : undefined;
  if (!isSeq(containers) || containers.items.length === 0) return { ok: false, message: 'no spec.containers in the manifest', at: { file: f.file, line: 1 } };
  const maps = containers.items.filter(isMap) as YAMLMap[];
  const c = maps.find((m) => m.get('name') === container) ?? maps[0];
  if (!c) return { ok: false, message: 'no container in the manifest', at: { file: f.file, line: 1 } };
  const words: { text: string; at: Where }[] = [];
  for (const key of ['command', 'args']) {
    const list = c.get(key, true);
    if (list === undefined) continue;
    if (!isSeq(list)) return { ok: false, message: `spec.containers[].${key} is not a list`, at: { file: f.file, line: lineOf(lc, list) } };
    for (const item of (list as YAMLSeq).items) {
      if (!isScalar(item)) return { ok: false, message: `an item of spec.containers[].${key} is not a string`, at: { file: f.file, line: lineOf(lc, item) } };
      words.push({ text: String((item as Scalar).value), at: { file: f.file, line: lineOf(lc, item) } });
    }
  }
  if (words.length === 0) return { ok: false, message: `the ${container} container has no command`, at: { file: f.file, line: lineOf(lc, c) } };
  return flagsOf(words);
}

function lineOf(lc: LineCounter, node: unknown): number {
  const range = (node as { range?: [number, number, number] } | null)?.range;
  return range ? lc.linePos(range[0]).line : 1;
}

/** A logical line of a unit file: continuation lines joined, each character's source line kept. */
interface Logical {
  text: string;
  /** Source line of each character of `text`. */
  lines: number[];
}

function logicalLines(text: string): Logical[] {
  const out: Logical[] = [];
  let cur: Logical | undefined;
  text.split('\n').forEach((raw, i) => {
    const n = i + 1;
    const l = raw.replace(/\r$/, '');
    if (cur) {
      // comment lines inside a continuation are skipped, as systemd does
      if (/^\s*[#;]/.test(l)) return;
    } else if (/^\s*([#;]|$)/.test(l)) return;
    const body = l.endsWith('\\') ? l.slice(0, -1) : l;
    const piece = cur ? ` ${body.replace(/^\s+/, '')}` : body.replace(/^\s+/, '');
    cur ??= { text: '', lines: [] };
    cur.text += piece;
    for (let k = 0; k < piece.length; k++) cur.lines.push(n);
    if (!l.endsWith('\\')) {
      out.push(cur);
      cur = undefined;
    }
  });
  if (cur) out.push(cur);
  return out;
}

/** Words as systemd splits them: quotes, backslash escapes; `${VAR}` substituted, `$VAR` alone split into words. */
function splitWords(l: Logical, from: number, env: Record<string, string>): { text: string; line: number }[] {
  const words: { text: string; line: number }[] = [];
  const s = l.text;
  let i = from;
  while (i < s.length) {
    while (i < s.length && /\s/.test(s[i] as string)) i++;
    if (i >= s.length) break;
    const line = l.lines[i] ?? 1;
    const whole = /^\$([A-Za-z_][A-Za-z0-9_]*)(?=\s|$)/.exec(s.slice(i));
    if (whole) {
      for (const w of (env[whole[1] as string] ?? '').split(/\s+/).filter(Boolean)) words.push({ text: w, line });
      i += whole[0].length;
      continue;
    }
    let w = '';
    let quote: string | undefined;
    for (; i < s.length; i++) {
      const ch = s[i] as string;
      if (quote) {
        if (ch === quote) quote = undefined;
        else if (ch === '\\' && quote === '"' && i + 1 < s.length) w += s[++i];
        else if (ch === '$' && quote === '"' && s[i + 1] === '{') {
          const end = s.indexOf('}', i);
          if (end < 0) w += ch;
          else {
            w += env[s.slice(i + 2, end)] ?? '';
            i = end;
          }
        } else w += ch;
        continue;
      }
      if (/\s/.test(ch)) break;
      if (ch === '"' || ch === "'") quote = ch;
      else if (ch === '\\' && i + 1 < s.length) w += s[++i];
      else if (ch === '$' && s[i + 1] === '{') {
        const end = s.indexOf('}', i);
        if (end < 0) w += ch;
        else {
          w += env[s.slice(i + 2, end)] ?? '';
          i = end;
        }
      } else w += ch;
    }
    words.push({ text: w, line });
  }
  return words;
}

/** `KEY=value` lines of an EnvironmentFile (shell-like quotes, `#` comments). */
export function parseEnvFile(f: TextFile): Record<string, { value: string; at: Where }> {
  const out: Record<string, { value: string; at: Where }> = Object.create(null) as Record<string, { value: string; at: Where }>;
  f.text.split('\n').forEach((raw, i) => {
    const m = /^\s*(?:export\s+)?([A-Za-z_][A-Za-z0-9_]*)=(.*)$/.exec(raw.replace(/\r$/, ''));
    if (!m) return;
    let v = (m[2] as string).trim();
    if ((v.startsWith('"') && v.endsWith('"') && v.length >= 2) || (v.startsWith("'") && v.endsWith("'") && v.length >= 2)) v = v.slice(1, -1);
    else v = v.replace(/\s+#.*$/, '');
    out[m[1] as string] = { value: v, at: { file: f.file, line: i + 1 } };
  });
  return out;
}

export interface UnitParse {
  command: ParsedCommand;
  /** EnvironmentFile= paths named (a leading '-' = optional), in order. */
  environmentFiles: { path: string; optional: boolean }[];
}

/**
 * A systemd unit and its drop-ins, in the order systemd applies them: the [Service] section's ExecStart=
 * (an empty ExecStart= resets, the last one wins), Environment= and EnvironmentFile= (files given in
 * `envFiles`, by path). etcd reads ETCD_<FLAG> variables too: those count as flags the command line does
 * not set, with the variable's own file and line.
 */
export function parseUnit(files: TextFile[], envFiles: TextFile[] = [], envPrefix?: string): { ok: true; unit: UnitParse } | { ok: false; message: string; at?: Where | undefined } {
  let exec: { l: Logical; from: number; file: string } | undefined;
  const env: Record<string, string> = Object.create(null) as Record<string, string>;
  const envAt: Record<string, Where> = Object.create(null) as Record<string, Where>;
  const environmentFiles: { path: string; optional: boolean }[] = [];
  for (const f of files) {
    let section = '';
    for (const l of logicalLines(f.text)) {
      const sec = /^\[([^\]]+)\]\s*$/.exec(l.text);
      if (sec) {
        section = sec[1] as string;
        continue;
      }
      if (section !== 'Service') continue;
      const kv = /^([A-Za-z]+)\s*=\s*/.exec(l.text);
      if (!kv) continue;
      const key = kv[1] as string;
      const from = kv[0].length;
      if (key === 'ExecStart') exec = l.text.slice(from).trim() === '' ? undefined : { l, from, file: f.file };
      else if (key === 'Environment') {
        for (const w of splitWords(l, from, {})) {
          const eq = w.text.indexOf('=');
          if (eq > 0) {
            env[w.text.slice(0, eq)] = w.text.slice(eq + 1);
            envAt[w.text.slice(0, eq)] = { file: f.file, line: w.line };
          }
        }
      } else if (key === 'EnvironmentFile') {
        const v = l.text.slice(from).trim();
        if (v === '') environmentFiles.length = 0;
        else environmentFiles.push({ path: v.replace(/^-/, ''), optional: v.startsWith('-') });
      }
    }
  }
  // EnvironmentFile= is read when the unit starts, after Environment=: its values win
  for (const ef of environmentFiles) {
    const file = envFiles.find((e) => e.file === ef.path);
    if (!file) continue;
    for (const [k, v] of Object.entries(parseEnvFile(file))) {
      env[k] = v.value;
      envAt[k] = v.at;
    }
  }
  const main = files[0];
  if (!exec) return { ok: false, message: 'no ExecStart= in the [Service] section of the unit or its drop-ins', at: main ? { file: main.file, line: 1 } : undefined };
  const e = exec;
  const words = splitWords(e.l, e.from, env).map((w) => ({ text: w.text, at: { file: e.file, line: w.line } }));
  // systemd's prefixes of the executable (-@:+!) are not part of its path
  if (words[0]) words[0] = { ...words[0], text: words[0].text.replace(/^[-@:+!]+/, '') };
  const parsed = flagsOf(words);
  if (!parsed.ok) return { ok: false, message: `ExecStart= ${parsed.message}`, at: { file: e.file, line: e.l.lines[0] ?? 1 } };
  for (const [k, v] of Object.entries(env)) {
    if (envPrefix === undefined || !k.startsWith(envPrefix)) continue;
    const flag = k.slice(envPrefix.length).toLowerCase().replace(/_/g, '-');
    if (flag === '' || flag in parsed.command.flags) continue;
    parsed.command.flags[flag] = { value: v, at: envAt[k] ?? { file: e.file, line: 1 } };
  }
  return { ok: true, unit: { command: parsed.command, environmentFiles } };
}
