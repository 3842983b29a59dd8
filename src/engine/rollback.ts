import type { Command } from '../model/command.js';
import type { EmitFn } from '../model/events.js';
import type { Host } from '../model/inventory.js';
import type { Scope } from '../template/expression.js';
import type { Transport } from '../transport/transport.js';
import { runCommand } from './run-command.js';
import type { StoreFactory } from './run-special.js';

/** A completed, host-changing step since the last rollback point, and how to undo it there. */
export interface UndoEntry {
  step: string;
  stepIndex: number;
  host: Host;
  undo: Command[];
}

export interface RollbackInput {
  entries: UndoEntry[];
  to: string;
  reason: string;
  /** Hosts known to be unreachable: their undo cannot run now. */
  unreachable: Set<string>;
  transport: Transport;
  emit: EmitFn;
  signal: AbortSignal;
  stores: StoreFactory;
  /** Resolves once every event emitted so far is in the journal on disk (the write-ahead barrier). */
  journaled: () => Promise<void>;
  /** A host's run-time scope: gives the undo's secret references their values (nothing else is re-rendered). */
  scopeOf: (host: Host) => Scope;
}

export interface RollbackOutcome {
  ok: boolean;
  remaining: { host: string; steps: string[]; why: string }[];
}

/**
 * Undo, newest first, every entry on the host where it ran. Once an undo fails on a host (or the host
 * is unreachable), the older undos there are not attempted: they assume the newer ones succeeded.
 * Other hosts are still unwound. What is left is returned for the operator.
 */
export async function rollback(input: RollbackInput): Promise<RollbackOutcome> {
  const { emit } = input;
  const entries = [...input.entries].reverse();
  emit({ type: 'rollback.start', to: input.to, entries: entries.map((e) => ({ step: e.step, host: e.host.name })), reason: input.reason });
  const blocked = new Map<string, { why: string; steps: string[] }>();
  for (const h of input.unreachable) blocked.set(h, { why: 'unreachable', steps: [] });
  // Strictly newest first across all hosts: a step that ran host by host (serial) is undone host by
  // host in reverse, and no two hosts are taken down at once by an unwind.
  for (const e of entries) {
    const hostName = e.host.name;
    const b = blocked.get(hostName);
    if (b) {
      b.steps.push(e.step);
      emit({ type: 'undo.result', step: e.step, host: hostName, ok: false, message: `not undone: ${b.why}` });
      continue;
    }
    let failure: string | undefined;
    const scope = input.scopeOf(e.host);
    for (const [i, cmd] of e.undo.entries()) {
      const o = await runCommand(cmd, {
        transport: input.transport,
        emit,
        step: e.step,
        host: e.host,
        phase: 'undo',
        index: i,
        scope,
        confirm: async () => false,
        signal: input.signal,
        stores: input.stores,
        journaled: input.journaled,
      });
      if (!o.ok) {
        failure = `${o.error ?? 'failed'}${o.stderr ? `: ${o.stderr.trim().split('\n').slice(-3).join(' | ')}` : ''}`;
        break;
      }
    }
    emit({ type: 'undo.result', step: e.step, host: hostName, ok: failure === undefined, message: failure });
    if (failure !== undefined) blocked.set(hostName, { why: `undo of '${e.step}' failed (${failure})`, steps: [e.step] });
  }
  const remaining = [...blocked.entries()].filter(([, b]) => b.steps.length > 0).map(([host, b]) => ({ host, steps: b.steps, why: b.why }));
  const ok = remaining.length === 0;
  emit({ type: 'rollback.end', to: input.to, ok, remaining });
  return { ok, remaining };
}
