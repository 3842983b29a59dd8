// Generative bad-input test: playbooks, inventories, expressions and -e values mutated from the shipped
// ones, each run through the same pipeline as the CLI (load inventory, load playbook, --limit, plan).
// The contract: nothing throws (the CLI's exit 70), every problem is data with a FILE:LINE:COL where the
// problem has a place in a file, one line under 500 characters; or the plan compiles.
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { parse, stringify } from 'yaml';
import { makePlan } from '../../src/engine/plan.js';
import { resolveLimit, expandNames } from '../../src/engine/select-hosts.js';
import { loadInventory } from '../../src/load/load-inventory.js';
import { loadPlaybook } from '../../src/load/load-playbook.js';
import { formatProblem, type Problem } from '../../src/load/problem.js';
import { ROOT } from './paths.js';
import { missingParams } from '../../src/cli/run-command.js';

const PLAYBOOKS = ['backup', 'full-restore', 'reinitialize-member', 'force-new-cluster', 'demo-files'].map((p) => readFileSync(join(ROOT, 'playbooks', `${p}.yml`), 'utf8'));
const INVENTORIES = ['example', 'example-systemd'].map((i) => readFileSync(join(ROOT, 'inventories', `${i}.yml`), 'utf8'));

/** Pieces of YAML and template syntax that break things when dropped in anywhere. */
const JUNK = ['{{', '}}', '{{ nope }}', '{{ vars.x | join(",") }}', '"', "'", ': ', '- ', '[', ']', '{', '}', '*a', '&a ', '<<: *a', '\t', '\n', '\n---\n', '|', '>', '..', '/../', '#', '%', '@', '`', '\\', '\u00e9', '\uFFFD', '.inf', '.nan', '-1', '1e400', '999999999999999999999', 'null', '~', '!!binary ', '? ', '&x [*x]', '- - - -', '-'.repeat(200), '['.repeat(300), '{{ ' + '-'.repeat(3000) + '1 }}'];

const EXPRESSIONS = fc.oneof(
  fc.constantFrom('vars.a', 'vars.nope', 'host.etcd.data_dir', 'run.id', 'members.count', 'etcd.json.version', "'x' | join(',')", 'none | length', "'{' | from_json", '1 / 0', 'not not not true', '(((((1)))))', 'vars | length', "members.names | join(', ')", 'hosts[vars.member].etcd.name', '-' .repeat(80) + '1', 'x is defined', 'a.b.c.d.e'),
  fc.string({ maxLength: 40 }),
);

const VALUES: fc.Arbitrary<unknown> = fc.oneof(
  fc.string({ maxLength: 30 }),
  fc.constantFrom('', ' ', '\n', '{{ nope }}', '{{ vars.a }}', '/etc/../x', 'a,b=c', 'x;rm -rf /', '3000000', 'NaN', '-5', '0'),
  fc.integer(),
  fc.double(),
  fc.constantFrom(Number.POSITIVE_INFINITY, Number.NaN, 1e300, -1, 0, 3_000_000),
  fc.boolean(),
  fc.constant(null),
  fc.array(fc.string({ maxLength: 8 }), { maxLength: 3 }),
  fc.dictionary(fc.string({ maxLength: 6 }), fc.string({ maxLength: 6 }), { maxKeys: 3 }),
  EXPRESSIONS.map((e) => `{{ ${e} }}`),
);

type Mutation =
  | { kind: 'insert'; at: number; junk: string }
  | { kind: 'delete-line'; line: number }
  | { kind: 'dup-line'; line: number }
  | { kind: 'truncate'; at: number }
  | { kind: 'set'; path: number[]; value: unknown }
  | { kind: 'unset'; path: number[] }
  | { kind: 'expr'; path: number[]; expr: string };

const MUTATION: fc.Arbitrary<Mutation> = fc.oneof(
  fc.record({ kind: fc.constant('insert' as const), at: fc.nat(), junk: fc.constantFrom(...JUNK) }),
  fc.record({ kind: fc.constant('delete-line' as const), line: fc.nat() }),
  fc.record({ kind: fc.constant('dup-line' as const), line: fc.nat() }),
  fc.record({ kind: fc.constant('truncate' as const), at: fc.nat() }),
  fc.record({ kind: fc.constant('set' as const), path: fc.array(fc.nat(), { minLength: 1, maxLength: 5 }), value: VALUES }),
  fc.record({ kind: fc.constant('unset' as const), path: fc.array(fc.nat(), { minLength: 1, maxLength: 5 }) }),
  fc.record({ kind: fc.constant('expr' as const), path: fc.array(fc.nat(), { minLength: 1, maxLength: 5 }), expr: EXPRESSIONS }),
);

