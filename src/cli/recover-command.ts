import { runPlanOf } from '../engine/choose.js';
import { existsSync, readFileSync } from 'node:fs';
import { hostname, userInfo } from 'node:os';
import { dirname, join } from 'node:path';
import type { RunEvent, RunStatus } from '../model/events.js';
import type { Host } from '../model/inventory.js';
import { Journal, readJournal } from '../engine/journal.js';
import { acquireLock, releaseLock } from '../engine/lock.js';
import { checkBecome } from '../engine/check-become.js';
import { makeRedactor } from '../engine/redact.js';
import { rollback } from '../engine/rollback.js';
import { applyEvent, foldEvents, type RunState } from '../engine/run-state.js';
import { type Program, programHostNames } from '../engine/plan.js';
import { runCommand } from '../engine/run-command.js';
import type { Scope } from '../template/expression.js';
import type { Transport } from '../transport/transport.js';
import { describeCommand } from '../engine/describe-command.js';
import type { Command, ProbeVerdict } from '../model/command.js';
import { runPlaybook } from '../engine/run.js';
import { readSavedPlan } from '../engine/saved-plan.js';
import { buildScope } from '../engine/scope.js';
import { expandNames } from '../engine/select-hosts.js';
import { loadInventory } from '../load/load-inventory.js';
import { driftMessage, mergeFacts } from '../engine/etcd-facts.js';
import { inventoryOptions, transportOptions } from './ssh-options.js';
import { loadPlaybook } from '../load/load-playbook.js';
import { formatProblem } from '../load/problem.js';
import { hasSecret } from '../shell/build.js';
import { SshTransport } from '../transport/ssh.js';
import { jsonReporter } from '../report/json.js';
import { plainReporter } from '../report/plain.js';
import { listrReporter } from '../report/listr.js';
import type { StoreFactory } from '../engine/run-special.js';
import { makeStyle } from '../report/style.js';
import type { CliArgs } from './args.js';
import { askToType } from './prompt.js';
import { legacyHint } from './runs-command.js';
import { fileSha256, holdAfterEvent, holdHook, type Io, PROGRAM_FILE, runsDirOf, secretValues, secretVars, storesFor } from './run-command.js';

/**
 * `runbook resume RUN_ID` and `runbook rollback RUN_ID`: continue or unwind a run whose process died (or
 * that ended needing attention), from its journal and its saved program. The journal is folded with the
 * same transition function the live run used; the attempt is appended to it. A run is settled only when
 * it is done or back at a rollback point: until then any number of attempts may follow.
 */
