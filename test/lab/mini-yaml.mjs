// A small YAML subset parser for the test lab's kubelet stand-in (no deps).
//
// Enough for Kubernetes pod manifests as kubeadm and humans write them:
// block mappings and sequences (sequences indented or at the parent key's
// indent), "- key: value" items, plain / 'single' / "double" quoted scalars,
// flow [a, b] and {} / {a: b} on one line, block scalars (| and >), comments and
// a leading "---". JSON is also accepted. Not supported: anchors, tags,
// multi-line flow collections, multiple documents (the first one is used).
// Every scalar is returned as a string, except null / ~ (null); callers
// convert types themselves (kubelet only needs strings).

/** @typedef {null | string | YamlValue[] | { [k: string]: YamlValue }} YamlValue */

export class YamlError extends Error {}

function stripComment(text) {
  let quote = '';
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (quote) {
      if (c === '\\' && quote === '"') i++;
      else if (c === quote) quote = '';
    } else if (c === '"' || c === "'") {
      if (i === 0 || /[\s[{,:-]/.test(text[i - 1])) quote = c;
    } else if (c === '#' && (i === 0 || /\s/.test(text[i - 1]))) {
      return text.slice(0, i).trimEnd();
    }
  }
  return text.trimEnd();
}

function unquote(s) {
  s = s.trim();
  if (s === '' || s === '~' || s === 'null' || s === 'Null' || s === 'NULL') return null;
  if (s.startsWith('"')) {
    if (!s.endsWith('"') || s.length < 2) throw new YamlError(`unterminated string: ${s}`);
    try {
      return JSON.parse(s.replace(/\\'/g, "'"));
    } catch {
      throw new YamlError(`bad double-quoted string: ${s}`);
    }
  }
  if (s.startsWith("'")) {
    if (!s.endsWith("'") || s.length < 2) throw new YamlError(`unterminated string: ${s}`);
    return s.slice(1, -1).replace(/''/g, "'");
  }
  if (s.startsWith('[')) return parseFlow(s);
  if (s.startsWith('{')) return parseFlow(s);
  return s;
}

/** Single-line flow collection: [a, "b", [c]], {a: b, c: [d]}. */
function parseFlow(s) {
  let i = 0;
  const ws = () => {
    while (i < s.length && /\s/.test(s[i])) i++;
  };
  const scalar = (stops) => {
    ws();
    if (s[i] === '"' || s[i] === "'") {
      const q = s[i];
      let j = i + 1;
      while (j < s.length && s[j] !== q) j += s[j] === '\\' && q === '"' ? 2 : 1;
      const raw = s.slice(i, j + 1);
      i = j + 1;
      return unquote(raw);
    }
    let j = i;
    while (j < s.length && !stops.includes(s[j])) j++;
    const raw = s.slice(i, j).trim();
    i = j;
    return unquote(raw);
  };
  const value = (stops) => {
    ws();
    if (s[i] === '[') return seq();
    if (s[i] === '{') return map();
    return scalar(stops);
  };
  const seq = () => {
    i++;
    const out = [];
    ws();
    if (s[i] === ']') {
      i++;
      return out;
    }
    for (;;) {
      out.push(value(',]'));
      ws();
      if (s[i] === ',') i++;
      else if (s[i] === ']') {
        i++;
        return out;
      } else throw new YamlError(`bad flow sequence: ${s}`);
    }
  };
  const map = () => {
    i++;
    const out = {};
    ws();
    if (s[i] === '}') {
      i++;
      return out;
    }
    for (;;) {
      const k = scalar(':,}');
      ws();
      if (s[i] !== ':') throw new YamlError(`bad flow mapping: ${s}`);
      i++;
      out[String(k)] = value(',}');
      ws();
      if (s[i] === ',') i++;
      else if (s[i] === '}') {
        i++;
        return out;
      } else throw new YamlError(`bad flow mapping: ${s}`);
    }
  };
  const v = value('');
  ws();
  if (i !== s.length) throw new YamlError(`trailing characters after flow collection: ${s}`);
  return v;
}

const KEY_RE = /^("(?:[^"\\]|\\.)*"|'(?:[^']|'')*'|[^\s"'#\-[{][^#]*?|-[^\s#][^#]*?)\s*:(?:\s+(.*))?$/;

function splitKey(text) {
  const m = KEY_RE.exec(text);
  if (!m) return null;
  const key = m[1].startsWith('"') || m[1].startsWith("'") ? unquote(m[1]) : m[1];
  return { key: String(key), rest: (m[2] ?? '').trim() };
}

const isSeqItem = (text) => text === '-' || text.startsWith('- ');

/** @returns {YamlValue} */
export function parseYaml(source) {
  const trimmed = source.trim();
  if (trimmed.startsWith('{') || trimmed.startsWith('[')) {
    try {
      return JSON.parse(trimmed);
    } catch {
      // fall through: YAML flow style
    }
  }
  const rawLines = source.replace(/\r\n?/g, '\n').split('\n');
  /** @type {{ indent: number, text: string, raw: string }[]} */
  const lines = [];
  let started = false;
  for (const raw of rawLines) {
    if (/^\t/.test(raw)) throw new YamlError('tabs are not allowed for indentation');
    if (/^---(\s|$)/.test(raw)) {
      if (started) break; // only the first document
      started = true;
      continue;
    }
    if (/^\.\.\.(\s|$)/.test(raw)) break;
    const text = stripComment(raw);
    if (text.trim() === '') {
      lines.push({ indent: -1, text: '', raw });
      continue;
    }
    started = true;
    const indent = text.length - text.trimStart().length;
    lines.push({ indent, text: text.trim(), raw });
  }
  let pos = 0;
  const skipBlank = () => {
    while (pos < lines.length && lines[pos].indent < 0) pos++;
  };
  const peek = () => {
    skipBlank();
    return lines[pos];
  };

  const blockScalar = (indicator, parentIndent) => {
    const folded = indicator.startsWith('>');
    const keep = indicator.includes('+');
    const strip = indicator.includes('-');
    const body = [];
    let blockIndent = -1;
    while (pos < lines.length) {
      const l = lines[pos];
      const rawIndent = l.raw.length - l.raw.trimStart().length;
      if (l.raw.trim() !== '') {
        if (rawIndent <= parentIndent) break;
        if (blockIndent < 0) blockIndent = rawIndent;
        if (rawIndent < blockIndent) break;
        body.push(l.raw.slice(blockIndent));
      } else {
        body.push('');
      }
      pos++;
    }
    while (!keep && body.length > 0 && body[body.length - 1] === '') body.pop();
    let text = folded ? body.join('\n').replace(/([^\n])\n(?=[^\n ])/g, '$1 ') : body.join('\n');
    if (!strip) text += '\n';
    return text;
  };

  const value = (rest, indent) => {
    if (/^[|>][+-]?\d*$/.test(rest)) return blockScalar(rest, indent);
    return unquote(rest);
  };

  const node = (indent) => {
    const l = peek();
    if (!l || l.indent < indent) return null;
    if (isSeqItem(l.text)) return seq(l.indent);
    if (splitKey(l.text)) return map(l.indent);
    pos++;
    return unquote(l.text);
  };

  const map = (indent) => {
    const out = {};
    for (;;) {
      const l = peek();
      if (!l || l.indent !== indent || isSeqItem(l.text)) {
        if (l && l.indent > indent) throw new YamlError(`bad indentation: ${l.raw}`);
        return out;
      }
      const kv = splitKey(l.text);
      if (!kv) throw new YamlError(`expected "key: value": ${l.raw}`);
      pos++;
      if (kv.rest !== '') {
        out[kv.key] = value(kv.rest, indent);
        continue;
      }
      const next = peek();
      if (next && next.indent > indent) out[kv.key] = node(next.indent);
      else if (next && next.indent === indent && isSeqItem(next.text)) out[kv.key] = seq(indent);
      else out[kv.key] = null;
    }
  };

  const seq = (indent) => {
    const out = [];
    for (;;) {
      const l = peek();
      if (!l || l.indent !== indent || !isSeqItem(l.text)) {
        if (l && l.indent > indent) throw new YamlError(`bad indentation: ${l.raw}`);
        return out;
      }
      const rest = l.text.slice(1).trimStart();
      if (rest === '') {
        pos++;
        const next = peek();
        out.push(next && next.indent > indent ? node(next.indent) : null);
        continue;
      }
      if (isSeqItem(rest) || splitKey(rest)) {
        // "- key: v" / "- - x": the item is a collection starting at the column of rest
        l.indent = indent + (l.text.length - rest.length);
        l.text = rest;
        out.push(node(l.indent));
        continue;
      }
      pos++;
      out.push(value(rest, indent));
    }
  };

  const first = peek();
  if (!first) return null;
  const result = node(first.indent);
  const extra = peek();
  if (extra) throw new YamlError(`unexpected content: ${extra.raw}`);
  return result;
}