/** Follow `path` (indices into the keys/items at each level) to a parent and key; undefined for a leaf. */
function locate(root: unknown, path: number[]): { parent: Record<string, unknown> | unknown[]; key: string | number } | undefined {
  let node = root;
  let hit: { parent: Record<string, unknown> | unknown[]; key: string | number } | undefined;
  for (const n of path) {
    if (Array.isArray(node) && node.length) {
      const key = n % node.length;
      hit = { parent: node, key };
      node = node[key];
    } else if (node && typeof node === 'object') {
      const keys = Object.keys(node);
      if (!keys.length) break;
      const key = keys[n % keys.length] as string;
      hit = { parent: node as Record<string, unknown>, key };
      node = (node as Record<string, unknown>)[key];
    } else break;
  }
  return hit;
}

function mutate(text: string, m: Mutation): string {
  const lines = text.split('\n');
  switch (m.kind) {
    case 'insert': {
      const at = m.at % (text.length + 1);
      return text.slice(0, at) + m.junk + text.slice(at);
    }
    case 'delete-line':
      lines.splice(m.line % lines.length, 1);
      return lines.join('\n');
    case 'dup-line': {
      const i = m.line % lines.length;
      lines.splice(i, 0, lines[i] ?? '');
      return lines.join('\n');
    }
    case 'truncate':
      return text.slice(0, m.at % (text.length + 1));
    default: {
      let doc: unknown;
      try {
        doc = parse(text, { merge: true });
      } catch {
        return text;
      }
      const hit = locate(doc, m.path);
      if (!hit) return text;
      const parent = hit.parent as Record<string | number, unknown>;
      if (m.kind === 'unset') {
        if (Array.isArray(parent)) parent.splice(Number(hit.key), 1);
        else delete parent[hit.key];
      } else parent[hit.key] = m.kind === 'set' ? m.value : `{{ ${m.expr} }}`;
      try {
        return stringify(doc);
      } catch {
        return text;
      }
    }
  }
}

function requiredFor(text: string): Record<string, string> {
  const all: Record<string, string> = { snapshot_key: 'etcd/example-prod/RUN/snapshot.db', member: 'master-2', survivor: 'master-1' };
  return Object.fromEntries(Object.entries(all).filter(([k]) => new RegExp(`^  ${k}:`, 'm').test(text)));
}

export interface FuzzCase {
  playbook: number;
  inventory: number;
  playbookMutations: Mutation[];
  inventoryMutations: Mutation[];
  extraVars: [string, string][];
  limit: string | undefined;
  tags: string | undefined;
}

export const FUZZ_CASE: fc.Arbitrary<FuzzCase> = fc.record({
  playbook: fc.nat({ max: PLAYBOOKS.length - 1 }),
  inventory: fc.nat({ max: INVENTORIES.length - 1 }),
  playbookMutations: fc.array(MUTATION, { maxLength: 2 }),
  inventoryMutations: fc.array(MUTATION, { maxLength: 1 }),
  extraVars: fc.array(fc.tuple(fc.constantFrom('etcd_version', 'etcd_tools_dir', 'etcd_version', 'etcd_tools_dir', 'snapshot_key', 'member', 'survivor', 'mode', 'bump_revision', 'nope'), fc.oneof(fc.string({ maxLength: 20 }), fc.constantFrom('{{ nope }}', '{{ run.id }}', '', '\n', 'master-1', 'master-3', 'x/snapshot.db', '3.5', '0', 'rebuild-db'))), { maxLength: 2 }),
  limit: fc.oneof({ arbitrary: fc.constant(undefined), weight: 4 }, { arbitrary: fc.constantFrom('', ',', 'master-1', 'masters', 'nope', 'master-1,,master-2'), weight: 1 }),
  tags: fc.oneof({ arbitrary: fc.constant(undefined), weight: 6 }, { arbitrary: fc.constantFrom('', 'nosuch', 'always', ','), weight: 1 }),
});

export type FuzzOutcome = { kind: 'problems'; lines: string[] } | { kind: 'plan'; errors: string[] } | { kind: 'thrown'; message: string };

