import type { ChalkInstance } from 'chalk';
import type { StepResult } from '../model/command.js';
import type { RunEvent } from '../model/events.js';

export function formatResult(r: StepResult, c: ChalkInstance): string {
  switch (r.status) {
    case 'ok':
      return `${r.host} ${c.green('ok')}${r.outcome ? c.dim(` ${r.outcome.durationMs} ms`) : ''}`;
    case 'changed':
      return `${r.host} ${c.yellow('changed')}${r.outcome ? c.dim(` ${r.outcome.durationMs} ms`) : ''}`;
    case 'skipped':
      return `${r.host} ${c.dim(`skipped (${r.reason})`)}`;
    case 'failed':
      return `${r.host} ${c.red.bold('FAILED')} ${r.message}`;
    case 'unreachable':
      return `${r.host} ${c.red.bold('UNREACHABLE')} ${r.message}`;
  }
}

export function formatSummary(e: Extract<RunEvent, { type: 'run.end' }>, c: ChalkInstance): string {
  const secs = (e.durationMs / 1000).toFixed(1);
  switch (e.status) {
    case 'ok':
      return `${c.green.bold('OK')} ${e.message} in ${secs}s\n`;
    case 'rolled_back':
      // `runbook rollback` asked for it (exit 0); a run that got there by failing exits 1
      return `${c.yellow.bold(e.exitCode === 0 ? 'ROLLED BACK' : 'FAILED, ROLLED BACK')} ${e.message} (${secs}s)\n`;
    case 'failed':
      return `${c.red.bold('FAILED')} ${e.message} (${secs}s)\n`;
    case 'needs_attention':
      return `${c.red.bold('NEEDS ATTENTION')} ${e.message} (${secs}s)\n`;
  }
}
