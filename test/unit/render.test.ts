import { execFileSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { renderString, renderValue } from '../../src/template/render.js';
import { shellQuote } from '../../src/util/shell-quote.js';

describe('shell quoting of templated values', () => {
  const nasty = ['; rm -rf /', '$(touch /tmp/pwned)', '`id`', "it's", 'a b', '', '*', '\n', '"$HOME"'];
  it.each(nasty)('%j reaches the command as one literal word', (value) => {
    const cmd = renderString('printf %s {{ vars.v }}', { vars: { v: value } }, { mode: 'shell' });
    // run it for real through sh: what comes out is exactly the value, nothing executed
    const out = execFileSync('sh', ['-c', cmd], { encoding: 'utf8' });
    expect(out).toBe(value);
  });

  it.each([
    ['safe/path-1.2', 'safe/path-1.2'],
    ['has space', "'has space'"],
    ["it's", `'it'"'"'s'`],
  ])('shellQuote(%j) = %s', (v, want) => expect(shellQuote(v)).toBe(want));

  it('| raw interpolates as is, only when asked for', () => {
    expect(renderString('echo {{ vars.v | raw }}', { vars: { v: 'a && b' } }, { mode: 'shell' })).toBe('echo a && b');
    expect(renderString('echo {{ vars.v }}', { vars: { v: 'a && b' } }, { mode: 'shell' })).toBe("echo 'a && b'");
  });

  it('text mode keeps values as they are; a lone expression keeps its type', () => {
    expect(renderString('{{ vars.v }}/x', { vars: { v: 'a b' } }, { mode: 'text' })).toBe('a b/x');
    expect(renderValue('{{ vars.list }}', { vars: { list: [1, 2] } }, { mode: 'text' })).toEqual([1, 2]);
  });

  it('an undefined name fails at render time unless deferred to run time', () => {
    expect(() => renderString('{{ res.stdout }}', {}, { mode: 'shell' })).toThrow(/'res.stdout' is not defined/);
    expect(renderString('echo {{ res.stdout }}', {}, { mode: 'shell', deferredRoots: new Set(['res']) })).toBe('echo <res.stdout: known at run time>');
  });
});
