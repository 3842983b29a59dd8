import type { RunEvent } from '../model/events.js';
import { foldEvents } from './run-state.js';

export type RunCondition = 'done' | 'rolled back' | 'refused' | 'needs attention' | 'running' | 'died' | 'unknown';

/** Is this process alive? undefined when it cannot be told from here (another machine). */
export type Liveness = (pid: number, machine: string) => boolean | undefined;

/**
 * Where a journaled run stands, from its journal folded with the run's own state machine: settled (done,
 * rolled back, refused before anything changed), or not settled and its last attempt (the run or a
 * resume/rollback) ended (needs attention), or that attempt has not ended: its process runs or died. Pure
 * apart from `alive`.
 */
export function runCondition(events: RunEvent[], alive: Liveness): { condition: RunCondition; why: string } {
  const start = events.find((e) => e.type === 'run.start');
  const hosts = start?.type === 'run.start' ? start.meta.hosts : [];
  const s = foldEvents(events, hosts);
  switch (s.settled) {
    case 'ok':
      return { condition: 'done', why: 'all steps completed' };
    case 'rolled_back':
      return { condition: 'rolled back', why: `back at rollback point '${s.lastPoint}'` };
    case 'failed':
      return { condition: 'refused', why: 'refused before anything changed' };
    case 'needs_attention':
    case undefined:
      break;
  }
  const lastAttempt = events.findLastIndex((e) => e.type === 'run.start' || e.type === 'resumed');
  const attempt = events[lastAttempt];
  const ended = events.slice(lastAttempt + 1).findLast((e) => e.type === 'run.end');
  const owed = `${s.stack.length + s.inFlight.length} undo(s) owed${s.failedStep ? `, step '${s.failedStep}' failed` : ''}`;
  if (ended?.type === 'run.end') return { condition: 'needs attention', why: `${ended.message || ended.status}; ${owed}` };
  if (attempt?.type !== 'run.start' && attempt?.type !== 'resumed') return { condition: 'unknown', why: 'no run.start record' };
  const pid = attempt.type === 'run.start' ? attempt.meta.pid : attempt.pid;
  const machine = attempt.type === 'run.start' ? attempt.meta.machine : attempt.by.slice(attempt.by.lastIndexOf('@') + 1);
  const live = alive(pid, machine);
  if (live === true) return { condition: 'running', why: `pid ${pid} on ${machine}` };
  if (live === false) return { condition: 'died', why: `pid ${pid} on ${machine} is gone with no run.end: runbook resume or runbook rollback` };
  return { condition: 'unknown', why: `pid ${pid} runs on ${machine}, not here: running or died` };
}
