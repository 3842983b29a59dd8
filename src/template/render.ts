import { shellQuote } from '../util/shell-quote.js';
import { type Node, parseExpression, type Scope, toText, UndefinedNameError, evaluate } from './expression.js';

/** `shell`: every interpolated value is shell-quoted unless its last filter is `raw`. `text`: values as they are. */
export type RenderMode = 'shell' | 'text';

export interface RenderOptions {
  mode: RenderMode;
  /**
   * Roots whose values are only known at run time (registered results during a dry run):
   * an undefined path under one of them renders as a visible placeholder instead of failing.
   */
  deferredRoots?: ReadonlySet<string> | undefined;
}

const TEMPLATE = /\{\{(.*?)\}\}/gs;

const DEFERRED = ': known at run time>';

function deferredText(expr: string): string {
  return `<${expr.trim()}${DEFERRED}`;
}

/** A dry run's stand-in for a value only a real run knows (actions must not refuse it). */
export function isDeferred(v: unknown): boolean {
  return typeof v === 'string' && v.startsWith('<') && v.endsWith(DEFERRED);
}

export function templateExpressions(template: string): string[] {
  return [...template.matchAll(TEMPLATE)].map((m) => m[1] ?? '');
}

function lastFilter(n: Node): string | undefined {
  return n.t === 'filter' ? n.name : undefined;
}

function evalOrPlaceholder(expr: string, scope: Scope, opts: RenderOptions): { value: unknown; deferred: boolean } {
  try {
    return { value: evaluate(expr, scope), deferred: false };
  } catch (e) {
    if (e instanceof UndefinedNameError && opts.deferredRoots?.has(e.path.split('.')[0] ?? '')) {
      return { value: deferredText(expr), deferred: true };
    }
    throw e;
  }
}

export function renderString(template: string, scope: Scope, opts: RenderOptions): string {
  return template.replace(TEMPLATE, (_m, expr: string) => {
    const { value, deferred } = evalOrPlaceholder(expr, scope, opts);
    const text = toText(value);
    const filter = lastFilter(parseExpression(expr));
    if (deferred) return text;
    if (filter === 'raw') return text;
    if (filter === 'quote' || opts.mode === 'shell') return shellQuote(text);
    return text;
  });
}

/**
 * Render a value from a playbook's args: strings are templates; a string that is exactly one
 * `{{ expr }}` yields the expression's value with its type (a list stays a list).
 */
export function renderValue(value: unknown, scope: Scope, opts: RenderOptions): unknown {
  // shell text is always rendered as text, so even a lone {{ x }} is quoted
  if (typeof value === 'string' && opts.mode === 'shell') return renderString(value, scope, opts);
  if (typeof value === 'string') {
    const m = /^\{\{(.*?)\}\}$/s.exec(value);
    if (m && !value.slice(2, -2).includes('{{')) {
      const r = evalOrPlaceholder(m[1] ?? '', scope, opts);
      return r.value;
    }
    return renderString(value, scope, opts);
  }
  if (Array.isArray(value)) return value.map((v) => renderValue(v, scope, opts));
  if (value && typeof value === 'object') {
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(value)) out[k] = renderValue(v, scope, opts);
    return out;
  }
  return value;
}
