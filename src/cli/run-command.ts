import { formatProblem } from '../load/problem.js';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { createHash } from 'node:crypto';
import { hostname, userInfo } from 'node:os';
import { join, resolve } from 'node:path';
import { randomBytes } from 'node:crypto';
import type { RunEvent, RunMeta } from '../model/events.js';
import type { Inventory } from '../model/inventory.js';
import type { Playbook } from '../model/playbook.js';
import { Journal } from '../engine/journal.js';
import { makePlan, type PlanInput, type Program, programHostNames, secretNames } from '../engine/plan.js';
import { driftMessage, mergeFacts, settingsDiff } from '../engine/etcd-facts.js';
import { dependsOnEtcdSettings, type FactsOutcome, factsLine, readFacts } from './facts-flow.js';
import { type PlanInputs, programSha256, readSavedPlan, savePlan } from '../engine/saved-plan.js';
import { makeRedactor } from '../engine/redact.js';
import { runPlaybook } from '../engine/run.js';
import type { RunInfo } from '../engine/scope.js';
import { expandNames } from '../engine/select-hosts.js';
import { acquireLock, type LockOwner, releaseLock } from '../engine/lock.js';
import { checkBecome } from '../engine/check-become.js';
import { SshTransport } from '../transport/ssh.js';
import type { WarmSockets } from '../transport/warm-sockets.js';
import { type BackupKeys, readBackupKeys, secretKeyValues } from '../storage/codec.js';
import { lazyS3Stores } from '../storage/lazy-store.js';
import type { StoreFactory } from '../engine/run-special.js';
import { listrReporter } from '../report/listr.js';
import { jsonReporter } from '../report/json.js';
import { plainReporter } from '../report/plain.js';
import { formatPlan } from '../report/plan-text.js';
import { programJson } from '../report/plan-json.js';
import { makeStyle } from '../report/style.js';
import { type GitInfo, gitInfo } from '../util/git-info.js';
import type { CliArgs } from './args.js';
import { askStep, askToType } from './prompt.js';
import { runsDirOf } from './runs-command.js';
import { sshCliOptions, transportOptions } from './ssh-options.js';

export interface Io {
  stdout: NodeJS.WriteStream;
  stderr: NodeJS.WriteStream;
  stdin: NodeJS.ReadStream;
  env: NodeJS.ProcessEnv;
  argv: string[];
}

export function fileSha256(file: string): string {
  return createHash('sha256').update(readFileSync(file)).digest('hex');
}

export function newRunId(now = new Date()): string {
  const p = (n: number) => String(n).padStart(2, '0');
  return `${now.getUTCFullYear()}${p(now.getUTCMonth() + 1)}${p(now.getUTCDate())}-${p(now.getUTCHours())}${p(now.getUTCMinutes())}${p(now.getUTCSeconds())}-${randomBytes(3).toString('hex')}`;
}

export { runsDirOf };

/**
 * Values never to show: secret params wherever they were set (-e, the inventory, a default) and
 * credentials from the environment. Commands carry secrets by reference, so only what a host prints
 * back (stdout, stderr, registered results) can hold one: that is scrubbed by value.
 */
export function secretValues(pb: Playbook | undefined, vars: Record<string, unknown>, env: NodeJS.ProcessEnv, inventory?: Inventory, names?: string[]): string[] {
  const raw: unknown[] = [];
  const secret = new Set([...(names ?? []), ...Object.entries(pb?.params ?? {}).filter(([, p]) => p.secret).map(([k]) => k)]);
  for (const k of secret) {
    raw.push(vars[k], pb?.params[k]?.default, env[`RUNBOOK_SECRET_${k}`]);
    for (const h of inventory?.hosts ?? []) raw.push(h.vars[k]);
  }
  for (const k of ['AWS_SECRET_ACCESS_KEY', 'AWS_SESSION_TOKEN', 'AWS_ACCESS_KEY_ID']) raw.push(env[k]);
  // a proxy's password (HTTPS_PROXY=http://user:PASS@host:port) is scrubbed wherever it might be echoed
  for (const k of ['HTTPS_PROXY', 'https_proxy']) {
    const m = /^[a-z]+:\/\/([^:@/]*):([^@/]+)@/i.exec(env[k] ?? '');
    if (m?.[2]) raw.push(m[2], decodeURIComponent(m[2]));
  }
  const keys = readBackupKeys(env);
  if (keys.ok) raw.push(...secretKeyValues(keys.keys));
  return raw.filter((v): v is string | number => typeof v === 'string' || typeof v === 'number').map(String);
}

