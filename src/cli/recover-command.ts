import { existsSync } from 'node:fs';
import { hostname, userInfo } from 'node:os';
import { dirname, join } from 'node:path';
import type { RunEvent } from '../model/events.js';
import { Journal, readJournal } from '../engine/journal.js';
import { acquireLock, releaseLock } from '../engine/lock.js';
import { makeRedactor } from '../engine/redact.js';
import { recoverRun } from '../engine/recover.js';
import { rollback } from '../engine/rollback.js';
import { runPlaybook } from '../engine/run.js';
import { resolveLimit } from '../engine/select-hosts.js';
import { loadInventory } from '../load/load-inventory.js';
import { loadPlaybook } from '../load/load-playbook.js';
import { formatProblem } from '../load/problem.js';
import { s3StoreFor } from '../storage/s3.js';
import { SshTransport } from '../transport/ssh.js';
import { jsonReporter } from '../report/json.js';
import { plainReporter } from '../report/plain.js';
import { makeStyle } from '../report/style.js';
import type { CliArgs } from './args.js';
import { askToType } from './prompt.js';
import { fileSha256, type Io, runsDirOf, secretValues } from './run-command.js';

/**
 * `runbook resume RUN_ID` and `runbook rollback RUN_ID`: continue or unwind a run whose process died,
 * from what its journal recorded. The same journal is appended to.
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
  if (!existsSync(file)) return fail(`no run '${id}' in ${dirname(dir)} (see: runbook runs)`);
  const records = readJournal(file);
  const start = records.find((r) => r.event.type === 'run.start')?.event;
  if (start?.type !== 'run.start') return fail(`the journal of ${id} has no run.start record`);
  const meta = start.meta;
  const inv = loadInventory(meta.inventoryFile);
  if (!inv.ok) {
    for (const p of inv.problems) io.stderr.write(`${formatProblem(p)}\n`);
    return 2;
  }
  const rec = recoverRun(records, inv.value);
  if (!rec.ok) return fail(rec.message);
  const state = rec.run;
  if (state.finished) return fail(`run ${id} already ended (see runbook runs show ${id}): there is nothing to ${mode}`);
  if (state.missingHosts.length) return fail(`the inventory no longer has ${state.missingHosts.join(', ')}: restore it as it was for run ${id}`);
  if (fileSha256(meta.inventoryFile) !== meta.inventorySha256) return fail(`${meta.inventoryFile} changed since run ${id} started: put it back as it was`);

  // what resume needs: the same playbook, the same variables (secrets passed again)
  const extraVars: Record<string, unknown> = { ...meta.extraVars, ...args.extraVars };
  const style = makeStyle(io.stdout, io.env);
  let playbook: Extract<ReturnType<typeof loadPlaybook>, { ok: true }>['value'] | undefined;
  if (mode === 'resume') {
    if (fileSha256(meta.playbookFile) !== meta.playbookSha256) return fail(`${meta.playbookFile} changed since run ${id} started: resuming would not do what the plan said. Put it back, or use runbook rollback ${id}`);
    const redactedLeft = Object.entries(extraVars).filter(([, v]) => v === '***').map(([k]) => k);
    if (redactedLeft.length) return fail(`secret values are not kept in the journal: pass them again with ${redactedLeft.map((k) => `-e ${k}=…`).join(' ')}`);
    const pb = loadPlaybook(meta.playbookFile, { inventory: inv.value, extraVars });
    if (!pb.ok) {
      for (const p of pb.problems) io.stderr.write(`${formatProblem(p)}\n`);
      return 2;
    }
    playbook = pb.value;
    if (state.failedStep) return fail(`step '${state.failedStep}' had failed when the run died (it was unwinding or about to): finish the unwinding with runbook rollback ${id}`, 1);
    const blocked = state.inFlight.filter((f) => !f.repeatable);
    if (blocked.length)
      return fail(
        `${blocked.map((b) => `'${b.step}' on ${b.host}`).join(', ')} had started and not finished when the run died, and ${blocked.length > 1 ? 'they are' : 'it is'} not safe to repeat. ` +
          `Check by hand, or unwind with: runbook rollback ${id}`,
        1,
      );
  }

  const journal = new Journal(dir);
  const redact = makeRedactor(playbook ? secretValues(playbook, extraVars, io.env, inv.value) : []);
  const report = args.output === 'json' ? jsonReporter((s) => io.stdout.write(s)) : plainReporter((s) => io.stdout.write(s), style, args.verbose);
  const emit = (raw: RunEvent) => {
    const e = redact(raw);
    journal.write(e);
    report(e);
  };
  const started = Date.now();
  emit({ type: 'resumed', by: `${userInfo().username}@${hostname()}`, pid: process.pid, mode });
  const transport = new SshTransport({ knownHostsFile: inv.value.knownHosts, acceptNewHostKeys: false, connectTimeoutMs: args.connectTimeout * 1000, keepaliveIntervalMs: 5000 });
  let status: 'ok' | 'rolled_back' | 'failed' | 'needs_attention' = 'failed';
  let exitCode = 1;
  let message = '';
  try {
    const hosts = inv.value.hosts.filter((h) => meta.hosts.includes(h.name) && !h.down);
    const owner = { runId: id, user: userInfo().username, machine: hostname(), pid: process.pid, playbook: meta.playbookFile, since: new Date().toISOString() };
    const lock = await acquireLock(hosts, owner, transport, owner.machine, id);
    if (!lock.ok) {
      emit({ type: 'log', level: 'error', message: lock.message });
      message = 'refused: the cluster lock is held by another run';
    } else {
      try {
        if (mode === 'rollback') {
          const byName = new Map(inv.value.hosts.map((h) => [h.name, h]));
          const inFlight = state.inFlight.flatMap((f) => {
            const h = byName.get(f.host);
            return h ? [{ step: f.step, stepIndex: f.index, host: h, undo: f.undo }] : [];
          });
          for (const f of state.inFlight) emit({ type: 'log', level: 'warn', message: `'${f.step}' was in flight on ${f.host} when the run died: undoing it too (its undo checks what is there)` });
          const confirmed = args.yes || (await askToType(`Unwind run ${id} to '${state.lastPoint}' on ${hosts.map((h) => h.name).join(', ')}? Type the cluster name`, inv.value.cluster, io.stdin, io.stdout));
          if (!confirmed) message = 'not confirmed: nothing was changed';
          else {
            const rb = await rollback({ entries: [...state.stack, ...inFlight], to: state.lastPoint, reason: `runbook rollback ${id}`, unreachable: new Set(), transport, emit, signal: new AbortController().signal, stores: s3StoreFor });
            status = rb.ok ? 'rolled_back' : 'needs_attention';
            exitCode = rb.ok ? 1 : 3;
            message = rb.ok ? `rolled back to '${state.lastPoint}'` : `rollback to '${state.lastPoint}' INCOMPLETE: ${rb.remaining.map((r) => `${r.host}: ${r.steps.join(', ')} (${r.why})`).join('; ')}`;
          }
        } else if (playbook) {
          const limit = resolveLimit(meta.limit, inv.value);
          const out = await runPlaybook({
            playbook,
            inventory: inv.value,
            extraVars,
            limit: limit.ok ? limit.limit : undefined,
            run: { id, dir, user: owner.user, started: meta.startedAt, commit: meta.git.commit ?? 'unknown' },
            forks: args.forks,
            noRollback: args.noRollback,
            transport,
            emit,
            tags: meta.tags,
            startAt: undefined,
            signal: new AbortController().signal,
            stores: s3StoreFor,
            confirm: async (prompt, expect) => args.yes || askToType(prompt, expect, io.stdin, io.stdout),
            resume: { registered: state.registered, stack: state.stack, lastPoint: state.lastPoint, startIndex: state.startIndex, doneHosts: state.doneHosts },
          });
          ({ status, exitCode, message } = out);
        }
      } finally {
        await releaseLock(lock.held, id, transport);
      }
    }
  } finally {
    await transport.close();
  }
  emit({ type: 'run.end', status, exitCode, failedStep: undefined, message, durationMs: Date.now() - started });
  journal.close();
  return exitCode;
}
