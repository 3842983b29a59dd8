import type { Text } from '../model/command.js';
import { type Action, ok } from './action.js';

export const assertAction: Action<{ that: string | string[]; msg?: string }> = {
  name: 'assert',
  changes: 'never',
  shellArgs: [],
  plan: (args) =>
    ok({ commands: [{ kind: 'local', op: { op: 'assert', that: Array.isArray(args.that) ? args.that : [args.that], message: args.msg } }], undo: [], changes: false }),
};

export const confirmAction: Action<{ prompt?: string; expect?: string }> = {
  name: 'confirm',
  changes: 'never',
  shellArgs: [],
  runOnce: true,
  plan: (args, ctx) => {
    const expect = args.expect ?? ctx.inventory.cluster;
    return ok({
      commands: [{ kind: 'local', op: { op: 'confirm', prompt: args.prompt ?? `Type the cluster name (${expect}) to continue`, expect } }],
      undo: [],
      changes: false,
    });
  },
};

export const messageAction: Action<{ text: Text | number | boolean }> = {
  name: 'message',
  changes: 'never',
  shellArgs: [],
  runtimeArgs: ['text'],
  plan: (args) => ok({ commands: [{ kind: 'local', op: { op: 'message', text: typeof args.text === 'object' ? args.text : String(args.text) } }], undo: [], changes: false }),
};
