import type { Command } from '../model/command.js';
import type { Program } from '../engine/plan.js';
import type { RunPlan } from '../engine/plan-step.js';
import { showShell } from '../shell/render.js';
import { wireShell } from '../shell/wire.js';

/**
 * The program as JSON: the program itself, each shell command also given as `text` (what `bash -c`
 * gets) and `wire` (what the host's shell gets: deadline and sudo), run-time values by name.
 */
export function programJson(p: Program): unknown {
  const view = (c: Command) => (c.kind === 'exec' ? { ...c, text: showShell(c.cmd), wire: showShell(wireShell(c)) } : c);
  const viewRun = (h: RunPlan) => ({ ...h, commands: h.commands.map(view), undo: h.undo.map(view), partialUndo: h.partialUndo?.map((u) => u.map(view)) });
  return {
    ...p,
    entries: p.entries.map((e) =>
      e.kind !== 'step'
        ? e
        : {
            ...e,
            hosts: e.hosts.map((h) =>
              h.kind === 'run' ? viewRun(h) : h.kind === 'choose' ? { ...h, cases: h.cases.map((k) => ({ ...k, plan: viewRun(k.plan) })) } : h,
            ),
          },
    ),
  };
}
