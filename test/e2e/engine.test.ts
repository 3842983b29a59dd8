import { createHash } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Lab, startLab } from '../lab/lab.js';
import { holdEnv, pollUntil, runCli, waitForFile } from '../support/cli.js';
import { writeLabInventory } from '../support/lab-inventory.js';
import { ROOT } from '../support/paths.js';

const fixture = (f: string) => join(ROOT, 'test', 'fixtures', 'e2e', f);

let lab: Lab;
let inv: string;
let runsDir: string;

async function sh(node: number, cmd: string): Promise<string> {
  const r = await lab.exec(node, cmd);
  return r.stdout;
}

async function listing(node: number, dir: string): Promise<string> {
  return sh(node, `cd ${dir} 2>/dev/null && find . -type f -exec sha256sum {} + | sort`);
}

beforeAll(async () => {
  lab = await startLab({ nodes: 3 });
  inv = writeLabInventory(lab);
  runsDir = join(lab.stateDir, 'runs');
}, 60_000);

afterAll(async () => {
  await lab?.stop();
});

const env = () => ({ RUNBOOK_RUNS_DIR: runsDir });

/** Every test here runs the CLI over SSH, several times: a limit of its own, not vitest's default. */
const SSH_RUNS = 120_000;

type JournalEvent = Record<string, string | boolean | number | null>;
function journalOf(runId: string): JournalEvent[] {
  return readFileSync(join(runsDir, runId, 'journal.jsonl'), 'utf8')
    .trim()
    .split('\n')
    .map((l) => (JSON.parse(l) as { event: JournalEvent }).event);
}

/** A planned command as the journal's `planned` field must show it, built here from the plan's JSON. */
interface PlannedCommand {
  kind: string;
  text?: string;
  dest?: string;
  mode?: number;
  content?: string;
  op?: { op: string; that?: string[] };
}
function expectedPlanned(c: PlannedCommand): string {
  switch (c.kind) {
    case 'exec':
      return c.text!;
    case 'upload': {
      // destination, mode and content hash: computed here from the planned content, not copied from the summary
      const sha = createHash('sha256').update(c.content!).digest('hex');
      return `sftp put → ${c.dest} (mode ${c.mode!.toString(8).padStart(4, '0')}, ${Buffer.byteLength(c.content!)} bytes, sha256 ${sha.slice(0, 12)}…)`;
    }
    case 'local':
      if (c.op?.op === 'assert') return `assert ${c.op.that!.join(' and ')} (on this machine)`;
      throw new Error(`no expectation for local op ${c.op?.op}`);
    default:
      throw new Error(`no expectation for command kind ${c.kind}`);
  }
}

