import type { Text } from '../model/command.js';
import type { Piece, Ref } from '../model/shell.js';
import { evaluate, type Scope, toText } from '../template/expression.js';
import { cat, isCat, isRef } from './build.js';

export interface FillOptions {
  /** Leave secret references as they are (what the journal and every output keep). */
  keepSecrets: boolean;
}

/**
 * Fill the run-time holes of a planned command (or any plan data) with their values. Nothing else is
 * rendered: literal shell text and plan-time words stay exactly as the plan had them.
 */
export function fillRefs<T>(x: T, resolve: (r: Ref) => unknown, opts: FillOptions): T {
  const keep = (r: Ref) => opts.keepSecrets && r.secret === true;
  const pieces = (ps: Piece[]): Piece[] => ps.map((p) => (typeof p === 'string' || keep(p) ? p : toText(resolve(p))));
  const walk = (v: unknown): unknown => {
    if (isRef(v)) return keep(v) ? v : resolve(v);
    if (isCat(v)) return cat(pieces(v.cat));
    if (Array.isArray(v)) return v.map(walk);
    if (v && typeof v === 'object') {
      const o = v as Record<string, unknown>;
      if (Array.isArray(o['word']) && Object.keys(o).length === 1) return { word: pieces(o['word'] as Piece[]) };
      return Object.fromEntries(Object.entries(o).map(([k, x]) => [k, walk(x)]));
    }
    return v;
  };
  return walk(x) as T;
}

/** The holes of planned data, filled from a host's run-time scope (secrets kept by reference unless `all`). */
export function fillFor(scope: Scope, all: boolean): <T>(x: T) => T {
  const resolve = (r: Ref) => evaluate(r.ref, scope);
  return (x) => fillRefs(x, resolve, { keepSecrets: !all });
}

/**
 * Text after filling (a filled value keeps its type: a registered revision is a number, shown as text).
 * A run-time value still missing here is an engine fault, not a value to guess.
 */
export function filledText(t: Text): string;
export function filledText(t: Text | undefined): string | undefined;
export function filledText(t: unknown): string | undefined {
  if (t === undefined) return undefined;
  if (isRef(t) || isCat(t)) throw new Error('a value known only at run time was not filled in');
  return toText(t);
}
