import type { Scope } from '../template/expression.js';
import { evaluate } from '../template/expression.js';
import type { HostStepPlan, RunPlan } from './plan-step.js';

type ChoosePlan = Extract<HostStepPlan, { kind: 'choose' }>;

export type Chosen = { ok: true; plan: RunPlan } | { ok: false; message: string };

/**
 * The plan a versioned step runs on a host: the case for the etcd command set the earlier etcd.tools
 * step found there. Only chosen, never planned here: every case is already in the program. Pure.
 */
export function chooseCase(hp: ChoosePlan, scope: Scope): Chosen {
  let set: unknown;
  try {
    set = evaluate(hp.on.ref, scope);
  } catch (e) {
    return { ok: false, message: `the etcd version on ${hp.host} is not known (${hp.on.ref}: ${(e as Error).message}): did the etcd.tools step run there?` };
  }
  if (typeof set !== 'string') return { ok: false, message: `the etcd version on ${hp.host} is not known (${hp.on.ref} is ${JSON.stringify(set) ?? 'undefined'}): did the etcd.tools step run there?` };
  const hit = hp.cases.find((c) => (c.sets as string[]).includes(set));
  if (!hit) return { ok: false, message: `no plan for etcd ${set} in this step (planned for ${hp.cases.flatMap((c) => c.sets).join(', ')})` };
  return { ok: true, plan: { ...hit.plan, condition: hp.condition } };
}

/** The plan for a host entry as the run will execute it: `run` as is, `choose` by the scope, others none. */
export function runPlanOf(hp: HostStepPlan, scope: Scope): Chosen | undefined {
  if (hp.kind === 'run') return { ok: true, plan: hp };
  if (hp.kind === 'choose') return chooseCase(hp, scope);
  return undefined;
}
