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
 * Run once when a session starts. fds 8 and 9 are pipes of the session's own, between the session and its
 * watchdog: the session writes to 9, the watchdog answers on 8. The functions are defined here once
 * because bash reads a pipe a byte at a time: a command's line stays short.
 * - `__rb_b ID`, `__rb_e ID`: the session's begin and end markers (shell-session.ts), `__rb_e` with the
 *   status of the command before it;
 * - `__rb_x`: first thing in a command's subshell: job control off, stdin from /dev/null, fds 8 and 9
 *   closed, the session's variables and functions gone, so the command sees what `bash -c` would show it;
 * - `__rb_dog SESSION_PID`: the session's one watchdog, started here in a process group of its own. Idle,
 *   it waits for a line `S K PGID` on 9: a command's subshell (process group PGID) has started with
 *   deadline S. It then waits S seconds for the session's next line on 9, which says the command ended,
 *   and answers 0 on 8; at the deadline it sends TERM (and CONT) to the group, waits K seconds more for
 *   that line and answers 124, or sends KILL, waits for the line and answers 137. The deadline holds on
 *   the host whatever becomes of the session (killed, or its connection gone mid-command); once the
 *   session's process is gone the watchdog leaves too (it looks every 5 s while it waits);
 * - `__rb_up`: starts the watchdog (`__rb_d`), the pipes emptied first, disowned: no job notice of it is
 *   ever printed, whatever becomes of it;
 * - `__rb_wait S K`: tells the watchdog of the background subshell just started (`$!`), waits for it, and
 *   returns timeout(1)'s status: the command's own, or the watchdog's 124 or 137. A watchdog found gone
 *   (killed on the host) is started again first; one that does not answer within 10 s (stopped, say)
 *   leaves the command its own status and the session unfit: it exits after that command's end marker
 *   (`__rb_bad`), and the next command gets a fresh session and watchdog.
 * A command costs the host its one subshell and no other process. The session exits (and so is not used)
 * if the pipes cannot be made, or 9 has something to read before anything was written.
 */
export const SESSION_INIT = [
  'exec 8<> <(:) 9<> <(:) || exit',
  'if read -t 0 -u 9; then exit; fi',
  "__rb_b() { printf 'B%s\\n' \"$1\"; printf 'B%s\\n' \"$1\" >&2; }",
  "__rb_e() { printf 'E%s %d\\n' \"$1\" \"$?\"; printf 'E%s\\n' \"$1\" >&2; [ -z \"$__rb_bad\" ] || exit 0; }",
  '__rb_x() { set +m; exec </dev/null 8>&- 9<&-; unset -v __rb_c __rb_s __rb_n __rb_d __rb_bad; unset -f __rb_b __rb_e __rb_x __rb_wait __rb_dog __rb_ack __rb_up; }',
  '__rb_ack() { until read -t 5 -r -u 9 _; do kill -0 "$1" || exit 0; done; echo "$2" >&8; }',
  '__rb_dog() { local s k c; while :; do until read -t 5 -r -u 9 s k c; do kill -0 "$1" || exit 0; done; if read -t "$s" -r -u 9 _; then echo 0 >&8; continue; fi; kill -TERM -- -"$c"; kill -CONT -- -"$c"; if read -t "$k" -r -u 9 _; then echo 124 >&8; continue; fi; kill -KILL -- -"$c"; __rb_ack "$1" 137; done; }',
  '__rb_up() { while read -t 0 -u 9; do read -r -u 9 _; done; while read -t 0 -u 8; do read -r -u 8 _; done; set -m; __rb_dog $$ </dev/null >/dev/null 2>&1 & __rb_d=$!; disown $__rb_d; set +m; }',
  '__rb_up',
  '__rb_wait() { __rb_c=$!; set +m; kill -0 $__rb_d 2>/dev/null || __rb_up; echo "$1 $2 $__rb_c" >&9; wait $__rb_c 2>/dev/null; __rb_s=$?; echo >&9; read -t 10 -r -u 8 __rb_n || { __rb_n=0; __rb_bad=1; }; [ "$__rb_n" = 0 ] || __rb_s=$__rb_n; return $__rb_s; }',
].join('\n');

/** The begin and end markers, as `__rb_b` and `__rb_e` print them. */
export const SESSION_FRAMING = { init: SESSION_INIT, begin: (id: string) => `__rb_b ${id}`, end: (id: string) => `__rb_e ${id}` };

/**
 * A command as the session's bash runs it, with what `timeout -k K S bash -c TEXT` gives and without its
 * two programs (each command would otherwise cost a `timeout` and a `bash` started on the host): the text
 * is `eval`ed in a background subshell in a process group of its own (`set -m`), and the session's
 * watchdog keeps the deadline (SESSION_INIT says how). Through sudo the session cannot run it (the session is the login
 * user's): a sudo command runs as `channelShell` in a subshell of the session instead.
 */
export function sessionShell(cmd: Shell, w: Wiring, killAfterS = KILL_AFTER_S): Shell {
  if (w.sudo) return sh`( ${channelShell(cmd, w)} ) </dev/null`;
  return sh`set -m; ( __rb_x; eval ${arg(cmd)} ) & __rb_wait ${w.deadlineS} ${killAfterS}`;
}

/** Deadline of an engine-internal command (lock, manifest read, checksum) unless its caller names one. */
export const INTERNAL_TIMEOUT_S = 120;
