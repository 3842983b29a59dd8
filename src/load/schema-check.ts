import { createHash } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import type { ErrorObject, ValidateFunction } from 'ajv';
import { PACKAGE_ROOT } from '../util/package-root.js';
import type { Problem } from './problem.js';
import { parsePointer, type YamlSource } from './yaml-source.js';

export type SchemaName = 'playbook' | 'inventory';

export const SCHEMAS_DIR = join(PACKAGE_ROOT, 'schemas');

const compiled = new Map<SchemaName, ValidateFunction>();
const requireDist = createRequire(join(PACKAGE_ROOT, 'package.json'));

/**
 * The validator `npm run build` compiled (scripts/compile-schemas.mjs), while the schema is the one it
 * was made from (its sha256); else undefined, and the schema is compiled now with the same options.
 */
function prebuilt(name: SchemaName, schemaText: string): ValidateFunction | undefined {
  try {
    const m = bundled(name) ?? fromDist(name);
    return m?.schemaSha256 === createHash('sha256').update(schemaText).digest('hex') ? m : undefined;
  } catch {
    return undefined;
  }
}

type Prebuilt = ValidateFunction & { schemaSha256?: string };

/**
 * In the CLI's bundle (scripts/bundle.mjs compiles the schemas first) the validators are part of it, and
 * compiled from its code cache like the rest; `require` is the bundle's own there.
 */
function bundled(name: SchemaName): Prebuilt | undefined {
  if (typeof require !== 'function') return undefined;
  return (name === 'playbook' ? require('../../dist/schemas/playbook.cjs') : require('../../dist/schemas/inventory.cjs')) as Prebuilt;
}

/** From the sources (the tests): the files in dist/schemas, if built. */
function fromDist(name: SchemaName): Prebuilt | undefined {
  const file = join(PACKAGE_ROOT, 'dist', 'schemas', `${name}.cjs`);
  return existsSync(file) ? (requireDist(file) as Prebuilt) : undefined;
}

function validator(name: SchemaName): ValidateFunction {
  let v = compiled.get(name);
  if (!v) {
    const text = readFileSync(join(SCHEMAS_DIR, `${name}.schema.json`), 'utf8');
    v = prebuilt(name, text) ?? compileNow(text);
    compiled.set(name, v);
  }
  return v;
}

/** ajv itself is loaded only here: with the prebuilt validators a run never imports it. */
function compileNow(text: string): ValidateFunction {
  const { Ajv } = requireDist('ajv') as typeof import('ajv');
  const addFormats = requireDist('ajv-formats') as { default: (a: InstanceType<typeof Ajv>) => unknown };
  const ajv = new Ajv({ allErrors: true, verbose: true, strict: true, strictTypes: false, strictRequired: false });
  addFormats.default(ajv);
  return ajv.compile(JSON.parse(text) as object);
}

/** A value as the message quotes it: YAML's .inf/.nan by name, long text cut (a message stays readable). */
function shown(v: unknown): string {
  if (typeof v === 'number' && !Number.isFinite(v)) return Number.isNaN(v) ? '.nan' : v > 0 ? '.inf' : '-.inf';
  const text = JSON.stringify(v) ?? String(v);
  return text.length > 80 ? `${text.slice(0, 60)}…" (${text.length} characters)` : text;
}

function describe(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'a list';
  if (typeof v === 'object') return 'a map';
  return `${typeof v} ${shown(v)}`;
}

/** The schema author's plain-words hint for a rule (`$comment`), where there is one. */
function hint(e: ErrorObject): string | undefined {
  const c = (e.parentSchema as { $comment?: unknown } | undefined)?.$comment;
  return typeof c === 'string' ? c : undefined;
}

function where(path: (string | number)[]): string {
  const last = path[path.length - 1];
  if (typeof last === 'number' && path[path.length - 2] === 'steps') return `step ${last + 1}`;
  return `'${String(last ?? 'document')}'`;
}

