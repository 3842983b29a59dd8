import type { RunEvent } from '../model/events.js';

/** Replace every secret value wherever it appears in an event's strings. */
export function makeRedactor(secrets: string[]): (e: RunEvent) => RunEvent {
  const values = [...new Set(secrets.filter((s) => s.length >= 3))].sort((a, b) => b.length - a.length);
  if (values.length === 0) return (e) => e;
  const scrub = (s: string) => values.reduce((acc, v) => acc.split(v).join('***'), s);
  const walk = (v: unknown): unknown => {
    if (typeof v === 'string') return scrub(v);
    if (Array.isArray(v)) return v.map(walk);
    if (v && typeof v === 'object') return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, walk(x)]));
    return v;
  };
  return (e) => walk(e) as RunEvent;
}
