import type { ChalkInstance } from 'chalk';

/** A time as `YYYY-MM-DD HH:MM:SSZ`, '-' when unknown. */
export const when = (ms: number) => (Number.isFinite(ms) && ms > 0 ? `${new Date(ms).toISOString().slice(0, 19).replace('T', ' ')}Z` : '-');

/** A table cell: its text, and how to colour it (widths are measured on the text, before colour). */
export interface Cell {
  text: string;
  tone?: 'good' | 'bad' | 'warn' | 'dim' | undefined;
}

const paint = (c: ChalkInstance, cell: Cell, text: string) => {
  switch (cell.tone) {
    case 'good':
      return c.green(text);
    case 'bad':
      return c.red(text);
    case 'warn':
      return c.yellow(text);
    case 'dim':
      return c.dim(text);
    case undefined:
      return text;
  }
};

/** Columns padded to their widest cell, two spaces apart; the header bold. Cells never hold a newline. */
export function formatTable(header: string[], rows: Cell[][], c: ChalkInstance): string {
  const flat = (t: string) => t.replace(/[\r\n\t]/g, ' ');
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => flat(r[i]?.text ?? '').length)));
  const line = (cells: Cell[], head: boolean) =>
    cells
      .map((cell, i) => {
        const text = flat(cell.text);
        const padded = i === cells.length - 1 ? text : text.padEnd(widths[i] ?? 0);
        return head ? c.bold(padded) : paint(c, cell, padded);
      })
      .join('  ')
      .trimEnd();
  return `${[line(header.map((text) => ({ text })), true), ...rows.map((r) => line(r, false))].join('\n')}\n`;
}
