import { parseArgs } from 'node:util';
import { formatProblem } from '../load/problem.js';
import { resolveExtraVars, type VarOrigin } from './extra-vars.js';

export interface CliArgs {
  command: string | undefined;
  positionals: string[];
  inventory: string | undefined;
  limit: string | undefined;
  tags: string[] | undefined;
  /** --skip-tags: steps with any of these tags do not run (wins over --tags, also over 'always'). */
  skipTags: string[] | undefined;
  startAt: string | undefined;
  extraVars: Record<string, string>;
  /** Where each -e value came from (a key of an -e @FILE has its file:line:col). */
  extraVarOrigins: Record<string, VarOrigin>;
  /** plan/run --list-hosts, --list-tasks: print that and stop, nothing contacted. */
  listHosts: boolean;
  listTasks: boolean;
  /** run --step: confirm each step (y = run it, n = skip it, c = run the rest without asking). */
  step: boolean;
  yes: boolean;
  dryRun: boolean;
  noRollback: boolean;
  forks: number;
  output: 'text' | 'json';
  acceptNewHostKeys: boolean;
  runsDir: string | undefined;
  runId: string | undefined;
  connectTimeout: number;
  /** --connect-timeout was given (it then beats the ssh config's ConnectTimeout). */
  connectTimeoutGiven: boolean;
  /** -F FILE: the OpenSSH client config ('none': none). */
  sshConfig: string | undefined;
  /** -u USER: every host's ssh user. */
  user: string | undefined;
  /** --private-key FILE: identity file tried first on every host. */
  privateKey: string | undefined;
  verbose: boolean;
  help: boolean;
  version: boolean;
  force: boolean;
  /** plan --out FILE: save the compiled program. */
  out: string | undefined;
  /** run --plan FILE: execute a saved program. */
  plan: string | undefined;
  /** plan --facts: connect read-only and plan with the hosts' own etcd settings. */
  facts: boolean;
  /** facts --write-inventory FILE: an inventory with the discovered settings. */
  writeInventory: string | undefined;
  /** Deadline of a command when neither step nor action names one (seconds). */
  commandTimeout: number | undefined;
  /** snapshots: verify --all, --deep, --etcd-tools-dir; prune --keep-last, --max-age-days (checked by the command). */
  all: boolean;
  deep: boolean;
  etcdToolsDir: string | undefined;
  keepLast: string | undefined;
  maxAgeDays: string | undefined;
}

export type ParsedArgs = { ok: true; args: CliArgs } | { ok: false; message: string };

