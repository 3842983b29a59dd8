import { createHash } from 'node:crypto';
import { abortableSleep as sleep } from '../util/sleep.js';
import type { Command, CommandOutcome } from '../model/command.js';
import type { EmitFn, Phase } from '../model/events.js';
import type { Host } from '../model/inventory.js';
import { needsSudo } from '../util/become.js';
import { evaluateBool, type Scope } from '../template/expression.js';
import type { ExecOutcome, Transport } from '../transport/transport.js';
import { KILL_AFTER_S, plannedWiring, DEFAULT_TIMEOUT_S } from '../shell/wire.js';
import { describeCommand } from './describe-command.js';
import { filledText, fillFor } from '../shell/fill.js';
import { runPutTools } from './put-tools.js';
import { progressEvents } from './progress.js';
import type { FanOut } from './fan-out.js';
import { applyParse, runEdit, runS3Get, runS3Provenance, runS3Prune, runS3Put, runS3Verify, type StoreFactory } from './run-special.js';

export interface CommandContext {
  transport: Transport;
  emit: EmitFn;
  step: string;
  host: Host;
  phase: Phase;
  index: number;
  /** The host's run-time scope: fills the command's holes (and evaluates asserts). */
  scope: Scope;
  /** Asks the operator; resolves true when they typed what was expected. */
  confirm: (prompt: string, expect: string) => Promise<boolean>;
  signal: AbortSignal;
  stores: StoreFactory;
  /** Resolves once every event emitted so far is in the journal on disk (the write-ahead barrier). */
  journaled: () => Promise<void>;
  /** The step's shared fetches on this host's wave (s3-get). */
  fanOut?: FanOut | undefined;
}

/**
 * The host as a transfer, edit or stream command was planned for: the transport decides sudo by the host's
 * become, so a step that said `become: false` on a become host gets the host without it (the plan shows which).
 */
function asPlanned(host: Host, sudo: boolean | undefined): Host {
  return sudo === undefined || needsSudo(host) === sudo ? host : { ...host, become: sudo };
}

const TAIL = 4096;
const tail = (s: string) => (s.length > TAIL ? `…${s.slice(-TAIL)}` : s);

function explainExit(code: number | null, signal: string | null): string {
  if (signal) return `killed by signal ${signal}`;
  if (code === 127) return 'exit 127: command not found on the host';
  if (code === 126) return 'exit 126: command found but not executable';
  if (code === 124) return 'exit 124: timed out (timeout(1))';
  return `exit ${code}`;
}


/** Run one planned command on one host, emitting start/output/end. Never throws for command failures. */
export async function runCommand(cmd: Command, ctx: CommandContext): Promise<CommandOutcome> {
  const started = Date.now();
  const startedAt = new Date(started).toISOString();
  const planned = describeCommand(cmd);
  let shown = planned;
  let exact: Command | undefined;
  let fillError = '';
  try {
    // the planned command with its run-time values: shown with secrets by name, executed with them
    shown = describeCommand(fillFor(ctx.scope, false)(cmd));
    exact = fillFor(ctx.scope, true)(cmd);
  } catch (e) {
    fillError = (e as Error).message;
  }
  ctx.emit({ type: 'command.start', step: ctx.step, host: ctx.host.name, phase: ctx.phase, index: ctx.index, command: shown, planned, kind: cmd.kind });
  // write-ahead: a command runs only once its start is on disk, so recovery knows it may have run
  await ctx.journaled();
  let outcome: CommandOutcome;
  const failed = (error: string): CommandOutcome => ({ ok: false, exitCode: null, signal: null, stdout: '', stderr: '', durationMs: Date.now() - started, attempts: 1, error });
  if (exact === undefined) outcome = failed(`a value known only at run time is missing: ${fillError}`);
  else {
    try {
      outcome = await execute(exact, ctx);
    } catch (e) {
      // a fault in a transfer or a parser is this command's failure, not the end of the run (which must unwind)
      outcome = failed(`failed: ${(e as Error).message}`);
    }
  }
  ctx.emit({
    type: 'command.end',
    step: ctx.step,
    host: ctx.host.name,
    phase: ctx.phase,
    index: ctx.index,
    command: shown,
    planned,
    kind: cmd.kind,
    ok: outcome.ok,
    exitCode: outcome.exitCode,
    signal: outcome.signal,
    attempts: outcome.attempts,
    startedAt,
    endedAt: new Date().toISOString(),
    durationMs: Date.now() - started,
    stdoutTail: tail(outcome.stdout),
    stderrTail: tail(outcome.stderr),
    error: outcome.error,
  });
  return outcome;
}

function fromExec(o: ExecOutcome, okCodes: number[], attempts: number, started: number): CommandOutcome {
  const durationMs = Date.now() - started;
  switch (o.kind) {
    case 'exited': {
      const ok = !o.timedOut && o.code !== null && okCodes.includes(o.code);
      return {
        ok,
        exitCode: o.code,
        signal: o.signal,
        stdout: o.stdout,
        stderr: o.stderr,
        durationMs,
        attempts,
        timedOut: o.timedOut,
        error: ok ? undefined : o.timedOut ? 'timed out: the command was stopped' : explainExit(o.code, o.signal),
      };
    }
    case 'unreachable':
      return { ok: false, exitCode: null, signal: null, stdout: '', stderr: '', durationMs, attempts, error: `unreachable: ${o.message}` };
    case 'lost':
      return { ok: false, exitCode: null, signal: null, stdout: o.stdout, stderr: o.stderr, durationMs, attempts, error: `connection lost: ${o.message}` };
  }
}

