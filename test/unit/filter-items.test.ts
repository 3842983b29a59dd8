import { describe, expect, it } from 'vitest';
import { filterItems } from '../../src/engine/filter-items.js';
import type { Playbook, PlaybookItem } from '../../src/model/playbook.js';

const pos = { file: 'p.yml', line: 1, col: 1 };
const step = (name: string, tags: string[]): PlaybookItem => ({ kind: 'step', name, action: 'shell', args: {}, hosts: { kind: 'all' }, serial: undefined, runOnce: false, when: undefined, register: undefined, retries: 0, delaySeconds: 0, until: undefined, timeoutSeconds: undefined, tags, undo: undefined, noUndo: 'x', changes: undefined, become: undefined, ignoreErrors: false, repeatable: undefined, pos });
const pb: Playbook = {
  file: 'p.yml',
  name: 'p',
  description: undefined,
  hosts: 'masters',
  params: {},
  vars: {},
  items: [step('setup', ['always']), step('greet', ['greet']), { kind: 'rollback_point', name: 'rp', pos }, step('extra', ['extra', 'slow']), step('last', ['last'])],
};
const run = (tags: string[] | undefined, skipTags: string[] | undefined, startAt?: string) => {
  const f = filterItems(pb, { tags, skipTags, startAt });
  return f.ok ? f.items.map((i) => `${i.item.name}${i.skip ? ` (${i.skip})` : ''}`) : f.message;
};

describe('--tags, --skip-tags, --start-at', () => {
  it.each([
    ['nothing given: all run', undefined, undefined, ['setup', 'greet', 'rp', 'extra', 'last']],
    ['--skip-tags drops any step with one of its tags', undefined, ['slow'], ['setup', 'greet', 'rp', 'extra (--skip-tags slow)', 'last']],
    ['--skip-tags wins over always', undefined, ['always'], ['setup (--skip-tags always)', 'greet', 'rp', 'extra', 'last']],
    ['--skip-tags wins over --tags', ['extra', 'greet'], ['extra'], ['setup', 'greet', 'rp', 'extra (--skip-tags extra)', 'last (not tagged extra,greet)']],
    ['--tags keeps always', ['last'], undefined, ['setup', 'greet (not tagged last)', 'rp', 'extra (not tagged last)', 'last']],
  ])('%s', (_n, tags, skip, want) => {
    expect(run(tags, skip)).toEqual(want);
  });

  it('a --skip-tags naming a tag no step has is refused with the tags there are (a typo would skip nothing)', () => {
    expect(run(undefined, ['slwo'])).toBe('--skip-tags slwo: no step has this tag (tags in this playbook: always, greet, extra, slow, last)');
    expect(run(undefined, ['slow', 'x', 'y'])).toMatch(/^--skip-tags x,y: no step has these tags/);
    expect(run(undefined, [])).toMatch(/--skip-tags names no tag/);
  });

  it('--start-at and --skip-tags together', () => {
    expect(run(undefined, ['last'], 'extra')).toEqual(['setup (before --start-at extra)', 'greet (before --start-at extra)', 'rp (before --start-at extra)', 'extra', 'last (--skip-tags last)']);
  });
});