export function parseCli(argv: string[]): ParsedArgs {
  let parsed: ReturnType<typeof parseArgs>;
  try {
    parsed = parseArgs({
      args: argv,
      allowPositionals: true,
      strict: true,
      options: {
        inventory: { type: 'string', short: 'i' },
        limit: { type: 'string', short: 'l' },
        tags: { type: 'string', short: 't' },
        'skip-tags': { type: 'string' },
        'list-hosts': { type: 'boolean' },
        'list-tasks': { type: 'boolean' },
        step: { type: 'boolean' },
        'start-at': { type: 'string' },
        'extra-vars': { type: 'string', short: 'e', multiple: true },
        yes: { type: 'boolean', short: 'y' },
        'dry-run': { type: 'boolean' },
        'no-rollback': { type: 'boolean' },
        forks: { type: 'string', short: 'f' },
        output: { type: 'string', short: 'o' },
        'accept-new-host-keys': { type: 'boolean' },
        'runs-dir': { type: 'string' },
        'run-id': { type: 'string' },
        'connect-timeout': { type: 'string' },
        'ssh-config': { type: 'string', short: 'F' },
        user: { type: 'string', short: 'u' },
        'private-key': { type: 'string' },
        verbose: { type: 'boolean', short: 'v' },
        help: { type: 'boolean', short: 'h' },
        version: { type: 'boolean' },
        force: { type: 'boolean' },
        out: { type: 'string' },
        plan: { type: 'string' },
        facts: { type: 'boolean' },
        'write-inventory': { type: 'string' },
        'command-timeout': { type: 'string' },
        all: { type: 'boolean' },
        deep: { type: 'boolean' },
        'etcd-tools-dir': { type: 'string' },
        'keep-last': { type: 'string' },
        'max-age-days': { type: 'string' },
      },
    });
  } catch (e) {
    return { ok: false, message: (e as Error).message };
  }
  const v = parsed.values as Record<string, string | boolean | string[] | undefined>;
  const ev = resolveExtraVars((v['extra-vars'] as string[] | undefined) ?? []);
  if (!ev.ok) return { ok: false, message: ev.problems.map(formatProblem).join('\n') };
  const forks = Number(v['forks'] ?? 10);
  if (!Number.isInteger(forks) || forks < 1) return { ok: false, message: `--forks must be a positive integer` };
  const output = (v['output'] as string | undefined) ?? 'text';
  if (output !== 'text' && output !== 'json') return { ok: false, message: `--output must be text or json` };
  const connectTimeout = Number(v['connect-timeout'] ?? 10);
  if (!(connectTimeout > 0)) return { ok: false, message: `--connect-timeout must be a number of seconds` };
  const commandTimeout = v['command-timeout'] === undefined ? undefined : Number(v['command-timeout']);
  if (commandTimeout !== undefined && !(Number.isFinite(commandTimeout) && commandTimeout > 0 && commandTimeout <= 86_400)) return { ok: false, message: '--command-timeout must be a number of seconds (at most 86400)' };
  const runId = v['run-id'] as string | undefined;
  if (runId !== undefined && !/^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/.test(runId)) return { ok: false, message: `--run-id: use letters, digits, '.', '_', '-'` };
  const user = v['user'] as string | undefined;
  if (user !== undefined && !/^[A-Za-z0-9_][A-Za-z0-9._-]*$/.test(user)) return { ok: false, message: `-u: '${user}' is not a user name` };
  for (const [flag, val] of [['-F', v['ssh-config']], ['--private-key', v['private-key']]] as const)
    if (val === '' || (typeof val === 'string' && val.includes('\0'))) return { ok: false, message: `${flag} expects a file name` };
  const [command, ...positionals] = parsed.positionals;
  return {
    ok: true,
    args: {
      command,
      positionals,
      inventory: v['inventory'] as string | undefined,
      limit: v['limit'] as string | undefined,
      tags: tagList(v['tags']),
      skipTags: tagList(v['skip-tags']),
      startAt: v['start-at'] as string | undefined,
      extraVars: ev.vars,
      extraVarOrigins: ev.origins,
      listHosts: v['list-hosts'] === true,
      listTasks: v['list-tasks'] === true,
      step: v['step'] === true,
      yes: v['yes'] === true,
      dryRun: v['dry-run'] === true,
      noRollback: v['no-rollback'] === true,
      forks,
      output,
      acceptNewHostKeys: v['accept-new-host-keys'] === true,
      runsDir: v['runs-dir'] as string | undefined,
      runId: v['run-id'] as string | undefined,
      connectTimeout,
      connectTimeoutGiven: v['connect-timeout'] !== undefined,
      sshConfig: v['ssh-config'] as string | undefined,
      user,
      privateKey: v['private-key'] as string | undefined,
      verbose: v['verbose'] === true,
      help: v['help'] === true,
      version: v['version'] === true,
      force: v['force'] === true,
      out: v['out'] as string | undefined,
      plan: v['plan'] as string | undefined,
      facts: v['facts'] === true,
      writeInventory: v['write-inventory'] as string | undefined,
      commandTimeout,
      all: v['all'] === true,
      deep: v['deep'] === true,
      etcdToolsDir: v['etcd-tools-dir'] as string | undefined,
      keepLast: v['keep-last'] as string | undefined,
      maxAgeDays: v['max-age-days'] as string | undefined,
    },
  };
}

/** A comma-separated list as given: an empty one stays empty (and is refused where it is used), never 'no filter'. */
function tagList(v: unknown): string[] | undefined {
  return typeof v === 'string' ? v.split(',').map((s) => s.trim()).filter(Boolean) : undefined;
}