export async function recover(mode: 'resume' | 'rollback', args: CliArgs, io: Io): Promise<number> {
  const id = args.positionals[0];
  const fail = (msg: string, code = 2) => {
    io.stderr.write(`runbook: ${msg}\n`);
    return code;
  };
  if (!id) return fail(`usage: runbook ${mode} RUN_ID`);
  const dir = join(runsDirOf(args, io.env), id);
  const file = join(dir, 'journal.jsonl');
  if (!existsSync(file)) return fail(`no run '${id}' in ${dirname(dir)} (see: runbook runs)${legacyHint(id)}`);
  const records = readJournal(file);
  const start = records.find((r) => r.event.type === 'run.start')?.event;
  if (start?.type !== 'run.start') return fail(`the journal of ${id} has no run.start record`);
  const meta = start.meta;
  const inv = loadInventory(meta.inventoryFile, inventoryOptions(args, io.env, meta.ssh));
  if (!inv.ok) {
    for (const p of inv.problems) io.stderr.write(`${formatProblem(p)}\n`);
    return 2;
  }
  let inventory = inv.value;
  const state = foldEvents(
    records.map((r) => r.event),
    inventory.hosts.map((h) => h.name),
  );
  if (state.settled === 'rolled_back' && mode === 'rollback') {
    io.stdout.write(`run ${id} is already back at '${state.lastPoint}': nothing to unwind\n`);
    return 0;
  }
  if (state.settled) return fail(`run ${id} ended ${state.settled === 'ok' ? 'ok' : state.settled === 'failed' ? 'before anything changed' : `rolled back to '${state.lastPoint}'`}: there is nothing to ${mode} (see runbook runs show ${id})`);
  const byName = new Map(inventory.hosts.map((h) => [h.name, h]));
  const named = [...new Set([...state.stack.map((e) => e.host), ...state.inFlight.map((f) => f.host), ...meta.lockHosts])];
  const missing = named.filter((n) => !byName.has(n));
  if (missing.length) return fail(`the inventory no longer has ${missing.join(', ')}: restore it as it was for run ${id}`);
  if (fileSha256(meta.inventoryFile) !== meta.inventorySha256) return fail(`${meta.inventoryFile} changed since run ${id} started: put it back as it was`);
  let saved: ReturnType<typeof readSavedPlan> = { ok: false, message: `${PROGRAM_FILE} is missing` };
  try {
    saved = readSavedPlan(readFileSync(join(dir, PROGRAM_FILE), 'utf8'));
  } catch (e) {
    saved = { ok: false, message: `cannot read ${PROGRAM_FILE}: ${(e as Error).message}` };
  }
  const secretNames = saved.ok ? saved.plan.program.secrets : [];
  // the run was compiled with its hosts' etcd settings: its run-time values are rendered with the same ones
  const savedFacts = saved.ok ? saved.plan.program.facts : undefined;
  if (savedFacts) {
    const merged = mergeFacts(inventory, savedFacts);
    if (!merged.ok) return fail(`the inventory disagrees with the host settings run ${id} was compiled with (${merged.drift.map(driftMessage).join('; ')}): put it back as it was`);
    inventory = merged.inventory;
  }

  // secrets are never stored: they come again from -e or RUNBOOK_SECRET_<NAME>
  const style = makeStyle(io.stdout, io.env);
  let runInputs: { playbook: Extract<ReturnType<typeof loadPlaybook>, { ok: true }>['value']; extraVars: Record<string, string> } | undefined;
  let entries = [
    ...state.stack.map((e) => ({ step: e.step, stepIndex: e.index, host: byName.get(e.host) as Host, undo: e.undo })),
    // steps caught mid-way are undone too: each undo checks what is there (a lost host's outcome is unknown)
    ...state.inFlight.map((f) => ({ step: f.step, stepIndex: f.index, host: byName.get(f.host) as Host, undo: f.undo })),
  ];
  if (mode === 'resume') {
    if (!saved.ok) return fail(`run ${id} cannot be resumed: ${saved.message}. Unwind it with runbook rollback ${id}`);
    if (fileSha256(meta.playbookFile) !== meta.playbookSha256) return fail(`${meta.playbookFile} changed since run ${id} started: resuming would not do what the plan said. Put it back, or use runbook rollback ${id}`);
    const secrets = secretVars(secretNames, args.extraVars, io.env);
    if (secrets.missing.length) return fail(`secret values are never stored: give them again with ${secrets.missing.map((k) => `-e ${k}=… (or RUNBOOK_SECRET_${k})`).join(', ')}`);
    const extraVars = { ...saved.plan.inputs.extraVars, ...secrets.vars };
    const pb = loadPlaybook(meta.playbookFile, { inventory, extraVars });
    if (!pb.ok) {
      for (const p of pb.problems) io.stderr.write(`${formatProblem(p)}\n`);
      return 2;
    }
    runInputs = { playbook: pb.value, extraVars };
    if (state.failedStep || state.unwinding) return fail(`step '${state.failedStep}' had failed when the run stopped (it was unwinding or about to): finish the unwinding with runbook rollback ${id}`, 1);
  } else {
    const need = entries.some((e) => hasSecret(e.undo)) ? secretNames : [];
    const secrets = secretVars(need, args.extraVars, io.env);
    if (secrets.missing.length) return fail(`the undo commands use secrets, which are never stored: give them again with ${secrets.missing.map((k) => `-e ${k}=… (or RUNBOOK_SECRET_${k})`).join(', ')}`);
    const pb = saved.ok ? loadPlaybook(meta.playbookFile, { inventory, extraVars: { ...saved.plan.inputs.extraVars, ...secrets.vars } }) : undefined;
    if (pb?.ok) runInputs = { playbook: pb.value, extraVars: { ...(saved.ok ? saved.plan.inputs.extraVars : {}), ...secrets.vars } };
    else if (need.length) return fail(`the undo commands use secrets, and ${meta.playbookFile} no longer loads to say how: put it back as it was`);
    entries = entries.filter((e, i) => entries.findIndex((x) => x.step === e.step && x.host.name === e.host.name) === i);
  }

  const backup = storesFor(io.env);
  if (!backup.ok) return fail(backup.message);
  const journal = new Journal(dir);
  const redact = makeRedactor(secretValues(runInputs?.playbook, runInputs?.extraVars ?? {}, io.env, inventory, secretNames));
  const plain = plainReporter((s) => io.stdout.write(s), style, args.verbose);
  // on a TTY the same live view as a run (steps, hosts, transfer progress); the question before a rollback is asked after it is drawn
  const listr = args.output === 'text' && io.stdout.isTTY ? listrReporter(plain) : undefined;
  const report = args.output === 'json' ? jsonReporter((s) => io.stdout.write(s)) : (listr?.onEvent ?? plain);
  const crashPoint = holdAfterEvent(io.env, records.length);
  // this attempt's events move the state with the same transition function as everything else
  let current = state;
  const emit = (raw: RunEvent) => {
    const e = redact(raw);
    current = applyEvent(current, e);
    if (journal.write(e)) crashPoint(e);
    report(e);
  };
  const started = Date.now();
  const transport = new SshTransport(transportOptions(args, false));
  let status: RunStatus = 'failed';
  let exitCode = 1;
  let message = '';
  emit({ type: 'resumed', by: `${userInfo().username}@${hostname()}`, pid: process.pid, mode });
  try {
    // the same hosts the run locked, taken over only from the dead run itself
    const lockHosts = meta.lockHosts.map((n) => byName.get(n) as Host).filter((h) => !h.down);
    const owner = { runId: id, user: userInfo().username, machine: hostname(), pid: process.pid, playbook: meta.playbookFile, since: new Date().toISOString() };
    // sudo -n where become needs it: on the lock hosts and on every host the program targets, as the run checked
    const planned = (saved.ok ? programHostNames(saved.plan.program) : []).map((n) => byName.get(n)).filter((h): h is Host => h !== undefined && !h.down);
    const targets = new Map([...lockHosts, ...planned].map((h) => [h.name, h]));
    const become = await checkBecome([...targets.values()], saved.ok ? saved.plan.program : undefined, transport);
    const lock = become.ok ? await acquireLock(lockHosts, owner, transport, owner.machine, id) : undefined;
    if (!become.ok) {
      for (const r of become.refused) emit({ type: 'log', level: 'error', message: r.message });
      message = `refused: ${become.summary}; nothing was changed`;
    } else if (!lock?.ok) {
      const why = lock?.message ?? 'the lock was not tried';
      emit({ type: 'log', level: 'error', message: why });
      message = `refused: ${why}`;
    } else {
      try {
        if (mode === 'rollback') {
          for (const f of state.inFlight) emit({ type: 'log', level: 'warn', message: `'${f.step}' was in flight on ${f.host} when the run stopped: undoing it too (its undo checks what is there)` });
          if (!args.yes) await listr?.done();
          const confirmed = args.yes || (await askToType(`Unwind run ${id} to '${state.lastPoint}' on ${lockHosts.map((h) => h.name).join(', ')}? Type the cluster name`, inventory.cluster, io.stdin, io.stdout));
          if (!confirmed) message = 'not confirmed: nothing was changed';
          else {
            const cluster = runInputs ? expandNames([runInputs.playbook.hosts], inventory) : [];
            const scopeOf = (host: Host) =>
              runInputs && saved.ok
                ? buildScope({ playbook: runInputs.playbook, inventory, host, run: saved.plan.inputs.run, extraVars: runInputs.extraVars, registered: state.registered[host.name] ?? {}, cluster })
                : { vars: {} };
            const rb = await rollback({ entries, to: state.lastPoint, reason: `runbook rollback ${id}`, unreachable: new Set(), transport, emit, signal: new AbortController().signal, stores: backup.stores, journaled: () => journal.durable(), scopeOf });
            status = rb.ok ? 'rolled_back' : 'needs_attention';
            exitCode = rb.ok ? 0 : 3;
            message = rb.ok ? `rolled back to '${state.lastPoint}'` : `rollback to '${state.lastPoint}' INCOMPLETE: ${rb.remaining.map((r) => `${r.host}: ${r.steps.join(', ')} (${r.why})`).join('; ')}. Run runbook rollback ${id} again once that is fixed`;
          }
        } else if (runInputs && saved.ok) {
          const program = saved.plan.program;
          const scopeOf = (host: Host) => buildScope({ playbook: runInputs.playbook, inventory, host, run: saved.plan.inputs.run, extraVars: runInputs.extraVars, registered: current.registered[host.name] ?? {}, cluster: expandNames([runInputs.playbook.hosts], inventory) });
          const undecided = await decideInFlight({ state: current, program, byName, transport, emit, scopeOf, stores: backup.stores, journaled: () => journal.durable() });
          if (undecided.length) {
            status = 'needs_attention';
            exitCode = 3;
            message = `cannot resume: ${undecided.join('; ')}. Unwind with runbook rollback ${id}`;
          } else {
          const out = await runPlaybook({
            program: saved.plan.program,
            playbook: runInputs.playbook,
            inventory,
            extraVars: runInputs.extraVars,
            run: saved.plan.inputs.run,
            forks: args.forks,
            noRollback: args.noRollback,
            transport,
            emit,
            signal: new AbortController().signal,
            stores: backup.stores,
            journaled: () => journal.durable(),
            beforeStep: holdHook(io.env),
            confirm: async (prompt, expect) => {
              if (args.yes) return true;
              await listr?.done();
              return askToType(prompt, expect, io.stdin, io.stdout);
            },
            resume: current,
          });
          ({ status, exitCode, message } = out);
          }
        }
      } catch (e) {
        status = 'needs_attention';
        exitCode = 3;
        message = `internal fault: ${(e as Error).message}; run runbook ${mode} ${id} again`;
      } finally {
        if (status === 'needs_attention') emit({ type: 'log', level: 'warn', message: `cluster lock kept: hosts are not at a rollback point (runbook rollback ${id})` });
        else await releaseLock(lock.held, id, transport);
      }
    }
  } finally {
    await transport.close();
  }
  emit({ type: 'run.end', status, exitCode, failedStep: undefined, message, durationMs: Date.now() - started });
  await listr?.done();
  journal.close();
  return exitCode;
}

