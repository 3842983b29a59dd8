import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Lab, startLab } from '../lab/lab.js';
import { runCli } from '../support/cli.js';
import { writeLabInventory } from '../support/lab-inventory.js';
import { ROOT } from '../support/paths.js';

// Ansible's hand habits through the real CLI on the SSH lab: -e @FILE, --skip-tags, --list-hosts, --list-tasks, --step.
const PB = join(ROOT, 'test', 'fixtures', 'e2e', 'habits.yml');
const DIR = '/var/lib/runbook-habits';

let lab: Lab;
let inv: string;
let runsDir: string;

const env = () => ({ RUNBOOK_RUNS_DIR: runsDir });
const files = async (node: number) => (await lab.exec(node, `ls ${DIR} 2>/dev/null; true`)).stdout.split('\n').filter(Boolean).sort();
const clean = async () => {
  for (const i of [0, 1, 2]) await lab.exec(i, `rm -rf ${DIR}`);
};
const journal = (id: string) =>
  readFileSync(join(runsDir, id, 'journal.jsonl'), 'utf8')
    .trim()
    .split('\n')
    .map((l) => (JSON.parse(l) as { event: { type: string; step?: string; reason?: string } }).event);

beforeAll(async () => {
  lab = await startLab({ nodes: 3 });
  inv = writeLabInventory(lab);
  runsDir = join(lab.stateDir, 'runs');
}, 60_000);

afterAll(async () => {
  await lab?.stop();
});

