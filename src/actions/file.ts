import { readFileSync } from 'node:fs';
import { createHash } from 'node:crypto';
import { resolve } from 'node:path';
import type { Command } from '../model/command.js';
import type { Shell } from '../model/shell.js';
import { join, sh } from '../shell/build.js';
import { type Action, type ActionContext, backupDir, checkPath, ok, type PlanResult, refuse } from './action.js';

/** `mv` that refuses to overwrite: the destination is what a rollback would need. */
export function moveCommand(src: string, dest: string): Shell {
  return sh`if [ -e ${dest} ]; then echo ${`refusing to move: ${dest} already exists`} >&2; exit 17; fi; mv -T -- ${src} ${dest}`;
}

/** The same move, done at most once: already moved (a step or undo run again after a crash) is success. */
export function moveOnce(src: string, dest: string): Shell {
  return join([sh`if [ ! -e ${src} ] && [ -e ${dest} ]; then exit 0; fi`, moveCommand(src, dest)], '; ');
}

export const fileMove: Action<{ src: string; dest: string }> = {
  name: 'file.move',
  changes: 'always',
  shellArgs: [],
  plan(args) {
    const bad = checkPath(args.src, 'src') ?? checkPath(args.dest, 'dest');
    if (bad) return refuse(bad);
    return ok({
      commands: [{ kind: 'exec', cmd: moveCommand(args.src, args.dest) }],
      // moved back already (an unwinding a crash interrupted, run again): nothing to do
      undo: [{ kind: 'exec', cmd: moveOnce(args.dest, args.src) }],
      changes: true,
      // a rename is atomic: after a crash it either happened or it did not
      probe: { cmd: sh`if [ ! -e ${args.src} ] && [ -e ${args.dest} ]; then echo done; elif [ -e ${args.src} ] && [ ! -e ${args.dest} ]; then echo not-started; else echo unknown; fi`, cleanup: [] },
    });
  },
};

function parseMode(mode: unknown, dflt: number): number {
  return typeof mode === 'string' ? Number.parseInt(mode, 8) : dflt;
}

/** Keep the file's previous content (or the fact it did not exist) so the undo can put it back. */
function writeWithBackup(ctx: ActionContext, dest: string, content: string, mode: number, summary: string): PlanResult {
  const bad = checkPath(dest, 'dest');
  if (bad) return refuse(bad);
  if (!Number.isInteger(mode) || mode < 0 || mode > 0o7777) return refuse('mode must be an octal file mode such as "0644"');
  const bk = backupDir(ctx);
  // taken once: a retried attempt must not overwrite the backup with its own first attempt's file
  const save: Command = {
    kind: 'exec',
    cmd: sh`mkdir -p ${bk} && if [ -e ${`${bk}/previous`} ] || [ -e ${`${bk}/absent`} ]; then :; elif [ -e ${dest} ]; then cp -a -- ${dest} ${`${bk}/previous`}; else : > ${`${bk}/absent`}; fi`,
  };
  const restore: Command = {
    kind: 'exec',
    cmd: sh`if [ -e ${`${bk}/previous`} ]; then cp -a -- ${`${bk}/previous`} ${dest}; elif [ -e ${`${bk}/absent`} ]; then rm -f -- ${dest}; else echo ${`no backup of ${dest} in ${bk}`} >&2; exit 1; fi`,
  };
  return ok({ commands: [save, { kind: 'upload', dest, mode, content, summary }], undo: [restore], changes: true });
}

export const fileWrite: Action<{ dest: string; content: string; mode?: string }> = {
  name: 'file.write',
  changes: 'always',
  shellArgs: [],
  repeatable: true,
  plan(args, ctx) {
    const content = String(args.content);
    const sha = createHash('sha256').update(content).digest('hex').slice(0, 12);
    return writeWithBackup(ctx, args.dest, content, parseMode(args.mode, 0o644), `${Buffer.byteLength(content)} bytes, sha256 ${sha}…`);
  },
};

export const fileUpload: Action<{ src: string; dest: string; mode?: string }> = {
  name: 'file.upload',
  changes: 'always',
  shellArgs: [],
  repeatable: true,
  plan(args, ctx) {
    const local = resolve(ctx.baseDir, args.src);
    let content: string;
    try {
      content = readFileSync(local, 'utf8');
    } catch (e) {
      return refuse(`cannot read local file ${local}: ${(e as NodeJS.ErrnoException).code ?? String(e)}`);
    }
    const sha = createHash('sha256').update(content).digest('hex').slice(0, 12);
    return writeWithBackup(ctx, args.dest, content, parseMode(args.mode, 0o644), `${local} (${Buffer.byteLength(content)} bytes, sha256 ${sha}…)`);
  },
};

export const fileFetch: Action<{ src: string; dest: string }> = {
  name: 'file.fetch',
  changes: 'never',
  shellArgs: [],
  plan(args, ctx) {
    const bad = checkPath(args.src, 'src');
    if (bad) return refuse(bad);
    return ok({ commands: [{ kind: 'fetch', src: args.src, dest: resolve(ctx.baseDir, args.dest) }], undo: [], changes: false });
  },
};

export const fileMkdir: Action<{ path: string; mode?: string }> = {
  name: 'file.mkdir',
  changes: 'always',
  shellArgs: [],
  repeatable: true,
  plan(args, ctx) {
    const bad = checkPath(args.path, 'path');
    if (bad) return refuse(bad);
    const bk = backupDir(ctx);
    const mode = parseMode(args.mode, 0o755);
    if (!Number.isInteger(mode) || mode < 0 || mode > 0o7777) return refuse('mode must be an octal file mode such as "0755"');
    return ok({
      commands: [
        {
          kind: 'exec',
          cmd: sh`mkdir -p ${bk} && if [ -e ${`${bk}/created`} ]; then :; elif [ -d ${args.path} ]; then : > ${`${bk}/existed`}; else mkdir -p -m ${mode.toString(8)} -- ${args.path} && : > ${`${bk}/created`}; fi`,
        },
      ],
      undo: [{ kind: 'exec', cmd: sh`if [ ! -e ${`${bk}/existed`} ] && [ -d ${args.path} ]; then rmdir -- ${args.path}; fi` }],
      changes: true,
    });
  },
};