/**
 * Steps a crash interrupted, decided instead of guessed: each one's probe says done, not started or
 * partial (then its clean-up runs and it is probed again). Returns what could not be decided.
 */
async function decideInFlight(p: { state: RunState; program: Program; byName: Map<string, Host>; transport: Transport; emit: (e: RunEvent) => void; scopeOf: (h: Host) => Scope; stores: StoreFactory; journaled: () => Promise<void> }): Promise<string[]> {
  const undecided: string[] = [];
  for (const f of p.state.inFlight.filter((x) => !x.repeatable || x.lost)) {
    const entry = p.program.entries.find((e) => e.kind === 'step' && e.index === f.index);
    const hp = entry?.kind === 'step' ? entry.hosts.find((h) => h.host === f.host) : undefined;
    const host = p.byName.get(f.host) as Host;
    // a versioned step: the case for this host's etcd version, chosen from the journal's registered values as the run chose it
    const chosen = hp ? runPlanOf(hp, p.scopeOf(host)) : undefined;
    const rp = chosen?.ok ? chosen.plan : undefined;
    if (entry?.kind !== 'step' || rp === undefined || !rp.probe) {
      const cmds = rp ? rp.commands.map((c) => describeCommand(c)).join(' ; ') : '(not in the program)';
      undecided.push(`'${f.step}' had started on ${f.host} and not finished, and it has no probe to say how far it got: check by hand what \`${cmds}\` did there`);
      continue;
    }
    const probe = rp.probe;
    // probes and clean-ups run like any planned command: holes filled, journaled, under their deadline
    const scope = p.scopeOf(host);
    const exec = (c: Command, index: number) =>
      runCommand(c, { transport: p.transport, emit: p.emit, step: f.step, host, phase: 'probe', index, scope, confirm: async () => false, signal: new AbortController().signal, stores: p.stores, journaled: p.journaled });
    const ask = async (): Promise<{ verdict: ProbeVerdict; output: string }> => {
      const o = await exec(probe.cmd, 0);
      const out = o.stdout.trim();
      return { verdict: o.ok && (out === 'done' || out === 'not-started' || out === 'partial') ? out : 'unknown', output: o.ok ? out : (o.error ?? 'failed') };
    };
    let r = await ask();
    if (r.verdict === 'partial') {
      p.emit({ type: 'probe', step: f.step, index: f.index, host: f.host, verdict: r.verdict, output: r.output });
      let cleaned = true;
      for (const [i, c] of probe.cleanup.entries()) {
        cleaned = (await exec(c, i + 1)).ok;
        if (!cleaned) break;
      }
      r = cleaned ? await ask() : { verdict: 'unknown', output: 'its clean-up failed' };
    }
    if (r.verdict === 'done' && entry.controls.register) r = { verdict: 'unknown', output: `it finished, but the result it registers (${entry.controls.register}) was lost with the crash` };
    p.emit({ type: 'probe', step: f.step, index: f.index, host: f.host, verdict: r.verdict, output: r.output });
    if (r.verdict !== 'done' && r.verdict !== 'not-started') undecided.push(`'${f.step}' on ${f.host}: its probe could not decide (${r.output})`);
  }
  return undecided;
}
