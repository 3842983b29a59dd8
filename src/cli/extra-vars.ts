import { resolve } from 'node:path';
import type { Problem } from '../load/problem.js';
import { readYaml } from '../load/yaml-source.js';

/** Where a -e value came from: the command line, or a key of an `-e @FILE`. */
export type VarOrigin = { kind: 'cli' } | { kind: 'file'; file: string; line: number; col: number };

export type ExtraVars = { ok: true; vars: Record<string, string>; origins: Record<string, VarOrigin> } | { ok: false; problems: Problem[] };

const NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;

/**
 * `-e NAME=VALUE` and `-e @FILE` (YAML or JSON: a map of names to scalars), in command-line order;
 * a later one wins, as in Ansible. Values are literal text, whatever their source: a YAML 7 is "7",
 * exactly as `-e keep_last=7` would give it. A map or list value is refused at its position.
 */
export function resolveExtraVars(raw: string[], cwd: string = process.cwd()): ExtraVars {
  const vars: Record<string, string> = {};
  const origins: Record<string, VarOrigin> = {};
  const problems: Problem[] = [];
  const cli = (message: string) => problems.push({ file: '-e', line: undefined, col: undefined, message });
  for (const arg of raw) {
    if (arg.startsWith('@')) {
      const file = arg.slice(1);
      if (file === '') {
        cli("-e @FILE: give a file after '@'");
        continue;
      }
      const read = readYaml(resolve(cwd, file));
      if (!read.ok) {
        problems.push(...read.problems.map((p) => ({ ...p, file })));
        continue;
      }
      const { source } = read;
      const at = (path: string[], message: string, key = false) => problems.push({ ...source.problem(path, message, key), file });
      if (read.problems.length) {
        problems.push(...read.problems.map((p) => ({ ...p, file })));
        continue;
      }
      const data = source.data;
      if (data === null || data === undefined) continue; // an empty file sets nothing
      if (typeof data !== 'object' || Array.isArray(data)) {
        at([], '-e @FILE must hold a map of variable names to values (NAME: value)');
        continue;
      }
      for (const [name, value] of Object.entries(data as Record<string, unknown>)) {
        if (!NAME.test(name)) {
          at([name], `'${name}' is not a valid variable name`, true);
          continue;
        }
        if (value !== null && typeof value === 'object') {
          at([name], `${name}: -e values are literal text; a ${Array.isArray(value) ? 'list' : 'map'} cannot be passed (give a string, number or boolean)`);
          continue;
        }
        const text = value === null ? '' : String(value);
        if (text.includes('\0')) {
          at([name], `${name}: a NUL character is not allowed in a value`);
          continue;
        }
        const pos = source.pos([name], true);
        vars[name] = text;
        origins[name] = { kind: 'file', file, line: pos.line, col: pos.col };
      }
      continue;
    }
    const eq = arg.indexOf('=');
    if (eq <= 0) {
      cli(`-e expects NAME=VALUE or @FILE, got '${arg}'`);
      continue;
    }
    const name = arg.slice(0, eq);
    if (!NAME.test(name)) {
      cli(`-e: '${name}' is not a valid variable name`);
      continue;
    }
    if (arg.includes('\0')) {
      cli(`-e ${name}: a NUL character is not allowed in a value`);
      continue;
    }
    vars[name] = arg.slice(eq + 1);
    origins[name] = { kind: 'cli' };
  }
  return problems.length ? { ok: false, problems } : { ok: true, vars, origins };
}
