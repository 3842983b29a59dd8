/** Commands as data: what an action plans and the engine runs. Types only. */

import type { ClusterExpectation } from '../facts/etcd-json.js';
import type { FlagEdit, ManifestStyle } from '../facts/manifest-edit.js';
import type { Cat, Ref, Shell } from './shell.js';

/** How to reach S3 as it is in the wild: all optional, defaults in s3.ts. */
export interface S3Settings {
  /** `auto` (default): path-style for an IP/localhost/explicit-port endpoint or a non-DNS bucket, else virtual-hosted. */
  addressing?: 'auto' | 'path' | 'virtual' | undefined;
  /** PEM file of the CA(s) the endpoint's certificate must chain to (else AWS_CA_BUNDLE, else the system's). */
  caBundle?: string | undefined;
  /** HTTPS proxy URL (CONNECT), else HTTPS_PROXY unless NO_PROXY names the endpoint. */
  proxy?: string | undefined;
  connectTimeoutS?: number | undefined;
  /** Idle time of one request (no bytes moving) before it is abandoned and retried. */
  requestTimeoutS?: number | undefined;
  maxAttempts?: number | undefined;
  /** Server-side encryption asked for on every upload. */
  sse?: 'AES256' | 'aws:kms' | undefined;
  sseKmsKeyId?: string | undefined;
}

/** Text that may hold run-time values (filled in by the run, never re-rendered). */
export type Text = string | Cat | Ref;

/** How the engine turns a command's stdout into facts, and what the facts must show. */
export type Parse =
  | { parser: 'etcd-cluster'; endpoints: string[]; expect?: ClusterExpectation | undefined }
  /**
   * `snapshot status -w json`. With `restoreWith` (the etcd version that would restore it): refused when the
   * snapshot was written by a newer etcd, by its own status (3.5+ prints a storage version) or by
   * `writtenBy` (the version the backup's provenance records).
   */
  | { parser: 'snapshot-status'; restoreWith?: Text | undefined; writtenBy?: Text | undefined }
  | {
      parser: 'key-count';
      expect?: { equals?: number | Ref | undefined; min?: number | Ref | undefined } | undefined;
      /** the revision read includes a restore's bump: the revision registered is the one without it */
      bump?: number | undefined;
    }
  | { parser: 'member-add'; name: string; peerUrl: string }
  /** etcd.tools' finding: the member's version, the tools that match it; `complete`: none may be missing. */
  | { parser: 'etcd-tools'; complete: boolean; forced?: string | undefined }

/** Repeat a command until it succeeds (exit 0) or, with `until: 'fails'`, until it fails. */
export interface Poll {
  until: 'succeeds' | 'fails';
  timeoutMs: number;
  intervalMs: number;
}

/**
 * How a command that reads or writes the host itself (not a shell command: a transfer, an edit, a stream)
 * runs its own commands there: through `sudo -n` or not. Decided by the planner with the step's become, as
 * for shell commands, and shown in the plan; unset (a program compiled before it was recorded) = the host's become.
 */
type AsRoot = boolean | undefined;

