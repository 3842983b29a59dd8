import { readFileSync, statSync } from 'node:fs';
import { type Document, isAlias, isMap, isPair, isScalar, isSeq, LineCounter, type Node, parseDocument, visit } from 'yaml';
import type { Problem } from './problem.js';

export const MAX_FILE_BYTES = 1024 * 1024;

/** A parsed YAML file that can map a JSON path back to a line and column. */
export interface YamlSource {
  file: string;
  data: unknown;
  /** Position of the value at `path`, or of its key when `key` is set; falls back to the nearest parent. */
  pos(path: (string | number)[], key?: boolean): { line: number; col: number };
  problem(path: (string | number)[], message: string, key?: boolean): Problem;
  /** False for a problem made by `problem` about a node that reaches the file's first syntax error (see readYaml). */
  reliable(p: Problem): boolean;
}

/** `problems` holds YAML syntax errors the parser recovered from: the rest of the file is still checked. */
export type ReadResult = { ok: true; source: YamlSource; problems: Problem[] } | { ok: false; problems: Problem[] };

function firstLine(msg: string): string {
  return msg.split('\n')[0] ?? msg;
}

export function readYaml(file: string): ReadResult {
  const fail = (message: string, line?: number, col?: number): ReadResult => ({
    ok: false,
    problems: [{ file, line, col, message }],
  });
  let text: string;
  try {
    const st = statSync(file);
    if (!st.isFile()) return fail('is not a regular file: give the path of a YAML file');
    if (st.size > MAX_FILE_BYTES)
      return fail(`file is ${st.size} bytes, more than the ${MAX_FILE_BYTES}-byte limit: is this really a playbook or inventory?`);
    const buf = readFileSync(file);
    if (looksUtf16(buf)) return fail('file is UTF-16 encoded: save it as UTF-8', 1, 1);
    const nul = buf.indexOf(0);
    if (nul >= 0) {
      const before = buf.subarray(0, nul).toString('utf8');
      const line = before.split('\n').length;
      return fail('binary data (NUL byte): this is not a YAML text file; give the path of the playbook or inventory', line, before.length - before.lastIndexOf('\n'));
    }
    text = buf.toString('utf8');
    const bad = text.indexOf('\uFFFD');
    if (bad >= 0) {
      const before = text.slice(0, bad);
      return fail('file is not valid UTF-8 text: save it as UTF-8', before.split('\n').length, bad - before.lastIndexOf('\n'));
    }
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    const why: Record<string, string> = {
      ENOENT: 'file not found: check the path',
      EACCES: 'permission denied reading the file: check its mode and owner, or run as a user that may read it',
      EPERM: 'permission denied reading the file: check its mode and owner',
      ELOOP: 'too many levels of symbolic links: the path is a symlink loop; point it at the real file',
      EIO: 'I/O error reading the file: the disk or the filesystem has a problem; copy the file elsewhere and retry',
      EISDIR: 'is a directory: give the path of a YAML file',
      ENOTDIR: 'a part of the path is not a directory: check the path',
      ENAMETOOLONG: 'the path is too long: check it',
    };
    return fail(why[code ?? ''] ?? `cannot read the file (${code ?? 'unknown error'}): check the path and its permissions`);
  }
  if (text.trim() === '') return fail('file is empty: a playbook needs at least name and steps, an inventory cluster and hosts', 1, 1);

  const lc = new LineCounter();
  let doc: Document;
  try {
    // merge: `<<: *defaults` merges a map, as YAML 1.1 and Ansible users expect
    doc = parseDocument(text, { lineCounter: lc, prettyErrors: true, uniqueKeys: true, strict: true, merge: true });
  } catch (e) {
    if (e instanceof RangeError) return fail('YAML nests too deep (brackets or indentation hundreds of levels deep): flatten it', 1, 1);
    throw e;
  }
  if (doc.errors.some((e) => /Maximum call stack/.test(e.message))) {
    const at = doc.errors[0]?.linePos?.[0];
    return fail('YAML nests too deep (brackets hundreds of levels deep): flatten it', at?.line ?? 1, at?.col ?? 1);
  }
  // After a syntax error the parser's view of the rest of the file is a guess: the errors after the first
  // one, and checks of the nodes that reach it, mostly report that guess ("unknown key 'action'" for a
  // tab-indented key). Report the first syntax error only, and drop those checks (`reliable` below).
  const first = [...doc.errors].sort((a, b) => a.pos[0] - b.pos[0])[0];
  const errors = [...(first ? [first] : []), ...doc.warnings.filter((w) => w.code === 'DUPLICATE_KEY')];
  const lineTexts = text.split('\n');
  if (text.endsWith('\n')) lineTexts.pop();
  const problems: Problem[] = errors.map((e) => {
    const opener = e.code === 'BAD_INDENT' ? unclosedFlow(doc, text, e.pos[0]) : undefined;
    if (opener) {
      const [open, close, what] = opener.kind === 'seq' ? ['[', ']', 'list'] : ['{', '}', 'map'];
      return { file, ...pos(lc, opener.offset), message: `YAML syntax: a flow ${what} '${open}' is not closed: end it with '${close}' (a flow ${what} that goes on over several lines needs those lines indented more than its key)` };
    }
    return {
      file,
      line: e.linePos?.[0]?.line,
      col: e.linePos?.[0]?.col,
      message:
        e.code === 'MULTIPLE_DOCS'
          ? 'several YAML documents in one file (a second ---): a playbook or inventory is one document; remove the --- line or split the file'
          : `YAML syntax: ${firstLine(e.message).replace(/ at line \d+, column \d+:?$/, '')}: ${syntaxHint(e.code, e.message)}`,
    };
  });
  const opening = first && /Missing closing .?quote/i.test(first.message) ? openQuote(text) : undefined;
  for (const p of problems) {
    // an unclosed quote is only noticed at the end of the file: point at the quote that opens it
    if (opening && /Missing closing .?quote/i.test(p.message)) {
      p.line = opening.line;
      p.col = opening.col;
    } else if (p.line !== undefined && p.line > lineTexts.length) {
      // noticed at the end of the file (after its last newline): point at the end of the last line
      p.line = Math.max(1, lineTexts.length);
      p.col = (lineTexts[p.line - 1]?.length ?? 0) + 1;
    }
  }
  if (opening) return { ok: false, problems: problems.filter((p) => /Missing closing .?quote/i.test(p.message)).slice(0, 1) };
  // problems the YAML library would only throw or warn about while converting: say where they are
  let unconvertible = false;
  visit(doc, {
    Alias(_k, node, path) {
      const target = node.resolve(doc);
      // an alias inside the node its anchor names: the value would contain itself
      if (target && path.includes(target as never)) {
        unconvertible = true;
        problems.push({ file, ...pos(lc, node.range?.[0] ?? 0), message: `YAML: alias *${node.source} is inside the value its anchor &${node.source} names (a value cannot contain itself): remove the alias` });
        return;
      }
      if (target) return;
      unconvertible = true;
      problems.push({ file, ...pos(lc, node.range?.[0] ?? 0), message: `YAML: alias *${node.source} refers to no anchor &${node.source} before it: put &${node.source} on the value it stands for, above this line, or write the value out` });
    },
    Pair(_k, pair) {
      if (!pair.key || isScalar(pair.key) || isAlias(pair.key)) return;
      unconvertible = true;
      problems.push({ file, ...pos(lc, (pair.key as Node).range?.[0] ?? 0), message: 'YAML: a key must be a plain name, not a list or map: write the key as a word' });
    },
  });
  if (unconvertible) return { ok: false, problems };
  let data: unknown;
  try {
    data = doc.toJS({ maxAliasCount: 100 });
  } catch (e) {
    const msg = firstLine((e as Error).message);
    const message = /alias count|Excessive alias/i.test(msg)
      ? 'YAML: aliases expand too much (more than 100 alias uses, as in an alias bomb): write the values out instead'
      : e instanceof RangeError
        ? 'YAML nests too deep to convert: flatten it'
        : `YAML: ${msg}`;
    const at = /alias/i.test(msg) ? firstAlias(doc, lc) : { line: 1, col: 1 };
    return { ok: false, problems: [...problems, { file, ...at, message }] };
  }
  if (problems.length > 0 && (data === null || typeof data !== 'object' || Array.isArray(data))) return { ok: false, problems };
  const source = makeSource(file, doc, lc, data, first?.pos[0]);
  // a NUL written as an escape ("\0") ends a C string on the host: no value may carry one
  for (const path of nulPaths(data, [])) problems.push(source.problem(path, 'a NUL character (\\0) is not allowed in a value: it cannot reach a command intact; remove it'));
  return { ok: true, source, problems };
}

