/** How the engine reaches a host. ssh.ts is the only implementation that talks to the network. */

import type { Readable } from 'node:stream';
import type { Host } from '../model/inventory.js';
import type { Shell } from '../model/shell.js';
import type { Wiring } from '../shell/wire.js';

export type ExecOutcome =
  | { kind: 'exited'; code: number | null; signal: string | null; stdout: string; stderr: string; durationMs: number; timedOut: boolean }
  | { kind: 'unreachable'; message: string }
  | { kind: 'lost'; message: string; stdout: string; stderr: string };

export interface ExecOptions {
  /** A planned command's deadline and sudo (wire.ts `plannedWiring`): the transport runs it that way. */
  wiring?: Wiring | undefined;
  /**
   * An engine-internal command (lock, manifest read, transfers): the transport gives it a deadline on the
   * host and runs it through sudo when the host says become. With neither, the text runs as it is.
   */
  root?: boolean | undefined;
  /** The on-host deadline of an engine-internal command (default INTERNAL_TIMEOUT_S). */
  deadlineS?: number | undefined;
  /** Fed to the command's stdin. */
  input?: Buffer | Readable | undefined;
  timeoutMs?: number | undefined;
  onStdout?: ((text: string) => void) | undefined;
  onStderr?: ((text: string) => void) | undefined;
}

export type TransferOutcome = { kind: 'done'; bytes: number; durationMs: number } | { kind: 'unreachable'; message: string } | { kind: 'failed'; message: string };

export interface Transport {
  exec(host: Host, command: Shell, opts?: ExecOptions): Promise<ExecOutcome>;
  upload(host: Host, dest: string, content: Buffer, mode: number): Promise<TransferOutcome>;
  fetch(host: Host, src: string, localDest: string): Promise<TransferOutcome>;
  /** Copy a local file to the host (atomic rename into place). */
  uploadFile(host: Host, localPath: string, dest: string, mode: number): Promise<TransferOutcome>;
  /** Run a command and hand its stdout over as a stream (for large files: nothing is buffered). */
  stream(host: Host, command: Shell, opts?: { root?: boolean; deadlineS?: number }): Promise<{ kind: 'ok'; stdout: Readable; done: Promise<ExecOutcome> } | { kind: 'unreachable'; message: string }>;
  /** Open the connection now (checks reachability and host key) without running anything. */
  connect(host: Host): Promise<{ ok: true } | { ok: false; message: string; hostKey: boolean }>;
  close(): Promise<void>;
}
