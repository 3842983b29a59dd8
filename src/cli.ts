#!/usr/bin/env node
// The entry point: arguments, then the one command's module, loaded only when that command runs
// (so `--help` and `validate` start at once, and only `run` loads SSH, S3 and the TTY renderer).
import { parseCli, USAGE } from './cli/args.js';
import type { Io } from './cli/run-command.js';
import { packageVersion } from './util/package-root.js';

export async function main(argv: string[], io: Io): Promise<number> {
  const parsed = parseCli(argv);
  if (!parsed.ok) {
    io.stderr.write(`runbook: ${parsed.message}\n\n${USAGE}`);
    return 2;
  }
  const args = parsed.args;
  if (args.version) {
    io.stdout.write(`${packageVersion()}\n`);
    return 0;
  }
  if (args.help || !args.command) {
    io.stdout.write(USAGE);
    return args.help ? 0 : 2;
  }
  switch (args.command) {
    case 'validate':
      return (await import('./cli/playbook-commands.js')).validate(args, io);
    case 'plan':
    case 'run':
      return (await import('./cli/playbook-commands.js')).planOrRun(args, io);
    case 'runs':
      return (await import('./cli/runs-command.js')).runs(args, io);
    case 'snapshots':
      return (await import('./cli/snapshots-command.js')).snapshots(args, io);
    case 'unlock':
      return (await import('./cli/unlock-command.js')).unlock(args, io);
    case 'facts':
      return (await import('./cli/facts-command.js')).factsCommand(args, io);
    case 'resume':
    case 'rollback':
      return (await import('./cli/recover-command.js')).recover(args.command, args, io);
    default:
      io.stderr.write(`runbook: unknown command '${args.command}'\n\n${USAGE}`);
      return 2;
  }
}

// The AWS SDK warns on every run that future releases will need Node 22; the lock file pins the
// release this was tested with, and at 3 a.m. the operator needs the run's output, not that notice.
process.env['AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED'] ??= 'true';
const io: Io = { stdout: process.stdout, stderr: process.stderr, stdin: process.stdin, env: process.env, argv: process.argv.slice(2) };
main(io.argv, io).then(
  (code) => {
    process.exitCode = code;
  },
  (e: unknown) => {
    // A bug, not bad input: say so plainly, with the stack only when asked for.
    process.stderr.write(`runbook: internal error: ${(e as Error).message}\n`);
    if (process.env['RUNBOOK_DEBUG']) process.stderr.write(`${(e as Error).stack ?? ''}\n`);
    process.exitCode = 70;
  },
);