function makeSource(file: string, doc: Document, lc: LineCounter, data: unknown, syntaxErrorAt: number | undefined): YamlSource {
  /** Where the node at `path` (or the nearest parent found) starts, and where it ends. */
  const rangeOf = (path: (string | number)[], key: boolean): { start: number; end: number } => {
    let node: unknown = doc.contents;
    const of = (n: Node | null | undefined, fallback: { start: number; end: number }) => (n?.range ? { start: n.range[0], end: n.range[2] } : fallback);
    let best = of(doc.contents as Node | null, { start: 0, end: 0 });
    for (let i = 0; i < path.length; i++) {
      const seg = path[i]!;
      const last = i === path.length - 1;
      if (isMap(node)) {
        const pair = node.items.find((p) => isPair(p) && isScalar(p.key) && String(p.key.value) === String(seg));
        if (!pair) return best;
        const keyNode = pair.key as Node;
        if (last && key) return of(keyNode, best);
        const val = pair.value as Node | null;
        best = of(val, of(keyNode, best));
        node = val;
      } else if (isSeq(node)) {
        const item = node.items[Number(seg)] as Node | undefined;
        if (!item) return best;
        best = of(item, best);
        node = item;
      } else return best;
    }
    return best;
  };
  const pos = (path: (string | number)[], key = false) => {
    const p = lc.linePos(rangeOf(path, key).start);
    return { line: p.line, col: p.col };
  };
  const unreliable = new WeakSet<Problem>();
  return {
    file,
    data,
    pos,
    problem: (path, message, key = false) => {
      const p = { file, ...pos(path, key), message };
      if (syntaxErrorAt !== undefined && rangeOf(path, key).end >= syntaxErrorAt) unreliable.add(p);
      return p;
    },
    reliable: (p) => !unreliable.has(p),
  };
}

