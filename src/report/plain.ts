import type { ChalkInstance } from 'chalk';
import type { RunEvent } from '../model/events.js';
import { formatResult, formatSummary } from './format.js';
import { formatProgress, UNKNOWN_TOTAL_STEP } from '../engine/progress.js';

/** Plain lines for pipes and CI: a long transfer prints a line each 10% (each 640 MiB when its size is unknown). */
export function plainReporter(write: (s: string) => void, c: ChalkInstance, verbose: boolean): (e: RunEvent) => void {
  const shown = new Map<string, number>();
  return (e) => {
    switch (e.type) {
      case 'transfer.progress': {
        const key = `${e.step}\0${e.host}\0${e.what}`;
        const decile = e.total ? Math.floor((Math.min(e.bytes, e.total) * 10) / e.total) : Math.floor(e.bytes / (10 * UNKNOWN_TOTAL_STEP));
        if (!e.done && (decile === (shown.get(key) ?? 0) || (e.total !== undefined && decile >= 10))) return;
        shown.set(key, decile);
        if (e.done) shown.delete(key);
        write(c.dim(`    ${e.host} ${e.what}: ${formatProgress(e)}\n`));
        return;
      }
      case 'run.start':
        write(`${c.bold('run')} ${e.meta.runId}: ${e.meta.playbook} (${e.meta.playbookFile}) on cluster ${e.meta.cluster}${e.meta.dryRun ? ' [dry run]' : ''}\n`);
        return;
      case 'step.start':
        write(`${c.cyan('▶')} [${e.index + 1}] ${c.bold(e.step)} on ${e.hosts.join(', ') || '(no hosts)'}${e.down.length ? c.yellow(` (down, not contacted: ${e.down.join(', ')})`) : ''}\n`);
        return;
      case 'step.skip':
        write(`${c.dim(`- [${e.index + 1}] ${e.step}: skipped (${e.reason})`)}\n`);
        return;
      case 'command.start':
        if (verbose) write(c.dim(`    ${e.host} ${e.phase === 'undo' ? 'undo ' : ''}$ ${e.command}\n`));
        return;
      case 'command.output':
        return;
      case 'command.end':
        if (!e.ok && e.phase === 'do') {
          const tail = (e.stderrTail || e.stdoutTail).trim().split('\n').slice(-5);
          for (const l of tail) if (l) write(c.dim(`      ${e.host}| ${l}\n`));
        }
        return;
      case 'host.result':
        write(`  ${formatResult(e.result, c)}${e.attempt > 1 ? c.dim(` (attempt ${e.attempt})`) : ''}\n`);
        return;
      case 'step.end':
        return;
      case 'rollback_point':
        write(`${c.magenta('◆')} rollback point ${c.bold(e.name)}\n`);
        return;
      case 'rollback.start':
        write(`${c.yellow('↺')} ${e.reason}\n${c.yellow('↺')} rolling back to '${e.to}': ${e.entries.length} undo(s)\n`);
        return;
      case 'undo.result':
        write(`  ${e.ok ? c.green('undone') : c.red('NOT UNDONE')} ${e.step} on ${e.host}${e.message ? `: ${e.message}` : ''}\n`);
        return;
      case 'rollback.end':
        if (e.ok) write(`${c.yellow('↺')} back at rollback point '${e.to}'\n`);
        else for (const r of e.remaining) write(c.red.bold(`!! ${r.host}: still to undo by hand: ${r.steps.join(', ')} (${r.why})\n`));
        return;
      case 'rollback.skipped':
        write(c.yellow(`--no-rollback: left in place (newest first): ${e.pending.map((p) => `${p.step}@${p.host}`).join(', ') || 'nothing'}\n`));
        return;
      case 'log':
        write(`${e.level === 'info' ? '' : e.level === 'warn' ? c.yellow('warning: ') : c.red('error: ')}${e.message}\n`);
        return;
      case 'run.end':
        write(formatSummary(e, c));
        return;
    }
  };
}
