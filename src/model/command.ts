/** Commands as data: what an action plans and the engine runs. Types only. */

/** Repeat a command until it succeeds (exit 0) or, with `until: 'fails'`, until it fails. */
export interface Poll {
  until: 'succeeds' | 'fails';
  timeoutMs: number;
  intervalMs: number;
}

export type Command =
  | {
      kind: 'exec';
      /** The exact string sent to the host's shell. */
      cmd: string;
      poll?: Poll | undefined;
      /** Exit codes that count as success (default [0]). */
      okCodes?: number[] | undefined;
    }
  | { kind: 'upload'; dest: string; mode: number; content: string; /** shown instead of content */ summary: string }
  | { kind: 'fetch'; src: string; dest: string }
  /** Runs on the jump host, not on the target: assert, confirm, messages. */
  | { kind: 'local'; op: LocalOp };

export type LocalOp =
  | { op: 'assert'; that: string[]; message: string | undefined }
  | { op: 'confirm'; prompt: string; expect: string }
  | { op: 'message'; text: string };

export interface ActionPlan {
  commands: Command[];
  /** Commands that undo this step on this host, in the order to run them. */
  undo: Command[];
  /** True when the step changes the host. */
  changes: boolean;
  /** When the action decided there is nothing to do, why. */
  noop?: string | undefined;
}

/** Outcome of running one command. */
export interface CommandOutcome {
  ok: boolean;
  exitCode: number | null;
  signal: string | null;
  stdout: string;
  stderr: string;
  durationMs: number;
  attempts: number;
  /** Set when the transport failed (connection lost, timeout) rather than the command. */
  error?: string | undefined;
  timedOut?: boolean | undefined;
}

/** Result of one step on one host. */
export type StepResult =
  | { status: 'ok'; host: string; outcome: CommandOutcome | undefined }
  | { status: 'changed'; host: string; outcome: CommandOutcome | undefined }
  | { status: 'skipped'; host: string; reason: string }
  | { status: 'failed'; host: string; outcome: CommandOutcome | undefined; message: string }
  | { status: 'unreachable'; host: string; message: string };
