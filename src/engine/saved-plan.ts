import { createHash } from 'node:crypto';
import type { Program } from './plan.js';
import type { RunInfo } from './scope.js';

/** What a program was compiled from: a saved plan is executed only while all of it is unchanged. */
export interface PlanInputs {
  runbookVersion: string;
  playbookFile: string;
  playbookSha256: string;
  inventoryFile: string;
  inventorySha256: string;
  /** -e values that are not secrets (secrets are given again to `run --plan`, never saved). */
  extraVars: Record<string, string>;
  limit: string | undefined;
  tags: string[] | undefined;
  /** Absent in plans saved before --skip-tags existed: the same as none. */
  skipTags?: string[] | undefined;
  startAt: string | undefined;
  run: RunInfo;
  /** -F, -u, --private-key the plan was made with (absolute paths). */
  ssh?: { configFile?: string | undefined; user?: string | undefined; privateKey?: string | undefined } | undefined;
}

export interface SavedPlan {
  format: 'etcd-runbook/plan@1';
  inputs: PlanInputs;
  program: Program;
  /** sha256 of the canonical JSON of { inputs, program }: an edited plan file is refused. */
  sha256: string;
}

export function stableJson(v: unknown): string {
  if (Array.isArray(v)) return `[${v.map(stableJson).join(',')}]`;
  if (v && typeof v === 'object')
    return `{${Object.keys(v)
      .filter((k) => (v as Record<string, unknown>)[k] !== undefined)
      .sort()
      .map((k) => `${JSON.stringify(k)}:${stableJson((v as Record<string, unknown>)[k])}`)
      .join(',')}}`;
  return JSON.stringify(v) ?? 'null';
}

/** The program's identity: what it executes (source positions, for messages only, left out). */
export function programSha256(p: Program): string {
  const entries = p.entries.map((e) => (e.kind === 'step' ? { ...e, pos: undefined } : e));
  return createHash('sha256').update(stableJson({ ...p, entries })).digest('hex');
}

export function savePlan(inputs: PlanInputs, program: Program): SavedPlan {
  return { format: 'etcd-runbook/plan@1', inputs, program, sha256: createHash('sha256').update(stableJson({ inputs, program })).digest('hex') };
}

/** Parse and check a saved plan's own integrity (what it was built from is checked by the caller). */
export function readSavedPlan(text: string): { ok: true; plan: SavedPlan } | { ok: false; message: string } {
  let v: SavedPlan;
  try {
    v = JSON.parse(text) as SavedPlan;
  } catch (e) {
    return { ok: false, message: `not a saved plan (JSON: ${(e as Error).message})` };
  }
  if (v?.format !== 'etcd-runbook/plan@1' || !v.inputs || !v.program) return { ok: false, message: 'not a saved plan of this tool (format etcd-runbook/plan@1)' };
  const want = createHash('sha256').update(stableJson({ inputs: v.inputs, program: v.program })).digest('hex');
  if (want !== v.sha256) return { ok: false, message: 'the saved plan was edited after it was made (its sha256 does not match): make it again with runbook plan --out' };
  return { ok: true, plan: v };
}
