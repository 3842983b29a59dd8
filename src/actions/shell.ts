import type { Command } from '../model/command.js';
import type { Cat, Ref, Shell } from '../model/shell.js';
import { isCat, isRef, words } from '../shell/build.js';
import { type Action, type ActionContext, ok, type PlanResult } from './action.js';

function declared(cmd: Shell, ctx: ActionContext): PlanResult {
  const changes = ctx.step.changes !== false;
  const undo: Command[] = changes && ctx.undo ? [{ kind: 'exec', cmd: ctx.undo }] : [];
  return ok({ commands: [{ kind: 'exec', cmd }], undo, changes });
}

export const shellAction: Action<{ cmd: Shell }> = {
  name: 'shell',
  changes: 'declared',
  shellArgs: ['cmd'],
  runtimeArgs: ['cmd'],
  plan: (args, ctx) => declared(args.cmd, ctx),
};

const asWord = (a: unknown): string | number | Ref | Cat => (typeof a === 'string' || typeof a === 'number' || isRef(a) || isCat(a) ? a : JSON.stringify(a));

export const commandAction: Action<{ argv: unknown[] }> = {
  name: 'command',
  changes: 'declared',
  shellArgs: [],
  runtimeArgs: ['argv'],
  plan: (args, ctx) => declared(words(args.argv.map(asWord)), ctx),
};
