import type { Command } from '../model/command.js';
import type { RunEvent, RunStatus } from '../model/events.js';

/** A completed (or part-way failed) host-changing step since the last rollback point, and its undo there. */
export interface UndoRecord {
  step: string;
  index: number;
  host: string;
  undo: Command[];
}

/** A changing step that started on a host and has no final result there yet. */
export interface InFlight {
  step: string;
  index: number;
  host: string;
  undo: Command[];
  repeatable: boolean;
  /** The connection was lost mid-step: the outcome on the host is unknown. */
  lost: boolean;
}

/**
 * Where a run stands: the one state the live run, `resume` and `rollback` all work from. It is only ever
 * changed by `applyEvent`, with the same events the journal records, so a run rebuilt from its journal
 * is the run that wrote it.
 */
export interface RunState {
  /** The first program entry not finished. */
  cursor: number;
  /** For the entry at the cursor: hosts where it has completed. */
  doneHosts: string[];
  lastPoint: string;
  /** Newest last; unwinding runs it from the end, strictly one entry at a time. */
  stack: UndoRecord[];
  registered: Record<string, Record<string, unknown>>;
  inFlight: InFlight[];
  /** A step failed (or the run was interrupted): only unwinding makes sense until it is done. */
  failedStep: string | undefined;
  /** Unwinding began and has not finished. */
  unwinding: boolean;
  /** The run is over: done, back at a rollback point, or refused before anything changed. */
  settled: RunStatus | undefined;
  /** Recovery attempts (resume, rollback) so far. */
  attempts: number;
}

export function initialState(hosts: string[]): RunState {
  return {
    cursor: 0,
    doneHosts: [],
    lastPoint: '(start of the playbook)',
    stack: [],
    registered: Object.fromEntries(hosts.map((h) => [h, {}])),
    inFlight: [],
    failedStep: undefined,
    unwinding: false,
    settled: undefined,
    attempts: 0,
  };
}

const sameStepHost = (a: { index: number; host: string }, b: { index: number; host: string }) => a.index === b.index && a.host === b.host;

/** The transition function. Pure: a new state, the old one untouched. */
export function applyEvent(s: RunState, e: RunEvent): RunState {
  switch (e.type) {
    case 'rollback_point':
      return { ...s, stack: [], lastPoint: e.name, cursor: Math.max(s.cursor, e.index + 1), doneHosts: [] };
    case 'step.skip':
      return { ...s, cursor: Math.max(s.cursor, e.index + 1), doneHosts: [] };
    case 'step.start':
      return e.index === s.cursor ? s : { ...s, cursor: e.index, doneHosts: [] };
    case 'step.planned':
      return { ...s, inFlight: [...s.inFlight.filter((f) => !sameStepHost(f, e)), { step: e.step, index: e.index, host: e.host, undo: e.undo, repeatable: e.repeatable, lost: false }] };
    case 'host.result': {
      if (!e.final) return s;
      const key = { index: e.index, host: e.result.host };
      const status = e.result.status;
      // a lost connection leaves the step's effect unknown: it stays in flight, for its undo or its probe
      const inFlight = status === 'unreachable' ? s.inFlight.map((f) => (sameStepHost(f, key) ? { ...f, lost: true } : f)) : s.inFlight.filter((f) => !sameStepHost(f, key));
      const done = (status === 'ok' || status === 'changed' || status === 'skipped') && e.index === s.cursor ? [...s.doneHosts, e.result.host] : s.doneHosts;
      // the undo it leaves owed and what it registered come in the same record: one transition
      const stack = e.undo?.length ? [...s.stack, { step: e.step, index: e.index, host: e.result.host, undo: e.undo }] : s.stack;
      let registered = s.registered;
      if (e.registered) {
        const reg = e.registered;
        registered = { ...registered };
        for (const h of reg.hosts) registered[h] = { ...(registered[h] ?? {}), [reg.name]: reg.value };
      }
      return { ...s, inFlight, doneHosts: done, stack, registered };
    }
    case 'step.end':
      if (e.status === 'failed') return { ...s, failedStep: e.step };
      return { ...s, cursor: Math.max(s.cursor, e.index + 1), doneHosts: [] };
    case 'rollback.start':
      return { ...s, unwinding: true, failedStep: s.failedStep ?? '(interrupted)' };
    case 'undo.result': {
      if (!e.ok) return s;
      // the newest matching entry is the one undone (rollback runs the stack from its end)
      const i = s.stack.findLastIndex((r) => r.step === e.step && r.host === e.host);
      const stack = i < 0 ? s.stack : [...s.stack.slice(0, i), ...s.stack.slice(i + 1)];
      return { ...s, stack, inFlight: s.inFlight.filter((f) => !(f.step === e.step && f.host === e.host)) };
    }
    case 'rollback.end':
      return e.ok ? { ...s, unwinding: false, stack: [], inFlight: [] } : s;
    case 'probe': {
      const f = s.inFlight.find((x) => sameStepHost(x, e));
      if (!f || (e.verdict !== 'done' && e.verdict !== 'not-started')) return s;
      const inFlight = s.inFlight.filter((x) => x !== f);
      // done: the step completed there, its undo is owed; not started: nothing to undo, it runs again
      if (e.verdict === 'not-started') return { ...s, inFlight };
      return { ...s, inFlight, stack: [...s.stack, { step: f.step, index: f.index, host: f.host, undo: f.undo }], doneHosts: e.index === s.cursor ? [...s.doneHosts, e.host] : s.doneHosts };
    }
    case 'resumed':
      return { ...s, attempts: s.attempts + 1 };
    case 'run.end': {
      // settled only when nothing is owed: done, rolled back, or the run itself refused before anything
      // changed. A recovery attempt that was refused settles nothing: the next one may still succeed
      const owed = s.stack.length > 0 || s.inFlight.length > 0 || s.unwinding;
      const refusedUntouched = e.status === 'failed' && !owed && s.failedStep === undefined && s.attempts === 0;
      const settled = e.status === 'ok' || e.status === 'rolled_back' || refusedUntouched ? e.status : undefined;
      return { ...s, settled: s.settled ?? settled };
    }
    case 'run.start':
    case 'command.start':
    case 'command.output':
    case 'transfer.progress':
    case 'command.end':
    case 'rollback.skipped':
    case 'log':
      return s;
  }
}

export function foldEvents(events: RunEvent[], hosts: string[]): RunState {
  return events.reduce(applyEvent, initialState(hosts));
}
