import type { Cat, Piece, Ref, Shell, ShellPart } from '../model/shell.js';

/** What may be interpolated into `sh`: plain values and run-time values become quoted words, a Shell is spliced in. */
export type ShArg = string | number | Ref | Cat | Shell;

export function isRef(v: unknown): v is Ref {
  return typeof v === 'object' && v !== null && typeof (v as Ref).ref === 'string' && Object.keys(v).every((k) => k === 'ref' || k === 'secret');
}

export function isCat(v: unknown): v is Cat {
  return typeof v === 'object' && v !== null && Array.isArray((v as Cat).cat) && Object.keys(v).length === 1;
}

export function isShell(v: unknown): v is Shell {
  return typeof v === 'object' && v !== null && Array.isArray((v as Shell).sh) && Object.keys(v).length === 1;
}

function someRef(v: unknown, test: (r: Ref) => boolean): boolean {
  if (isRef(v)) return test(v);
  if (Array.isArray(v)) return v.some((x) => someRef(x, test));
  if (v && typeof v === 'object') return Object.values(v).some((x) => someRef(x, test));
  return false;
}

/** A value known only at run time (a Ref, or text containing one), anywhere inside `v`. */
export const hasRuntime = (v: unknown): boolean => someRef(v, () => true);

/** A secret reference anywhere inside `v`. */
export const hasSecret = (v: unknown): boolean => someRef(v, (r) => r.secret === true);

function wordOf(v: string | number | Ref | Cat): ShellPart {
  if (typeof v === 'string' || typeof v === 'number') return { word: [String(v)] };
  if (isRef(v)) return { word: [v] };
  return { word: [...v.cat] };
}

function push(parts: ShellPart[], p: ShellPart): void {
  const last = parts[parts.length - 1];
  if ('lit' in p && last && 'lit' in last) parts[parts.length - 1] = { lit: last.lit + p.lit };
  else if (!('lit' in p) || p.lit !== '') parts.push(p);
}

/**
 * sh`mv -T -- ${src} ${dest}`: the template's text is shell syntax, every interpolated value one quoted
 * word (even when it is only known at run time), an interpolated Shell is spliced in as it is.
 */
export function sh(strings: TemplateStringsArray, ...args: ShArg[]): Shell {
  const parts: ShellPart[] = [];
  strings.forEach((s, i) => {
    push(parts, { lit: s });
    if (i < args.length) {
      const a = args[i] as ShArg;
      if (isShell(a)) for (const p of a.sh) push(parts, p);
      else push(parts, wordOf(a));
    }
  });
  return { sh: parts };
}

/** Shell syntax the caller wrote (an operator, a redirect), never a value. */
export function lit(text: string): Shell {
  return { sh: [{ lit: text }] };
}

/** A whole command as one quoted word: `bash -c ${arg(inner)}`, `trap ${arg(cleanup)} EXIT`. */
export function arg(inner: Shell): Shell {
  return { sh: [{ sub: inner }] };
}

/** Several values as separate words. */
export function words(values: (string | number | Ref | Cat)[]): Shell {
  return join(values.map((v) => sh`${v}`), ' ');
}

/** Commands or fragments joined by literal shell text (`; `, ` && `, ` `). */
export function join(shells: Shell[], separator: string): Shell {
  const parts: ShellPart[] = [];
  shells.forEach((s, i) => {
    if (i > 0) push(parts, { lit: separator });
    for (const p of s.sh) push(parts, p);
  });
  return { sh: parts };
}

/** Text that may hold run-time pieces: a plain string when it has none. */
export function cat(pieces: Piece[]): string | Cat {
  const merged: Piece[] = [];
  for (const p of pieces) {
    const last = merged[merged.length - 1];
    if (typeof p === 'string' && typeof last === 'string') merged[merged.length - 1] = last + p;
    else if (p !== '') merged.push(p);
  }
  if (merged.every((p) => typeof p === 'string')) return merged.join('');
  return { cat: merged };
}
