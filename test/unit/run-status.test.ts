import { describe, expect, it } from 'vitest';
import { runsDirOf } from '../../src/cli/runs-command.js';
import { runCondition } from '../../src/engine/run-status.js';
import type { RunEvent, RunMeta } from '../../src/model/events.js';

const meta = { runId: 'r', playbook: 'p', playbookFile: 'p.yml', inventoryFile: 'i.yml', cluster: 'c', user: 'sre', machine: 'jump', pid: 100, argv: [], git: { commit: undefined, dirty: undefined }, dryRun: false, hosts: ['m1'], lockHosts: ['m1'], startedAt: '2026-12-01T00:00:00Z', extraVars: {}, limit: undefined, tags: undefined, playbookSha256: '', inventorySha256: '' } satisfies RunMeta;

const start: RunEvent = { type: 'run.start', meta };
const changed: RunEvent[] = [
  { type: 'step.start', step: 's', index: 0, hosts: ['m1'], down: [] },
  { type: 'step.planned', step: 's', index: 0, host: 'm1', undo: [], repeatable: false },
  { type: 'host.result', step: 's', index: 0, attempt: 1, final: true, result: { host: 'm1', status: 'changed', outcome: undefined }, undo: [{ kind: 'exec', cmd: { parts: [] } } as never] },
  { type: 'step.end', step: 's', index: 0, status: 'changed' },
];
const end = (status: 'ok' | 'rolled_back' | 'failed' | 'needs_attention'): RunEvent => ({ type: 'run.end', status, exitCode: 0, failedStep: undefined, message: `ended ${status}`, durationMs: 1 });

describe('run status, folded with the run state machine', () => {
  const alive = (pids: number[]) => (pid: number, machine: string) => (machine === 'jump' ? pids.includes(pid) : undefined);
  const table: { name: string; events: RunEvent[]; pids?: number[]; want: string }[] = [
    { name: 'done', events: [start, ...changed, end('ok')], want: 'done' },
    { name: 'rolled back', events: [start, ...changed, { type: 'rollback.start', to: 'x', entries: [], reason: 'r' }, { type: 'undo.result', step: 's', host: 'm1', ok: true, message: undefined }, { type: 'rollback.end', to: 'x', ok: true, remaining: [] }, end('rolled_back')], want: 'rolled back' },
    { name: 'refused before anything changed', events: [start, end('failed')], want: 'refused' },
    { name: 'ended with an undo owed', events: [start, ...changed, end('needs_attention')], want: 'needs attention' },
    { name: 'no run.end, its process is alive', events: [start, ...changed], pids: [100], want: 'running' },
    { name: 'no run.end, its process is gone', events: [start, ...changed], pids: [], want: 'died' },
    { name: 'a resume is running: its pid counts, not the first one', events: [start, ...changed, end('needs_attention'), { type: 'resumed', by: 'ops@jump', pid: 200, mode: 'resume' }], pids: [200], want: 'running' },
    { name: 'a resume died', events: [start, ...changed, { type: 'resumed', by: 'ops@jump', pid: 200, mode: 'resume' }], pids: [100], want: 'died' },
    { name: 'a resume settled it', events: [start, ...changed, end('needs_attention'), { type: 'resumed', by: 'ops@jump', pid: 200, mode: 'rollback' }, { type: 'undo.result', step: 's', host: 'm1', ok: true, message: undefined }, end('rolled_back')], want: 'rolled back' },
    { name: 'another machine: cannot tell', events: [{ type: 'run.start', meta: { ...meta, machine: 'other' } }, ...changed], want: 'unknown' },
  ];
  for (const t of table) it(t.name, () => expect(runCondition(t.events, alive(t.pids ?? [])).condition).toBe(t.want));
});

describe('the runs dir', () => {
  const table: { name: string; runsDir?: string; env: Record<string, string>; want: string }[] = [
    { name: '--runs-dir wins', runsDir: '/r', env: { RUNBOOK_RUNS_DIR: '/e', XDG_STATE_HOME: '/x', HOME: '/h' }, want: '/r' },
    { name: 'then $RUNBOOK_RUNS_DIR', env: { RUNBOOK_RUNS_DIR: '/e', XDG_STATE_HOME: '/x', HOME: '/h' }, want: '/e' },
    { name: 'then $XDG_STATE_HOME', env: { XDG_STATE_HOME: '/x', HOME: '/h' }, want: '/x/etcd-runbook/runs' },
    { name: 'a relative $XDG_STATE_HOME is ignored (XDG spec)', env: { XDG_STATE_HOME: 'x', HOME: '/h' }, want: '/h/.local/state/etcd-runbook/runs' },
    { name: 'else ~/.local/state', env: { HOME: '/h' }, want: '/h/.local/state/etcd-runbook/runs' },
  ];
  for (const t of table) it(t.name, () => expect(runsDirOf({ runsDir: t.runsDir }, t.env)).toBe(t.want));
});
