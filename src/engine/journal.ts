import { closeSync, fsyncSync, mkdirSync, openSync, readdirSync, readFileSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import type { RunEvent } from '../model/events.js';

export interface JournalRecord {
  at: string;
  event: RunEvent;
}

/** Append-only JSON lines, one record per event, written and flushed before the next event. */
export class Journal {
  private fd: number;
  readonly file: string;

  constructor(readonly dir: string) {
    mkdirSync(dir, { recursive: true });
    this.file = join(dir, 'journal.jsonl');
    this.fd = openSync(this.file, 'a', 0o600);
  }

  /** Appends the event; false for live output (kept only as tails on command.end) and transfer progress. */
  write(event: RunEvent): boolean {
    if (event.type === 'command.output' || event.type === 'transfer.progress') return false;
    const rec: JournalRecord = { at: new Date().toISOString(), event };
    writeSync(this.fd, `${JSON.stringify(rec)}\n`);
    if (event.type === 'command.start' || event.type === 'command.end' || event.type === 'run.end' || event.type === 'undo.result') fsyncSync(this.fd);
    return true;
  }

  close(): void {
    fsyncSync(this.fd);
    closeSync(this.fd);
  }
}

export function readJournal(file: string): JournalRecord[] {
  const out: JournalRecord[] = [];
  for (const line of readFileSync(file, 'utf8').split('\n')) {
    if (!line.trim()) continue;
    try {
      out.push(JSON.parse(line) as JournalRecord);
    } catch {
      // a line cut short by a crash: everything before it still counts
    }
  }
  return out;
}

export interface RunSummary {
  id: string;
  dir: string;
  playbook: string;
  cluster: string;
  user: string;
  startedAt: string;
  status: string;
  dryRun: boolean;
}

export function listRuns(runsDir: string): RunSummary[] {
  let ids: string[];
  try {
    ids = readdirSync(runsDir).sort();
  } catch {
    return [];
  }
  const out: RunSummary[] = [];
  for (const id of ids) {
    const dir = join(runsDir, id);
    let recs: JournalRecord[];
    try {
      recs = readJournal(join(dir, 'journal.jsonl'));
    } catch {
      continue;
    }
    const start = recs.find((r) => r.event.type === 'run.start')?.event;
    // the last attempt's end: a run that needed attention and was rolled back later shows rolled_back
    const end = recs.findLast((r) => r.event.type === 'run.end')?.event;
    if (start?.type !== 'run.start') continue;
    out.push({
      id,
      dir,
      playbook: start.meta.playbookFile,
      cluster: start.meta.cluster,
      user: start.meta.user,
      startedAt: start.meta.startedAt,
      status: end?.type === 'run.end' ? end.status : 'unfinished',
      dryRun: start.meta.dryRun,
    });
  }
  return out;
}
