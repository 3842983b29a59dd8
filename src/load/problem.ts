/** A problem in user input, returned as data, never thrown. */
export interface Problem {
  file: string;
  line: number | undefined;
  col: number | undefined;
  message: string;
}

export type Loaded<T> = { ok: true; value: T } | { ok: false; problems: Problem[] };

/** Longest message shown: a value quoted in a message (a 300 KB line) is cut, the message stays one readable line. */
export const MAX_MESSAGE = 480;

export function formatProblem(p: Problem): string {
  const where = p.line === undefined ? p.file : `${p.file}:${p.line}:${p.col ?? 1}`;
  const oneLine = p.message.replace(/[\r\n]+/g, ' ');
  const msg = oneLine.length > MAX_MESSAGE ? `${oneLine.slice(0, MAX_MESSAGE - 30)}… (${oneLine.length} characters, cut)` : oneLine;
  return `${where}: ${msg}`;
}