/** The backup stores of this run: S3 settings from the environment (CA bundle, proxy) and the age keys from files or the environment. */
export function storesFor(env: NodeJS.ProcessEnv): { ok: true; stores: StoreFactory; keys: BackupKeys } | { ok: false; message: string } {
  const keys = readBackupKeys(env);
  if (!keys.ok) return { ok: false, message: `backup keys: ${keys.message}` };
  return { ok: true, keys: keys.keys, stores: lazyS3Stores({ AWS_CA_BUNDLE: env['AWS_CA_BUNDLE'], HTTPS_PROXY: env['HTTPS_PROXY'], https_proxy: env['https_proxy'], NO_PROXY: env['NO_PROXY'], no_proxy: env['no_proxy'] }, keys.keys) };
}

export function missingParams(pb: Playbook, inv: Inventory, extra: Record<string, unknown>): string[] {
  return Object.entries(pb.params)
    .filter(([k, p]) => p.required && !Object.hasOwn(extra, k) && !inv.hosts.every((h) => Object.hasOwn(h.vars, k)))
    .map(([k, p]) => `missing required parameter '${k}'${p.description ? ` (${p.description})` : ''}: pass -e ${k}=VALUE`);
}

/**
 * The plan-time problems of a playbook on an inventory, as `file:line:col: …` lines, for `validate -i`:
 * everything a plan would find. Compiled only when every required parameter is given (-e), as a plan needs.
 */
export function validatePlan(pb: Playbook, inv: Inventory, extra: Record<string, unknown>, limit: Set<string> | undefined): string[] {
  if (missingParams(pb, inv, extra).length > 0) return [];
  const planned = makePlan({ playbook: pb, inventory: inv, extraVars: extra, limit, run: { id: 'validate', dir: '', user: 'validate', started: new Date(0).toISOString(), commit: 'unknown' }, tags: undefined, startAt: undefined });
  if (!planned.ok) return [`${pb.file}: ${planned.message}`];
  return planned.plan.errors.map((e) => formatProblem({ file: e.pos.file, line: e.pos.line, col: e.pos.col, message: `step '${e.step}' on ${e.host}: ${e.message}` }));
}

export interface Prepared {
  playbook: Playbook;
  inventory: Inventory;
  limit: Set<string> | undefined;
}

/** The -e values that may be saved with a plan (secret ones are given again to the run). */
export function nonSecretVars(pb: Playbook, vars: Record<string, string>): Record<string, string> {
  const secret = secretNames(pb);
  return Object.fromEntries(Object.entries(vars).filter(([k]) => !secret.has(k)));
}

function planInputs(prep: Prepared, args: CliArgs, run: RunInfo, version: string): PlanInputs {
  return {
    runbookVersion: version,
    playbookFile: resolve(prep.playbook.file),
    playbookSha256: fileSha256(prep.playbook.file),
    inventoryFile: resolve(prep.inventory.file),
    inventorySha256: fileSha256(prep.inventory.file),
    ssh: sshCliOptions(args),
    extraVars: nonSecretVars(prep.playbook, args.extraVars),
    limit: args.limit,
    tags: args.tags,
    skipTags: args.skipTags,
    startAt: args.startAt,
    run,
  };
}

/** Compile the run; a plan with errors is not a plan: say where, print nothing else. */
export function planInputOf(prep: Prepared, args: CliArgs, run: RunInfo, settings: Pick<PlanInput, 'facts' | 'settingsFrom'> = {}): PlanInput {
  return { playbook: prep.playbook, inventory: prep.inventory, extraVars: args.extraVars, limit: prep.limit, run, tags: args.tags, skipTags: args.skipTags, startAt: args.startAt, defaultTimeoutS: args.commandTimeout, ...settings };
}

