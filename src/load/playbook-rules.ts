import { findAction } from '../actions/registry.js';
import type { Inventory } from '../model/inventory.js';
import type { Playbook, Step } from '../model/playbook.js';
import { children, ExpressionError, FILTERS, parseExpression, referencedPaths } from '../template/expression.js';
import { templateExpressions } from '../template/render.js';
import type { Problem } from './problem.js';
import { ETCD_FIELDS, HOST_FIELDS, ROOT_NAMES, RUN_FIELDS } from './template-scope.js';
import type { YamlSource } from './yaml-source.js';
import { quotedHole } from '../shell/quote-state.js';

export interface RuleContext {
  inventory: Inventory | undefined;
  extraVars: Record<string, unknown>;
}

type Path = (string | number)[];

interface TemplateSite {
  path: Path;
  /** `template`: a string with {{ }}; `expr`: a bare expression (when/until). */
  kind: 'template' | 'expr';
  text: string;
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return v !== null && typeof v === 'object' && !Array.isArray(v);
}

function collectStrings(v: unknown, path: Path, out: TemplateSite[]): void {
  if (typeof v === 'string') {
    if (v.includes('{{')) out.push({ path, kind: 'template', text: v });
  } else if (Array.isArray(v)) {
    for (const [i, x] of v.entries()) collectStrings(x, [...path, i], out);
  }
  else if (isRecord(v)) for (const [k, x] of Object.entries(v)) collectStrings(x, [...path, k], out);
}

/** The variables a playbook declares (its interface): the keys of `vars:` and `params:` in the raw data. */
export function declaredNames(data: unknown): Set<string> {
  if (!isRecord(data)) return new Set();
  return new Set([...Object.keys(isRecord(data['vars']) ? data['vars'] : {}), ...Object.keys(isRecord(data['params']) ? data['params'] : {})]);
}

/**
 * Undefined names and bad expressions in templates, `when` and `until`.
 * Works on the raw parsed data, so it still runs when the schema check found other problems.
 */
