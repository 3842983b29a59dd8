import type { Inventory } from '../model/inventory.js';
import type { HostSelector, ParamSpec, Playbook, PlaybookItem, Step } from '../model/playbook.js';
import type { Loaded } from './problem.js';
import { declaredNames, structuralProblems, templateProblems } from './playbook-rules.js';
import { schemaCheck } from './schema-check.js';
import { readYaml, type YamlSource } from './yaml-source.js';

interface RawStep {
  name: string;
  action: string;
  args?: Record<string, unknown>;
  hosts?: string | string[];
  serial?: number;
  run_once?: boolean;
  when?: string;
  register?: string;
  retries?: number;
  delay?: number;
  until?: string;
  timeout?: number;
  tags?: string[];
  undo?: string;
  no_undo?: string;
  changes?: boolean;
  become?: boolean;
  ignore_errors?: boolean;
  repeatable?: boolean;
}
interface RawPoint {
  rollback_point: string;
}
interface RawPlaybook {
  name: string;
  description?: string;
  hosts?: string;
  params?: Record<string, { description?: string; required?: boolean; default?: unknown; secret?: boolean }>;
  vars?: Record<string, unknown>;
  steps: (RawStep | RawPoint)[];
}

function selector(h: string | string[] | undefined): HostSelector {
  if (h === undefined) return { kind: 'all' };
  if (h === 'first') return { kind: 'first', of: undefined };
  return { kind: 'names', names: Array.isArray(h) ? h : [h] };
}

export function normalisePlaybook(src: YamlSource, raw: RawPlaybook): Playbook {
  const items: PlaybookItem[] = raw.steps.map((s, i): PlaybookItem => {
    const pos = { file: src.file, ...src.pos(['steps', i]) };
    if ('rollback_point' in s) return { kind: 'rollback_point', name: s.rollback_point, pos };
    const step: Step = {
      kind: 'step',
      name: s.name,
      action: s.action,
      args: s.args ?? {},
      hosts: selector(s.hosts),
      serial: s.serial,
      runOnce: s.run_once ?? false,
      when: s.when,
      register: s.register,
      retries: s.retries ?? 0,
      delaySeconds: s.delay ?? 5,
      until: s.until,
      timeoutSeconds: s.timeout,
      tags: s.tags ?? [],
      undo: s.undo,
      noUndo: s.no_undo,
      changes: s.changes,
      become: s.become,
      ignoreErrors: s.ignore_errors ?? false,
      repeatable: s.repeatable,
      pos,
      argPos: Object.fromEntries(Object.keys(s.args ?? {}).map((k) => [k, { file: src.file, ...src.pos(['steps', i, 'args', k]) }])),
    };
    return step;
  });
  const params: Record<string, ParamSpec> = {};
  for (const [k, p] of Object.entries(raw.params ?? {})) {
    params[k] = { description: p.description, required: p.required ?? false, default: p.default, secret: p.secret ?? false };
  }
  return {
    file: src.file,
    name: raw.name,
    description: raw.description,
    hosts: raw.hosts ?? 'all',
    params,
    vars: raw.vars ?? {},
    items,
  };
}

export interface LoadOptions {
  inventory?: Inventory | undefined;
  extraVars?: Record<string, unknown> | undefined;
  /** Where an -e value was set, when it came from a file (`-e @FILE`): a problem with it points there. */
  extraVarOrigins?: Record<string, { kind: 'cli' } | { kind: 'file'; file: string; line: number; col: number }> | undefined;
}

/** Parse → JSON Schema → normalise → rules; every problem at once, sorted by position. */
export function loadPlaybook(file: string, opts: LoadOptions = {}): Loaded<Playbook> {
  const read = readYaml(file);
  if (!read.ok) return read;
  const ctx = { inventory: opts.inventory, extraVars: opts.extraVars ?? {} };
  const problems = [...read.problems, ...schemaCheck('playbook', read.source), ...templateProblems(read.source, ctx)].filter(read.source.reliable);
  let playbook: Playbook | undefined;
  // -e sets variables the playbook declares; it does not declare new ones (a typo would silently do nothing)
  const declared = declaredNames(read.source.data);
  for (const k of Object.keys(ctx.extraVars))
    if (!declared.has(k)) {
      const o = opts.extraVarOrigins?.[k];
      const where = o?.kind === 'file' ? { file: o.file, line: o.line, col: o.col } : { file, line: undefined, col: undefined };
      problems.push({ ...where, message: `-e ${k}: the playbook ${file} declares no variable '${k}': declare it under vars: or params:, or check the spelling (declared: ${[...declared].join(', ') || 'none'})` });
    }
  if (problems.length === 0) {
    playbook = normalisePlaybook(read.source, read.source.data as RawPlaybook);
    problems.push(...structuralProblems(read.source, playbook, ctx));
  }
  if (problems.length || !playbook) {
    problems.sort((a, b) => (a.line ?? 0) - (b.line ?? 0) || (a.col ?? 0) - (b.col ?? 0));
    return { ok: false, problems };
  }
  return { ok: true, value: playbook };
}
