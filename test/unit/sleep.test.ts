import { getEventListeners } from 'node:events';
import { expect, it } from 'vitest';
import { abortableSleep } from '../../src/util/sleep.js';

it('a poll that sleeps many times leaves no abort listener behind', async () => {
  const ac = new AbortController();
  for (let i = 0; i < 25; i++) await abortableSleep(1, ac.signal);
  expect(getEventListeners(ac.signal, 'abort')).toHaveLength(0);
});

it('an abort ends the sleep at once (a sleep of an hour returns)', async () => {
  const ac = new AbortController();
  const s = abortableSleep(3_600_000, ac.signal);
  ac.abort();
  await s;
  expect(getEventListeners(ac.signal, 'abort')).toHaveLength(0);
  // already aborted: returns without waiting
  await abortableSleep(3_600_000, ac.signal);
});