export function templateProblems(src: YamlSource, ctx: RuleContext): Problem[] {
  const data = src.data;
  if (!isRecord(data) || !Array.isArray(data['steps'])) return [];
  const declared = declaredNames(data);
  const problems: Problem[] = [];
  const registered = new Set<string>();
  const checkSite = (site: TemplateSite, extraRoots: Set<string>) => {
    if (site.kind === 'template' && unclosedTemplate(site.text)) {
      problems.push(src.problem(site.path, `a '{{' is not closed by '}}' in ${JSON.stringify(site.text.length > 60 ? `${site.text.slice(0, 60)}…` : site.text)}: close it with '}}'`));
      return;
    }
    const exprs = site.kind === 'expr' ? [site.text] : templateExpressions(site.text);
    for (const expr of exprs) {
      try {
        const ast = parseExpression(expr);
        checkFilters(ast);
        for (const p of referencedPaths(expr)) {
          const msg = undefinedMessage(p, declared, registered, extraRoots);
          if (msg) problems.push(src.problem(site.path, msg));
        }
      } catch (e) {
        if (e instanceof ExpressionError) problems.push(src.problem(site.path, `bad expression '${short(expr.trim())}': ${e.message}`));
        else throw e;
      }
    }
  };
  if (isRecord(data['vars'])) {
    const sites: TemplateSite[] = [];
    collectStrings(data['vars'], ['vars'], sites);
    for (const s of sites) checkSite(s, new Set());
    problems.push(...varCycles(src, data['vars']));
  }
  // parameter defaults are templates like vars
  if (isRecord(data['params']))
    for (const [k, p] of Object.entries(data['params'])) {
      if (!isRecord(p)) continue;
      const sites: TemplateSite[] = [];
      collectStrings(p['default'], ['params', k, 'default'], sites);
      for (const s of sites) checkSite(s, new Set());
    }
  // the inventory's variables are rendered with the playbook's: they may name only what it declares
  if (ctx.inventory) {
    const seen = new Set<string>();
    for (const h of ctx.inventory.hosts)
      for (const [k, v] of Object.entries(h.vars)) {
        const sites: TemplateSite[] = [];
        collectStrings(v, ['vars', k], sites);
        for (const site of sites) {
          if (seen.has(`${k}\0${site.text}`)) continue;
          seen.add(`${k}\0${site.text}`);
          for (const expr of templateExpressions(site.text)) {
            try {
              for (const p of referencedPaths(expr)) {
                const msg = undefinedMessage(p, declared, new Set(), new Set());
                if (msg) problems.push({ file: ctx.inventory.file, line: h.varPos?.[k]?.line, col: h.varPos?.[k]?.col, message: `inventory variable '${k}': ${msg}` });
              }
            } catch (e) {
              if (e instanceof ExpressionError) problems.push({ file: ctx.inventory.file, line: h.varPos?.[k]?.line, col: h.varPos?.[k]?.col, message: `inventory variable '${k}': bad expression '${short(expr.trim())}': ${e.message}` });
              else throw e;
            }
          }
        }
      }
  }
  data['steps'].forEach((raw, i) => {
    if (!isRecord(raw)) return;
    const sites: TemplateSite[] = [];
    collectStrings(raw['args'], ['steps', i, 'args'], sites);
    if (typeof raw['undo'] === 'string') collectStrings(raw['undo'], ['steps', i, 'undo'], sites);
    if (typeof raw['when'] === 'string') sites.push({ path: ['steps', i, 'when'], kind: 'expr', text: raw['when'] });
    // assert's `that` items are bare expressions
    const rawArgs = isRecord(raw['args']) ? raw['args'] : {};
    if (raw['action'] === 'assert') {
      const that = rawArgs['that'];
      if (typeof that === 'string' && !that.includes('{{')) sites.push({ path: ['steps', i, 'args', 'that'], kind: 'expr', text: that });
      if (Array.isArray(that))
        that.forEach((t, j) => {
          if (typeof t === 'string' && !t.includes('{{')) sites.push({ path: ['steps', i, 'args', 'that', j], kind: 'expr', text: t });
        });
    }
    // one flag is one line of a manifest or unit: a literal value with a newline would write another flag
    if (raw['action'] === 'etcd.set_flags' && isRecord(rawArgs['set']))
      for (const [flag, v] of Object.entries(rawArgs['set']))
        if (typeof v === 'string' && /[\r\n]/.test(v)) problems.push(src.problem(['steps', i, 'args', 'set', flag], `set.${flag}: a value with a newline would write more than one flag line: give one line`));
    collectStrings(raw['hosts'], ['steps', i, 'hosts'], sites);
    for (const s of sites) checkSite(s, new Set());
    // shell text: a value inside the author's own quotes would be quoted twice (and `"$(x)"` would run)
    const action = typeof raw['action'] === 'string' ? findAction(raw['action']) : undefined;
    const args = isRecord(raw['args']) ? raw['args'] : {};
    const shellTexts: [Path, unknown][] = [...(action?.shellArgs ?? []).map((k): [Path, unknown] => [['steps', i, 'args', k], args[k]]), [['steps', i, 'undo'], raw['undo']]];
    for (const [path, text] of shellTexts) {
      const bad = typeof text === 'string' ? quotedHole(text) : undefined;
      if (bad) problems.push(src.problem(path, bad));
    }
    const reg = typeof raw['register'] === 'string' ? raw['register'] : undefined;
    if (typeof raw['until'] === 'string') checkSite({ path: ['steps', i, 'until'], kind: 'expr', text: raw['until'] }, new Set(reg ? [reg] : []));
    if (reg) registered.add(reg);
  });
  return problems;
}

