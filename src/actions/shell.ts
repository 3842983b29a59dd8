import type { Command } from '../model/command.js';
import { shellJoin } from '../util/shell-quote.js';
import { type Action, type ActionContext, ok, type PlanResult } from './action.js';

function declared(cmd: string, ctx: ActionContext): PlanResult {
  const changes = ctx.step.changes !== false;
  const undo: Command[] = changes && ctx.undo ? [{ kind: 'exec', cmd: ctx.undo }] : [];
  return ok({ commands: [{ kind: 'exec', cmd }], undo, changes });
}

export const shellAction: Action<{ cmd: string }> = {
  name: 'shell',
  changes: 'declared',
  shellArgs: ['cmd'],
  plan: (args, ctx) => declared(args.cmd, ctx),
};

export const commandAction: Action<{ argv: unknown[] }> = {
  name: 'command',
  changes: 'declared',
  shellArgs: [],
  plan: (args, ctx) => declared(shellJoin(args.argv.map((a) => (typeof a === 'string' ? a : JSON.stringify(a)))), ctx),
};
