import type { Command, ProbeVerdict, StepResult } from './command.js';

export type Phase = 'do' | 'undo' | 'probe';

export interface RunMeta {
  runId: string;
  playbook: string;
  playbookFile: string;
  inventoryFile: string;
  cluster: string;
  user: string;
  machine: string;
  pid: number;
  argv: string[];
  git: { commit: string | undefined; dirty: boolean | undefined };
  dryRun: boolean;
  hosts: string[];
  /** Where the cluster lock is taken: the masters and every targeted host. Recovery takes the same. */
  lockHosts: string[];
  startedAt: string;
  /** The -e values the program was compiled with, secrets left out (they are given again to resume/rollback). */
  extraVars: Record<string, unknown>;
  limit: string | undefined;
  tags: string[] | undefined;
  skipTags?: string[] | undefined;
  playbookSha256: string;
  inventorySha256: string;
  /** -F, -u, --private-key of the run: resume and rollback resolve the inventory the same way. */
  ssh?: { configFile?: string | undefined; user?: string | undefined; privateKey?: string | undefined } | undefined;
}

/** Everything the engine reports. Reporters and the journal subscribe; the engine never prints. */
export type RunEvent =
  | { type: 'run.start'; meta: RunMeta }
  | { type: 'step.start'; step: string; index: number; hosts: string[]; down: string[] }
  | { type: 'step.skip'; step: string; index: number; reason: string }
  /** `command`: as executed, run-time values filled in (secrets by name); `planned`: as the program has it. */
  | { type: 'command.start'; step: string; host: string; phase: Phase; index: number; command: string; planned: string; kind: Command['kind'] }
  | { type: 'command.output'; step: string; host: string; phase: Phase; stream: 'stdout' | 'stderr'; text: string }
  | {
      type: 'command.end';
      step: string;
      host: string;
      phase: Phase;
      index: number;
      command: string;
      planned: string;
      kind: Command['kind'];
      ok: boolean;
      exitCode: number | null;
      signal: string | null;
      attempts: number;
      startedAt: string;
      endedAt: string;
      durationMs: number;
      stdoutTail: string;
      stderrTail: string;
      error: string | undefined;
    }
  /**
   * `final`: no further attempt follows (retries exhausted, done, or unwinding). The final result carries,
   * in the same record, the undo it leaves owed and what it registered: a crash can never fall between them.
   */
  | {
      type: 'host.result';
      step: string;
      index: number;
      attempt: number;
      final: boolean;
      result: StepResult;
      undo?: Command[] | undefined;
      registered?: { name: string; hosts: string[]; value: unknown } | undefined;
    }
  /** Before a changing step runs on a host: what would undo it, for a rollback after a crash. */
  | { type: 'step.planned'; step: string; index: number; host: string; undo: Command[]; repeatable: boolean }
  | { type: 'resumed'; by: string; pid: number; mode: 'resume' | 'rollback' }
  /** What a step's probe found on a host where it had started and not finished (after a crash). */
  | { type: 'probe'; step: string; index: number; host: string; verdict: ProbeVerdict; output: string }
  | { type: 'step.end'; step: string; index: number; status: 'ok' | 'changed' | 'skipped' | 'failed' }
  | { type: 'rollback_point'; name: string; index: number }
  | { type: 'rollback.start'; to: string; entries: { step: string; host: string }[]; reason: string }
  | { type: 'undo.result'; step: string; host: string; ok: boolean; message: string | undefined }
  | { type: 'rollback.end'; to: string; ok: boolean; remaining: { host: string; steps: string[]; why: string }[] }
  | { type: 'rollback.skipped'; to: string; pending: { step: string; host: string }[] }
  | { type: 'log'; level: 'info' | 'warn' | 'error'; message: string }
  /** A long transfer's progress (throttled): bytes so far, the total when known, average rate, ETA. Not journaled. */
  | { type: 'transfer.progress'; step: string; host: string; what: string; bytes: number; total: number | undefined; rateBps: number; etaS: number | undefined; done: boolean }
  | { type: 'run.end'; status: RunStatus; exitCode: number; failedStep: string | undefined; message: string; durationMs: number };

export type RunStatus = 'ok' | 'rolled_back' | 'failed' | 'needs_attention';

export type EmitFn = (e: RunEvent) => void;
