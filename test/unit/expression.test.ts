import { describe, expect, it } from 'vitest';
import { evaluate, referencedPaths, UndefinedNameError } from '../../src/template/expression.js';

const scope = {
  vars: { n: 3, name: 'etcd-1', list: ['a', 'b'], empty: '' },
  host: { name: 'master-1', etcd: { data_dir: '/var/lib/etcd' } },
  res: { rc: 0, stdout: 'hello world', json: { members: [{ name: 'm1', ID: 7 }, { name: 'm2', ID: 9 }] } },
};

describe('expressions', () => {
  it.each([
    ['vars.n', 3],
    ['vars.n + 1', 4],
    ["vars.name == 'etcd-1'", true],
    ["vars.name != 'etcd-1'", false],
    ['vars.n > 2 and vars.n < 4', true],
    ['not vars.empty', true],
    ["'world' in res.stdout", true],
    ["'x' not in vars.list", true],
    ['res.json.members[1].ID', 9],
    ['res.json.members | length', 2],
    ["res.json.members | map('name') | join(',')", 'm1,m2'],
    ['vars.missing is defined', false],
    ["vars.missing | default('d')", 'd'],
    ['host.etcd.data_dir', '/var/lib/etcd'],
    ['(vars.n == 3) or nope', true],
    ['[1, 2] | last', 2],
    ['res.rc == 0', true],
  ])('%s → %j', (expr, want) => {
    expect(evaluate(expr, scope)).toEqual(want);
  });

  it.each([['vars.missing'], ['nope.x'], ['res.json.members[5].ID'], ['vars.missing == 1']])('%s is an undefined-name error', (expr) => {
    expect(() => evaluate(expr, scope)).toThrow(UndefinedNameError);
  });

  it.each([['vars.n +'], ["'open"], ['a ; b'], ['x is weird']])('%s is a syntax error', (expr) => {
    expect(() => evaluate(expr, scope)).toThrow(/unexpected|unterminated|unknown test/);
  });

  it('lists the paths an expression reads, leaving out guarded ones', () => {
    expect(referencedPaths("vars.a == host.name and (vars.b | default('x')) and vars.c is defined")).toEqual([['vars', 'a'], ['host', 'name']]);
  });
});

describe('filter precedence', () => {
  it.each([
    ["res.stdout | upper == 'HELLO WORLD'", true],
    ['vars.n | string | int >= 3', true],
    ['1 + vars.n | int', 4],
  ])('%s → %j', (expr, want) => expect(evaluate(expr, scope)).toEqual(want));
});
