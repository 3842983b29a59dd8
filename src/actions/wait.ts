import type { Poll } from '../model/command.js';
import { shellQuote as q } from '../util/shell-quote.js';
import { type Action, ok, refuse } from './action.js';
import { ExpressionError } from '../template/expression.js';

interface WaitArgs {
  until_cmd?: string;
  while_cmd?: string;
  port?: number | string;
  address?: string;
  state?: 'open' | 'closed';
  timeout?: number;
  interval?: number;
}

/** A probe that exits 0 when something listens on address:port, as seen from the host. */
/** A host name or an IP literal: nothing a shell would interpret. */
export function isHostAddress(address: string): boolean {
  return /^[A-Za-z0-9][A-Za-z0-9.:_-]*$/.test(address);
}

export function portProbe(address: string, port: number): string {
  // the address goes inside a second shell: only host names and IP literals may get there
  if (!isHostAddress(address) || !Number.isInteger(port)) throw new ExpressionError(`'${address}:${port}' is not a host name or IP address with a port`);
  return `timeout 2 bash -c ${q(`exec 3<>/dev/tcp/${address}/${port}`)} 2>/dev/null`;
}

export const waitAction: Action<WaitArgs> = {
  name: 'wait',
  changes: 'never',
  shellArgs: ['until_cmd', 'while_cmd'],
  plan(args, ctx) {
    const timeoutMs = Math.round(Number(args.timeout ?? 60) * 1000);
    const intervalMs = Math.round(Number(args.interval ?? 1) * 1000);
    const poll = (until: Poll['until']): Poll => ({ until, timeoutMs, intervalMs });
    if (args.until_cmd !== undefined) return ok({ commands: [{ kind: 'exec', cmd: args.until_cmd, poll: poll('succeeds') }], undo: [], changes: false });
    if (args.while_cmd !== undefined) return ok({ commands: [{ kind: 'exec', cmd: args.while_cmd, poll: poll('fails') }], undo: [], changes: false });
    const port = Number(args.port);
    if (!Number.isInteger(port) || port < 1 || port > 65535) return refuse(`port must be 1-65535, got ${String(args.port)}`);
    const address = args.address ?? ctx.host.address;
    const state = args.state ?? 'open';
    return ok({ commands: [{ kind: 'exec', cmd: portProbe(address, port), poll: poll(state === 'open' ? 'succeeds' : 'fails') }], undo: [], changes: false });
  },
};
