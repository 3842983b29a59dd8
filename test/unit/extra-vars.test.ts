import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { resolveExtraVars } from '../../src/cli/extra-vars.js';
import { parseCli } from '../../src/cli/args.js';

const dir = mkdtempSync(join(tmpdir(), 'extra-vars-'));
const file = (name: string, text: string) => {
  const f = join(dir, name);
  writeFileSync(f, text);
  return f;
};

describe('-e NAME=VALUE and -e @FILE', () => {
  it('a YAML file sets scalars as literal text, in command-line order (a later -e wins)', () => {
    const f = file('a.yml', 'greeting: hello\ncount: 7\nflag: true\nempty:\ntpl: "{{ run.id }}"\n');
    const r = resolveExtraVars(['count=1', `@${f}`, 'greeting=later']);
    expect(r.ok).toBe(true);
    if (!r.ok) return;
    expect(r.vars).toEqual({ count: '7', greeting: 'later', flag: 'true', empty: '', tpl: '{{ run.id }}' });
    expect(r.origins['count']).toEqual({ kind: 'file', file: f, line: 2, col: 1 });
    expect(r.origins['greeting']).toEqual({ kind: 'cli' });
  });

  it('a JSON file is read the same way', () => {
    const f = file('b.json', '{"greeting": "hi", "count": 3}');
    const r = resolveExtraVars([`@${f}`]);
    expect(r.ok && r.vars).toEqual({ greeting: 'hi', count: '3' });
  });

  it.each([
    ['list value', 'greeting: [a, b]\n', /greeting: -e values are literal text; a list cannot be passed/, 1, 11],
    ['map value', 'count: 1\ngreeting: { a: 1 }\n', /a map cannot be passed/, 2, 11],
    ['bad name', 'bad-name: 1\n', /'bad-name' is not a valid variable name/, 1, 1],
    ['not a map', '- a\n- b\n', /must hold a map/, 1, 1],
    ['YAML error', 'a: "unclosed\n', /./, 1, undefined],
  ])('refused at file:line:col: %s', (_n, text, msg, line, col) => {
    const f = file(`${_n.replace(/ /g, '-')}.yml`, text);
    const r = resolveExtraVars([`@${f}`]);
    expect(r.ok).toBe(false);
    if (r.ok) return;
    expect(r.problems[0]?.file).toBe(f);
    expect(r.problems[0]?.message).toMatch(msg);
    expect(r.problems[0]?.line).toBe(line);
    if (col !== undefined) expect(r.problems[0]?.col).toBe(col);
  });

  it('a missing file and a bare @ are refused', () => {
    const r = resolveExtraVars([`@${join(dir, 'nope.yml')}`, '@', 'x']);
    expect(r.ok).toBe(false);
    if (r.ok) return;
    expect(r.problems.map((p) => p.message)).toEqual([expect.stringMatching(/file not found/), expect.stringMatching(/give a file after '@'/), expect.stringMatching(/expects NAME=VALUE or @FILE/)]);
  });

  it('parseCli reports a bad -e @FILE with its position, and takes --skip-tags, --list-*, --step', () => {
    const f = file('c.yml', 'ok: 1\nbad: [1]\n');
    const bad = parseCli(['plan', 'p.yml', '-e', `@${f}`]);
    expect(bad.ok).toBe(false);
    if (!bad.ok) expect(bad.message).toContain(`${f}:2:6`);
    const good = parseCli(['run', 'p.yml', '--skip-tags', 'a, b', '--list-hosts', '--list-tasks', '--step']);
    expect(good.ok && good.args.skipTags).toEqual(['a', 'b']);
    expect(good.ok && [good.args.listHosts, good.args.listTasks, good.args.step]).toEqual([true, true, true]);
    const none = parseCli(['run', 'p.yml']);
    expect(none.ok && [none.args.skipTags, none.args.listHosts, none.args.step]).toEqual([undefined, false, false]);
  });
});
