import type { Piece, Shell, ShellPart } from '../model/shell.js';
import { cat, hasSecret, isCat, isRef } from '../shell/build.js';
import { quotedHole } from '../shell/quote-state.js';
import { ExpressionError, evaluate, type Node, parseExpression, readPaths, type Scope, toText } from './expression.js';

/**
 * What the plan cannot know. `runtime`: names registered on this host by earlier steps (their values
 * come from the run). `secrets`: variables whose values never enter the plan, the journal or the output.
 */
export interface RenderOptions {
  runtime?: ReadonlySet<string> | undefined;
  secrets?: ReadonlySet<string> | undefined;
}

const TEMPLATE = /\{\{(.*?)\}\}/gs;

export function templateExpressions(template: string): string[] {
  return [...template.matchAll(TEMPLATE)].map((m) => m[1] ?? '');
}

function lastFilter(n: Node): string | undefined {
  return n.t === 'filter' ? n.name : undefined;
}

function lookup(scope: Scope, path: string[]): unknown {
  let v: unknown = scope;
  for (const k of path) {
    if (isRef(v) || isCat(v)) return v;
    if (v === null || typeof v !== 'object' || !Object.hasOwn(v, k)) return undefined;
    v = (v as Record<string, unknown>)[k];
  }
  return v;
}

/** Whether an expression needs a value only the run knows, and whether that value is secret. */
export function runtimeDependency(expr: string, scope: Scope, opts: RenderOptions): { runtime: boolean; secret: boolean } {
  let runtime = false;
  let secret = false;
  for (const p of readPaths(expr)) {
    const [root = '', second = ''] = p;
    if (opts.runtime?.has(root) && !Object.hasOwn(scope, root)) runtime = true;
    if (root === 'vars' && opts.secrets?.has(second)) {
      runtime = true;
      secret = true;
    }
    const v = lookup(scope, p);
    if (isRef(v) || isCat(v)) {
      runtime = true;
      if (hasSecret(v)) secret = true;
    }
  }
  return { runtime, secret };
}

/** The value of `{{ expr }}`: known now, or a reference the run fills in. */
export function evalValue(expr: string, scope: Scope, opts: RenderOptions): unknown {
  const dep = runtimeDependency(expr, scope, opts);
  if (dep.runtime) return dep.secret ? { ref: expr.trim(), secret: true } : { ref: expr.trim() };
  return evaluate(expr, scope);
}

function asPiece(v: unknown): Piece[] {
  if (isRef(v)) return [v];
  if (isCat(v)) return v.cat;
  return [toText(v)];
}

/** Text mode: values as they are; a run-time value leaves a hole. */
export function renderText(template: string, scope: Scope, opts: RenderOptions): string | ReturnType<typeof cat> {
  const pieces: Piece[] = [];
  let at = 0;
  for (const m of template.matchAll(TEMPLATE)) {
    pieces.push(template.slice(at, m.index));
    pieces.push(...asPiece(evalValue(m[1] ?? '', scope, opts)));
    at = (m.index ?? 0) + m[0].length;
  }
  pieces.push(template.slice(at));
  return cat(pieces);
}

/**
 * Shell mode: the template's text is shell syntax, each `{{ }}` one quoted word (`| raw` pastes a
 * plan-time value as syntax). A value inside the author's own quotes is refused: it would be quoted twice.
 */
export function renderShellTemplate(template: string, scope: Scope, opts: RenderOptions): Shell {
  // the same check validate reports, so a plan can never get further than validate would let it
  const quoted = quotedHole(template);
  if (quoted) throw new ExpressionError(quoted);
  const parts: ShellPart[] = [];
  let at = 0;
  for (const m of template.matchAll(TEMPLATE)) {
    const text = template.slice(at, m.index);
    if (text) parts.push({ lit: text });
    const expr = m[1] ?? '';
    const v = evalValue(expr, scope, opts);
    if (lastFilter(parseExpression(expr)) === 'raw') {
      if (isRef(v)) throw new ExpressionError(`{{${expr}}} uses '| raw' on a value known only at run time: raw text must be known when planning`);
      parts.push({ lit: toText(v) });
    } else parts.push({ word: asPiece(v) });
    at = (m.index ?? 0) + m[0].length;
  }
  const rest = template.slice(at);
  if (rest) parts.push({ lit: rest });
  return { sh: parts };
}

/**
 * A value from a playbook's args: strings are templates; a string that is exactly one `{{ expr }}`
 * yields the expression's value with its type (a list stays a list), or a reference the run fills in.
 */
export function renderValue(value: unknown, scope: Scope, opts: RenderOptions): unknown {
  if (typeof value === 'string') {
    const m = /^\{\{(.*?)\}\}$/s.exec(value);
    if (m && !value.slice(2, -2).includes('{{')) return evalValue(m[1] ?? '', scope, opts);
    return renderText(value, scope, opts);
  }
  if (Array.isArray(value)) return value.map((v) => renderValue(v, scope, opts));
  if (value && typeof value === 'object') {
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(value)) out[k] = renderValue(v, scope, opts);
    return out;
  }
  return value;
}

