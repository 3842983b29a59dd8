import type { Command } from '../model/command.js';
import type { Shell } from '../model/shell.js';
import { arg, sh } from './build.js';

/** Grace after the deadline before `timeout` sends KILL to the whole process group on the host. */
export const KILL_AFTER_S = 10;
/** A command's deadline when neither the step, the action nor the CLI names one. */
export const DEFAULT_TIMEOUT_S = 900;

type Exec = Extract<Command, { kind: 'exec' }>;

/**
 * What the host's shell is given for a planned command: the command as one argument of `bash -c`, under
 * `timeout -k` (so the remote process tree dies at the deadline, not only the SSH channel), and `sudo -n`
 * first for a non-root user with become. Built from the command's data, never from its text.
 */
export function wireShell(c: Exec): Shell {
  const timed = sh`timeout -k ${KILL_AFTER_S} ${c.timeoutS ?? DEFAULT_TIMEOUT_S} bash -c ${arg(c.cmd)}`;
  return c.sudo ? sh`sudo -n -- ${timed}` : timed;
}

/** Deadline of an engine-internal command (lock, manifest read, checksum) unless its caller names one. */
export const INTERNAL_TIMEOUT_S = 120;

/** An engine-internal command as the host gets it: under its own deadline, through sudo when asked. */
export function internalShell(inner: Shell, opts: { sudo: boolean; timeoutS?: number | undefined }): Shell {
  return wireShell({ kind: 'exec', cmd: inner, timeoutS: opts.timeoutS ?? INTERNAL_TIMEOUT_S, sudo: opts.sudo });
}