describe('engine on a real SSH lab', () => {
  it('a clean run changes every host and journals every command', async () => {
    const runId = `clean-${Date.now()}`;
    const r = await runCli(['run', 'playbooks/demo-files.yml', '-i', inv, '--run-id', runId], { env: env() });
    expect(r.code, r.stdout + r.stderr).toBe(0);
    expect(r.stdout).toMatch(/OK all steps completed/);
    for (const i of [0, 1, 2]) {
      const files = await sh(i, 'ls /var/lib/runbook-demo');
      expect(files.split('\n').filter(Boolean).sort()).toEqual(['hostname', 'marker.moved']);
      expect(await sh(i, 'cat /var/lib/runbook-demo/hostname')).toBe(`${lab.nodes[i]!.hostname}\n`);
    }
    const runs = await runCli(['runs'], { env: env() });
    expect(runs.stdout).toMatch(new RegExp(`^${runId}\\s+done\\s+demo\\S*\\s+lab\\s`, 'm'));
    // the journal: every step ran on every host, and every command that started has its end, ok
    const steps = ['create scratch dir', 'write marker', 'record hostname', 'move marker aside', 'read back', 'check readback', 'maybe fail'];
    const journal = journalOf(runId);
    for (const node of lab.nodes) {
      const starts = journal.filter((e) => e['type'] === 'command.start' && e['host'] === node.name);
      const ends = journal.filter((e) => e['type'] === 'command.end' && e['host'] === node.name);
      expect([...new Set(ends.map((e) => e['step']))], node.name).toEqual(steps);
      expect(ends.map((e) => `${e['step']}#${e['index']} ${e['command']}`), node.name).toEqual(starts.map((e) => `${e['step']}#${e['index']} ${e['command']}`));
      expect(ends.filter((e) => e['ok'] !== true), node.name).toEqual([]);
    }
    expect(journal.at(-1)?.['type']).toBe('run.end');
  }, SSH_RUNS);

  it("a host's commands run one after another in one shell session, which ends with the run", async () => {
    const pb = join(lab.stateDir, 'session.yml');
    // each step records the PID and name of the parent of the bash that runs it, and that one's parent: the
    // session's bash, child of sshd (with an exec channel per command: a new `timeout` each time)
    const step = (n: number) => `  - name: step ${n}\n    action: shell\n    changes: false\n    args: { cmd: "me=$BASHPID; p=$(awk '{print $4}' /proc/$me/stat); pp=$(awk '{print $4}' /proc/$p/stat); echo $p $(cat /proc/$p/comm) $(cat /proc/$pp/comm) >> /root/session-pids; cat" }\n`;
    writeFileSync(pb, `name: session\nhosts: masters\nsteps:\n${[1, 2, 3].map(step).join('')}`);
    for (const i of [0, 1, 2]) await sh(i, 'rm -f /root/session-pids');
    const r = await runCli(['run', pb, '-i', inv], { env: env() });
    expect(r.code, r.stdout + r.stderr).toBe(0);
    for (const i of [0, 1, 2]) {
      const pids = (await sh(i, 'cat /root/session-pids')).trim().split('\n');
      // three steps (their `cat` got end of input, not the session's next command), one shell
      expect(pids, lab.nodes[i]!.name).toHaveLength(3);
      expect(new Set(pids).size, lab.nodes[i]!.name).toBe(1);
      const [pid, comm, parent] = (pids[0] ?? '').split(' ');
      expect([comm, parent]).toEqual(['bash', 'sshd']);
      await pollUntil(`the session shell of ${lab.nodes[i]!.name} to end with the run`, async () => (await lab.exec(i, `kill -0 ${pid}`)).code !== 0, 30_000);
    }
  }, SSH_RUNS);

  it('the commands a real run executes are exactly those the plan showed, in the same order', async () => {
    const runId = `plan-eq-${Date.now()}`;
    const args = ['playbooks/demo-files.yml', '-i', inv, '--run-id', runId, '-e', 'fail_on=nobody'];
    // the demo dir exists from the previous test: start from a clean slate so mkdir takes the same branch
    for (const i of [0, 1, 2]) await sh(i, 'rm -rf /var/lib/runbook-demo');
    const plan = await runCli(['plan', ...args, '--output', 'json'], { env: env() });
    expect(plan.code, plan.stderr).toBe(0);
    const planned = JSON.parse(plan.stdout) as { entries: { kind: string; name: string; hosts?: { kind: string; host: string; commands: PlannedCommand[] }[] }[] };
    const run = await runCli(['run', ...args, '--output', 'json'], { env: env() });
    expect(run.code, run.stdout + run.stderr).toBe(0);
    const journal = journalOf(runId);
    for (const node of lab.nodes) {
      const fromPlan: string[] = [];
      const uploads: PlannedCommand[] = [];
      for (const e of planned.entries)
        for (const h of e.hosts ?? [])
          if (h.host === node.name)
            for (const c of h.commands) {
              fromPlan.push(`${e.name} | ${c.kind} | ${expectedPlanned(c)}`);
              if (c.kind === 'upload') uploads.push(c);
            }
      // every kind compared in full: an upload by destination, mode and content hash, an assert by its expression
      const fromJournal = journal.filter((e) => e['type'] === 'command.end' && e['host'] === node.name && e['phase'] === 'do').map((e) => `${e['step']} | ${e['kind']} | ${e['planned']}`);
      expect(fromJournal.length).toBeGreaterThan(5);
      expect(fromJournal.filter((l) => / \| (upload|local) \| /.test(l)).length, 'uploads and local asserts are in the comparison').toBe(2);
      expect(fromJournal).toEqual(fromPlan);
      // and what reached the host is what was planned: the marker (moved aside by a later step) has the planned mode and content
      expect(uploads.map((u) => u.dest)).toEqual(['/var/lib/runbook-demo/marker']);
      const onHost = await sh(lab.nodes.indexOf(node), 'stat -c %a /var/lib/runbook-demo/marker.moved && sha256sum < /var/lib/runbook-demo/marker.moved');
      expect(onHost).toBe(`${uploads[0]!.mode!.toString(8)}\n${createHash('sha256').update(uploads[0]!.content!).digest('hex')}  -\n`);
    }
  }, SSH_RUNS);

  it('a failure on one host unwinds every host to the rollback point (file listings compared)', async () => {
    const r = await runCli(['run', fixture('rollback.yml'), '-i', inv, '-e', `fail_on=${lab.nodes[1]!.name}`], { env: env() });
    expect(r.code, r.stdout + r.stderr).toBe(1);
    expect(r.stdout).toMatch(/FAILED, ROLLED BACK/);
    expect(r.stdout).toMatch(/rolled back to 'base'/);
    for (const i of [0, 1, 2]) {
      const atPoint = await sh(i, 'cat /root/at-point.txt');
      expect(atPoint).toMatch(/a\.txt/);
      expect(atPoint).toMatch(/b\.txt/);
      expect(await listing(i, '/var/lib/rb-e2e')).toBe(atPoint);
    }
    // the step that failed never ran its follower anywhere, and d.txt was undone where it had been written
    expect(r.stdout).not.toMatch(/after the failure/);
    expect(r.stdout).toMatch(/undone add d except on the failing host on master-1/);
  }, SSH_RUNS);

  it('--no-rollback leaves the hosts as they are, keeps the lock, and runbook rollback finishes the unwinding (exit 0)', async () => {
    for (const i of [0, 1, 2]) await sh(i, 'rm -rf /var/lib/rb-e2e');
    const runId = `no-rollback-${Date.now()}`;
    const r = await runCli(['run', fixture('rollback.yml'), '-i', inv, '-e', `fail_on=${lab.nodes[1]!.name}`, '--no-rollback', '--run-id', runId], { env: env() });
    expect(r.code).toBe(3); // hosts left changed: needs attention
    // exactly what was left, newest first: the four steps after 'base' that changed something, on the hosts where they did
    const left = /^--no-rollback: left in place \(newest first\): (.*)$/m.exec(r.stdout)?.[1]?.split(', ');
    const order = ['add d except on the failing host', 'add c', 'move a', 'overwrite b'];
    const [m1, m2, m3] = lab.nodes.map((n) => n.name);
    const ages = (left ?? []).map((x) => order.indexOf(x.split('@')[0]!));
    expect(ages, r.stdout).toEqual([...ages].sort((a, b) => a - b));
    expect(new Set(left)).toEqual(new Set([...[m1, m3].map((h) => `${order[0]}@${h}`), ...order.slice(1).flatMap((s) => [m1, m2, m3].map((h) => `${s}@${h}`))]));
    expect(left).toHaveLength(11);
    expect(r.stdout).toMatch(/cluster lock kept/);
    // and every host is as the list says: nothing unwound anywhere
    for (const i of [0, 1, 2])
      expect((await sh(i, 'ls /var/lib/rb-e2e')).split('\n').filter(Boolean).sort()).toEqual(i === 1 ? ['a.moved', 'b.txt', 'c.txt'] : ['a.moved', 'b.txt', 'c.txt', 'd.txt']);
    // hosts are not at a rollback point: nobody else may start
    const other = await runCli(['run', 'playbooks/demo-files.yml', '-i', inv], { env: env() });
    expect(other.code).toBe(1);
    expect(other.stdout).toMatch(new RegExp(`cluster lock on master-1 is STALE: held by run ${runId} .* finish it with runbook rollback ${runId}`));
    const rb = await runCli(['rollback', runId, '--yes'], { env: env() });
    expect(rb.code, rb.stdout + rb.stderr).toBe(0);
    for (const i of [0, 1, 2]) expect(await listing(i, '/var/lib/rb-e2e')).toBe(await sh(i, 'cat /root/at-point.txt'));
    // settled: a second rollback has nothing left to do, and says so with exit 0
    const again = await runCli(['rollback', runId, '--yes'], { env: env() });
    expect(again.code, again.stdout + again.stderr).toBe(0);
    expect(again.stdout).toMatch(/already back at 'base'/);
  }, SSH_RUNS);

  it('--limit only touches the named host', async () => {
    for (const i of [0, 1, 2]) await sh(i, 'rm -rf /var/lib/runbook-demo');
    const r = await runCli(['run', 'playbooks/demo-files.yml', '-i', inv, '--limit', lab.nodes[2]!.name], { env: env() });
    expect(r.code, r.stdout + r.stderr).toBe(0);
    expect((await lab.exec(0, 'test -e /var/lib/runbook-demo')).code).not.toBe(0);
    expect((await lab.exec(1, 'test -e /var/lib/runbook-demo')).code).not.toBe(0);
    expect((await lab.exec(2, 'test -e /var/lib/runbook-demo/marker.moved')).code).toBe(0);
  }, SSH_RUNS);

  it('serial, run_once, when/register and until/retries behave', async () => {
    const r = await runCli(['run', fixture('flow.yml'), '-i', inv], { env: env() });
    expect(r.code, r.stdout + r.stderr).toBe(0);
    // serial: 1 → the three windows do not overlap
    const windows = await Promise.all([0, 1, 2].map(async (i) => (await sh(i, 'cat /var/lib/rb-flow/window')).trim().split(' ').map(BigInt)));
    windows.sort((a, b) => (a[0]! < b[0]! ? -1 : 1));
    for (let i = 1; i < windows.length; i++) expect(windows[i]![0]! >= windows[i - 1]![1]!).toBe(true);
    // run_once: the first host's result reached every host
    for (const i of [0, 1, 2]) expect((await sh(i, 'cat /var/lib/rb-flow/leader')).trim()).toBe(lab.nodes[0]!.hostname);
    // when: only the second node
    const chosen = await Promise.all([0, 1, 2].map(async (i) => (await lab.exec(i, 'test -e /var/lib/rb-flow/chosen')).code === 0));
    expect(chosen).toEqual([false, true, false]);
    // until/retries: stopped at the third attempt
    for (const i of [0, 1, 2]) expect((await sh(i, 'cat /var/lib/rb-flow/count')).trim()).toBe('3');
    expect(r.stdout).toMatch(/\(attempt 3\)/);
  }, SSH_RUNS);

  it('a second run against a locked cluster is refused with who holds it; a dead run leaves a stale lock that unlock --force frees', async () => {
    const { spawn } = await import('node:child_process');
    const { mkdtempSync, writeFileSync } = await import('node:fs');
    const { CLI } = await import('../support/paths.js');
    // the first run is held before its step (after taking the lock) until the second has been refused
    const hold = mkdtempSync(join(lab.stateDir, 'hold-'));
    const first = runCli(['run', fixture('slow.yml'), '-i', inv, '-e', 'seconds=0'], { env: { ...env(), ...holdEnv('take a while', hold) } });
    await waitForFile(join(hold, 'held'));
    const second = await runCli(['run', 'playbooks/demo-files.yml', '-i', inv], { env: env() });
    expect(second.code).toBe(1);
    expect(second.stdout).toMatch(/the cluster is locked: master-1 is held by run \S+ of .*slow\.yml by root@/);
    writeFileSync(join(hold, 'release'), '');
    expect((await first).code).toBe(0);
    // released at the end: the next run gets it
    const third = await runCli(['run', fixture('slow.yml'), '-i', inv, '-e', 'seconds=0'], { env: env() });
    expect(third.code, third.stdout).toBe(0);
    // a run killed mid-way leaves its lock: reported as stale, never stolen
    const hold2 = mkdtempSync(join(lab.stateDir, 'hold-'));
    const victim = spawn(process.execPath, [CLI, 'run', fixture('slow.yml'), '-i', inv, '-e', 'seconds=0'], { env: { ...process.env, ...env(), ...holdEnv('take a while', hold2) }, stdio: 'ignore' });
    await waitForFile(join(hold2, 'held'));
    victim.kill('SIGKILL');
    await new Promise((r) => victim.on('close', r));
    const refused = await runCli(['run', fixture('slow.yml'), '-i', inv, '-e', 'seconds=0'], { env: env() });
    expect(refused.code).toBe(1);
    expect(refused.stdout).toMatch(/is STALE/);
    const noConfirm = await runCli(['unlock', '-i', inv, '--force'], { env: env(), input: 'wrong-name\n' });
    expect(noConfirm.code).toBe(1);
    const unlocked = await runCli(['unlock', '-i', inv, '--force'], { env: env(), input: 'lab\n' });
    expect(unlocked.code, unlocked.stdout + unlocked.stderr).toBe(0);
    expect(unlocked.stdout).toMatch(/removed lock held by/);
    const after = await runCli(['run', fixture('slow.yml'), '-i', inv, '-e', 'seconds=0'], { env: env() });
    expect(after.code).toBe(0);
    const runs = await runCli(['runs'], { env: env() });
    expect(runs.stdout).toMatch(/unlock --force|\(unlock\)/);
  }, SSH_RUNS);

  it('secrets never reach output, journal or errors; templated values reach the shell as literals', async () => {
    const secret = 'sup3r-s3cret-t0ken-value';
    const evil = '; touch /root/pwned-1; $(touch /root/pwned-2) `touch /root/pwned-3` \' "';
    const args = [fixture('secrets.yml'), '-i', inv, '-e', `token=${secret}`, '-e', `evil=${evil}`];
    const plan = await runCli(['plan', ...args, '--output', 'json'], { env: env() });
    expect(plan.code, plan.stderr).toBe(0);
    expect(plan.stderr).toBe('');
    // the plan holds the reference where the value goes, on every host
    const program = JSON.parse(plan.stdout) as { entries: { name: string; hosts?: { host: string; commands: { text?: string }[] }[] }[] };
    const writeToken = program.entries.find((e) => e.name === 'write token')?.hosts ?? [];
    expect(writeToken.map((h) => [h.host, h.commands.map((c) => c.text)])).toEqual(lab.nodes.map((n) => [n.name, ["printf %s '<secret: vars.token>' > /root/token.txt"]]));
    const json = await runCli(['run', ...args, '--output', 'json'], { env: env() });
    expect(json.code, json.stderr).toBe(1); // rolled back
    // the value read back (stdout of 'echo the token back') and echoed to stderr by the failing step: redacted in the events
    const events = json.stdout.trim().split('\n').map((l) => JSON.parse(l) as JournalEvent);
    const ended = (step: string) => events.filter((e) => e['type'] === 'command.end' && e['step'] === step && e['phase'] === 'do');
    expect(ended('echo the token back').map((e) => [e['host'], e['ok'], e['stdoutTail']])).toEqual(expect.arrayContaining(lab.nodes.map((n) => [n.name, true, '***'])));
    expect(ended('echo the token back')).toHaveLength(3);
    expect(ended('fail to show errors are redacted too').map((e) => [e['host'], e['exitCode'], String(e['stderrTail']).trim()]).sort()).toEqual(lab.nodes.map((n) => [n.name, 3, '***']));
    expect(events.at(-1)?.['type']).toBe('run.end');
    const runId = `secrets-${Date.now()}`;
    const r = await runCli(['run', ...args, '-v', '--no-rollback', '--run-id', runId], { env: env() });
    expect(r.code).toBe(3); // the last step fails on purpose, after echoing the secret to stderr; left as is
    for (const i of [0, 1, 2]) {
      expect((await lab.exec(i, 'ls /root/pwned-* 2>/dev/null | wc -l')).stdout.trim()).toBe('0');
      expect((await lab.exec(i, 'cat /root/evil.txt')).stdout).toBe(evil);
      expect((await lab.exec(i, 'cat /root/token.txt')).stdout).toBe(secret);
    }
    const rb = await runCli(['rollback', runId, '--yes'], { env: env() });
    expect(rb.code, rb.stdout + rb.stderr).toBe(0);
    expect((await lab.exec(0, 'test -e /root/token.txt')).code).not.toBe(0);
    const { spawnSync } = await import('node:child_process');
    const grep = spawnSync('grep', ['-rl', secret, runsDir], { encoding: 'utf8' });
    expect(grep.stdout).toBe('');
    expect(grep.status).toBe(1); // grep found nothing (and could read the dir)
    for (const text of [r.stdout, r.stderr, plan.stdout, plan.stderr, json.stdout, json.stderr, rb.stdout, rb.stderr]) expect(text).not.toContain(secret);
    // -v shows each host's stderr line of the failing step, with the value replaced: the only place '***' can come from
    for (const n of lab.nodes) expect(r.stdout).toMatch(new RegExp(`^\\s+${n.name}\\| \\*\\*\\*$`, 'm'));
    expect(r.stdout.match(/\*\*\*/g)).toHaveLength(3);
    // the journal holds the reference, never the value or a redacted copy of the command
    const journal = readFileSync(join(runsDir, runId, 'journal.jsonl'), 'utf8');
    expect(journal).toContain("printf %s '<secret: vars.token>' > /root/token.txt");
  }, SSH_RUNS);

  it('plan --out, then run --plan executes byte for byte the saved program; a changed inventory is refused', async () => {
    const { copyFileSync, appendFileSync } = await import('node:fs');
    for (const i of [0, 1, 2]) await sh(i, 'rm -rf /var/lib/runbook-demo');
    const inv2 = join(lab.stateDir, 'inv-saved.yml');
    copyFileSync(inv, inv2);
    const file = join(lab.stateDir, `saved-${Date.now()}.json`);
    const plan = await runCli(['plan', 'playbooks/demo-files.yml', '-i', inv2, '--out', file], { env: env() });
    expect(plan.code, plan.stderr).toBe(0);
    const saved = JSON.parse(readFileSync(file, 'utf8')) as { inputs: { run: { id: string } }; program: { entries: { kind: string; name: string; hosts?: { kind: string; host: string; commands: { kind: string; cmd?: unknown }[] }[] }[] } };
    const { showShell } = await import('../../src/shell/render.js');
    const run = await runCli(['run', '--plan', file], { env: env() });
    expect(run.code, run.stdout + run.stderr).toBe(0);
    const journal = readFileSync(join(runsDir, saved.inputs.run.id, 'journal.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as { event: Record<string, string> });
    for (const node of lab.nodes) {
      const fromPlan: string[] = [];
      for (const e of saved.program.entries) for (const h of e.hosts ?? []) if (h.host === node.name) for (const c of h.commands) fromPlan.push(`${e.name} | ${c.kind === 'exec' ? showShell(c.cmd as never) : c.kind}`);
      const executed = journal.filter((r) => r.event['type'] === 'command.end' && r.event['host'] === node.name && r.event['phase'] === 'do');
      expect(executed.map((r) => `${r.event['step']} | ${r.event['kind'] === 'exec' ? r.event['command'] : r.event['kind']}`)).toEqual(fromPlan);
    }
    // applied once: the same saved plan again is refused
    expect((await runCli(['run', '--plan', file], { env: env() })).code).toBe(2);
    const file2 = join(lab.stateDir, `saved2-${Date.now()}.json`);
    expect((await runCli(['plan', 'playbooks/demo-files.yml', '-i', inv2, '--out', file2], { env: env() })).code).toBe(0);
    appendFileSync(inv2, '# edited after review\n');
    const refused = await runCli(['run', '--plan', file2], { env: env() });
    expect(refused.code).toBe(2);
    expect(refused.stderr).toMatch(/inventory .*inv-saved\.yml changed since the plan was made/);
  }, SSH_RUNS);

  it('a value registered on hosts: first and read on every host is a plan error; run_once shares it and runs', async () => {
    const bad = await runCli(['plan', fixture('first-register.yml'), '-i', inv], { env: env() });
    expect(bad.code).toBe(2);
    expect(bad.stdout).toBe('');
    expect(bad.stderr).toMatch(/first-register\.yml:12:5: step 'use it everywhere' on master-2: 'leader' is registered by step 'read the leader's name' on master-1 only/);
    expect(bad.stderr).not.toMatch(/on master-1:/);
    const plan = await runCli(['plan', fixture('shared-register.yml'), '-i', inv], { env: env() });
    expect(plan.code, plan.stderr).toBe(0);
    expect(plan.stdout.match(/printf %s '<leader\.stdout \| trim>'/g)).toHaveLength(3);
    const r = await runCli(['run', fixture('shared-register.yml'), '-i', inv], { env: env() });
    expect(r.code, r.stdout + r.stderr).toBe(0);
    for (const i of [0, 1, 2]) expect(await sh(i, 'cat /var/lib/rb-shared/leader')).toBe(lab.nodes[0]!.hostname);
    expect(await sh(0, 'cat /var/lib/rb-shared/mine')).toBe(lab.nodes[0]!.hostname);
  }, SSH_RUNS);

  it('an unreachable host is refused up front and reported as unreachable', async () => {
    const extra = await startLab({ nodes: 2 });
    try {
      const inv2 = writeLabInventory(extra, join(extra.stateDir, 'inv.yml'));
      await extra.stopNode(1);
      const r = await runCli(['run', 'playbooks/demo-files.yml', '-i', inv2, '--connect-timeout', '3'], { env: env() });
      expect(r.code).toBe(1);
      expect(r.stdout).toMatch(new RegExp(`${extra.nodes[1]!.name}: cannot connect`));
      expect(r.stdout).toMatch(/refused before any step/);
      expect((await extra.exec(0, 'test -e /var/lib/runbook-demo')).code).not.toBe(0);
      // marked down in the inventory, the host is never contacted and the rest runs
      const inv3 = writeLabInventory(extra, join(extra.stateDir, 'inv3.yml'), { down: [1] });
      const r2 = await runCli(['run', 'playbooks/demo-files.yml', '-i', inv3], { env: env() });
      expect(r2.code, r2.stdout).toBe(0);
      expect(r2.stdout).toMatch(/down, not contacted: master-2/);
    } finally {
      await extra.stop();
    }
  }, SSH_RUNS);

  it('an SSH connection dropped mid-step: the step fails, reachable hosts are unwound, the lost host is reported with what is left', async () => {
    const extra = await startLab({ nodes: 3 });
    try {
      const inv2 = writeLabInventory(extra, join(extra.stateDir, 'inv.yml'));
      const pending = runCli(['run', fixture('drop.yml'), '-i', inv2], { env: env() });
      // wait for the long step, then kill every sshd of master-2 (session and listener), by PID, inside its node
      await pollUntil("master-2's long step to be running (its sleep)", async () => (await extra.exec(1, 'pgrep -x sleep >/dev/null')).code === 0, 60_000);
      await extra.exec(1, 'for p in $(pgrep -x sshd) $(pgrep -f "^sshd: "); do kill -9 $p; done');
      const r = await pending;
      expect(r.code, r.stdout).toBe(3);
      expect(r.stdout).toMatch(/master-2 (FAILED|UNREACHABLE) .*(connection|unreachable)/i);
      expect(r.stdout).toMatch(/master-2: still to undo by hand: write a file/);
      expect(r.stdout).toMatch(/NEEDS ATTENTION/);
      for (const i of [0, 2]) expect((await extra.exec(i, 'test -e /root/drop-marker')).code).not.toBe(0);
      expect((await extra.exec(1, 'cat /root/drop-marker')).stdout).toBe('here\n');
    } finally {
      await extra.stop();
    }
  }, SSH_RUNS);

  it('a changed host key on one master refuses the whole run before any step', async () => {
    const extra = await startLab({ nodes: 3 });
    try {
      const inv2 = writeLabInventory(extra, join(extra.stateDir, 'inv.yml'));
      await extra.regenerateHostKey(2);
      const r = await runCli(['run', 'playbooks/demo-files.yml', '-i', inv2, '--accept-new-host-keys'], { env: env() });
      expect(r.code).toBe(2);
      expect(r.stdout).toMatch(/HOST KEY CHANGED for master-3/);
      for (const i of [0, 1, 2]) expect((await extra.exec(i, 'test -e /var/lib/runbook-demo')).code).not.toBe(0);
    } finally {
      await extra.stop();
    }
  }, SSH_RUNS);
});
