// The collections the data path asks for (src/util/young-gc.ts) happen, of the kind asked, on this Node.
import { constants, PerformanceObserver } from 'node:perf_hooks';
import { describe, expect, it } from 'vitest';
import { collectAll, collectYoung } from '../../src/util/young-gc.js';

/** The kinds of the GCs that `f` caused (perf_hooks reports each one). */
async function gcKinds(f: () => void): Promise<number[]> {
  const kinds: number[] = [];
  const obs = new PerformanceObserver((list) => {
    for (const e of list.getEntries()) kinds.push(((e as unknown as { detail: { kind: number } }).detail).kind);
  });
  obs.observe({ entryTypes: ['gc'] });
  f();
  // entries are delivered asynchronously
  await new Promise((r) => setTimeout(r, 50));
  obs.disconnect();
  return kinds;
}

describe('collections on request', () => {
  it('collectYoung is a young-generation collection', async () => {
    expect(await gcKinds(collectYoung)).toContain(constants.NODE_PERFORMANCE_GC_MINOR);
  });
  it('collectAll is a full one', async () => {
    expect(await gcKinds(collectAll)).toContain(constants.NODE_PERFORMANCE_GC_MAJOR);
  });
});
