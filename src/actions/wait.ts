import type { Poll } from '../model/command.js';
import type { Shell } from '../model/shell.js';
import { arg, sh } from '../shell/build.js';
import { type Action, ok, refuse } from './action.js';
import { ExpressionError } from '../template/expression.js';

interface WaitArgs {
  until_cmd?: Shell;
  while_cmd?: Shell;
  port?: number | string;
  address?: string;
  state?: 'open' | 'closed';
  timeout?: number;
  interval?: number;
}

/** A host name or an IP literal: nothing a shell would interpret. */
export function isHostAddress(address: string): boolean {
  return /^[A-Za-z0-9][A-Za-z0-9.:_-]*$/.test(address);
}

/** A probe that exits 0 when something listens on address:port, as seen from the host. */
export function portProbe(address: string, port: number): Shell {
  // the address becomes part of a bash /dev/tcp path: only host names and IP literals may get there
  if (!isHostAddress(address) || !Number.isInteger(port)) throw new ExpressionError(`'${address}:${port}' is not a host name or IP address with a port`);
  return sh`timeout 2 bash -c ${arg(sh`exec 3<>${`/dev/tcp/${address}/${port}`}`)} 2>/dev/null`;
}

/**
 * How often a wait for a component asks again: a try is a /dev/tcp probe or one curl (milliseconds on the
 * host's session), and during a restore each wait is outage time: every 0.1 s, as a hand-written loop would.
 */
export const WAIT_INTERVAL_MS = 100;

/** Seconds, finite and positive, or the default. */
export function seconds(v: unknown, dflt: number, what: string): number | string {
  if (v === undefined) return dflt;
  const n = Number(v);
  if (!Number.isFinite(n) || n <= 0 || n > 86_400) return `${what} must be a number of seconds, more than 0 and at most 86400, got ${String(v)}`;
  return n;
}

export const waitAction: Action<WaitArgs> = {
  name: 'wait',
  changes: 'never',
  shellArgs: ['until_cmd', 'while_cmd'],
  plan(args, ctx) {
    const timeout = seconds(args.timeout, 60, 'timeout');
    const interval = seconds(args.interval, 1, 'interval');
    if (typeof timeout === 'string') return refuse(timeout);
    if (typeof interval === 'string') return refuse(interval);
    const poll = (until: Poll['until']): Poll => ({ until, timeoutMs: Math.round(timeout * 1000), intervalMs: Math.round(interval * 1000) });
    if (args.until_cmd !== undefined) return ok({ commands: [{ kind: 'exec', cmd: args.until_cmd, poll: poll('succeeds') }], undo: [], changes: false });
    if (args.while_cmd !== undefined) return ok({ commands: [{ kind: 'exec', cmd: args.while_cmd, poll: poll('fails') }], undo: [], changes: false });
    const port = Number(args.port);
    if (!Number.isInteger(port) || port < 1 || port > 65535) return refuse(`port must be 1-65535, got ${String(args.port)}`);
    const address = args.address ?? ctx.host.address;
    const state = args.state ?? 'open';
    return ok({ commands: [{ kind: 'exec', cmd: portProbe(address, port), poll: poll(state === 'open' ? 'succeeds' : 'fails') }], undo: [], changes: false });
  },
};
