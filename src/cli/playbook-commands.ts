// `validate`, `plan` and `run` of a playbook: load and check, then compile, then show or execute.
import { join } from 'node:path';
import type { PlanInputs } from '../engine/saved-plan.js';
import { expandNames, resolveLimit } from '../engine/select-hosts.js';
import { loadInventory } from '../load/load-inventory.js';
import { loadPlaybook } from '../load/load-playbook.js';
import { formatProblem, type Problem } from '../load/problem.js';
import type { Inventory } from '../model/inventory.js';
import { WarmSockets } from '../transport/warm-sockets.js';
import { gitInfo } from '../util/git-info.js';
import { packageVersion } from '../util/package-root.js';
import { type CliArgs, USAGE } from './args.js';
import { listHosts, listTasks } from './list-command.js';
import { executeRun, type Io, loadSavedRun, missingParams, newRunId, type Prepared, printPlan, runsDirOf, validatePlan } from './run-command.js';
import { inventoryOptions } from './ssh-options.js';

function report(io: Io, problems: Problem[]): number {
  for (const p of problems) io.stderr.write(`${formatProblem(p)}\n`);
  io.stderr.write(`${problems.length} problem(s) found\n`);
  return 2;
}

/** Load and check everything a plan or run needs; problems come back as data. */
function prepare(args: CliArgs, io: Io, needInventory: boolean, needParams = needInventory, onInventory?: (inventory: Inventory) => void): Prepared | number {
  const file = args.positionals[0];
  if (!file) {
    io.stderr.write(`runbook: give a playbook file\n\n${USAGE}`);
    return 2;
  }
  if (needInventory && !args.inventory) {
    io.stderr.write('runbook: give an inventory with -i INVENTORY\n');
    return 2;
  }
  const inv = args.inventory ? loadInventory(args.inventory, inventoryOptions(args, io.env)) : undefined;
  if (inv?.ok) onInventory?.(inv.value);
  const pb = loadPlaybook(file, { inventory: inv?.ok ? inv.value : undefined, extraVars: args.extraVars, extraVarOrigins: args.extraVarOrigins });
  const problems = [...(inv && !inv.ok ? inv.problems : []), ...(pb.ok ? [] : pb.problems)];
  if (problems.length || !pb.ok) return report(io, problems);
  if (!inv) return { playbook: pb.value, inventory: undefined as never, limit: undefined };
  if (!inv.ok) return 2;
  const missing = needParams ? missingParams(pb.value, inv.value, args.extraVars) : [];
  if (missing.length) return report(io, missing.map((message) => ({ file, line: undefined, col: undefined, message })));
  const limit = resolveLimit(args.limit, inv.value, new Set(expandNames([pb.value.hosts], inv.value).map((h) => h.name)));
  if (!limit.ok) {
    io.stderr.write(`runbook: ${limit.message}\n`);
    return 2;
  }
  return { playbook: pb.value, inventory: inv.value, limit: limit.limit };
}


/** Every playbook given (`validate playbooks/*.yml`), each on its own; the worst exit code wins. */
export function validate(args: CliArgs, io: Io): number {
  if (args.positionals.length <= 1) return validateOne(args, io);
  let code = 0;
  for (const file of args.positionals) code = Math.max(code, validateOne({ ...args, positionals: [file] }, io));
  return code;
}

function validateOne(args: CliArgs, io: Io): number {
  const prep = prepare(args, io, false);
  if (typeof prep === 'number') return prep;
  if (args.inventory) {
    // with an inventory, everything a plan would find is found now (required parameters not given stand as <name>)
    const bad = validatePlan(prep.playbook, prep.inventory, args.extraVars, prep.limit);
    if (bad.length) {
      for (const line of bad) io.stderr.write(`${line}\n`);
      io.stderr.write(`${bad.length} problem(s) found\n`);
      return 2;
    }
  }
  io.stdout.write(`${args.positionals[0]}: valid${args.inventory ? ` against ${args.inventory}` : ''}\n`);
  return 0;
}