/** What to do about a YAML syntax error, by the parser's code. */
function syntaxHint(code: string, message: string): string {
  if (/Missing closing .?quote/i.test(message)) return "close the quote (inside double quotes a quote is written \\\", inside single quotes ''; or leave the value unquoted)";
  switch (code) {
    case 'TAB_AS_INDENT':
      return 'indent with spaces, not tabs';
    case 'DUPLICATE_KEY':
      return 'keep one of them (a later one would silently replace the first)';
    case 'MISSING_CHAR':
      return 'add the missing character';
    case 'BLOCK_AS_IMPLICIT_KEY':
    case 'MULTILINE_IMPLICIT_KEY':
    case 'BAD_INDENT':
      return "check the indentation: the keys of one map start in the same column, and a key's value is indented more than the key";
    case 'KEY_OVER_1024_CHARS':
      return "a key is at most 1024 characters: is the line a key at all? (a value needs 'key: ' before it)";
    case 'BAD_DQ_ESCAPE':
      return "use a valid escape (\\\\, \\\", \\n, \\t, …) or single quotes, in which a backslash is just a backslash";
    default:
      return 'fix the YAML on this line (indentation, quotes, brackets)';
  }
}

/** The flow collection (`[` or `{`) whose missing closing bracket the parser noticed at `at`, if that is what it noticed. */
function unclosedFlow(doc: Document, text: string, at: number): { kind: 'seq' | 'map'; offset: number } | undefined {
  let found: { kind: 'seq' | 'map'; offset: number } | undefined;
  visit(doc, {
    Collection(_k, node) {
      if (!node.flow || !node.range || node.range[1] !== at || /[\]}]/.test(text[at - 1] ?? '')) return;
      found = { kind: isSeq(node) ? 'seq' : 'map', offset: node.range[0] };
    },
  });
  return found;
}

/** Where the first quote that no later quote on its line closes opens (a scalar's quote: after ': ', '- ', '[', '{' or ','). */
function openQuote(text: string): { line: number; col: number } | undefined {
  const lines = text.split('\n');
  for (const [i, line] of lines.entries()) {
    let j = 0;
    while (j < line.length) {
      const ch = line[j];
      if (ch === '#' && (j === 0 || line[j - 1] === ' ')) break;
      if ((ch === '"' || ch === "'") && (j === 0 || /[\s:[{,-]/.test(line[j - 1] ?? ''))) {
        let k = j + 1;
        for (; k < line.length; k++) {
          if (ch === '"' && line[k] === '\\') k++;
          else if (line[k] === ch) {
            if (ch === "'" && line[k + 1] === "'") k++;
            else break;
          }
        }
        if (k >= line.length) return { line: i + 1, col: j + 1 };
        j = k + 1;
        continue;
      }
      j++;
    }
  }
  return undefined;
}

/** A UTF-16 byte order mark, or text whose every other byte is NUL (UTF-16 without one). */
function looksUtf16(buf: Buffer): boolean {
  if ((buf[0] === 0xff && buf[1] === 0xfe) || (buf[0] === 0xfe && buf[1] === 0xff)) return true;
  const n = Math.min(buf.length, 64) & ~1;
  if (n < 8) return false;
  let even = 0;
  let odd = 0;
  for (let i = 0; i < n; i += 2) {
    if (buf[i] === 0) even++;
    if (buf[i + 1] === 0) odd++;
  }
  const half = n / 2;
  return (even === half && odd === 0) || (odd === half && even === 0);
}

function firstAlias(doc: Document, lc: LineCounter): { line: number; col: number } {
  let at = 0;
  visit(doc, {
    Alias(_k, node) {
      at = node.range?.[0] ?? 0;
      return visit.BREAK;
    },
  });
  return pos(lc, at);
}

function nulPaths(v: unknown, path: (string | number)[]): (string | number)[][] {
  if (typeof v === 'string') return v.includes('\0') ? [path] : [];
  if (Array.isArray(v)) return v.flatMap((x, i) => nulPaths(x, [...path, i]));
  if (v && typeof v === 'object') return Object.entries(v).flatMap(([k, x]) => (k.includes('\0') ? [[...path, k]] : nulPaths(x, [...path, k])));
  return [];
}

function pos(lc: LineCounter, offset: number): { line: number; col: number } {
  const p = lc.linePos(offset);
  return { line: p.line, col: p.col };
}

/** "/steps/2/args" → ["steps", 2, "args"] */
export function parsePointer(pointer: string): (string | number)[] {
  if (pointer === '') return [];
  return pointer
    .slice(1)
    .split('/')
    .map((s) => s.replace(/~1/g, '/').replace(/~0/g, '~'))
    .map((s) => (/^[0-9]+$/.test(s) ? Number(s) : s));
}