export type Command =
  | {
      kind: 'exec';
      /** The command: shell text and typed holes. wire.ts says how the host runs it (deadline, sudo). */
      cmd: Shell;
      /** Deadline of one execution on the host (as `timeout -k` gives it): set on every command by the planner. */
      timeoutS?: number | undefined;
      /** Run through `sudo -n` (a non-root SSH user with become). */
      sudo?: boolean | undefined;
      poll?: Poll | undefined;
      /** Exit codes that count as success (default [0]). */
      okCodes?: number[] | undefined;
      parse?: Parse | undefined;
    }
  /** Read a manifest or unit file, change flags in it (everything else kept byte-for-byte), write it back atomically. */
  | { kind: 'edit'; path: string; style: ManifestStyle; edits: FlagEdit[]; sudo?: AsRoot }
  /** Stream a file from the host straight into the object store (multipart), sha256 on the fly. */
  | {
      kind: 's3-put';
      src: string;
      endpoint: string;
      region: string;
      bucket: string;
      s3?: S3Settings | undefined;
      key: string;
      meta: Record<string, Text>;
      /** Stream: member → sha256 of the raw snapshot → gzip? → age? → sha256 of the stored object → S3. */
      compression?: 'gzip' | 'none' | undefined;
      /** age recipients (age1…), or `recipients-file` / `passphrase` (taken from the environment at run time). */
      encryptTo?: string[] | undefined;
      sudo?: AsRoot;
    }
  /** Fetch an object, verify its sha256, copy it to the host and verify it there again. */
  | { kind: 's3-get'; endpoint: string; region: string; bucket: string; s3?: S3Settings | undefined; key: string; dest: string; sha256: Text | undefined; sudo?: AsRoot }
  | { kind: 'upload'; dest: string; mode: number; content: string; /** shown instead of content */ summary: string; sudo?: AsRoot }
  | { kind: 'fetch'; src: string; dest: string; sudo?: AsRoot }
  /**
   * Copy the etcd tools this host lacks (`missing`, found by the step's earlier command) at the member's
   * `version` from the jump host's tools dir `from/<version>/` (SHA256SUMS checked here, then on the host)
   * into `dest`. The two values are filled in by the run from that earlier command, never guessed.
   */
  | { kind: 'put-tools'; from: string; dest: string; version?: string | undefined; missing?: string[] | undefined; sudo?: AsRoot }
  /** Runs on the jump host, not on the target: assert, confirm, messages. */
  | { kind: 'local'; op: LocalOp };

export type LocalOp =
  | { op: 'assert'; that: string[]; message: string | undefined }
  | { op: 'confirm'; prompt: string; expect: string }
  | { op: 'message'; text: Text }
  | { op: 's3-verify'; endpoint: string; region: string; bucket: string; s3?: S3Settings | undefined; key: string; sha256: Text | undefined }
  /**
   * What a restore needs to know before any host is touched, without reading the object: it exists (HEAD),
   * its provenance record reads, a sha256 is recorded, the keys at hand open it (an age header, by a
   * ranged read of its first bytes). The object itself is read once, by the download, hashed as it streams.
   */
  | { op: 's3-provenance'; endpoint: string; region: string; bucket: string; s3?: S3Settings | undefined; key: string; sha256: Text | undefined }
  | { op: 's3-prune'; endpoint: string; region: string; bucket: string; s3?: S3Settings | undefined; prefix: string; keepLast: number; maxAgeDays: number | undefined };

export interface ActionPlan {
  commands: Command[];
  /** Commands that undo this step on this host, in the order to run them. */
  undo: Command[];
  /** True when the step changes the host. */
  changes: boolean;
  /** When the action decided there is nothing to do, why. */
  noop?: string | undefined;
  /** What the SRE should know about this plan (shown with it), e.g. that etcd 3.4 cannot bump the revision. */
  note?: string | undefined;
  /**
   * Undo for each command, aligned with `commands`: when the step fails part-way, the engine undoes
   * what the completed commands did (newest first). Without it, a failed step is not undone.
   */
  partialUndo?: Command[][] | undefined;
  /** A change that cannot be undone, and why (shown in the plan). */
  irreversible?: string | undefined;
  /**
   * For a step that started and did not finish (a crash): a read-only command printing `done`,
   * `not-started` or `partial`, and the clean-up that turns `partial` into `not-started`.
   */
  probe?: Probe | undefined;
}

export interface Probe {
  cmd: Shell;
  cleanup: Command[];
}

export type ProbeVerdict = 'done' | 'not-started' | 'partial' | 'unknown';

/** Outcome of running one command. */
export interface CommandOutcome {
  ok: boolean;
  exitCode: number | null;
  signal: string | null;
  stdout: string;
  stderr: string;
  durationMs: number;
  attempts: number;
  /** Set when the transport failed (connection lost, timeout) rather than the command. */
  error?: string | undefined;
  timedOut?: boolean | undefined;
  /** What a parser read from stdout. */
  facts?: unknown;
}

/** Result of one step on one host. */
export type StepResult =
  | { status: 'ok'; host: string; outcome: CommandOutcome | undefined }
  | { status: 'changed'; host: string; outcome: CommandOutcome | undefined }
  | { status: 'skipped'; host: string; reason: string }
  | { status: 'failed'; host: string; outcome: CommandOutcome | undefined; message: string }
  | { status: 'unreachable'; host: string; message: string };
