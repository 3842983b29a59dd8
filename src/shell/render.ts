import type { Ref, Shell } from '../model/shell.js';
import { shellQuote } from './quote.js';

/**
 * The one place a command becomes text. `fill` gives each run-time value its text; every word is
 * quoted here and nowhere else, and a nested command is rendered first, then quoted as one word.
 */
export function renderShell(s: Shell, fill: (r: Ref) => string): string {
  let out = '';
  for (const p of s.sh) {
    if ('lit' in p) out += p.lit;
    else if ('word' in p) out += shellQuote(p.word.map((x) => (typeof x === 'string' ? x : fill(x))).join(''));
    else out += shellQuote(renderShell(p.sub, fill));
  }
  return out;
}

/** How a run-time value is shown (plan, journal, output): by name, never by value. */
export function refLabel(r: Ref): string {
  return r.secret ? `<secret: ${r.ref}>` : `<${r.ref}>`;
}

/** The command as the plan and the journal show it: exact text, run-time values by name. */
export function showShell(s: Shell): string {
  return renderShell(s, refLabel);
}
