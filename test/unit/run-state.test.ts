// The one state machine: table tests of the transition function that the live run, resume and
// rollback all fold the journal with.
import { describe, expect, it } from 'vitest';
import { foldEvents, type RunState } from '../../src/engine/run-state.js';
import type { Command } from '../../src/model/command.js';
import type { RunEvent } from '../../src/model/events.js';

const undo = (t: string): Command[] => [{ kind: 'exec', cmd: { sh: [{ lit: t }] } }];
const ok = (index: number, host: string, status: 'ok' | 'changed' | 'failed' | 'unreachable' = 'changed', owes = false): RunEvent => ({
  type: 'host.result',
  step: `s${index}`,
  index,
  attempt: 1,
  final: true,
  undo: owes ? undo(`u${index}${host}`) : undefined,
  result: status === 'failed' ? { status, host, outcome: undefined, message: 'x' } : status === 'unreachable' ? { status, host, message: 'lost' } : { status, host, outcome: undefined },
});
const planned = (index: number, host: string, repeatable = false): RunEvent => ({ type: 'step.planned', step: `s${index}`, index, host, undo: undo(`u${index}${host}`), repeatable });
const start = (index: number): RunEvent => ({ type: 'step.start', step: `s${index}`, index, hosts: ['a', 'b'], down: [] });
const end = (index: number, status: 'ok' | 'changed' | 'failed' = 'changed'): RunEvent => ({ type: 'step.end', step: `s${index}`, index, status });
const runEnd = (status: 'ok' | 'rolled_back' | 'failed' | 'needs_attention'): RunEvent => ({ type: 'run.end', status, exitCode: 0, failedStep: undefined, message: '', durationMs: 0 });
const undone = (index: number, host: string, isOk = true): RunEvent => ({ type: 'undo.result', step: `s${index}`, host, ok: isOk, message: undefined });
const stepDone = (i: number) => [start(i), planned(i, 'a'), ok(i, 'a', 'changed', true), planned(i, 'b'), ok(i, 'b', 'changed', true), end(i)];

const cases: [string, RunEvent[], Partial<RunState> & { stackOf?: string[]; inFlightOf?: string[] }][] = [
  ['two completed steps: cursor after them, both undos owed, newest last', [...stepDone(0), ...stepDone(1)], { cursor: 2, stackOf: ['s0a', 's0b', 's1a', 's1b'], inFlightOf: [] }],
  ['a rollback point clears the stack and moves the cursor', [...stepDone(0), { type: 'rollback_point', name: 'p', index: 1 }], { cursor: 2, lastPoint: 'p', stackOf: [] }],
  ['killed mid-step: done on a (its undo in the same record), in flight on b', [start(0), planned(0, 'a'), planned(0, 'b'), ok(0, 'a', 'changed', true)], { cursor: 0, doneHosts: ['a'], stackOf: ['s0a'], inFlightOf: ['s0b'] }],
  ['a retried attempt is not final: the step stays in flight', [start(0), planned(0, 'a'), { ...(ok(0, 'a', 'failed') as Extract<RunEvent, { type: 'host.result' }>), final: false }], { inFlightOf: ['s0a'], doneHosts: [] }],
  ['a lost connection keeps the step in flight, marked lost', [start(0), planned(0, 'a'), ok(0, 'a', 'unreachable')], { inFlightOf: ['s0a'] }],
  ['a failed step: failedStep set, the cursor stays', [start(0), planned(0, 'a'), ok(0, 'a', 'failed'), end(0, 'failed')], { cursor: 0, failedStep: 's0', inFlightOf: [] }],
  ['unwinding half done (crash): what was undone is gone from the stack, the rest stays', [...stepDone(0), start(1), planned(1, 'a'), ok(1, 'a', 'failed'), end(1, 'failed'), { type: 'rollback.start', to: 'x', entries: [], reason: 'r' }, undone(0, 'b')], { unwinding: true, stackOf: ['s0a'], failedStep: 's1' }],
  ['an undo that failed stays owed', [...stepDone(0), { type: 'rollback.start', to: 'x', entries: [], reason: 'r' }, undone(0, 'b', false), { type: 'rollback.end', to: 'x', ok: false, remaining: [] }, runEnd('needs_attention')], { unwinding: true, stackOf: ['s0a', 's0b'], settled: undefined }],
  ['rolled back: settled', [...stepDone(0), { type: 'rollback.start', to: 'x', entries: [], reason: 'r' }, undone(0, 'b'), undone(0, 'a'), { type: 'rollback.end', to: 'x', ok: true, remaining: [] }, runEnd('rolled_back')], { settled: 'rolled_back', stackOf: [] }],
  ['needs attention (exit 3, --no-rollback): not settled, the undos still owed', [...stepDone(0), runEnd('needs_attention')], { settled: undefined, stackOf: ['s0a', 's0b'] }],
  ['refused before anything changed: settled as failed', [runEnd('failed')], { settled: 'failed' }],
  ['a refused recovery attempt settles nothing', [{ type: 'resumed', by: 'u', pid: 1, mode: 'resume' }, runEnd('failed')], { settled: undefined, attempts: 1 }],
  ['a probe that finds the step done: undo owed, host done', [start(0), planned(0, 'a'), { type: 'probe', step: 's0', index: 0, host: 'a', verdict: 'done', output: 'done' }], { doneHosts: ['a'], stackOf: ['s0a'], inFlightOf: [] }],
  ['a probe that finds it not started: nothing owed, it runs again', [start(0), planned(0, 'a'), { type: 'probe', step: 's0', index: 0, host: 'a', verdict: 'not-started', output: '' }], { doneHosts: [], stackOf: [], inFlightOf: [] }],
  [
    'registered values are per host, shared ones on every receiver',
    [
      { ...(ok(0, 'a', 'ok') as Extract<RunEvent, { type: 'host.result' }>), registered: { name: 'r', hosts: ['a'], value: 1 } },
      { ...(ok(1, 'a', 'ok') as Extract<RunEvent, { type: 'host.result' }>), registered: { name: 'q', hosts: ['a', 'b'], value: 2 } },
    ],
    { registered: { a: { r: 1, q: 2 }, b: { q: 2 } } },
  ],
];

describe('the run state machine (journal fold)', () => {
  it.each(cases)('%s', (_name, events, want) => {
    const s = foldEvents(events, ['a', 'b']);
    const { stackOf, inFlightOf, ...rest } = want;
    expect(s).toMatchObject(rest);
    const label = (x: { step: string; host: string }) => `${x.step}${x.host}`;
    if (stackOf) expect(s.stack.map(label)).toEqual(stackOf);
    if (inFlightOf) expect(s.inFlight.map(label)).toEqual(inFlightOf);
  });

  it('folding is deterministic and pure: the same events give the same state, the input is untouched', () => {
    const events = [...stepDone(0), ...stepDone(1)];
    const copy = JSON.stringify(events);
    expect(foldEvents(events, ['a', 'b'])).toEqual(foldEvents(events, ['a', 'b']));
    expect(JSON.stringify(events)).toBe(copy);
  });
});