/** Variables that refer to each other in a cycle (a → b → a, or a → a): each one that starts a cycle is named. */
function varCycles(src: YamlSource, vars: Record<string, unknown>): Problem[] {
  const uses = new Map<string, Set<string>>();
  for (const [k, v] of Object.entries(vars)) {
    const sites: TemplateSite[] = [];
    collectStrings(v, ['vars', k], sites);
    const names = new Set<string>();
    for (const site of sites)
      for (const expr of templateExpressions(site.text)) {
        try {
          for (const p of referencedPaths(expr)) if (p[0] === 'vars' && p[1] !== undefined) names.add(p[1]);
        } catch {
          // a bad expression is reported by the template check
        }
      }
    uses.set(k, names);
  }
  const problems: Problem[] = [];
  const reported = new Set<string>();
  const explored = new Set<string>();
  const walk = (k: string, path: string[]): void => {
    if (explored.has(k)) return;
    if (path.includes(k)) {
      const cycle = [...path.slice(path.indexOf(k)), k];
      const start = cycle[0] as string;
      if (!reported.has(start)) {
        for (const c of cycle) reported.add(c);
        problems.push(src.problem(['vars', start], `variables refer to each other in a cycle: ${cycle.map((c) => `vars.${c}`).join(' → ')}: one of them must be a plain value`));
      }
      return;
    }
    for (const n of uses.get(k) ?? []) if (uses.has(n)) walk(n, [...path, k]);
    explored.add(k);
  };
  for (const k of uses.keys()) walk(k, []);
  return problems;
}

