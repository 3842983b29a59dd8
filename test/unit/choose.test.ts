import { describe, expect, it } from 'vitest';
import { chooseCase } from '../../src/engine/choose.js';
import { makePlan } from '../../src/engine/plan.js';
import { loadInventory } from '../../src/load/load-inventory.js';
import { loadPlaybook } from '../../src/load/load-playbook.js';
import type { HostStepPlan } from '../../src/engine/plan-step.js';
import { showShell } from '../../src/shell/render.js';

// the shipped restore playbook against the example inventory: the versioned steps hold every case
describe('versioned steps: every case in the program, the run picks by the host finding', () => {
  const compile = () => {
    const pb = loadPlaybook('playbooks/full-restore.yml');
    const inv = loadInventory('inventories/example.yml');
    if (!pb.ok || !inv.ok) throw new Error('fixture did not load');
    const r = makePlan({ playbook: pb.value, inventory: inv.value, extraVars: { snapshot_key: 'k/snapshot.db' }, limit: undefined, run: { id: 'R', dir: '/tmp', started: 'now', commit: 'c', user: 'u' }, tags: undefined, startAt: undefined });
    if (!r.ok) throw new Error('plan failed');
    return r.plan;
  };
  it('the restore step has a 3.4 case (etcdctl, no bump) and a 3.5/3.6 case (etcdutl, bump)', () => {
    const p = compile();
    expect(p.errors).toEqual([]);
    const step = p.entries.find((e) => e.kind === 'step' && e.name === "restore the snapshot beside every member's data");
    if (step?.kind !== 'step') throw new Error('no restore step');
    const h = step.hosts[0] as Extract<HostStepPlan, { kind: 'choose' }>;
    expect(h.kind).toBe('choose');
    expect(h.on).toEqual({ ref: 'etcd.json.set' });
    expect(h.cases.map((c) => c.sets)).toEqual([['3.4'], ['3.5', '3.6']]);
    const scope = (set: string) => ({ etcd: { json: { set } } }) as never;
    const on34 = chooseCase(h, scope('3.4'));
    const on35 = chooseCase(h, scope('3.5'));
    const shown = (c: typeof on34) => (c.ok ? c.plan.commands.map((x) => (x.kind === 'exec' ? showShell(x.cmd) : x.kind)).join('\n') : '');
    expect(shown(on34)).toMatch(/bin\/etcdctl snapshot restore/);
    expect(shown(on34)).not.toMatch(/bump-revision/);
    expect(shown(on35)).toMatch(/bin\/etcdutl.*snapshot restore.*--bump-revision=1000000000.*--mark-compacted/);
    expect(chooseCase(h, scope('9.9'))).toMatchObject({ ok: false, message: expect.stringMatching(/no plan for etcd 9\.9/) });
    expect(chooseCase(h, {} as never)).toMatchObject({ ok: false, message: expect.stringMatching(/etcd\.tools step/) });
  });
});
