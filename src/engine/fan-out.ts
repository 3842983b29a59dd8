import { once } from 'node:events';
import { PassThrough, type Readable } from 'node:stream';

/**
 * One read, many writers: the bytes of one fetch (an S3 object, decoded) handed to every member of a
 * step's wave that reached the same fetch, each through its own stdin stream, at the pace of the slowest
 * (a chunk goes out only once every member took the previous one, so memory stays a few chunks whatever
 * the size). Generic: the S3 side is in run-special.ts (`runS3Get`).
 *
 * Deterministic, no timers: the wave names the hosts expected; each either joins (its step reached the
 * fetch) or leaves (its step on that host ended first: skipped, failed before, unreachable). The fetch
 * starts once every expected host did one or the other. A host that joins after that (a retry) or that
 * was not expected gets `undefined` and fetches on its own.
 */

/** What one fetch gives: its bytes once, then (after the last byte) what it found, or why it failed. */
export interface FetchSource<V> {
  body: AsyncIterable<Uint8Array>;
  /** Read after the body ended: the fetch's own checks (hashes against the recorded ones). */
  verdict: () => FetchResult<V>;
}

export type FetchResult<V> = { ok: true; value: V } | { ok: false; message: string };

/** Opens the fetch for the members sharing it (their names, in wave order: for the progress line). */
export type OpenFetch<V> = (members: string[]) => Promise<FetchResult<FetchSource<V>>>;

/** A member's place in a shared fetch. */
export interface Seat<V> {
  /** The bytes for this member: give it to the member's command as stdin. Ends when the fetch ends or fails. */
  input: Readable;
  /** The member stopped reading (its command ended): it is detached, the others go on. */
  leave: () => void;
  /** Settles once every byte was handed out (or the fetch failed): the fetch's verdict for all its members. */
  result: Promise<FetchResult<V>>;
  /** Every member that shares this fetch, in wave order. */
  members: string[];
}

export interface FanOut {
  /**
   * This host's step reached the fetch named `id` (hosts with the same id share one read); `open` starts it
   * (only the first joiner's, in wave order, is called). Resolves when the wave is complete; undefined
   * for a host that is not (or no longer) expected: it fetches on its own.
   */
  join<V>(host: string, id: string, open: OpenFetch<V>): Promise<Seat<V>> | undefined;
  /** This host's step ended: a host that never joined is no longer waited for; one that did is detached. */
  leave(host: string): void;
}

interface Member {
  host: string;
  id: string;
  open: OpenFetch<unknown>;
  input: PassThrough;
  gone: boolean;
  /** Wakes the pump waiting on this member's drain when it leaves instead. */
  wake: (() => void) | undefined;
  seat: (s: Seat<unknown>) => void;
}

/** The fan-out of one wave of one step: `expected` are the wave's hosts, in order. */
export function fanOut(expected: string[]): FanOut {
  const waiting = new Set(expected);
  const joined = new Map<string, Member>();
  let started = false;

  const leaveMember = (m: Member) => {
    if (m.gone) return;
    m.gone = true;
    m.input.end();
    m.wake?.();
  };

  const startIfComplete = () => {
    if (started || waiting.size > 0) return;
    started = true;
    const groups = new Map<string, Member[]>();
    for (const h of expected) {
      const m = joined.get(h);
      if (m) groups.set(m.id, [...(groups.get(m.id) ?? []), m]);
    }
    for (const ms of groups.values()) void broadcast(ms);
  };

  return {
    join<V>(host: string, id: string, open: OpenFetch<V>): Promise<Seat<V>> | undefined {
      if (started || !waiting.has(host)) return undefined;
      waiting.delete(host);
      const p = new Promise<Seat<V>>((resolve) => {
        // a small buffer per member: the pump waits for the slowest, the SSH channel has its own window
        const input = new PassThrough({ highWaterMark: 256 * 1024 });
        input.on('error', () => undefined);
        joined.set(host, { host, id, open: open as OpenFetch<unknown>, input, gone: false, wake: undefined, seat: resolve as (s: Seat<unknown>) => void });
      });
      startIfComplete();
      return p;
    },
    leave(host: string) {
      if (waiting.delete(host)) {
        startIfComplete();
        return;
      }
      const m = joined.get(host);
      if (m) leaveMember(m);
    },
  };

  async function broadcast(ms: Member[]): Promise<void> {
    const members = ms.map((m) => m.host);
    let settle: (r: FetchResult<unknown>) => void = () => undefined;
    const result = new Promise<FetchResult<unknown>>((r) => (settle = r));
    for (const m of ms) m.seat({ input: m.input, leave: () => leaveMember(m), result, members });
    const endAll = () => {
      for (const m of ms) if (!m.gone) m.input.end();
    };
    let opened: FetchResult<FetchSource<unknown>>;
    try {
      opened = await (ms[0] as Member).open(members);
    } catch (e) {
      opened = { ok: false, message: (e as Error).message };
    }
    if (!opened.ok) {
      endAll();
      settle(opened);
      return;
    }
    const src = opened.value;
    try {
      for await (const chunk of src.body) {
        const slow: Promise<void>[] = [];
        for (const m of ms) {
          if (m.gone || m.input.write(chunk)) continue;
          slow.push(
            new Promise<void>((wake) => {
              m.wake = wake;
              once(m.input, 'drain').then(
                () => wake(),
                () => wake(),
              );
            }).then(() => {
              m.wake = undefined;
            }),
          );
        }
        if (slow.length) await Promise.all(slow);
        // nobody reads any more: stop fetching (leaving the loop closes the source)
        if (ms.every((m) => m.gone)) {
          settle({ ok: false, message: `no member is reading any more (${members.join(', ')} stopped)` });
          return;
        }
      }
    } catch (e) {
      endAll();
      settle({ ok: false, message: (e as Error).message });
      return;
    }
    endAll();
    settle(src.verdict());
  }
}
