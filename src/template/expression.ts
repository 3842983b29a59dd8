/**
 * A small, eval-free expression language for `{{ … }}`, `when` and `until`:
 * literals, dotted/indexed paths, comparisons, `in`, `and`/`or`/`not`, `is defined`,
 * `+`/`-`, and filters (`x | default('y')`).
 */

export type Node =
  | { t: 'lit'; value: unknown }
  | { t: 'name'; name: string }
  | { t: 'get'; obj: Node; key: Node }
  | { t: 'list'; items: Node[] }
  | { t: 'not'; arg: Node }
  | { t: 'bin'; op: BinOp; left: Node; right: Node }
  | { t: 'defined'; arg: Node; negate: boolean }
  | { t: 'filter'; name: string; arg: Node; args: Node[] };

type BinOp = '==' | '!=' | '<' | '<=' | '>' | '>=' | 'in' | 'not in' | 'and' | 'or' | '+' | '-';

export class ExpressionError extends Error {}

/** Thrown when a name or key is not defined; carries the dotted path. */
export class UndefinedNameError extends ExpressionError {
  constructor(readonly path: string) {
    super(`'${path}' is not defined`);
  }
}

interface Token {
  kind: 'num' | 'str' | 'ident' | 'op' | 'end';
  text: string;
  value?: unknown;
  at: number;
}

const OPS = ['==', '!=', '<=', '>=', '<', '>', '(', ')', '[', ']', '.', ',', '|', '+', '-'];

function tokenize(src: string): Token[] {
  const out: Token[] = [];
  let i = 0;
  while (i < src.length) {
    const c = src[i]!;
    if (/\s/.test(c)) {
      i++;
      continue;
    }
    if (/[0-9]/.test(c)) {
      const m = /^[0-9]+(\.[0-9]+)?/.exec(src.slice(i))!;
      out.push({ kind: 'num', text: m[0], value: Number(m[0]), at: i });
      i += m[0].length;
      continue;
    }
    if (c === "'" || c === '"') {
      let j = i + 1;
      let s = '';
      while (j < src.length && src[j] !== c) {
        if (src[j] === '\\' && j + 1 < src.length) {
          s += src[j + 1];
          j += 2;
        } else {
          s += src[j];
          j++;
        }
      }
      if (j >= src.length) throw new ExpressionError(`unterminated string starting at column ${i + 1}`);
      out.push({ kind: 'str', text: src.slice(i, j + 1), value: s, at: i });
      i = j + 1;
      continue;
    }
    if (/[A-Za-z_]/.test(c)) {
      const m = /^[A-Za-z_][A-Za-z0-9_-]*/.exec(src.slice(i))!;
      // a trailing '-' belongs to a following minus, not to the name
      const text = m[0].replace(/-+$/, '');
      out.push({ kind: 'ident', text, at: i });
      i += text.length;
      continue;
    }
    const op = OPS.find((o) => src.startsWith(o, i));
    if (!op) throw new ExpressionError(`unexpected character '${c}' at column ${i + 1}`);
    out.push({ kind: 'op', text: op, at: i });
    i += op.length;
  }
  out.push({ kind: 'end', text: '', at: src.length });
  return out;
}

const MAX_DEPTH = 64;

class Parser {
  private i = 0;
  private depth = 0;
  constructor(
    private readonly toks: Token[],
    private readonly src: string,
  ) {}

  private peek(): Token {
    return this.toks[this.i]!;
  }
  private next(): Token {
    return this.toks[this.i++]!;
  }
  private isOp(text: string): boolean {
    const t = this.peek();
    return t.kind === 'op' && t.text === text;
  }
  private isWord(text: string): boolean {
    const t = this.peek();
    return t.kind === 'ident' && t.text === text;
  }
  private expect(text: string): void {
    const t = this.next();
    if (t.text !== text) throw new ExpressionError(`expected '${text}' at column ${t.at + 1} in '${this.src}'`);
  }

  parseAll(): Node {
    const n = this.pipe();
    const t = this.peek();
    if (t.kind !== 'end') throw new ExpressionError(`unexpected '${t.text}' at column ${t.at + 1} in '${this.src}'`);
    return n;
  }