/** The hosts a run of the program contacts: the hosts it runs steps on and the playbook's group (the lock), none marked down. */
export function contactedHosts(prep: Prepared, program: Program): Host[] {
  const byName = new Map(prep.inventory.hosts.map((h) => [h.name, h]));
  const targets = programHostNames(program).map((n) => byName.get(n) as Host);
  return [...new Map([...expandNames([prep.playbook.hosts], prep.inventory).filter((h) => !h.down), ...targets].map((h) => [h.name, h])).values()];
}

export function compile(prep: Prepared, args: CliArgs, io: Io, run: RunInfo, settings: Pick<PlanInput, 'facts' | 'settingsFrom'> = {}): Program | number {
  const planned = makePlan(planInputOf(prep, args, run, settings));
  if (!planned.ok) {
    io.stderr.write(`runbook: ${planned.message}\n`);
    return 2;
  }
  if (planned.plan.errors.length) {
    for (const e of planned.plan.errors) io.stderr.write(`${e.pos.file}:${e.pos.line}:${e.pos.col}: step '${e.step}' on ${e.host}: ${e.message}\n`);
    io.stderr.write(`${planned.plan.errors.length} problem(s) found\n`);
    return 2;
  }
  return planned.plan;
}

/**
 * `plan` (and `run --dry-run`): offline, its etcd settings from the inventory, unchecked (the plan says so);
 * with --facts it connects read-only, reads the hosts' settings and plans with them.
 */
export async function printPlan(prep: Prepared, args: CliArgs, io: Io, run: RunInfo, version: string): Promise<number> {
  const offline = compile(prep, args, io, run);
  if (typeof offline === 'number') return offline;
  const depends = dependsOnEtcdSettings(planInputOf(prep, args, run));
  let settings: Pick<PlanInput, 'facts' | 'settingsFrom'> = { settingsFrom: depends ? 'inventory' : undefined };
  if (args.facts && depends) {
    const transport = new SshTransport(transportOptions(args, args.acceptNewHostKeys));
    let got: FactsOutcome;
    try {
      got = await readFacts(prep.inventory, contactedHosts(prep, offline), transport);
    } finally {
      await transport.close();
    }
    if (!got.ok) {
      for (const l of got.lines) io.stderr.write(`${l}\n`);
      io.stderr.write(`runbook: plan --facts: ${got.message}\n`);
      return got.exitCode;
    }
    prep = { ...prep, inventory: got.inventory };
    settings = { settingsFrom: 'hosts', facts: got.facts };
  } else if (args.facts) io.stderr.write('runbook: plan --facts: this playbook does not use the hosts\' etcd settings: nothing to read\n');
  const program = depends ? compile(prep, args, io, run, settings) : offline;
  if (typeof program === 'number') return program;
  const redact = makeRedactor(secretValues(prep.playbook, args.extraVars, io.env, prep.inventory));
  const scrub = (text: string) => (redact({ type: 'log', level: 'info', message: text }) as { message: string }).message;
  if (args.out) {
    const saved = savePlan(planInputs(prep, args, run, version), program);
    writeFileSync(args.out, scrub(`${JSON.stringify(saved, null, 2)}\n`), { mode: 0o644 });
    io.stderr.write(`plan saved to ${args.out} (run id ${run.id}); apply exactly this with: runbook run --plan ${args.out}\n`);
  }
  if (args.output === 'json') io.stdout.write(`${scrub(JSON.stringify(programJson(program), null, 2))}\n`);
  else io.stdout.write(scrub(formatPlan(program, makeStyle(io.stdout, io.env))));
  return 0;
}

/**
 * `run --plan FILE`: the saved program, only while everything it was built from is as it was — the
 * playbook and inventory files, the variables, this tool's version — and compiling them again gives
 * the very same program.
 */
