import type { Command } from '../model/command.js';
import type { Shell } from '../model/shell.js';
import { arg, sh } from './build.js';

/** Grace after the deadline before `timeout` sends KILL to the whole process group on the host. */
export const KILL_AFTER_S = 10;
/** A command's deadline when neither the step, the action nor the CLI names one. */
export const DEFAULT_TIMEOUT_S = 900;

type Exec = Extract<Command, { kind: 'exec' }>;

/** How the host runs a command: bash runs its text, under a deadline there, as the login user or through `sudo -n`. */
export interface Wiring {
  deadlineS: number;
  sudo: boolean;
}

/** A planned command's wiring, from its data: the step's (or action's, or CLI's) deadline and its become. */
export function plannedWiring(c: Exec): Wiring {
  return { deadlineS: c.timeoutS ?? DEFAULT_TIMEOUT_S, sudo: c.sudo ?? false };
}

/**
 * What a channel of its own gives the host's shell: the command as one argument of `bash -c`, under
 * `timeout -k` (so the remote process tree dies at the deadline, not only the SSH channel), and `sudo -n`
 * first when the wiring says so. Built from the command's data, never from its text.
 */
export function channelShell(cmd: Shell, w: Wiring): Shell {
  const timed = sh`timeout -k ${KILL_AFTER_S} ${w.deadlineS} bash -c ${arg(cmd)}`;
  return w.sudo ? sh`sudo -n -- ${timed}` : timed;
}

/** A planned command as a channel gives it to the host (what `plan --output json` shows as `wire`). */
export function wireShell(c: Exec): Shell {
  return channelShell(c.cmd, plannedWiring(c));
}

/** The shell a host's session runs (ssh.ts opens it as the channel's command). */
export const SESSION_SHELL = 'exec bash --noprofile --norc';

/**
 * Run once when a session starts. fds 8 and 9 are pipes of the session's own: nobody writes to 9, so a
 * `read -t` on it is a sleep that costs no process, and a watchdog notes on 8 that it fired. The functions
 * are defined here once because bash reads a pipe a byte at a time: a command's line stays short.
 * - `__rb_b ID`, `__rb_e ID`: the session's begin and end markers (shell-session.ts), `__rb_e` with the
 *   status of the command before it;
 * - `__rb_x`: first thing in a command's subshell: job control off, stdin from /dev/null, fds 8 and 9
 *   closed, the session's variables and functions gone, so the command sees what `bash -c` would show it;
 * - `__rb_wait S K`: the watchdog for the background subshell just started (`$!`) and the wait for it.
 *   The watchdog sleeps S seconds, then notes 124 and sends TERM (and CONT) to the subshell's process
 *   group, K seconds later notes 137 and sends KILL. When the command ends the session KILLs the
 *   watchdog (a signal that cannot be caught or lost, whatever the watchdog is doing at that moment); the
 *   status is timeout(1)'s: the command's own, or the last note. Job notices go to /dev/null.
 * The session exits (and so is not used) if the pipes cannot be made or fd 9 has something to read (then
 * `read -t` would not wait).
 */
export const SESSION_INIT = [
  'exec 8<> <(:) 9<> <(:) || exit',
  'if read -t 0 -u 9; then exit; fi',
  "__rb_b() { printf 'B%s\\n' \"$1\"; printf 'B%s\\n' \"$1\" >&2; }",
  "__rb_e() { printf 'E%s %d\\n' \"$1\" \"$?\"; printf 'E%s\\n' \"$1\" >&2; }",
  '__rb_x() { set +m; exec </dev/null 8>&- 9<&-; unset -v __rb_c __rb_w __rb_s; unset -f __rb_b __rb_e __rb_x __rb_wait; }',
  '__rb_wait() { __rb_c=$!; ( read -t "$1" -u 9; echo 124 >&8; kill -TERM -- -$__rb_c; kill -CONT -- -$__rb_c; read -t "$2" -u 9; echo 137 >&8; kill -KILL -- -$__rb_c; read -t 60 -u 9 ) >/dev/null 2>&1 & __rb_w=$!; set +m; { wait $__rb_c; __rb_s=$?; kill -KILL $__rb_w; wait $__rb_w; } 2>/dev/null; while read -t 0 -u 8; do read -r -u 8 __rb_s; done; return $__rb_s; }',
].join('\n');

/** The begin and end markers, as `__rb_b` and `__rb_e` print them. */
export const SESSION_FRAMING = { init: SESSION_INIT, begin: (id: string) => `__rb_b ${id}`, end: (id: string) => `__rb_e ${id}` };

/**
 * A command as the session's bash runs it, with what `timeout -k K S bash -c TEXT` gives and without its
 * two programs (each command would otherwise cost a `timeout` and a `bash` started on the host): the text
 * is `eval`ed in a background subshell in a process group of its own (`set -m`), and `__rb_wait` keeps
 * the deadline (SESSION_INIT says how). Through sudo the session cannot run it (the session is the login
 * user's): a sudo command runs as `channelShell` in a subshell of the session instead.
 */
export function sessionShell(cmd: Shell, w: Wiring, killAfterS = KILL_AFTER_S): Shell {
  if (w.sudo) return sh`( ${channelShell(cmd, w)} ) </dev/null`;
  return sh`set -m; ( __rb_x; eval ${arg(cmd)} ) & __rb_wait ${w.deadlineS} ${killAfterS}`;
}

/** Deadline of an engine-internal command (lock, manifest read, checksum) unless its caller names one. */
export const INTERNAL_TIMEOUT_S = 120;