  private pipe(): Node {
    if (++this.depth > MAX_DEPTH) throw new ExpressionError(`expression nested more than ${MAX_DEPTH} levels deep: simplify it`);
    try {
      return this.or();
    } finally {
      this.depth--;
    }
  }
  private filter(n: Node): Node {
    const name = this.next();
    if (name.kind !== 'ident') throw new ExpressionError(`expected a filter name after '|' in '${this.src}'`);
    const args: Node[] = [];
    if (this.isOp('(')) {
      this.next();
      while (!this.isOp(')')) {
        args.push(this.pipe());
        if (this.isOp(',')) this.next();
        else break;
      }
      this.expect(')');
    }
    return { t: 'filter', name: name.text, arg: n, args };
  }
  private or(): Node {
    let n = this.and();
    while (this.isWord('or')) {
      this.next();
      n = { t: 'bin', op: 'or', left: n, right: this.and() };
    }
    return n;
  }
  private and(): Node {
    let n = this.not();
    while (this.isWord('and')) {
      this.next();
      n = { t: 'bin', op: 'and', left: n, right: this.not() };
    }
    return n;
  }
  /** Counts one level of nesting (parentheses, `not`, unary `-`): deep input is refused, never a stack overflow. */
  private nested<T>(f: () => T): T {
    if (++this.depth > MAX_DEPTH) throw new ExpressionError(`expression nested more than ${MAX_DEPTH} levels deep (parentheses, 'not' or '-'): simplify it`);
    try {
      return f();
    } finally {
      this.depth--;
    }
  }
  private not(): Node {
    if (this.isWord('not')) {
      this.next();
      return this.nested(() => ({ t: 'not', arg: this.not() }));
    }
    return this.cmp();
  }
  private cmp(): Node {
    const left = this.add();
    const t = this.peek();
    if (t.kind === 'op' && ['==', '!=', '<', '<=', '>', '>='].includes(t.text)) {
      this.next();
      return { t: 'bin', op: t.text as BinOp, left, right: this.add() };
    }
    if (this.isWord('in')) {
      this.next();
      return { t: 'bin', op: 'in', left, right: this.add() };
    }
    if (this.isWord('not') && this.toks[this.i + 1]?.text === 'in') {
      this.next();
      this.next();
      return { t: 'bin', op: 'not in', left, right: this.add() };
    }
    if (this.isWord('is')) {
      this.next();
      let negate = false;
      if (this.isWord('not')) {
        this.next();
        negate = true;
      }
      const w = this.next();
      if (w.text === 'defined') return { t: 'defined', arg: left, negate };
      if (w.text === 'undefined') return { t: 'defined', arg: left, negate: !negate };
      throw new ExpressionError(`unknown test 'is ${w.text}' in '${this.src}' (use 'is defined')`);
    }
    return left;
  }
  private add(): Node {
    let n = this.postfix();
    while (this.isOp('+') || this.isOp('-')) {
      const op = this.next().text as BinOp;
      n = { t: 'bin', op, left: n, right: this.postfix() };
    }
    return n;
  }
  private postfix(): Node {
    let n = this.primary();
    for (;;) {
      if (this.isOp('.')) {
        this.next();
        const k = this.next();
        if (k.kind !== 'ident' && k.kind !== 'num') throw new ExpressionError(`expected a name after '.' in '${this.src}'`);
        n = { t: 'get', obj: n, key: { t: 'lit', value: k.kind === 'num' ? k.value : k.text } };
      } else if (this.isOp('[')) {
        this.next();
        const key = this.pipe();
        this.expect(']');
        n = { t: 'get', obj: n, key };
      } else if (this.isOp('|')) {
        // filters bind tighter than comparisons, as in Jinja: a | trim == b
        this.next();
        n = this.filter(n);
      } else return n;
    }
  }
  private primary(): Node {
    const t = this.next();
    switch (t.kind) {
      case 'num':
      case 'str':
        return { t: 'lit', value: t.value };
      case 'ident':
        if (t.text === 'true' || t.text === 'True') return { t: 'lit', value: true };
        if (t.text === 'false' || t.text === 'False') return { t: 'lit', value: false };
        if (t.text === 'null' || t.text === 'none' || t.text === 'None') return { t: 'lit', value: null };
        return { t: 'name', name: t.text };
      case 'op':
        if (t.text === '(') {
          const n = this.pipe();
          this.expect(')');
          return n;
        }
        if (t.text === '[') {
          const items: Node[] = [];
          while (!this.isOp(']')) {
            items.push(this.pipe());
            if (this.isOp(',')) this.next();
            else break;
          }
          this.expect(']');
          return { t: 'list', items };
        }
        if (t.text === '-') {
          const v = this.nested(() => this.primary());
          return { t: 'bin', op: '-', left: { t: 'lit', value: 0 }, right: v };
        }
        break;
      case 'end':
        throw new ExpressionError(`unexpected end of expression '${this.src}': an operand is missing at the end`);
    }
    throw new ExpressionError(`unexpected '${t.text}' at column ${t.at + 1} in '${this.src}'`);
  }
}

const cache = new Map<string, Node>();

export function parseExpression(src: string): Node {
  const hit = cache.get(src);
  if (hit) return hit;
  if (src.length > 4000) throw new ExpressionError(`expression is ${src.length} characters long: keep it under 4000`);
  const shown = src.trim().length > 80 ? `${src.trim().slice(0, 60)}…` : src.trim();
  const node = new Parser(tokenize(src), shown).parseAll();
  cache.set(src, node);
  return node;
}