async function execute(cmd: Command, ctx: CommandContext): Promise<CommandOutcome> {
  const started = Date.now();
  const simple = (ok: boolean, error?: string, stdout = ''): CommandOutcome => ({
    ok,
    exitCode: ok ? 0 : 1,
    signal: null,
    stdout,
    stderr: '',
    durationMs: Date.now() - started,
    attempts: 1,
    error,
  });
  switch (cmd.kind) {
    case 'exec': {
      const okCodes = cmd.okCodes ?? [0];
      const wiring = plannedWiring(cmd);
      // the deadline on the host ends it; the channel is closed only if that did not happen in time
      const timeoutMs = ((cmd.timeoutS ?? DEFAULT_TIMEOUT_S) + KILL_AFTER_S + 15) * 1000;
      const opts = {
        wiring,
        timeoutMs,
        onStdout: (text: string) => ctx.emit({ type: 'command.output', step: ctx.step, host: ctx.host.name, phase: ctx.phase, stream: 'stdout', text }),
        onStderr: (text: string) => ctx.emit({ type: 'command.output', step: ctx.step, host: ctx.host.name, phase: ctx.phase, stream: 'stderr', text }),
      };
      const withFacts = (r: CommandOutcome): CommandOutcome => {
        if (!cmd.parse || !r.ok) return r;
        const p = applyParse(cmd.parse, r.stdout);
        return p.ok ? { ...r, facts: p.facts } : { ...r, ok: false, facts: p.facts, error: p.reason };
      };
      if (!cmd.poll) return withFacts(fromExec(await ctx.transport.exec(ctx.host, cmd.cmd, opts), okCodes, 1, started));
      const deadline = started + cmd.poll.timeoutMs;
      let attempts = 0;
      for (;;) {
        attempts++;
        const o = await ctx.transport.exec(ctx.host, cmd.cmd, { wiring, timeoutMs });
        const r = withFacts(fromExec(o, okCodes, attempts, started));
        if (o.kind !== 'exited') return r;
        const done = cmd.poll.until === 'succeeds' ? r.ok : !r.ok && !o.timedOut;
        if (done) return { ...r, ok: true, error: undefined };
        if (Date.now() + cmd.poll.intervalMs > deadline || ctx.signal.aborted)
          return { ...r, ok: false, error: `gave up after ${attempts} tries in ${Math.round((Date.now() - started) / 1000)}s: ${cmd.poll.until === 'succeeds' ? 'never succeeded' : 'never failed'} (last: ${r.error ?? explainExit(r.exitCode, r.signal)})` };
        await sleep(cmd.poll.intervalMs, ctx.signal);
      }
    }
    case 'upload': {
      const o = await ctx.transport.upload(asPlanned(ctx.host, cmd.sudo), cmd.dest, Buffer.from(cmd.content, 'utf8'), cmd.mode);
      if (o.kind === 'done') return simple(true, undefined, createHash('sha256').update(cmd.content).digest('hex'));
      return { ...simple(false, `${o.kind === 'unreachable' ? 'unreachable' : 'upload failed'}: ${o.message}`), exitCode: null };
    }
    case 'fetch': {
      const o = await ctx.transport.fetch(asPlanned(ctx.host, cmd.sudo), cmd.src, cmd.dest);
      if (o.kind === 'done') return simple(true);
      return { ...simple(false, `${o.kind === 'unreachable' ? 'unreachable' : 'fetch failed'}: ${o.message}`), exitCode: null };
    }
    case 'put-tools': {
      const o = await runPutTools(cmd, { transport: ctx.transport, host: asPlanned(ctx.host, cmd.sudo), stores: ctx.stores });
      return { ...o, durationMs: Date.now() - started, attempts: 1 };
    }
    case 'edit':
    case 's3-put':
    case 's3-get': {
      const sc = { transport: ctx.transport, host: asPlanned(ctx.host, cmd.sudo), stores: ctx.stores, fanOut: ctx.fanOut, progress: (what: string, total: number | undefined) => progressEvents(ctx.emit, ctx.step, ctx.host.name, what, total) };
      const o = cmd.kind === 'edit' ? await runEdit(cmd, sc) : cmd.kind === 's3-put' ? await runS3Put(cmd, sc) : await runS3Get(cmd, sc);
      return { ...o, durationMs: Date.now() - started, attempts: 1 };
    }
    case 'local': {
      const op = cmd.op;
      switch (op.op) {
        case 'message': {
          const text = filledText(op.text);
          ctx.emit({ type: 'log', level: 'info', message: `${ctx.host.name}: ${text}` });
          return simple(true, undefined, text);
        }
        case 'assert': {
          const failed = op.that.filter((e) => {
            try {
              return !evaluateBool(e, ctx.scope);
            } catch {
              return true;
            }
          });
          if (failed.length === 0) return simple(true);
          return simple(false, op.message ?? `assertion failed: ${failed.join(' and ')}`);
        }
        case 'confirm': {
          const yes = await ctx.confirm(op.prompt, op.expect);
          return yes ? simple(true) : simple(false, `not confirmed: the operator did not type '${op.expect}'`);
        }
        case 's3-verify':
          return { ...(await runS3Verify(op, ctx.stores)), durationMs: Date.now() - started, attempts: 1 };
        case 's3-provenance':
          return { ...(await runS3Provenance(op, ctx.stores)), durationMs: Date.now() - started, attempts: 1 };
        case 's3-prune':
          try {
            return { ...(await runS3Prune(op, ctx.stores)), durationMs: Date.now() - started, attempts: 1 };
          } catch (e) {
            return simple(false, `retention failed: ${(e as Error).message}`);
          }
      }
    }
  }
}
