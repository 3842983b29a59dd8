import { execFileSync } from 'node:child_process';
import { dirname, resolve } from 'node:path';

/** The Git commit a file is at and whether it has uncommitted changes; undefined outside Git. */
export function gitInfo(files: string[]): { commit: string | undefined; dirty: boolean | undefined } {
  const first = files[0];
  if (!first) return { commit: undefined, dirty: undefined };
  const dir = dirname(resolve(first));
  try {
    const commit = execFileSync('git', ['-C', dir, 'rev-parse', 'HEAD'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
    const status = execFileSync('git', ['-C', dir, 'status', '--porcelain', '--', ...files.map((f) => resolve(f))], {
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'ignore'],
    });
    return { commit, dirty: status.trim() !== '' };
  } catch {
    return { commit: undefined, dirty: undefined };
  }
}