export const USAGE = `runbook — etcd disaster-recovery runbooks over SSH

Usage:
  runbook validate PLAYBOOK [-i INVENTORY] [-e NAME=VALUE]...
  runbook plan     PLAYBOOK -i INVENTORY [options]        dry run: exact per-host commands, nothing contacted
                                                          (etcd settings from the inventory, unchecked; --facts reads them from the hosts)
  runbook plan     PLAYBOOK -i INVENTORY --out FILE       save the compiled plan (for review in Git)
  runbook run      PLAYBOOK -i INVENTORY [options]        execute (with --dry-run: same as plan)
  runbook run      --plan FILE [-e SECRET=…]              execute exactly a saved plan; refused if anything it was made from changed
  runbook runs                                            list recorded runs: status, playbook, cluster, who, when
  runbook runs show RUN_ID                                show one run's journal
  runbook resume RUN_ID [-e SECRET=…]                     continue a run whose process died, from its journal
  runbook rollback RUN_ID                                 unwind such a run to its last rollback point
  runbook facts -i INVENTORY [-o json] [--write-inventory FILE]   read each master's etcd settings from its manifest or unit (read-only)
  runbook unlock -i INVENTORY [--force]                   show the cluster lock; --force removes it (asks, journaled)
  runbook snapshots list -i INVENTORY                     the backups backup.yml wrote (newest verified first)
  runbook snapshots show RUN_ID|KEY -i INVENTORY          every field of one backup
  runbook snapshots verify RUN_ID…|--all [--deep] -i INV  read each object, check it against its provenance; --deep boots it
  runbook snapshots prune --keep-last N [--max-age-days D] -i INV   delete old backups (asks; never the last verified one)

Options:
  -i, --inventory FILE        inventory (hosts, groups, etcd settings)
  -e, --extra-vars NAME=VALUE set a playbook parameter or variable (repeatable; literal text)
  -e @FILE                    the same from a YAML or JSON file of NAME: value (a later -e wins)
  -l, --limit NAMES           only these hosts/groups (comma-separated)
  -t, --tags TAGS             only steps with these tags (and 'always')
      --skip-tags TAGS        not the steps with these tags (wins over --tags and 'always')
      --list-hosts            plan/run: list the hosts the run would target, and stop
      --list-tasks            plan/run: list the steps (with tags; which would be skipped, and why), and stop
      --step                  run: confirm each step: y = run it, n = skip it, c = run the rest without asking
      --start-at STEP         skip the steps before STEP
  -y, --yes                   answer approval gates (automation)
      --dry-run               show the plan instead of running
      --no-rollback           on failure, leave hosts as they are for hands-on repair
  -f, --forks N               hosts worked on at once (default 10)
  -o, --output text|json      json: one event per line
      --accept-new-host-keys  trust and record keys of hosts not yet in known_hosts (never changed ones)
      --run-id ID             fix the run id (plan and run then render identical commands)
      --runs-dir DIR          where journals go (default $RUNBOOK_RUNS_DIR, else $XDG_STATE_HOME/etcd-runbook/runs,
                              else ~/.local/state/etcd-runbook/runs)
      --etcd-tools-dir DIR    snapshots verify --deep: etcd binaries as DIR/<version>/… (default: the PATH)
      --connect-timeout SECS  SSH connect timeout per hop (default: the ssh config's ConnectTimeout, else 10)
  -F, --ssh-config FILE       OpenSSH client config (default: the inventory's ssh_config, else ~/.ssh/config; 'none')
  -u, --user USER             ssh user on every host (beats the inventory and the ssh config)
      --private-key FILE      identity file for every host (tried before the inventory's and the config's)
      --command-timeout SECS  deadline of a command when the step and action name none (default 900)
      --out FILE              plan: also save the compiled plan to FILE
      --plan FILE             run: execute the saved plan FILE
      --facts                 plan: connect read-only and plan with the etcd settings the hosts' manifests or units give
      --write-inventory FILE  facts: write an inventory with the discovered settings (review it, then commit it)
  -v, --verbose               print every command as it runs

Exit codes: 0 ok, 1 failed (rolled back / refused), 2 invalid input, 3 needs attention (an undo failed).
`;