export function loadSavedRun(file: string, args: CliArgs, io: Io, version: string, load: (inputs: PlanInputs) => Prepared | number): { prep: Prepared; program: Program; run: RunInfo; extraVars: Record<string, string>; inputs: PlanInputs } | number {
  const fail = (m: string) => {
    io.stderr.write(`runbook: --plan ${file}: ${m}\n`);
    return 2;
  };
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (e) {
    return fail(`cannot read it (${(e as NodeJS.ErrnoException).code ?? String(e)})`);
  }
  const r = readSavedPlan(text);
  if (!r.ok) return fail(r.message);
  const { inputs, program } = r.plan;
  if (inputs.runbookVersion !== version) return fail(`it was made by runbook ${inputs.runbookVersion}, this is ${version}: make the plan again`);
  for (const [what, f, sha] of [['playbook', inputs.playbookFile, inputs.playbookSha256], ['inventory', inputs.inventoryFile, inputs.inventorySha256]] as const) {
    if (!existsSync(f)) return fail(`the ${what} ${f} it was made from is gone`);
    if (fileSha256(f) !== sha) return fail(`the ${what} ${f} changed since the plan was made: review a new plan (runbook plan --out) before running`);
  }
  const loaded = load(inputs);
  if (typeof loaded === 'number') return loaded;
  let prep = loaded;
  // a plan made with --facts was compiled with the hosts' settings it recorded: compiled again with them
  if (program.facts) {
    const merged = mergeFacts(prep.inventory, program.facts);
    if (!merged.ok) return fail(`the inventory disagrees with the host settings the plan was made with (${[...merged.drift.map(driftMessage), ...merged.problems].join('; ')}): review a new plan`);
    prep = { ...prep, inventory: merged.inventory };
  }
  const secret = secretNames(prep.playbook);
  const notSecret = Object.keys(args.extraVars).filter((k) => !secret.has(k));
  if (notSecret.length) return fail(`-e ${notSecret.join(', ')}: a saved plan runs with the variables it was made with; only secrets are given again`);
  if (args.limit || args.tags || args.skipTags || args.startAt) return fail('--limit, --tags, --skip-tags and --start-at are part of the saved plan: make a new plan to change them');
  const extraVars = { ...inputs.extraVars, ...args.extraVars };
  const again = makePlan({ playbook: prep.playbook, inventory: prep.inventory, extraVars, limit: prep.limit, run: inputs.run, tags: inputs.tags, skipTags: inputs.skipTags, startAt: inputs.startAt, defaultTimeoutS: args.commandTimeout, settingsFrom: program.settingsFrom, facts: program.facts });
  if (!again.ok || programSha256(again.plan) !== programSha256(program)) return fail('compiling its playbook and inventory again no longer gives the saved program: review a new plan before running');
  return { prep, program, run: inputs.run, extraVars, inputs };
}

type Outcome = { status: 'ok' | 'rolled_back' | 'failed' | 'needs_attention'; exitCode: number; failedStep: string | undefined; message: string };
type Host = Inventory['hosts'][number];

/**
 * Before any step: every targeted host reachable with a verified host key, sudo -n working where become
 * needs it, then the cluster lock on every master. A refusal changes nothing anywhere.
 */
type Settled = { ok: true; inventory: Inventory; program: Program } | { ok: false; outcome: Outcome };

async function preflight(p: { targets: Host[]; lockHosts: Host[]; program: Program; transport: SshTransport; emit: (e: RunEvent) => void; owner: LockOwner; settle: () => Promise<Settled> }): Promise<{ ok: true; held: Host[]; inventory: Inventory; program: Program } | { ok: false; outcome: Outcome }> {
  const checks = await Promise.all(p.targets.map(async (h) => ({ h, r: await p.transport.connect(h) })));
  const refused = checks.filter((c) => !c.r.ok);
  if (refused.length) {
    const hostKey = refused.some((c) => !c.r.ok && c.r.hostKey);
    for (const c of refused) if (!c.r.ok) p.emit({ type: 'log', level: 'error', message: `${c.h.name}: ${c.r.message}` });
    const why = hostKey ? 'failed host-key verification' : 'unreachable (mark a dead host down: true in the inventory, or leave it out with --limit)';
    return { ok: false, outcome: { status: 'failed', exitCode: hostKey ? 2 : 1, failedStep: undefined, message: `refused before any step: ${refused.map((c) => c.h.name).join(', ')} ${why}; nothing was changed` } };
  }
  const sudoHosts = [...new Map([...p.targets, ...p.lockHosts].map((h) => [h.name, h])).values()];
  const become = await checkBecome(sudoHosts, p.program, p.transport);
  if (!become.ok) {
    for (const r of become.refused) p.emit({ type: 'log', level: 'error', message: r.message });
    return { ok: false, outcome: { status: 'failed', exitCode: 1, failedStep: undefined, message: `refused before any step: ${become.summary}; nothing was changed` } };
  }
  // the hosts' etcd settings: read once the hosts are known reachable and sudo works, before the lock
  const settled = await p.settle();
  if (!settled.ok) return settled;
  const lock = await acquireLock(p.lockHosts, p.owner, p.transport, p.owner.machine);
  if (!lock.ok) {
    p.emit({ type: 'log', level: 'error', message: lock.message });
    return { ok: false, outcome: { status: 'failed', exitCode: 1, failedStep: undefined, message: `refused before any step: ${lock.stale ? 'stale cluster lock' : 'the cluster is locked by another run'}; nothing was changed` } };
  }
  p.emit({ type: 'log', level: 'info', message: `cluster lock taken on ${lock.held.map((h) => h.name).join(', ')}` });
  return { ok: true, held: lock.held, inventory: settled.inventory, program: settled.program };
}

