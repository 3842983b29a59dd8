import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/**
 * vitest globalSetup: every test (and every CLI it starts) gets a fresh XDG state dir, so a run whose test
 * sets no RUNBOOK_RUNS_DIR journals there, never into the machine's real ~/.local/state; and a fresh XDG
 * cache dir for the CLI's code cache (src/launch.ts), never the machine's ~/.cache. Removed at the end.
 */
export default function setup(): () => void {
  const dir = mkdtempSync(join(tmpdir(), 'runbook-test-state-'));
  process.env['XDG_STATE_HOME'] = dir;
  process.env['XDG_CACHE_HOME'] = join(dir, 'cache');
  return () => {
    if (process.env['KEEP_LAB'] !== '1') rmSync(dir, { recursive: true, force: true });
  };
}