export async function planOrRun(args: CliArgs, io: Io): Promise<number> {
  if (args.command === 'run' && args.plan) {
    if (args.positionals.length || args.inventory) {
      io.stderr.write('runbook: run --plan FILE takes the playbook and inventory the plan was made from: give neither\n');
      return 2;
    }
    if (args.listHosts || args.listTasks || args.dryRun || args.out) {
      io.stderr.write(`runbook: run --plan FILE executes the saved plan; ${args.out ? '--out' : args.dryRun ? '--dry-run' : args.listHosts ? '--list-hosts' : '--list-tasks'} does not apply to it (read the plan file, or: runbook plan PLAYBOOK -i INVENTORY --list-tasks)\n`);
      return 2;
    }
    // the plan's own inputs: its -e, --limit, --tags, --skip-tags, --start-at and ssh settings (-F, -u,
    // --private-key, unless given again), so that the run, its journal and a later resume see them
    const asPlanned = (inputs: PlanInputs): CliArgs => ({
      ...args,
      positionals: [inputs.playbookFile],
      inventory: inputs.inventoryFile,
      extraVars: { ...inputs.extraVars, ...args.extraVars },
      limit: inputs.limit,
      tags: inputs.tags,
      skipTags: inputs.skipTags,
      startAt: inputs.startAt,
      sshConfig: args.sshConfig ?? inputs.ssh?.configFile,
      user: args.user ?? inputs.ssh?.user,
      privateKey: args.privateKey ?? inputs.ssh?.privateKey,
    });
    const saved = loadSavedRun(args.plan, args, io, packageVersion(), (inputs) => prepare(asPlanned(inputs), io, true));
    if (typeof saved === 'number') return saved;
    return executeRun(saved.prep, asPlanned(saved.inputs), io, saved, packageVersion());
  }
  if (args.plan) {
    io.stderr.write('runbook: --plan FILE is for run; to save a plan use: runbook plan PLAYBOOK -i INVENTORY --out FILE\n');
    return 2;
  }
  if (args.listHosts || args.listTasks) {
    // what would run, and where: no parameters needed, nothing compiled, nothing contacted
    const prep = prepare(args, io, true, false);
    if (typeof prep === 'number') return prep;
    if (args.listHosts) {
      const code = listHosts(prep.playbook, prep.inventory, prep.limit, args, io);
      if (code !== 0 || !args.listTasks) return code;
    }
    return listTasks(prep.playbook, args, io);
  }
  if (args.step && (args.command === 'plan' || args.dryRun || args.yes || args.output === 'json')) {
    io.stderr.write(`runbook: --step asks before each step of a run: ${args.yes ? 'it cannot be combined with --yes' : args.output === 'json' ? 'its questions would break the JSON event stream (-o json)' : 'a plan or dry run has nothing to confirm'}\n`);
    return 2;
  }
  // where the playbook and the inventory are in Git: asked now, answered while they are read and checked
  const git = args.positionals[0] && args.inventory ? gitInfo([args.positionals[0], args.inventory], io.env) : undefined;
  const execute = args.command === 'run' && !args.dryRun && !args.out;
  // a run opens its TCP connections to the masters once the inventory is read: each host's sshd starts
  // up while the playbook is read and compiled (warm-sockets.ts; hosts behind a jump host are left alone)
  const warm = execute ? new WarmSockets() : undefined;
  const prep = prepare(args, io, true, true, warm && ((inv) => warm.open(inv.hosts.filter((h) => !h.down && h.ssh.jumps.length === 0).map((h) => h.ssh))));
  if (typeof prep === 'number') {
    warm?.close();
    return prep;
  }
  if (args.command === 'plan' || args.dryRun) {
    const started = new Date().toISOString();
    const commit = (await (git ?? gitInfo([prep.playbook.file], io.env))).commit ?? 'unknown';
    const id = args.runId ?? newRunId();
    // a saved plan is applied as this run id: its run directory is where the journal will be
    const dir = args.out ? join(runsDirOf(args, io.env), id) : '(dry run)';
    return printPlan(prep, args, io, { id, dir, user: io.env['USER'] ?? 'unknown', started, commit }, packageVersion());
  }
  if (args.out) {
    io.stderr.write('runbook: --out FILE is for plan: runbook plan PLAYBOOK -i INVENTORY --out FILE\n');
    return 2;
  }
  try {
    return await executeRun(prep, args, io, undefined, packageVersion(), git, warm);
  } finally {
    warm?.close();
  }
}