/**
 * For tests only: RUNBOOK_TEST_HOLD_BEFORE=STEP and RUNBOOK_TEST_HOLD_DIR=DIR make the run write DIR/held
 * before STEP starts and wait until DIR/release exists, so a test acts at a known point, never by timing.
 */
export function holdHook(env: NodeJS.ProcessEnv): ((step: string) => Promise<void>) | undefined {
  const step = env['RUNBOOK_TEST_HOLD_BEFORE'];
  const dir = env['RUNBOOK_TEST_HOLD_DIR'];
  if (!step || !dir) return undefined;
  return async (name) => {
    if (name !== step) return;
    writeFileSync(join(dir, 'held'), `${name}\n`);
    while (!existsSync(join(dir, 'release'))) await new Promise((r) => setTimeout(r, 50));
  };
}

/**
 * For tests only: RUNBOOK_TEST_HOLD_AFTER_EVENT=K and RUNBOOK_TEST_HOLD_DIR=DIR make the process stop dead
 * right after the K-th journal record it wrote (counting from 1 in this journal), write DIR/held, and
 * wait synchronously, nothing else running, until DIR/release exists. A test SIGKILLs it there: a crash
 * at an exact point of the journal, every time.
 */
export function holdAfterEvent(env: NodeJS.ProcessEnv, alreadyInJournal = 0): (e: RunEvent) => void {
  const k = Number(env['RUNBOOK_TEST_HOLD_AFTER_EVENT']);
  // or: after the first record whose JSON contains this text
  const match = env['RUNBOOK_TEST_HOLD_AFTER_MATCH'];
  const dir = env['RUNBOOK_TEST_HOLD_DIR'];
  if (!dir || ((!Number.isInteger(k) || k <= 0) && !match)) return () => undefined;
  let n = alreadyInJournal;
  let held = false;
  const nap = new Int32Array(new SharedArrayBuffer(4));
  return (e) => {
    n++;
    if (held || (match ? !JSON.stringify(e).includes(match) : n !== k)) return;
    held = true;
    writeFileSync(join(dir, 'held'), `${k}\n`);
    while (!existsSync(join(dir, 'release'))) Atomics.wait(nap, 0, 0, 20);
  };
}

/** The run directory's copy of the program: what resume and rollback execute. */
export const PROGRAM_FILE = 'program.json';

