import { closeSync, fsync, fsyncSync, mkdirSync, openSync, readdirSync, readFileSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import type { RunEvent } from '../model/events.js';

export interface JournalRecord {
  at: string;
  event: RunEvent;
}

/**
 * Append-only JSON lines, one record per event, written at once (a process that dies keeps them: they are
 * in the kernel's page cache). On disk, for a machine that dies, by group commit: `durable()` resolves once
 * everything written so far is fsynced, and the callers that wait while one fsync runs share the next one.
 * The engine waits for it after `command.start` and before a command of a step that changes hosts runs
 * (write-ahead), so 10 hosts starting a step cost one or two fsyncs, not ten, and the event loop never
 * blocks on the disk. A read-only step does not wait: its start lost with the machine, resume runs it again.
 */
export class Journal {
  private fd: number;
  readonly file: string;
  /** Records written; the count covered by the last finished fsync; the fsync in flight (and what it covers). */
  private written = 0;
  private synced = 0;
  private flushing: Promise<void> | undefined;

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
    this.written++;
    // the end of a run and an undo's outcome are few, and what recovery decides by: on disk before going on
    if (event.type === 'run.end' || event.type === 'undo.result') this.syncNow();
    return true;
  }

  /** Resolves when every record written before the call is on disk. */
  async durable(): Promise<void> {
    const want = this.written;
    while (this.synced < want) {
      if (!this.flushing) {
        const covers = this.written;
        this.flushing = new Promise<void>((resolve, reject) => fsync(this.fd, (err) => (err ? reject(err) : resolve()))).then(() => {
          this.synced = Math.max(this.synced, covers);
          this.flushing = undefined;
        }, (err: unknown) => {
          this.flushing = undefined;
          throw err;
        });
      }
      await this.flushing;
    }
  }

  private syncNow(): void {
    const covers = this.written;
    fsyncSync(this.fd);
    this.synced = Math.max(this.synced, covers);
  }

  close(): void {
    // run.end was synced as it was written: a second fsync of nothing new would only cost the exit its time
    if (this.synced < this.written) fsyncSync(this.fd);
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
