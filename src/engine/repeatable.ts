import { findAction } from '../actions/registry.js';
import type { Step } from '../model/playbook.js';

/** Safe to run again after a crash left it half-done: read-only actions, or steps that say so. */
export function isRepeatable(step: Step): boolean {
  if (step.repeatable !== undefined) return step.repeatable;
  const a = findAction(step.action);
  if (!a) return false;
  return a.changes === 'never' || (a.changes === 'declared' && step.changes === false) || a.repeatable === true;
}
