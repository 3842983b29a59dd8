import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';

export interface GitInfo {
  commit: string | undefined;
  dirty: boolean | undefined;
}

const NOT_GIT: GitInfo = { commit: undefined, dirty: undefined };

/** Whether `dir` is inside a Git work tree as far as the file system shows (a `.git` above it, or GIT_DIR set). */
function inWorkTree(dir: string, env: NodeJS.ProcessEnv): boolean {
  if (env['GIT_DIR']) return true;
  for (let d = dir; ; d = dirname(d)) {
    if (existsSync(join(d, '.git'))) return true;
    if (dirname(d) === d) return false;
  }
}

function git(args: string[], env: NodeJS.ProcessEnv): Promise<string | undefined> {
  return new Promise((res) => {
    execFile('git', args, { encoding: 'utf8', env }, (err, stdout) => res(err ? undefined : stdout));
  });
}

/**
 * The Git commit the first file is at and whether any of the files has uncommitted changes; undefined
 * outside Git. The two `git` commands run side by side while the caller goes on (a run starts this
 * before reading its playbook); none is started where no `.git` is above the file.
 */
export async function gitInfo(files: string[], env: NodeJS.ProcessEnv = process.env): Promise<GitInfo> {
  const first = files[0];
  if (!first) return NOT_GIT;
  const dir = dirname(resolve(first));
  if (!inWorkTree(dir, env)) return NOT_GIT;
  const [commit, status] = await Promise.all([git(['-C', dir, 'rev-parse', 'HEAD'], env), git(['-C', dir, 'status', '--porcelain', '--', ...files.map((f) => resolve(f))], env)]);
  if (commit === undefined || status === undefined) return NOT_GIT;
  return { commit: commit.trim(), dirty: status.trim() !== '' };
}
