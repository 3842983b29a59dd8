// Where a run's playbook is in Git: the commit and whether it has uncommitted changes, from a real `git`.
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { gitInfo } from '../../src/util/git-info.js';

const git = (dir: string, ...args: string[]) => execFileSync('git', ['-C', dir, ...args], { encoding: 'utf8', env: { ...process.env, GIT_AUTHOR_NAME: 't', GIT_AUTHOR_EMAIL: 't@t', GIT_COMMITTER_NAME: 't', GIT_COMMITTER_EMAIL: 't@t' } }).trim();

describe('gitInfo', () => {
  it('outside a work tree: nothing, and no git started', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'rb-nogit-'));
    writeFileSync(join(dir, 'pb.yml'), 'x');
    // a `git` first on PATH that leaves a mark and claims a commit: were it started, the answer would say so
    const bin = mkdtempSync(join(tmpdir(), 'rb-fakegit-'));
    writeFileSync(join(bin, 'git'), `#!/bin/sh\ntouch ${join(bin, 'started')}\necho abc\n`, { mode: 0o755 });
    const env: NodeJS.ProcessEnv = { ...process.env, PATH: `${bin}:${process.env['PATH'] ?? ''}` };
    delete env['GIT_DIR'];
    expect(await gitInfo([join(dir, 'pb.yml')], env)).toEqual({ commit: undefined, dirty: undefined });
    expect(existsSync(join(bin, 'started'))).toBe(false);
  });

  it('in a repository: the commit, and dirty once a file given has changes', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'rb-git-'));
    git(dir, 'init', '-q');
    writeFileSync(join(dir, 'pb.yml'), 'a');
    writeFileSync(join(dir, 'inv.yml'), 'b');
    git(dir, 'add', '.');
    git(dir, 'commit', '-qm', 'one');
    const head = git(dir, 'rev-parse', 'HEAD');
    const files = [join(dir, 'pb.yml'), join(dir, 'inv.yml')];
    expect(await gitInfo(files)).toEqual({ commit: head, dirty: false });
    writeFileSync(join(dir, 'inv.yml'), 'changed');
    expect(await gitInfo(files)).toEqual({ commit: head, dirty: true });
  });
});
