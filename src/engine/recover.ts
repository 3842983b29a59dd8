import type { Command } from '../model/command.js';
import type { RunMeta } from '../model/events.js';
import type { Host, Inventory } from '../model/inventory.js';
import type { JournalRecord } from './journal.js';
import type { UndoEntry } from './rollback.js';

export interface InFlight {
  step: string;
  index: number;
  host: string;
  undo: Command[];
  repeatable: boolean;
}

/** Where a run that died stood, rebuilt from its journal alone (not from the dead process's memory). */
export interface RecoveredRun {
  meta: RunMeta;
  finished: boolean;
  registered: Map<string, Record<string, unknown>>;
  stack: UndoEntry[];
  lastPoint: string;
  startIndex: number;
  doneHosts: Set<string>;
  /** Changing steps that had started on a host and not completed there. */
  inFlight: InFlight[];
  /** Hosts named in the journal that the inventory no longer has. */
  missingHosts: string[];
  /** A step had failed (and the run had begun to unwind, or was about to): only rollback makes sense. */
  failedStep: string | undefined;
}

export function recoverRun(records: JournalRecord[], inventory: Inventory): { ok: true; run: RecoveredRun } | { ok: false; message: string } {
  const start = records.find((r) => r.event.type === 'run.start')?.event;
  if (start?.type !== 'run.start') return { ok: false, message: 'the journal has no run.start record' };
  const byName = new Map<string, Host>(inventory.hosts.map((h) => [h.name, h]));
  const missing = new Set<string>();
  const host = (name: string): Host | undefined => {
    const h = byName.get(name);
    if (!h) missing.add(name);
    return h;
  };
  const registered = new Map<string, Record<string, unknown>>(inventory.hosts.map((h) => [h.name, {}]));
  let stack: UndoEntry[] = [];
  let lastPoint = '(start of the playbook)';
  let finished = false;
  let maxDone = -1;
  const open = new Map<number, string>();
  const planned = new Map<string, InFlight>();
  const results = new Map<string, string>();
  const undone = new Set<string>();
  let failedStep: string | undefined;
  for (const { event: e } of records) {
    switch (e.type) {
      case 'rollback_point':
        stack = [];
        lastPoint = e.name;
        maxDone = Math.max(maxDone, e.index);
        break;
      case 'step.skip':
        maxDone = Math.max(maxDone, e.index);
        break;
      case 'step.start':
        open.set(e.index, e.step);
        break;
      case 'step.end':
        open.delete(e.index);
        if (e.status === 'failed') failedStep = e.step;
        else maxDone = Math.max(maxDone, e.index);
        break;
      case 'rollback.start':
        failedStep ??= '(unknown)';
        break;
      case 'undo.result':
        if (e.ok) undone.add(`${e.step}|${e.host}`);
        break;
      case 'step.planned':
        planned.set(`${e.index}|${e.host}`, { step: e.step, index: e.index, host: e.host, undo: e.undo, repeatable: e.repeatable });
        break;
      case 'host.result':
        results.set(`${e.index}|${e.result.host}`, e.result.status);
        break;
      case 'undo.recorded': {
        const h = host(e.host);
        if (h) stack.push({ step: e.step, stepIndex: e.index, host: h, undo: e.undo });
        break;
      }
      case 'registered':
        for (const n of e.hosts) {
          const bucket = registered.get(n);
          if (bucket) bucket[e.name] = e.value;
        }
        break;
      case 'run.end':
        finished = true;
        break;
      default:
        break;
    }
  }
  const running = [...open.keys()].sort((a, b) => a - b)[0];
  const startIndex = running ?? maxDone + 1;
  const doneHosts = new Set<string>();
  for (const [k, status] of results) {
    const [idx, h] = k.split('|');
    if (Number(idx) === startIndex && (status === 'ok' || status === 'changed' || status === 'skipped')) doneHosts.add(h ?? '');
  }
  // what an interrupted rollback already undid is not undone twice
  stack = stack.filter((e) => !undone.has(`${e.step}|${e.host.name}`));
  const inFlight = [...planned.values()].filter((p) => {
    const status = results.get(`${p.index}|${p.host}`);
    return (status === undefined || status === 'failed' || status === 'unreachable') && !undone.has(`${p.step}|${p.host}`);
  });
  return { ok: true, run: { meta: start.meta, finished, registered, stack, lastPoint, startIndex, doneHosts, inFlight, missingHosts: [...missing], failedStep } };
}
