import type { RunEvent } from '../model/events.js';

/** --output json: one event per line. */
export function jsonReporter(write: (s: string) => void): (e: RunEvent) => void {
  return (e) => write(`${JSON.stringify(e)}\n`);
}
