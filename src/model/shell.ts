/**
 * Shell commands as data. A command is literal shell text plus typed holes; only `src/shell/render.ts`
 * turns one into the string a host runs, and it is the only place that quotes. Types only.
 */

/** A value only the run knows: an expression evaluated on the host's run-time scope (registered results, secrets). */
export interface Ref {
  ref: string;
  /** The value is (or contains) a secret: shown as a reference, never stored, taken again on resume. */
  secret?: true | undefined;
}

/** Text with run-time values in it: the pieces concatenated once they are known. */
export interface Cat {
  cat: Piece[];
}

export type Piece = string | Ref;

export type ShellPart =
  /** Shell syntax, exactly as written (from the action's source or the playbook's template text). */
  | { lit: string }
  /** One shell word whose text is the concatenation of the pieces: always quoted. */
  | { word: Piece[] }
  /** A whole command, rendered and then quoted as one word (for `bash -c`, `trap`, `sudo`, `timeout`). */
  | { sub: Shell };

export interface Shell {
  sh: ShellPart[];
}