const UNDEF = Symbol('undefined');
type Val = unknown;

function pathOf(n: Node): string {
  switch (n.t) {
    case 'name':
      return n.name;
    case 'get':
      return `${pathOf(n.obj)}.${n.key.t === 'lit' ? String(n.key.value) : '[…]'}`;
    default:
      return '(expression)';
  }
}

function truthy(v: Val): boolean {
  if (Array.isArray(v)) return v.length > 0;
  if (v && typeof v === 'object') return Object.keys(v).length > 0;
  return Boolean(v);
}

function deepEqual(a: Val, b: Val): boolean {
  return JSON.stringify(a) === JSON.stringify(b);
}

export type Scope = Record<string, unknown>;

function evalNode(n: Node, scope: Scope): Val {
  switch (n.t) {
    case 'lit':
      return n.value;
    case 'name':
      return Object.hasOwn(scope, n.name) ? scope[n.name] : UNDEF;
    case 'get': {
      const obj = evalNode(n.obj, scope);
      if (obj === UNDEF) return UNDEF;
      const key = need(evalNode(n.key, scope), n.key);
      if (obj === null || typeof obj !== 'object') return UNDEF;
      const k = String(key);
      if (Array.isArray(obj) && /^-?[0-9]+$/.test(k)) {
        const idx = Number(k);
        const v = obj[idx < 0 ? obj.length + idx : idx];
        return v === undefined ? UNDEF : v;
      }
      return Object.hasOwn(obj, k) ? (obj as Record<string, unknown>)[k] : UNDEF;
    }
    case 'list':
      return n.items.map((i) => need(evalNode(i, scope), i));
    case 'not':
      return !truthy(need(evalNode(n.arg, scope), n.arg));
    case 'defined': {
      const v = evalNode(n.arg, scope);
      return n.negate ? v === UNDEF : v !== UNDEF;
    }
    case 'bin': {
      if (n.op === 'and') return truthy(need(evalNode(n.left, scope), n.left)) && truthy(need(evalNode(n.right, scope), n.right));
      if (n.op === 'or') return truthy(need(evalNode(n.left, scope), n.left)) || truthy(need(evalNode(n.right, scope), n.right));
      const l = need(evalNode(n.left, scope), n.left);
      const r = need(evalNode(n.right, scope), n.right);
      switch (n.op) {
        case '==':
          return deepEqual(l, r);
        case '!=':
          return !deepEqual(l, r);
        case '<':
          return (l as number) < (r as number);
        case '<=':
          return (l as number) <= (r as number);
        case '>':
          return (l as number) > (r as number);
        case '>=':
          return (l as number) >= (r as number);
        case 'in':
        case 'not in': {
          let found: boolean;
          if (typeof r === 'string') found = r.includes(String(l));
          else if (Array.isArray(r)) found = r.some((x) => deepEqual(x, l));
          else if (r && typeof r === 'object') found = Object.hasOwn(r, String(l));
          else throw new ExpressionError(`'in' needs a string, list or map on its right side`);
          return n.op === 'in' ? found : !found;
        }
        case '+':
          if (typeof l === 'number' && typeof r === 'number') return l + r;
          if (Array.isArray(l) && Array.isArray(r)) return [...l, ...r];
          return String(l) + String(r);
        case '-':
          return Number(l) - Number(r);
      }
      return UNDEF;
    }
    case 'filter':
      return applyFilter(n, scope);
  }
}

function need(v: Val, n: Node): Val {
  if (v === UNDEF) throw new UndefinedNameError(pathOf(n));
  return v;
}

/** Filters that change how a value is interpolated into a shell command. */
export const QUOTING_FILTERS = new Set(['raw', 'quote']);

export const FILTERS = new Set([
  'raw',
  'quote',
  'default',
  'json',
  'length',
  'join',
  'int',
  'string',
  'lower',
  'upper',
  'first',
  'last',
  'keys',
  'values',
  'map',
  'trim',
  'lines',
  'from_json',
  'without',
]);

