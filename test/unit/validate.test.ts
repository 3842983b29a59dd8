import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadInventory } from '../../src/load/load-inventory.js';
import { loadPlaybook } from '../../src/load/load-playbook.js';
import { formatProblem } from '../../src/load/problem.js';
import { CLI, ROOT } from '../support/paths.js';

function problemsOf(yaml: string, inventory?: string): string[] {
  const dir = mkdtempSync(join(tmpdir(), 'rb-validate-'));
  const file = join(dir, 'p.yml');
  writeFileSync(file, yaml);
  const inv = inventory ? loadInventory(join(ROOT, inventory)) : undefined;
  const r = loadPlaybook(file, { inventory: inv?.ok ? inv.value : undefined });
  return r.ok ? [] : r.problems.map((p) => formatProblem(p).replace(`${file}:`, ''));
}

describe('runbook validate', () => {
  it('validates every playbook it is given (validate playbooks/*.yml), not only the first; one bad file fails the whole', () => {
    const dir = mkdtempSync(join(tmpdir(), 'rb-validate-many-'));
    const bad = join(dir, 'bad.yml');
    writeFileSync(bad, 'name: bad\nsteps:\n  - name: x\n    action: shell\n    bogus: 1\n    args: { cmd: "true" }\n');
    const good = join(ROOT, 'playbooks', 'backup.yml');
    const r = spawnSync(process.execPath, [CLI, 'validate', good, bad, join(ROOT, 'playbooks', 'demo-files.yml')], { encoding: 'utf8' });
    expect(r.status, r.stderr).toBe(2);
    expect(r.stdout).toMatch(/playbooks\/backup\.yml: valid\n.*playbooks\/demo-files\.yml: valid\n$/s);
    expect(r.stderr).toMatch(new RegExp(`${bad.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}:5:5: .*bogus`));
  });

  it('reports a YAML syntax error, an unknown key, a wrong type and an undefined variable at once, with positions, exit 2', () => {
    const r = spawnSync(process.execPath, [CLI, 'validate', 'test/fixtures/four-problems.yml'], { cwd: ROOT, encoding: 'utf8' });
    expect(r.status).toBe(2);
    const lines = r.stderr.trim().split('\n');
    expect(lines).toEqual([
      expect.stringMatching(/^test\/fixtures\/four-problems\.yml:5:18: undefined variable 'vars\.nope'/),
      expect.stringMatching(/^test\/fixtures\/four-problems\.yml:7:5: unknown key 'colour'/),
      expect.stringMatching(/^test\/fixtures\/four-problems\.yml:10:14: 'retries' must be an integer/),
      expect.stringMatching(/^test\/fixtures\/four-problems\.yml:15:11: YAML syntax: a flow map '\{' is not closed: end it with '\}'/),
      '4 problem(s) found',
    ]);
    expect(r.stderr).not.toMatch(/\n\s+at /); // no stack trace
  });

  it.each([
    ['unknown action', 'name: x\nsteps:\n  - name: a\n    action: shel\n', /^4:13: unknown action "shel": use one of/],
    ['missing undo', 'name: x\nsteps:\n  - name: a\n    action: shell\n    args: { cmd: "touch /x" }\n', /^3:5: step 'a' changes the host but declares no undo/],
    ['duplicate step', 'name: x\nsteps:\n  - name: a\n    action: message\n    args: { text: hi }\n  - name: a\n    action: message\n    args: { text: hi }\n', /^6:11: duplicate name 'a'/],
    ['rollback point at the end', 'name: x\nsteps:\n  - name: a\n    action: message\n    args: { text: hi }\n  - rollback_point: end\n', /^6:21: rollback point 'end' is the last item/],
    ['two rollback points in a row', 'name: x\nsteps:\n  - name: a\n    action: message\n    args: { text: hi }\n  - rollback_point: p1\n  - rollback_point: p2\n  - name: b\n    action: message\n    args: { text: hi }\n', /^7:21: rollback point 'p2' directly follows/],
    ['unknown host field', 'name: x\nsteps:\n  - name: a\n    action: message\n    args: { text: "{{ host.adress }}" }\n', /^5:19: unknown host field 'host.adress'/],
    ['until without register', 'name: x\nsteps:\n  - name: a\n    action: shell\n    changes: false\n    args: { cmd: "true" }\n    until: "x.rc == 0"\n', /undefined name 'x.rc'/],
    ['.. in a path', 'name: x\nsteps:\n  - name: a\n    action: file.move\n    args: { src: /etc/../x, dest: /y }\n', /'src' path '\/etc\/\.\.\/x' contains '\.\.'/],
    ['unknown filter', 'name: x\nsteps:\n  - name: a\n    action: message\n    args: { text: "{{ run.id | shout }}" }\n', /unknown filter 'shout'/],
    ['wait without a target', 'name: x\nsteps:\n  - name: a\n    action: wait\n    args: { timeout: 3 }\n', /give exactly one of: until_cmd, while_cmd, port/],
  ])('%s', (_name, yaml, want) => {
    const problems = problemsOf(yaml);
    expect(problems.some((p) => want.test(p)), problems.join('\n')).toBe(true);
  });

  it('checks hosts and groups against the inventory', () => {
    const problems = problemsOf('name: x\nhosts: masters\nsteps:\n  - name: a\n    hosts: master-9\n    action: message\n    args: { text: hi }\n', 'inventories/example.yml');
    expect(problems).toEqual([expect.stringMatching(/^5:12: unknown host or group 'master-9'/)]);
  });

  it('every shipped playbook validates against the example inventory', () => {
    const files = readdirSync(join(ROOT, 'playbooks')).filter((f) => f.endsWith('.yml'));
    expect(files.length).toBeGreaterThan(0);
    for (const f of files) {
      const out = execFileSync(process.execPath, [CLI, 'validate', `playbooks/${f}`, '-i', 'inventories/example.yml'], { cwd: ROOT, encoding: 'utf8' });
      expect(out).toMatch(/valid/);
    }
  });
});