/** A real run of a compiled program: preflight connections, journal, reporters, engine, summary, exit code. */
export async function executeRun(
  prep: Prepared,
  args: CliArgs,
  io: Io,
  compiled: { program: Program; run: RunInfo; extraVars: Record<string, string> } | undefined,
  version: string,
  gitOf: Promise<GitInfo> = gitInfo([prep.playbook.file, prep.inventory.file], io.env),
  warm?: WarmSockets,
): Promise<number> {
  const { playbook, inventory } = prep;
  const started = Date.now();
  const runsDir = runsDirOf(args, io.env);
  const git = await gitOf;
  const runId = compiled?.run.id ?? args.runId ?? newRunId();
  if (existsSync(join(runsDir, runId))) {
    io.stderr.write(`runbook: run ${runId} already exists in ${runsDir}: ${compiled ? 'a saved plan is applied once; make a new one' : 'choose another --run-id'}\n`);
    return 2;
  }
  const run: RunInfo = compiled?.run ?? { id: runId, dir: join(runsDir, runId), user: userInfo().username, started: new Date(started).toISOString(), commit: git.commit ?? 'unknown' };
  const extraVars = compiled?.extraVars ?? args.extraVars;
  // the whole program first: a value that cannot be rendered stops the run before anything is touched
  const program = compiled?.program ?? compile(prep, args, io, run);
  if (typeof program === 'number') return program;
  const backup = storesFor(io.env);
  if (!backup.ok) {
    io.stderr.write(`runbook: ${backup.message}\n`);
    return 2;
  }
  const byName = new Map(inventory.hosts.map((h) => [h.name, h]));
  const targets = new Map(programHostNames(program).map((n) => [n, byName.get(n) as Inventory['hosts'][number]]));
  const lockHosts = [...new Map([...expandNames([playbook.hosts], inventory).filter((h) => !h.down), ...targets.values()].map((h) => [h.name, h])).values()];
  // connecting (handshake, host key) is read-only and the slowest part of a start: it begins now, while the
  // journal and reporters are set up; the preflight below waits for it and reports what it found
  const transport = new SshTransport({ ...transportOptions(args, args.acceptNewHostKeys), warm });
  for (const h of lockHosts) transport.connect(h).catch(() => undefined);
  // each host's first hop has taken its warm connection by now (synchronously): the rest are not needed
  warm?.close();
  const journal = new Journal(join(runsDir, runId));
  const inputs = planInputs(prep, { ...args, extraVars }, run, version);
  writeFileSync(join(journal.dir, PROGRAM_FILE), `${JSON.stringify(savePlan(inputs, program))}\n`, { mode: 0o600 });
  const redact = makeRedactor(secretValues(playbook, extraVars, io.env, inventory));
  const style = makeStyle(io.stdout, io.env);
  const write = (s: string) => io.stdout.write(s);
  const plain = plainReporter(write, style, args.verbose);
  // --step asks on the terminal between steps: the plain reporter, which never redraws over the question
  const listr = args.output === 'text' && io.stdout.isTTY && !args.step ? listrReporter(plain) : undefined;
  const report = args.output === 'json' ? jsonReporter(write) : (listr?.onEvent ?? plain);
  const crashPoint = holdAfterEvent(io.env);
  const emit = (raw: RunEvent) => {
    const e = redact(raw);
    if (journal.write(e)) crashPoint(e);
    report(e);
  };
  const meta: RunMeta = {
    runId,
    playbook: playbook.name,
    playbookFile: resolve(playbook.file),
    inventoryFile: resolve(inventory.file),
    cluster: inventory.cluster,
    user: run.user,
    machine: hostname(),
    pid: process.pid,
    argv: io.argv,
    git,
    dryRun: false,
    hosts: [...targets.keys()],
    lockHosts: lockHosts.map((h) => h.name),
    startedAt: run.started,
    extraVars: nonSecretVars(playbook, extraVars),
    limit: args.limit,
    tags: args.tags,
    skipTags: args.skipTags,
    playbookSha256: inputs.playbookSha256,
    inventorySha256: inputs.inventorySha256,
    ssh: inputs.ssh ?? sshCliOptions(args),
  };
  emit({ type: 'run.start', meta });
  const abort = new AbortController();
  const onSignal = () => {
    if (abort.signal.aborted) {
      io.stderr.write('runbook: already stopping: the current step finishes, then the run unwinds to its rollback point. Killing it now would leave that to runbook rollback.\n');
      return;
    }
    io.stderr.write('runbook: stopping after the current step, then unwinding to the last rollback point…\n');
    abort.abort();
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  // the hosts' etcd settings, when the program depends on them: read before any step, merged into the
  // inventory (drift refused) and compiled into the program the run executes
  const settle = async (): Promise<Settled> => {
    const depends = compiled ? program.settingsFrom !== undefined : dependsOnEtcdSettings(planInputOf(prep, args, run));
    if (!depends) return { ok: true, inventory, program };
    const refuse = (lines: string[], message: string, exitCode: number) => {
      for (const l of lines) emit({ type: 'log', level: 'error', message: l });
      return { ok: false as const, outcome: { status: 'failed' as const, exitCode, failedStep: undefined, message: `refused before any step: ${message}; nothing was changed` } };
    };
    const got = await readFacts(inventory, contactedHosts(prep, program), transport);
    if (!got.ok) return refuse(got.lines, got.message, got.exitCode);
    for (const [h, f] of Object.entries(got.facts)) emit({ type: 'log', level: 'info', message: factsLine(h, f) });
    if (compiled) {
      const diff = settingsDiff(inventory, got.inventory, got.facts);
      if (diff.length) return refuse(diff, `the hosts' etcd settings are not those the plan was made with (${program.settingsFrom === 'hosts' ? 'they changed since it was made' : 'it took them from the inventory, unchecked'}): review a new plan (runbook plan --facts --out FILE)`, 1);
      return { ok: true, inventory: got.inventory, program };
    }
    const again = compile({ ...prep, inventory: got.inventory }, args, io, run, { settingsFrom: 'hosts', facts: got.facts });
    if (typeof again === 'number') return refuse([], "the program compiled with the hosts' etcd settings has problems (above)", again);
    writeFileSync(join(journal.dir, PROGRAM_FILE), `${JSON.stringify(savePlan(inputs, again))}\n`, { mode: 0o600 });
    return { ok: true, inventory: got.inventory, program: again };
  };
  let outcome: Outcome;
  try {
    const gate = await preflight({ targets: [...targets.values()], lockHosts, program, transport, emit, owner: { runId, user: run.user, machine: meta.machine, pid: process.pid, playbook: meta.playbookFile, since: run.started }, settle });

    if (!gate.ok) outcome = gate.outcome;
    else {
      try {
        outcome = await runPlaybook({
          program: gate.program,
          playbook,
          inventory: gate.inventory,
          extraVars,
          run,
          forks: args.forks,
          noRollback: args.noRollback,
          transport,
          emit,
          signal: abort.signal,
          stores: backup.stores,
          journaled: () => journal.durable(),
          beforeStep: holdHook(io.env),
          askStep: args.step ? (name, hosts) => askStep(`step '${name}' on ${hosts.join(', ') || 'no host'}:`, io.stdin, io.stdout) : undefined,
          confirm: async (prompt, expect) => {
            if (args.yes) {
              emit({ type: 'log', level: 'info', message: `approval gate passed with --yes (${expect})` });
              return true;
            }
            await listr?.done();
            return askToType(prompt, expect, io.stdin, io.stdout);
          },
        });
      } catch (e) {
        // the engine itself failed: hosts may be changed, so nothing is settled and the lock stays
        outcome = { status: 'needs_attention', exitCode: 3, failedStep: undefined, message: `internal fault: ${(e as Error).message}. Hosts may be changed and the cluster lock stays: unwind with runbook rollback ${runId}` };
      } finally {
        // the lock guards hosts left changed: it is released only when the run is done or back at a rollback point
        if (outcome! === undefined || outcome.status !== 'needs_attention') await releaseLock(gate.held, runId, transport);
        else emit({ type: 'log', level: 'warn', message: `cluster lock kept on ${gate.held.map((h) => h.name).join(', ')}: hosts are not at a rollback point (runbook rollback ${runId}, or runbook unlock --force once repaired by hand)` });
      }
    }
  } finally {
    process.removeListener('SIGINT', onSignal);
    process.removeListener('SIGTERM', onSignal);
    await transport.close();
  }
  emit({ type: 'run.end', status: outcome.status, exitCode: outcome.exitCode, failedStep: outcome.failedStep, message: outcome.message, durationMs: Date.now() - started });
  journal.close();
  await listr?.done();
  if (args.output === 'text') io.stdout.write(style.dim(`journal: ${journal.file}\n`));
  return outcome.exitCode;
}

/**
 * Secret values for a run: -e first, else RUNBOOK_SECRET_<NAME> from the environment (so a resume at
 * 3 a.m. need not type them on a command line). Names still missing are returned, to be asked for.
 */
export function secretVars(names: string[], extraVars: Record<string, string>, env: NodeJS.ProcessEnv): { vars: Record<string, string>; missing: string[] } {
  const vars: Record<string, string> = {};
  const missing: string[] = [];
  for (const n of names) {
    const v = extraVars[n] ?? env[`RUNBOOK_SECRET_${n}`];
    if (v === undefined) missing.push(n);
    else vars[n] = v;
  }
  return { vars, missing };
}