function applyFilter(n: Extract<Node, { t: 'filter' }>, scope: Scope): Val {
  const raw = evalNode(n.arg, scope);
  if (n.name === 'default') {
    if (raw !== UNDEF && raw !== null && raw !== undefined) return raw;
    return n.args[0] ? need(evalNode(n.args[0], scope), n.args[0]) : '';
  }
  const v = need(raw, n.arg);
  const arg = (i: number): Val => {
    const a = n.args[i];
    return a ? need(evalNode(a, scope), a) : undefined;
  };
  // a value of the wrong type is the expression's error (with the filter's name), never a crash
  const kind = (x: unknown) => (x === null ? 'null' : Array.isArray(x) ? 'a list' : typeof x === 'object' ? 'a map' : `a ${typeof x}`);
  const list = (): unknown[] => {
    if (!Array.isArray(v)) throw new ExpressionError(`${n.name}: needs a list, got ${kind(v)}`);
    return v;
  };
  const map = (): object => {
    if (v === null || typeof v !== 'object' || Array.isArray(v)) throw new ExpressionError(`${n.name}: needs a map, got ${kind(v)}`);
    return v;
  };
  switch (n.name) {
    case 'raw':
    case 'quote':
      // handled by the renderer; as a value they are the identity
      return v;
    case 'json':
      return JSON.stringify(v);
    case 'from_json':
      try {
        return JSON.parse(String(v)) as Val;
      } catch (e) {
        throw new ExpressionError(`from_json: not JSON (${(e as Error).message}): give it JSON text`);
      }
    case 'length':
      return Array.isArray(v) || typeof v === 'string' ? v.length : Object.keys(map()).length;
    case 'join':
      return list().map(String).join(arg(0) === undefined ? ',' : String(arg(0)));
    case 'int': {
      const x = Number.parseInt(String(v), 10);
      if (Number.isNaN(x)) throw new ExpressionError(`int: '${String(v)}' is not a number`);
      return x;
    }
    case 'string':
      return toText(v);
    case 'lower':
      return String(v).toLowerCase();
    case 'upper':
      return String(v).toUpperCase();
    case 'trim':
      return String(v).trim();
    case 'lines':
      return String(v).split('\n').filter((l) => l !== '');
    case 'first':
      return list()[0] ?? UNDEF;
    case 'last':
      return list()[list().length - 1] ?? UNDEF;
    case 'keys':
      return Object.keys(map());
    case 'values':
      return Object.values(map());
    case 'without': {
      const drop = arg(0);
      const dropped = Array.isArray(drop) ? drop : [drop];
      return list().filter((x) => !dropped.some((d) => deepEqual(d, x)));
    }
    case 'map': {
      const key = String(arg(0));
      return list().map((x) => (x && typeof x === 'object' ? (x as Record<string, unknown>)[key] : undefined));
    }
  }
  throw new ExpressionError(`unknown filter '${n.name}' (known: ${[...FILTERS].join(', ')})`);
}

export function evaluate(src: string, scope: Scope): unknown {
  const v = evalNode(parseExpression(src), scope);
  if (v === UNDEF) throw new UndefinedNameError(pathOf(parseExpression(src)));
  return v;
}

export function evaluateBool(src: string, scope: Scope): boolean {
  return truthy(evaluate(src, scope));
}

export function toText(v: unknown): string {
  if (v === null || v === undefined) return '';
  if (typeof v === 'string') return v;
  if (typeof v === 'number' || typeof v === 'boolean') return String(v);
  return JSON.stringify(v);
}

/**
 * Dotted paths an expression reads, for validation-time checks.
 * Paths under `default(...)` or `is defined` are left out: those may be undefined on purpose.
 */
export function referencedPaths(src: string): string[][] {
  const out: string[][] = [];
  const walk = (n: Node): void => {
    if (n.t === 'defined') return;
    if (n.t === 'name' || n.t === 'get') {
      const p = staticPath(n);
      if (p) {
        out.push(p);
        return;
      }
    }
    // default(...) guards its argument: only its fallback is read for sure
    const kids = n.t === 'filter' && n.name === 'default' ? n.args : children(n);
    kids.forEach(walk);
  };
  walk(parseExpression(src));
  return out;
}

/** The direct sub-expressions of a node. */
export function children(n: Node): Node[] {
  switch (n.t) {
    case 'lit':
    case 'name':
      return [];
    case 'get':
      return [n.obj, n.key];
    case 'list':
      return n.items;
    case 'not':
    case 'defined':
      return [n.arg];
    case 'bin':
      return [n.left, n.right];
    case 'filter':
      return [n.arg, ...n.args];
  }
}

function staticPath(n: Node): string[] | undefined {
  if (n.t === 'name') return [n.name];
  if (n.t === 'get') {
    const base = staticPath(n.obj);
    if (!base) return undefined;
    if (n.key.t === 'lit') return [...base, String(n.key.value)];
    return base;
  }
  return undefined;
}

/** Every static path an expression may read, guarded or not (which values it depends on). */
export function readPaths(src: string): string[][] {
  const out: string[][] = [];
  const walk = (n: Node): void => {
    if (n.t === 'name' || n.t === 'get') {
      const p = staticPath(n);
      if (p) out.push(p);
      if (n.t === 'get') walk(n.key);
      return;
    }
    children(n).forEach(walk);
  };
  walk(parseExpression(src));
  return out;
}
