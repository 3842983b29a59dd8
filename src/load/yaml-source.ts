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
    const nul = buf.indexOf(0);
    if (nul >= 0) {
      const before = buf.subarray(0, nul).toString('utf8');
      const line = before.split('\n').length;
      return fail('binary data (NUL byte): this is not a YAML text file', line, before.length - before.lastIndexOf('\n'));
    }
    text = buf.toString('utf8');
    const bad = text.indexOf('\uFFFD');
    if (bad >= 0) {
      const before = text.slice(0, bad);
      return fail('file is not valid UTF-8 text: save it as UTF-8', before.split('\n').length, bad - before.lastIndexOf('\n'));
    }
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    return fail(code === 'ENOENT' ? 'file not found: check the path' : `cannot read file (${code ?? String(e)})`);
  }
  if (text.trim() === '') return fail('file is empty: a playbook needs at least name and steps, an inventory cluster and hosts', 1, 1);

  const lc = new LineCounter();
  const doc = parseDocument(text, { lineCounter: lc, prettyErrors: true, uniqueKeys: true, strict: true });
  const errors = [...doc.errors, ...doc.warnings.filter((w) => w.code === 'DUPLICATE_KEY')];
  const problems: Problem[] = errors.map((e) => ({
        file,
        line: e.linePos?.[0]?.line,
        col: e.linePos?.[0]?.col,
        message: `YAML syntax: ${firstLine(e.message).replace(/ at line \d+, column \d+:?$/, '')}`,
  }));
  const lines = text.split('\n').length;
  for (const p of problems) if (p.line !== undefined && p.line > lines) {
    // an unclosed quote or bracket is only noticed at the end of the file
    p.line = lines;
    p.col = 1;
  }
  // problems the YAML library would only throw or warn about while converting: say where they are
  let unconvertible = false;
  visit(doc, {
    Alias(_k, node) {
      if (node.resolve(doc)) return;
      unconvertible = true;
      problems.push({ file, ...pos(lc, node.range?.[0] ?? 0), message: `YAML: alias *${node.source} refers to no anchor &${node.source} before it` });
    },
    Pair(_k, pair) {
      if (!pair.key || isScalar(pair.key) || isAlias(pair.key)) return;
      unconvertible = true;
      problems.push({ file, ...pos(lc, (pair.key as Node).range?.[0] ?? 0), message: 'YAML: a key must be a plain name, not a list or map' });
    },
  });
  if (unconvertible) return { ok: false, problems };
  let data: unknown;
  try {
    data = doc.toJS({ maxAliasCount: 100 });
  } catch (e) {
    return { ok: false, problems: [...problems, { file, line: 1, col: 1, message: `YAML: ${firstLine((e as Error).message)}` }] };
  }
  if (problems.length > 0 && (data === null || typeof data !== 'object' || Array.isArray(data))) return { ok: false, problems };
  const source = makeSource(file, doc, lc, data);
  // a NUL written as an escape ("\0") ends a C string on the host: no value may carry one
  for (const path of nulPaths(data, [])) problems.push(source.problem(path, 'a NUL character (\\0) is not allowed in a value: it cannot reach a command intact'));
  return { ok: true, source, problems };
}

function makeSource(file: string, doc: Document, lc: LineCounter, data: unknown): YamlSource {
  const offsetOf = (path: (string | number)[], key: boolean): number => {
    let node: unknown = doc.contents;
    let best = (doc.contents as Node | null)?.range?.[0] ?? 0;
    for (let i = 0; i < path.length; i++) {
      const seg = path[i]!;
      const last = i === path.length - 1;
      if (isMap(node)) {
        const pair = node.items.find((p) => isPair(p) && isScalar(p.key) && String(p.key.value) === String(seg));
        if (!pair) return best;
        const keyNode = pair.key as Node;
        if (last && key) return keyNode.range?.[0] ?? best;
        const val = pair.value as Node | null;
        best = val?.range?.[0] ?? keyNode.range?.[0] ?? best;
        node = val;
      } else if (isSeq(node)) {
        const item = node.items[Number(seg)] as Node | undefined;
        if (!item) return best;
        best = item.range?.[0] ?? best;
        node = item;
      } else return best;
    }
    return best;
  };
  const pos = (path: (string | number)[], key = false) => {
    const p = lc.linePos(offsetOf(path, key));
    return { line: p.line, col: p.col };
  };
  return {
    file,
    data,
    pos,
    problem: (path, message, key = false) => ({ file, ...pos(path, key), message }),
  };
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
