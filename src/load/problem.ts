/** A problem in user input, returned as data, never thrown. */
export interface Problem {
  file: string;
  line: number | undefined;
  col: number | undefined;
  message: string;
}

export type Loaded<T> = { ok: true; value: T } | { ok: false; problems: Problem[] };

export function formatProblem(p: Problem): string {
  const where = p.line === undefined ? p.file : `${p.file}:${p.line}:${p.col ?? 1}`;
  return `${where}: ${p.message}`;
}