function messageFor(e: ErrorObject): { message: string; key: boolean; path: (string | number)[] } {
  const path = parsePointer(e.instancePath);
  const last = path[path.length - 1];
  const params = e.params as Record<string, unknown>;
  switch (e.keyword) {
    case 'additionalProperties': {
      const extra = String(params['additionalProperty']);
      const props = Object.keys(((e.parentSchema as { properties?: object } | undefined)?.properties ?? {}) as object);
      return {
        message: `unknown key '${extra}'${props.length ? ` (allowed here: ${props.join(', ')})` : ''}: remove it or fix its spelling`,
        key: true,
        path: [...path, extra],
      };
    }
    case 'required':
      return { message: `missing required key '${String(params['missingProperty'])}': add it`, key: false, path };
    case 'type':
      if (typeof last === 'number' && path[path.length - 2] === 'steps')
        return { message: `step ${last + 1} must be a map (name, action, args, …) or a rollback_point, not ${describe(e.data)}`, key: false, path };
      return { message: `${where(path)} must be ${article(String(params['type']))}, not ${describe(e.data)}`, key: false, path };
    case 'enum': {
      const allowed = (params['allowedValues'] as unknown[]).map((x) => JSON.stringify(x)).join(', ');
      const what = last === 'action' ? 'unknown action' : `invalid value for '${String(last)}'`;
      return { message: `${what} ${shown(e.data)}: use one of ${allowed}`, key: false, path };
    }
    case 'pattern': {
      const h = hint(e);
      return { message: `invalid value ${shown(e.data)} for '${String(last)}': ${h ?? `it must match ${String(params['pattern'])}`}`, key: false, path };
    }
    case 'propertyNames': {
      const inner = (e.schema as { $comment?: unknown } | undefined)?.$comment;
      const name = String(params['propertyName']);
      if (name === '<<') return { message: "a YAML merge key '<<' cannot stand here: write the keys out", key: true, path: [...path, name] };
      return { message: `invalid name ${shown(name)}: ${typeof inner === 'string' ? inner : 'use letters, digits and _'}`, key: true, path: [...path, name] };
    }
    case 'oneOf':
    case 'anyOf': {
      const h = hint(e);
      if (h) return { message: `${where(path)} has the wrong form: ${h}`, key: false, path };
      const branches = e.schema as { required?: string[]; type?: string; pattern?: string }[];
      const props = branches.map((s) => s.required?.join('+')).filter(Boolean);
      if (props.length) return { message: `give exactly one of: ${props.join(', ')}`, key: false, path };
      // number-or-template, as most numeric arguments are
      const types = branches.map((s) => s.type).filter(Boolean);
      if (types.some((t) => t === 'number' || t === 'integer') && types.includes('string'))
        return { message: `'${String(last)}' must be a number${branches.some((s) => s.pattern?.includes('{{')) ? ' (or a {{ template }})' : ''}, not ${describe(e.data)}${last === 'timeout' || last === 'interval' || last === 'delay' ? ': a number of seconds' : ''}`, key: false, path };
      return { message: `'${String(last)}' has the wrong form (${describe(e.data)}): see the schema for what is allowed here`, key: false, path };
    }
    default:
      return { message: `'${String(last ?? 'document')}' ${e.message ?? 'is invalid'}`, key: false, path };
  }
}

function article(t: string): string {
  if (t === 'object') return 'a map';
  if (t === 'array') return 'a list';
  if (t === 'integer') return 'an integer';
  return `a ${t}`;
}

/** Validate parsed YAML against one of the JSON Schemas; every problem, with its position. */
export function schemaCheck(name: SchemaName, src: YamlSource): Problem[] {
  const validate = validator(name);
  if (validate(src.data)) return [];
  // the inner error of a propertyNames rule repeats it: keep the propertyNames one
  const errors = (validate.errors ?? []).filter((e) => e.keyword !== 'if' && !(e.propertyName !== undefined && e.keyword !== 'propertyNames'));
  // Inside anyOf/oneOf, the branch errors are noise once the anyOf error says what is wanted.
  const alternatives = errors.filter((e) => e.keyword === 'anyOf' || e.keyword === 'oneOf').map((e) => e.schemaPath);
  const under = (e: ErrorObject, p: string) => e.schemaPath !== p && e.schemaPath.startsWith(p.replace(/\/(anyOf|oneOf)$/, '/$1/'));
  // a map given where the alternatives are "a list, or a map with these keys": an unknown key is what is wrong, say which
  const unknownKeyInMap = (alt: ErrorObject) =>
    alt.data !== null && typeof alt.data === 'object' && !Array.isArray(alt.data)
      ? errors.filter((e) => e.keyword === 'additionalProperties' && e.instancePath === alt.instancePath && under(e, alt.schemaPath))
      : [];
  const kept = errors.flatMap((e) => {
    if (alternatives.some((p) => under(e, p))) return [];
    if (e.keyword === 'anyOf' || e.keyword === 'oneOf') {
      const inner = unknownKeyInMap(e);
      if (inner.length) return inner;
    }
    return [e];
  });
  // a required key missing from a map that has an unknown key is most likely that key misspelt: one line says both
  const unknownAt = new Set(kept.filter((e) => e.keyword === 'additionalProperties').map((e) => e.instancePath));
  const missingAt = new Map<string, string[]>();
  for (const e of kept)
    if (e.keyword === 'required' && unknownAt.has(e.instancePath))
      missingAt.set(e.instancePath, [...(missingAt.get(e.instancePath) ?? []), String((e.params as Record<string, unknown>)['missingProperty'])]);
  const seen = new Set<string>();
  const out: Problem[] = [];
  for (const e of kept) {
    if (e.keyword === 'required' && missingAt.has(e.instancePath)) continue;
    const m = messageFor(e);
    const missing = e.keyword === 'additionalProperties' ? missingAt.get(e.instancePath) : undefined;
    if (missing) m.message += ` (${missing.map((k) => `'${k}'`).join(', ')} ${missing.length === 1 ? 'is' : 'are'} required here and missing)`;
    const p = src.problem(m.path, m.message, m.key);
    const k = `${p.line}:${p.col}:${p.message}`;
    if (seen.has(k)) continue;
    seen.add(k);
    out.push(p);
  }
  return out;
}
