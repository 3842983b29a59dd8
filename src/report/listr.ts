import type { RunEvent } from '../model/events.js';
import type { StepResult } from '../model/command.js';
import { formatProgress } from '../engine/progress.js';

interface Deferred<T> {
  promise: Promise<T>;
  resolve: (v: T) => void;
}
function deferred<T>(): Deferred<T> {
  let resolve!: (v: T) => void;
  const promise = new Promise<T>((r) => {
    resolve = r;
  });
  return { promise, resolve };
}

/**
 * TTY output: each step is a listr2 list with one subtask per host and a live tail of its output.
 * Steps render one after another; the engine runs independently and this only follows its events.
 */
export function listrReporter(fallback: (e: RunEvent) => void): { onEvent: (e: RunEvent) => void; done: () => Promise<void> } {
  type Slot = { result: Deferred<StepResult>; setOutput: (s: string) => void; last: string | undefined };
  let current: { hosts: Map<string, Slot>; run: Promise<unknown> } | undefined;
  let chain: Promise<unknown> = Promise.resolve();
  const outputs = new Map<string, string>();

  const onEvent = (e: RunEvent) => {
    switch (e.type) {
      case 'step.start': {
        const hosts = new Map<string, Slot>();
        // output that arrives before listr has started the host's task is kept and shown when it starts
        for (const h of e.hosts) {
          const slot: Slot = { result: deferred<StepResult>(), last: undefined, setOutput: (s) => (slot.last = s) };
          hosts.set(h, slot);
        }
        // listr2 is loaded with the first step drawn: commands that draw nothing never import it
        const run = chain.then(async () => {
          const { Listr } = await import('listr2');
          const list = new Listr(
            [
              {
                title: `[${e.index + 1}] ${e.step}`,
                task: (_ctx, task) =>
                  task.newListr(
                    e.hosts.map((h) => ({
                      title: h,
                      task: async (_c: unknown, sub: { output: string; title: string; skip: (m: string) => void }) => {
                        const slot = hosts.get(h);
                        if (!slot) return;
                        slot.setOutput = (s) => {
                          slot.last = s;
                          sub.output = s;
                        };
                        if (slot.last !== undefined) sub.output = slot.last;
                        const r = await slot.result.promise;
                        switch (r.status) {
                          case 'ok':
                          case 'changed':
                            sub.title = `${h}: ${r.status}`;
                            return;
                          case 'skipped':
                            sub.skip(`${h}: skipped (${r.reason})`);
                            return;
                          case 'failed':
                          case 'unreachable':
                            throw new Error(`${h}: ${r.status}: ${r.message}`);
                        }
                      },
                      rendererOptions: { persistentOutput: false, outputBar: 3 },
                    })),
                    { concurrent: true, exitOnError: false },
                  ),
              },
            ],
            { exitOnError: false, rendererOptions: { collapseSubtasks: false, collapseErrors: false } },
          );
          return list.run().catch(() => undefined);
        });
        chain = run;
        current = { hosts, run };
        return;
      }
      case 'command.output': {
        const key = `${e.host}`;
        const text = ((outputs.get(key) ?? '') + e.text).slice(-2000);
        outputs.set(key, text);
        current?.hosts.get(e.host)?.setOutput(text.trim().split('\n').slice(-3).join('\n'));
        return;
      }
      case 'host.result': {
        outputs.delete(e.result.host);
        const slot = current?.hosts.get(e.result.host);
        // a retried step reports each attempt; only the final one settles the subtask
        if (slot && e.final) slot.result.resolve(e.result);
        return;
      }
      case 'step.end':
        if (current) for (const [h, s] of current.hosts) s.result.resolve({ status: 'skipped', host: h, reason: 'not run' });
        return;
      case 'transfer.progress':
        current?.hosts.get(e.host)?.setOutput(`${e.what}: ${formatProgress(e)}`);
        return;
      case 'command.start':
      case 'command.end':
        return;
      default:
        // rollback, summary and messages print as plain lines once the step lists are drawn
        chain = chain.then(() => fallback(e));
    }
  };
  return { onEvent, done: () => chain.then(() => undefined) };
}