/** What the contract forbids in an outcome; empty when it keeps it. */
export function contractViolations(o: FuzzOutcome, files: string[]): string[] {
  if (o.kind === 'thrown') return [`threw (the CLI would exit 70): ${o.message.slice(0, 300)}`];
  const v: string[] = [];
  const lines = o.kind === 'problems' ? o.lines : o.errors;
  for (const l of lines) {
    if (l.length >= 500 + 200) v.push(`message over 500 characters (${l.length})`);
    if (l.includes('\n')) v.push(`message on more than one line: ${l.slice(0, 120)}`);
    if (/\n\s+at |internal error/i.test(l)) v.push(`stack or internal error: ${l.slice(0, 120)}`);
    const inFile = files.some((f) => l.startsWith(`${f}:`));
    const positioned = files.some((f) => new RegExp(`^${f.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}:\\d+:\\d+: `).test(l));
    // a problem with no place in a file (a -e, --limit or --tags problem, a missing parameter) says so by its text
    if (inFile && !positioned && !/^[^:]+: (-e |--limit|--tags|missing required parameter|file is|YAML nests|several YAML|binary data|the playbook|.*is not a regular file|inventory variable)/.test(l))
      v.push(`problem without line:col: ${l.slice(0, 160)}`);
  }
  return v;
}

/** Run one case through the CLI's pipeline, in process. */
export function runCase(c: FuzzCase, dir: string): { outcome: FuzzOutcome; files: string[]; texts: [string, string] } {
  const pbText = c.playbookMutations.reduce(mutate, PLAYBOOKS[c.playbook] as string);
  const invText = c.inventoryMutations.reduce(mutate, INVENTORIES[c.inventory] as string);
  const pbFile = join(dir, 'playbook.yml');
  const invFile = join(dir, 'inventory.yml');
  writeFileSync(pbFile, pbText);
  writeFileSync(invFile, invText);
  const files = [pbFile, invFile];
  // the required parameters of the shipped playbooks, as an SRE gives them; the generated ones may override
  const extraVars: Record<string, unknown> = { ...requiredFor(pbText), ...Object.fromEntries(c.extraVars) };
  const tags = c.tags === undefined ? undefined : c.tags.split(',').map((s) => s.trim()).filter(Boolean);
  try {
    const inv = loadInventory(invFile);
    const pb = loadPlaybook(pbFile, { inventory: inv.ok ? inv.value : undefined, extraVars });
    const problems: Problem[] = [...(inv.ok ? [] : inv.problems), ...(pb.ok ? [] : pb.problems)];
    if (problems.length || !pb.ok || !inv.ok) return { outcome: { kind: 'problems', lines: problems.map(formatProblem) }, files, texts: [pbText, invText] };
    const missing = missingParams(pb.value, inv.value, extraVars);
    if (missing.length) return { outcome: { kind: 'problems', lines: missing.map((m) => `${pbFile}: ${m}`) }, files, texts: [pbText, invText] };
    const limit = resolveLimit(c.limit, inv.value, new Set(expandNames([pb.value.hosts], inv.value).map((h) => h.name)));
    if (!limit.ok) return { outcome: { kind: 'problems', lines: [`runbook: ${limit.message}`] }, files, texts: [pbText, invText] };
    const planned = makePlan({ playbook: pb.value, inventory: inv.value, extraVars, limit: limit.limit, run: { id: 'fuzz', dir, user: 'fuzz', started: new Date(0).toISOString(), commit: 'unknown' }, tags, startAt: undefined });
    if (!planned.ok) return { outcome: { kind: 'problems', lines: [`runbook: ${planned.message}`] }, files, texts: [pbText, invText] };
    const errors = planned.plan.errors.map((e) => formatProblem({ file: e.pos.file, line: e.pos.line, col: e.pos.col, message: `step '${e.step}' on ${e.host}: ${e.message}` }));
    return { outcome: { kind: 'plan', errors }, files, texts: [pbText, invText] };
  } catch (e) {
    return { outcome: { kind: 'thrown', message: e instanceof Error ? `${e.name}: ${e.message}` : String(e) }, files, texts: [pbText, invText] };
  }
}

export interface FuzzReport {
  seed: number;
  runs: number;
  planned: number;
  refused: number;
  failures: { c: FuzzCase; violations: string[]; texts: [string, string] }[];
}

/** `runs` generated cases from `seed`; every one that breaks the contract is returned with its inputs. */
export function fuzz(seed: number, runs: number): FuzzReport {
  const dir = mkdtempSync(join(tmpdir(), 'rb-fuzz-'));
  const report: FuzzReport = { seed, runs, planned: 0, refused: 0, failures: [] };
  try {
    const cases = fc.sample(FUZZ_CASE, { seed, numRuns: runs });
    for (const c of cases) {
      const { outcome, files, texts } = runCase(c, dir);
      if (outcome.kind === 'plan' && outcome.errors.length === 0) report.planned++;
      else report.refused++;
      const v = contractViolations(outcome, files);
      if (v.length) report.failures.push({ c, violations: v, texts });
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  return report;
}
