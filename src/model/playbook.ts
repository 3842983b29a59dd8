/** Playbook model after validation and normalisation. Types only. */

export interface SourcePos {
  file: string;
  line: number;
  col: number;
}

export type HostSelector =
  | { kind: 'all' }
  | { kind: 'first'; of: string | undefined }
  | { kind: 'names'; names: string[] };

export interface Step {
  kind: 'step';
  name: string;
  action: string;
  args: Record<string, unknown>;
  hosts: HostSelector;
  serial: number | undefined;
  runOnce: boolean;
  when: string | undefined;
  register: string | undefined;
  retries: number;
  delaySeconds: number;
  until: string | undefined;
  timeoutSeconds: number | undefined;
  tags: string[];
  /** Shell command (template) that undoes a shell/command step. */
  undo: string | undefined;
  /** Why a changing step needs no undo. */
  noUndo: string | undefined;
  /** false marks a shell/command step as read-only. */
  changes: boolean | undefined;
  become: boolean | undefined;
  ignoreErrors: boolean;
  /** Safe to run again if a crash interrupted it (default: read-only steps). */
  repeatable: boolean | undefined;
  pos: SourcePos;
  /** Where each argument's value is (a problem found while planning points at the argument, not the step). */
  argPos?: Record<string, SourcePos> | undefined;
}

export interface RollbackPoint {
  kind: 'rollback_point';
  name: string;
  pos: SourcePos;
}

export type PlaybookItem = Step | RollbackPoint;

export interface ParamSpec {
  description: string | undefined;
  required: boolean;
  default: unknown;
  secret: boolean;
}

export interface Playbook {
  file: string;
  name: string;
  description: string | undefined;
  /** Group or host the steps target unless a step says otherwise. */
  hosts: string;
  params: Record<string, ParamSpec>;
  vars: Record<string, unknown>;
  items: PlaybookItem[];
}