describe('become', () => {
  type PlannedCommand = { kind: string; wire?: string; sudo?: boolean };
  type PlannedRun = { commands?: PlannedCommand[]; undo?: PlannedCommand[]; partialUndo?: PlannedCommand[][] };
  /** Every command a plan holds for the hosts: each host's commands, undo and part-way undo, and those of every case of a choice. */
  const everyCommand = (json: string): PlannedCommand[] => {
    const plan = JSON.parse(json) as { entries: { hosts?: (PlannedRun & { cases?: { plan: PlannedRun }[] })[] }[] };
    const runs = plan.entries.flatMap((e) => e.hosts ?? []).flatMap((h) => [h, ...(h.cases ?? []).map((k) => k.plan)]);
    return runs.flatMap((r) => [...(r.commands ?? []), ...(r.undo ?? []), ...(r.partialUndo ?? []).flat()]);
  };
  const planJson = (args: string[]) => execFileSync(process.execPath, [CLI, 'plan', ...args, '--output', 'json'], { cwd: ROOT, encoding: 'utf8' });

  it.each([
    ['backup.yml', ['-e', 'copy_to_masters=true']],
    ['full-restore.yml', ['-e', 'snapshot_key=etcd/c/20261121-020000-ab12cd/snapshot.db']],
    ['reinitialize-member.yml', ['-e', 'member=k8s-master2']],
    ['force-new-cluster.yml', ['-e', 'survivor=k8s-master1']],
    ['force-new-cluster.yml', ['-e', 'survivor=k8s-master1', '-e', 'mode=rebuild-db']],
  ])('a non-root user with become: every planned command of %s %j runs through sudo -n, shown in the plan', (file, extra) => {
    const all = everyCommand(planJson([`playbooks/${file}`, '-i', 'inventories/example-systemd.yml', ...extra]));
    const onHosts = all.filter((c) => c.kind !== 'local');
    expect(onHosts.filter((c) => c.kind === 'exec').length).toBeGreaterThan(3);
    for (const c of onHosts) {
      // a shell command: the wire text the host's shell gets; a transfer, edit or stream: its own commands there
      if (c.kind === 'exec') expect(c.wire, JSON.stringify(c)).toMatch(/^sudo -n -- timeout -k 10 \d+ bash -c '/);
      else expect(c.sudo, JSON.stringify(c)).toBe(true);
    }
  });

  it("a step's become: false reaches every kind of command it plans, and the plan says so", () => {
    const dir = mkdtempSync(join(tmpdir(), 'rb-become-'));
    const pb = join(dir, 'p.yml');
    writeFileSync(
      pb,
      'name: no-become\nsteps:\n  - name: as the login user\n    action: shell\n    become: false\n    run_once: true\n    changes: false\n    args: { cmd: "id -u" }\n' +
        '  - name: upload as the login user\n    action: s3.upload\n    become: false\n    run_once: true\n    args: { src: /home/ops/snap.db, key: k/snap.db, bucket: b, endpoint: "http://127.0.0.1:9" }\n' +
        '  - name: upload as root\n    action: s3.upload\n    run_once: true\n    args: { src: /var/lib/snap.db, key: k/root.db, bucket: b, endpoint: "http://127.0.0.1:9" }\n',
    );
    const all = everyCommand(planJson([pb, '-i', 'inventories/example-systemd.yml'])).filter((c) => c.kind !== 'local');
    expect(all.map((c) => [c.kind, c.kind === 'exec' ? c.wire?.startsWith('sudo -n') : c.sudo])).toEqual([
      ['exec', false],
      ['s3-put', false],
      ['s3-put', true],
    ]);
    const text = execFileSync(process.execPath, [CLI, 'plan', pb, '-i', 'inventories/example-systemd.yml'], { cwd: ROOT, encoding: 'utf8' });
    expect(text.split('\n').filter((l) => l.includes('$ stream')).map((l) => l.includes('[sudo -n]'))).toEqual([false, true]);
  });
});

describe('runbook plan of every shipped playbook', () => {
  const params: Record<string, string[]> = {
    'full-restore.yml': ['-e', 'snapshot_key=etcd/c/20261121-020000-ab12cd/snapshot.db'],
    'reinitialize-member.yml': ['-e', 'member=master-2'],
    'force-new-cluster.yml': ['-e', 'survivor=master-1'],
  };
  const files = readdirSync(join(ROOT, 'playbooks')).filter((f) => f.endsWith('.yml'));
  it.each(files)('%s plans without contacting anything', (f) => {
    const r = spawnSync(process.execPath, [CLI, 'plan', `playbooks/${f}`, '-i', 'inventories/example.yml', ...(params[f] ?? [])], { cwd: ROOT, encoding: 'utf8' });
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    expect(r.stdout).toMatch(/dry run: nothing was contacted/);
  });
});

describe('YAML merge keys', () => {
  it.each(['merge-key-vars.yml', 'merge-key-var-value.yml'])('%s: << merges the anchored map (not a variable named <<)', (f) => {
    const out = execFileSync(process.execPath, [CLI, 'plan', `test/corpus/good/${f}`, '-i', 'test/corpus/good/inventory.yml'], { cwd: ROOT, encoding: 'utf8' });
    expect(out).toMatch(/\$ message: etcd-a/);
  });
});

describe('variables', () => {
  it('a variable that refers to a variable gets its final value, to any depth; -e values are taken literally', () => {
    const dir = mkdtempSync(join(tmpdir(), 'rb-vars-'));
    const pb = join(dir, 'chain.yml');
    writeFileSync(pb, 'name: chain\nvars:\n  a: "{{ vars.b }}-a"\n  b: "{{ vars.c }}-b"\n  c: "x"\n  d: "plain"\nsteps:\n  - name: show\n    action: message\n    args: { text: "{{ vars.a }} {{ vars.d }}" }\n');
    const out = execFileSync(process.execPath, [CLI, 'plan', pb, '-i', 'test/corpus/good/inventory.yml', '-e', 'd={{ run.id }}'], { cwd: ROOT, encoding: 'utf8' });
    expect(out).toContain('$ message: x-b-a {{ run.id }}');
  });
  it('a value with a newline cannot start a line of its own in the text plan', () => {
    const dir = mkdtempSync(join(tmpdir(), 'rb-nl-'));
    const pb = join(dir, 'nl.yml');
    writeFileSync(pb, 'name: nl\nvars:\n  who: "x\\n    $ rm -rf /var/lib/etcd"\nsteps:\n  - name: echo\n    action: shell\n    changes: false\n    args: { cmd: "echo {{ vars.who }}" }\n');
    const out = execFileSync(process.execPath, [CLI, 'plan', pb, '-i', 'test/corpus/good/inventory.yml'], { cwd: ROOT, encoding: 'utf8' });
    expect(out.split('\n').filter((l) => /^\s*\$ rm/.test(l))).toEqual([]);
    expect(out).toContain("$ echo 'x␤    $ rm -rf /var/lib/etcd'");
  });
});