describe('Ansible hand habits on the SSH lab', () => {
  it('-e @vars.yml sets the parameters (a later -e wins), and --skip-tags leaves the tagged step out', async () => {
    await clean();
    const vars = join(lab.stateDir, 'habits-vars.yml');
    writeFileSync(vars, 'greeting: hello from a file\ncount: 3\n');
    const r = await runCli(['run', PB, '-i', inv, '-e', `@${vars}`, '-e', 'count=4', '--skip-tags', 'extra', '--run-id', 'habits-1'], { env: env() });
    expect(r.code, r.stdout + r.stderr).toBe(0);
    for (const i of [0, 1, 2]) {
      expect(await files(i)).toEqual(['greeting', 'last']);
      expect((await lab.exec(i, `cat ${DIR}/greeting`)).stdout).toBe('hello from a file x4\n');
    }
    expect(journal('habits-1').filter((e) => e.type === 'step.skip')).toEqual([{ type: 'step.skip', step: 'write extra', index: 3, reason: '--skip-tags extra' }]);
  });

  it('an -e @FILE name the playbook does not declare is refused at file:line:col with the declared names; nothing runs', async () => {
    await clean();
    const vars = join(lab.stateDir, 'habits-typo.yml');
    writeFileSync(vars, 'greeting: hi\ngreting: typo\n');
    const r = await runCli(['run', PB, '-i', inv, '-e', `@${vars}`], { env: env() });
    expect(r.code).toBe(2);
    expect(r.stderr).toContain(`${vars}:2:1: -e greting: the playbook`);
    expect(r.stderr).toMatch(/declared: dir, count, greeting/);
    for (const i of [0, 1, 2]) expect(await files(i)).toEqual([]);
  });

  it('--list-hosts and --list-tasks print what would run and where, need no parameters and contact nothing', async () => {
    await lab.stopNode(2); // a host that is gone: listing must not try to reach it
    try {
      const hosts = await runCli(['run', PB, '-i', inv, '--list-hosts', '--limit', 'master-1,master-3'], { env: env() });
      expect(hosts.code, hosts.stderr).toBe(0);
      expect(hosts.stdout).toMatch(/hosts \(2\):\n\s+master-1\s+root@127\.[\d.]+:\d+\s+etcd master-1 \(static-pod\)\n\s+master-3 /);
      const tasks = await runCli(['plan', PB, '-i', inv, '--list-tasks', '--tags', 'greet,last', '--skip-tags', 'last'], { env: env() });
      expect(tasks.code, tasks.stderr).toBe(0);
      expect(tasks.stdout.split('\n').slice(1, 6)).toEqual([
        '  1. make dir  (file.mkdir on masters)  TAGS: [always]',
        '  2. write greeting  (file.write on masters)  TAGS: [greet]',
        '  3. -- rollback point: greeted',
        '  4. write extra  (file.write on masters)  TAGS: [extra]  [skipped: not tagged greet,last]',
        '  5. write last  (file.write on masters)  TAGS: [last]  [skipped: --skip-tags last]',
      ]);
      const json = await runCli(['plan', PB, '-i', inv, '--list-hosts', '--output', 'json'], { env: env() });
      expect((JSON.parse(json.stdout) as { hosts: { name: string }[] }).hosts.map((h) => h.name)).toEqual(['master-1', 'master-2', 'master-3']);
      const typo = await runCli(['plan', PB, '-i', inv, '--list-tasks', '--skip-tags', 'extar'], { env: env() });
      expect(typo.code).toBe(2);
      expect(typo.stderr).toMatch(/--skip-tags extar: no step has this tag \(tags in this playbook: always, greet, extra, last\)/);
    } finally {
      await lab.startNode(2);
    }
  });

  it('--step: y runs a step, n skips it (journaled), c runs the rest without asking', async () => {
    await clean();
    const r = await runCli(['run', PB, '-i', inv, '-e', 'greeting=hi', '--step', '--run-id', 'habits-step'], { env: env(), input: 'y\nmaybe\nn\nc\n' });
    expect(r.code, r.stdout + r.stderr).toBe(0);
    // asked for 'make dir', twice for 'write greeting' (an unclear answer asks again), once for 'write extra'; never for 'write last'
    expect(r.stdout.match(/\(y\)es\/\(n\)o\/\(c\)ontinue/g)?.length).toBe(4);
    expect(r.stdout).toMatch(/step 'write greeting' on master-1, master-2, master-3: \(y\)es/);
    for (const i of [0, 1, 2]) expect(await files(i)).toEqual(['extra', 'last']);
    expect(journal('habits-step').filter((e) => e.type === 'step.skip').map((e) => [e.step, e.reason])).toEqual([['write greeting', 'declined at --step']]);
  });

  it('--step: end of input stops the run, which unwinds what it did', async () => {
    await clean();
    const r = await runCli(['run', PB, '-i', inv, '-e', 'greeting=hi', '--step', '--run-id', 'habits-eof'], { env: env(), input: 'y\n' });
    expect(r.code, r.stdout + r.stderr).toBe(1);
    expect(r.stdout + r.stderr).toMatch(/stopped at --step before step 'write greeting'/);
    // 'make dir' ran and was undone: no rollback point had been passed
    for (const i of [0, 1, 2]) expect((await lab.exec(i, `test -e ${DIR} && echo there || echo gone`)).stdout).toBe('gone\n');
    const refused = await runCli(['plan', PB, '-i', inv, '-e', 'greeting=hi', '--step'], { env: env() });
    expect(refused.code).toBe(2);
  });

  it('run --plan: --list-tasks/--dry-run are refused (never a real run); the run and its journal keep the plan\'s --skip-tags and -u', async () => {
    await clean();
    const planFile = join(lab.stateDir, 'habits-plan.json');
    const made = await runCli(['plan', PB, '-i', inv, '-e', 'greeting=planned', '--skip-tags', 'extra', '-u', 'root', '--run-id', 'habits-saved', '--out', planFile], { env: env() });
    expect(made.code, made.stderr).toBe(0);
    for (const flag of ['--list-tasks', '--list-hosts', '--dry-run']) {
      const r = await runCli(['run', '--plan', planFile, flag], { env: env() });
      expect(r.code, flag).toBe(2);
      expect(r.stderr).toMatch(/executes the saved plan; .* does not apply to it/);
    }
    for (const i of [0, 1, 2]) expect(await files(i)).toEqual([]);
    const r = await runCli(['run', '--plan', planFile], { env: env() });
    expect(r.code, r.stdout + r.stderr).toBe(0);
    for (const i of [0, 1, 2]) expect(await files(i)).toEqual(['greeting', 'last']);
    const meta = (JSON.parse(readFileSync(join(runsDir, 'habits-saved', 'journal.jsonl'), 'utf8').split('\n')[0] as string) as { event: { meta: { skipTags?: string[]; ssh?: { user?: string } } } }).event.meta;
    expect(meta.skipTags).toEqual(['extra']);
    expect(meta.ssh?.user).toBe('root');
    const program = JSON.parse(readFileSync(join(runsDir, 'habits-saved', 'program.json'), 'utf8')) as { inputs: { skipTags?: string[]; ssh?: { user?: string } } };
    expect(program.inputs.skipTags).toEqual(['extra']);
    expect(program.inputs.ssh?.user).toBe('root');
  });
});