/** More '{{' than complete '{{ … }}' pairs. */
export function unclosedTemplate(text: string): boolean {
  return (text.match(/\{\{/g) ?? []).length !== templateExpressions(text).length;
}

function short(s: string): string {
  return s.length > 80 ? `${s.slice(0, 60)}…` : s;
}

function checkFilters(n: ReturnType<typeof parseExpression>): void {
  if (n.t === 'filter' && !FILTERS.has(n.name)) throw new ExpressionError(`unknown filter '${n.name}' (known: ${[...FILTERS].join(', ')})`);
  children(n).forEach(checkFilters);
}

function undefinedMessage(p: string[], declared: Set<string>, registered: Set<string>, extraRoots: Set<string>): string | undefined {
  const [root, a, b] = p;
  if (root === undefined) return undefined;
  if (registered.has(root) || extraRoots.has(root)) return undefined;
  if (!(ROOT_NAMES as readonly string[]).includes(root)) {
    return `undefined name '${p.join('.')}': use vars.NAME, host.FIELD, run.id, or the name of a result registered by an earlier step`;
  }
  if (root === 'vars' && a !== undefined && !declared.has(a)) {
    return `undefined variable 'vars.${a}': declare it under 'vars:' or 'params:' in the playbook (inventory and -e may then override it)`;
  }
  if (root === 'host' && a !== undefined) {
    if (!(HOST_FIELDS as readonly string[]).includes(a)) return `unknown host field 'host.${a}' (known: ${HOST_FIELDS.join(', ')})`;
    if (a === 'etcd' && b !== undefined && !(ETCD_FIELDS as readonly string[]).includes(b))
      return `unknown etcd setting 'host.etcd.${b}' (known: ${ETCD_FIELDS.join(', ')})`;
  }
  if (root === 'run' && a !== undefined && !(RUN_FIELDS as readonly string[]).includes(a)) return `unknown run field 'run.${a}' (known: ${RUN_FIELDS.join(', ')})`;
  return undefined;
}

/** Rules that need the normalised playbook (run only when the schema check passed). */
export function structuralProblems(src: YamlSource, pb: Playbook, ctx: RuleContext): Problem[] {
  const problems: Problem[] = [];
  const at = (i: number, key: string | string[] | undefined, message: string, onKey = false) =>
    problems.push(src.problem(key === undefined ? ['steps', i] : ['steps', i, ...(Array.isArray(key) ? key : [key])], message, onKey));
  const names = new Map<string, number>();
  const registers = new Map<string, number>();
  let lastWasPoint = false;
  pb.items.forEach((item, i) => {
    const prev = names.get(item.name);
    if (prev !== undefined) {
      at(i, item.kind === 'step' ? 'name' : 'rollback_point', `duplicate name '${item.name}' (also used by item ${prev + 1}): names must be unique so a run can be resumed and reported by name; rename one`);
    } else names.set(item.name, i);
    if (item.kind === 'rollback_point') {
      if (i === 0) at(i, 'rollback_point', `rollback point '${item.name}' is the first item: the start of the playbook is already the first rollback point, remove it`);
      else if (lastWasPoint) at(i, 'rollback_point', `rollback point '${item.name}' directly follows another rollback point, which can then never be unwound to: remove one`);
      else if (i === pb.items.length - 1) at(i, 'rollback_point', `rollback point '${item.name}' is the last item and protects nothing: remove it`);
      lastWasPoint = true;
      return;
    }
    lastWasPoint = false;
    stepRules(item, i, at, ctx);
    if (item.register) {
      if ((ROOT_NAMES as readonly string[]).includes(item.register)) at(i, 'register', `'${item.register}' is a reserved name: register under another name`);
      const r = registers.get(item.register);
      if (r !== undefined) at(i, 'register', `'${item.register}' is already registered by step ${r + 1}: use a distinct name`);
      registers.set(item.register, i);
    }
  });
  for (const [name, p] of Object.entries(pb.params)) {
    if (p.required && p.default !== undefined) problems.push(src.problem(['params', name], `parameter '${name}' is required and has a default: drop one`, true));
    if (Object.hasOwn(pb.vars, name)) problems.push(src.problem(['vars', name], `'${name}' is both a parameter and a var: drop one`, true));
  }
  if (ctx.inventory && !hostOrGroupExists(pb.hosts, ctx.inventory))
    problems.push(src.problem(['hosts'], unknownTarget(pb.hosts, ctx.inventory)));
  return problems;
}

function hostOrGroupExists(name: string, inv: Inventory): boolean {
  return Object.hasOwn(inv.groups, name) || inv.hosts.some((h) => h.name === name);
}

function unknownTarget(name: string, inv: Inventory): string {
  return `unknown host or group '${name}' (groups: ${Object.keys(inv.groups).join(', ')}; hosts: ${inv.hosts.map((h) => h.name).join(', ')})`;
}

function stepRules(step: Step, i: number, at: (i: number, key: string | string[] | undefined, msg: string, onKey?: boolean) => void, ctx: RuleContext): void {
  const action = findAction(step.action);
  if (!action) {
    at(i, 'action', `unknown action '${step.action}'`);
    return;
  }
  if (action.changes === 'declared') {
    const changes = step.changes !== false;
    if (changes && !step.undo && !step.noUndo)
      at(i, undefined, `step '${step.name}' changes the host but declares no undo: add 'undo: <command>', 'no_undo: <why none is needed>', or 'changes: false' if it only reads`);
    if (!changes && step.undo) at(i, 'undo', `step '${step.name}' says changes: false but has an undo: drop one`);
    if (step.undo && step.noUndo) at(i, 'no_undo', `step '${step.name}' has both undo and no_undo: keep one`);
  } else if (step.undo || step.noUndo || step.changes !== undefined) {
    at(i, step.undo ? 'undo' : step.noUndo ? 'no_undo' : 'changes', `action '${step.action}' ${action.changes === 'always' ? 'brings its own undo' : 'never changes a host'}: remove undo/no_undo/changes from this step`);
  }
  if (step.until && !step.register) at(i, 'until', `'until' reads the step's registered result: add 'register: NAME'`);
  if (step.runOnce && step.serial) at(i, 'serial', `'serial' has no meaning with 'run_once': drop one`);
  if (step.hosts.kind === 'names' && ctx.inventory) {
    for (const n of step.hosts.names) if (!n.includes('{{') && !hostOrGroupExists(n, ctx.inventory)) at(i, 'hosts', unknownTarget(n, ctx.inventory));
  }
  // Literal paths are checked here; templated ones when they are rendered.
  for (const key of ['src', 'dest', 'path', 'snapshot', 'file', 'data_dir'] as const) {
    const v = step.args[key];
    if (typeof v === 'string' && !v.includes('{{') && v.split('/').includes('..') && !(step.action === 'file.upload' && key === 'src') && !(step.action === 'file.fetch' && key === 'dest'))
      at(i, ['args', key], `'${key}' path '${v.length > 120 ? `${v.slice(0, 100)}…` : v}' contains '..': give the real absolute path`);
  }
}
