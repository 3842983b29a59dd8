import type { Host } from '../../src/model/inventory.js';
import type { Shell } from '../../src/model/shell.js';
import type { ExecOptions, ExecOutcome, Transport } from '../../src/transport/transport.js';

/** A transport for unit tests: `exec` is the test's; transfers succeed, streams are not there, connect works. */
export function fakeTransportWith(exec: (h: Host, shell: Shell, opts?: ExecOptions) => Promise<ExecOutcome>): Transport {
  return {
    exec,
    upload: async () => ({ kind: 'done', bytes: 0, durationMs: 0 }),
    uploadFile: async () => ({ kind: 'done', bytes: 0, durationMs: 0 }),
    fetch: async () => ({ kind: 'done', bytes: 0, durationMs: 0 }),
    stream: async () => ({ kind: 'unreachable', message: 'not in this fake' }),
    connect: async () => ({ ok: true }),
    close: async () => undefined,
  };
}
