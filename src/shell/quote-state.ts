/**
 * Where in shell text a template value would land. Values are quoted as whole words, so a value
 * inside the author's own quotes would be quoted twice (and `"…'$(x)'…"` would run `$(x)`).
 */
export type QuoteContext = 'none' | 'single' | 'double' | 'backtick' | 'heredoc';

interface QuoteScanner {
  /** Feed literal shell text; returns the context at its end. */
  feed(text: string): QuoteContext;
  context(): QuoteContext;
}

function quoteScanner(): QuoteScanner {
  let state: QuoteContext = 'none';
  let escaped = false;
  let prev = '';
  const feed = (text: string): QuoteContext => {
    for (const c of text) {
      if (state === 'heredoc') break;
      if (escaped) {
        escaped = false;
        prev = '';
        continue;
      }
      switch (state) {
        case 'none':
          if (c === '\\') escaped = true;
          else if (c === "'") state = 'single';
          else if (c === '"') state = 'double';
          else if (c === '`') state = 'backtick';
          else if (c === '<' && prev === '<') state = 'heredoc';
          break;
        case 'single':
          if (c === "'") state = 'none';
          break;
        case 'double':
          if (c === '\\') escaped = true;
          else if (c === '"') state = 'none';
          break;
        case 'backtick':
          if (c === '\\') escaped = true;
          else if (c === '`') state = 'none';
          break;
      }
      prev = c;
    }
    return state;
  };
  return { feed, context: () => state };
}

function describeContext(c: QuoteContext): string {
  switch (c) {
    case 'single':
      return "inside single quotes ('…')";
    case 'double':
      return 'inside double quotes ("…")';
    case 'backtick':
      return 'inside backticks (`…`)';
    case 'heredoc':
      return 'inside a here-document (<<)';
    case 'none':
      return 'as a word';
  }
}

const QUOTE_HINT = 'every value is already passed as one quoted word: remove the quotes around it (write `echo "v: "{{ x }}` or `echo {{ x }}`)';

/**
 * The first `{{ }}` of a shell template that sits inside the author's own quotes (a `| raw` value is
 * syntax, and may): what validate reports and the planner refuses.
 */
export function quotedHole(template: string): string | undefined {
  const scan = quoteScanner();
  let at = 0;
  for (const m of template.matchAll(/\{\{(.*?)\}\}/gs)) {
    const ctx = scan.feed(template.slice(at, m.index));
    const expr = m[1] ?? '';
    if (/\|\s*raw\s*$/.test(expr)) scan.feed('');
    else if (ctx !== 'none') return `{{${expr}}} is ${describeContext(ctx)}: ${QUOTE_HINT}`;
    at = (m.index ?? 0) + m[0].length;
  }
  return undefined;
}
