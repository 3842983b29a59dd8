// The engine against ansible-playbook on the same lab, side by side in one run (issue 11): 20 trivial
// tasks (alternating `true` and `hostname`) on 3 and 10 sshd-only nodes, and each tool's empty run,
// interleaved, RUNS runs each, medians. Then what runbook's fixed cost is made of.
import { spawn, spawnSync } from 'node:child_process';
import { hostname } from 'node:os';
import { mkdirSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { Journal } from '../../src/engine/journal.js';
import { acquireLock, releaseLock } from '../../src/engine/lock.js';
import { defaultSshEnv, loadInventory } from '../../src/load/load-inventory.js';
import type { Host } from '../../src/model/inventory.js';
import { sh } from '../../src/shell/build.js';
import { SshTransport } from '../../src/transport/ssh.js';
import { type Lab, startLab } from '../lab/lab.js';
import { writeLabInventory } from '../support/lab-inventory.js';
import { ROOT } from '../support/paths.js';
import {
  ansiblePlaybook,
  firstNodes,
  mark,
  median,
  msec,
  printTable,
  runbookPlaybook,
  secs,
  type Timed,
  timed,
  timedCli,
  writeAnsibleConfig,
  writeAnsibleInventory,
} from './bench-support.js';

// BENCH_RUNS=N: fewer (or more) runs for a quick look
const RUNS = Number(process.env['BENCH_RUNS']) || 5;
const SIZES = [3, 10];
const TASKS = 20;
const RATIO_GOAL = 20;
const MARGINAL_GOAL_MS = 2;
/** A run with 0 steps (connect, host keys, lock, journal, unlock): issue 11's goal per host count. */
const ZERO_GOAL_MS: Record<number, number> = { 3: 500, 10: 800 };

let lab: Lab;
let dir: string;
/** Why there is no Ansible column, when there is none. */
let noAnsible: string | undefined;

beforeAll(async () => {
  const setup = spawnSync('bash', [join(ROOT, 'test/bench/setup-ansible.sh')], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  if (setup.status !== 0) noAnsible = (setup.stderr || setup.error?.message || `exit ${setup.status}`).trim().split('\n').slice(-2).join(' ');
  lab = await startLab({ nodes: Math.max(...SIZES) });
  dir = mkdtempSync(join(lab.stateDir, 'bench-'));
}, 300_000);
afterAll(async () => lab?.stop());

/** Stop the ssh masters Ansible left (ControlPersist) by their sockets, so no run inherits another's. */
async function closeMasters(controlDir: string): Promise<void> {
  const sockets = readdirSync(controlDir).map((f) => join(controlDir, f));
  await Promise.all(
    sockets.map(
      (s) =>
        new Promise<void>((resolve) => {
          const c = spawn('ssh', ['-O', 'exit', '-o', `ControlPath=${s}`, 'bench'], { stdio: 'ignore' });
          c.on('close', () => resolve());
          c.on('error', () => resolve());
        }),
    ),
  );
  rmSync(controlDir, { recursive: true, force: true });
}

interface Sample {
  ansible20: number[];
  ansible0: number[];
  runbook20: number[];
  runbook0: number[];
  /** The 0-step runs' JSON event lines, for the anatomy of the fixed cost. */
  zeroRuns: Timed[];
}

it(`${TASKS} trivial tasks: runbook vs ansible-playbook on ${SIZES.join(' and ')} hosts`, async () => {
  const rb20 = runbookPlaybook(dir, TASKS);
  const rb0 = runbookPlaybook(dir, 0);
  const an20 = ansiblePlaybook(dir, TASKS);
  const an0 = ansiblePlaybook(dir, 0);
  const cfg = writeAnsibleConfig(join(dir, 'ansible.cfg'));
  const env = { RUNBOOK_RUNS_DIR: join(dir, 'runs') };
  const setups = SIZES.map((n) => ({
    n,
    rbInv: writeLabInventory(firstNodes(lab, n), join(dir, `inventory-${n}.yml`)),
    anInv: writeAnsibleInventory(lab, n, join(dir, `hosts-${n}.ini`)),
  }));
  const samples = new Map<number, Sample>(SIZES.map((n) => [n, { ansible20: [], ansible0: [], runbook20: [], runbook0: [], zeroRuns: [] }]));
  let controlDirs = 0;
  const ansible = async (inv: string, n: number, pb: string): Promise<number> => {
    // a fresh ControlPath dir per run: within a run Ansible's default ControlMaster/ControlPersist reuse
    // its connections, but no run starts with the masters of the one before (runbook starts cold too)
    const controlDir = join(dir, `cp-${controlDirs++}`);
    mkdirSync(controlDir);
    const r = await timed('ansible-playbook', ['-i', inv, '-f', String(n), pb], { cwd: dir, env: { ANSIBLE_CONFIG: cfg, ANSIBLE_SSH_CONTROL_PATH_DIR: controlDir } });
    await closeMasters(controlDir);
    expect(r.code, `ansible-playbook ${pb} on ${n} hosts:\n${r.stdout.slice(-2000)}\n${r.stderr.slice(-2000)}`).toBe(0);
    return r.ms;
  };
  const runbook = async (inv: string, n: number, pb: string): Promise<Timed> => {
    const r = await timedCli(['run', pb, '-i', inv, '--forks', String(n), '--output', 'json'], { env, cwd: dir });
    expect(r.code, `runbook run ${pb} on ${n} hosts:\n${r.stderr.slice(-2000)}`).toBe(0);
    return r;
  };
  for (let rep = 0; rep < RUNS; rep++) {
    for (const s of setups) {
      const got = samples.get(s.n) as Sample;
      if (noAnsible === undefined) {
        got.ansible20.push(await ansible(s.anInv, s.n, an20));
        got.ansible0.push(await ansible(s.anInv, s.n, an0));
      }
      got.runbook20.push((await runbook(s.rbInv, s.n, rb20)).ms);
      const zero = await runbook(s.rbInv, s.n, rb0);
      got.runbook0.push(zero.ms);
      got.zeroRuns.push(zero);
    }
  }

  // without Ansible its cells say so; the reason is printed once, under the table
  const na = noAnsible === undefined ? undefined : 'not measured';
  const rows = SIZES.map((n) => {
    const s = samples.get(n) as Sample;
    const [a20, r20, r0] = [median(s.ansible20), median(s.runbook20), median(s.runbook0)];
    const ratio = a20 / r20;
    const zeroGoal = ZERO_GOAL_MS[n];
    return [
      String(n),
      na ?? secs(a20),
      secs(r20),
      na ? '—' : `${ratio.toFixed(1)}×`,
      `≥ ${RATIO_GOAL}×`,
      na ? 'n/a' : mark(ratio >= RATIO_GOAL),
      secs(r0),
      zeroGoal === undefined ? 'none set' : `≤ ${secs(zeroGoal)}`,
      mark(zeroGoal === undefined ? undefined : r0 <= zeroGoal),
    ];
  });
  const version = noAnsible === undefined ? (spawnSync('ansible-playbook', ['--version'], { encoding: 'utf8' }).stdout.split('\n')[0] ?? '') : '';
  printTable(
    `Engine: ${TASKS} trivial tasks, sshd-only lab nodes, median of ${RUNS} interleaved runs`,
    ['N hosts', 'ansible-playbook', 'runbook', 'ratio', 'goal', '', 'runbook, 0 steps', 'goal', ''],
    rows,
    [
      noAnsible === undefined ? `ansible: ${version}; pipelining on, forks = N, gather_facts false, host keys checked against the lab's known_hosts (StrictHostKeyChecking yes), its default ssh_args (ControlMaster auto, ControlPersist 60s) with a fresh ControlPath dir per run.` : `ansible-playbook not measured: ${noAnsible}`,
      `runbook: \`runbook run --forks N --output json\`, same hosts, same known_hosts; "0 steps" = one step false on every host (connect, host keys, lock, journal, unlock). Wall times of the whole process.`,
    ],
  );

  const marginal = (t20: number[], t0: number[], n: number) => (median(t20) - median(t0)) / (TASKS * n);
  const mrows = SIZES.flatMap((n) => {
    const s = samples.get(n) as Sample;
    const rb = marginal(s.runbook20, s.runbook0, n);
    return [
      [String(n), 'ansible-playbook', na ?? secs(median(s.ansible20)), na ?? secs(median(s.ansible0)), na ?? msec(marginal(s.ansible20, s.ansible0, n)), 'reference', '—'],
      [String(n), 'runbook', secs(median(s.runbook20)), secs(median(s.runbook0)), msec(rb), `≤ ${MARGINAL_GOAL_MS} ms`, mark(rb <= MARGINAL_GOAL_MS)],
    ];
  });
  printTable(`Marginal cost per task and host: (T${TASKS} − T0) / (${TASKS}·N), medians`, ['N hosts', 'tool', `T${TASKS}`, 'T0', 'per task and host', 'goal', ''], mrows, [
    "T0: runbook's 0-step run; Ansible's own empty play (which opens no connection, so its connects count as marginal).",
  ]);

  // where the 0-step run's time goes, from when each JSON event line reached us (ms since spawn)
  const at = (r: Timed, test: (e: { type?: string; message?: string }) => boolean): number => {
    const hit = r.lines.find((l) => {
      try {
        return test(JSON.parse(l.text) as { type?: string; message?: string });
      } catch {
        return false;
      }
    });
    return hit?.ms ?? Number.NaN;
  };
  const arows = SIZES.map((n) => {
    const zs = (samples.get(n) as Sample).zeroRuns;
    const phase = (f: (r: Timed) => number) => msec(median(zs.map(f)));
    const start = (r: Timed) => at(r, (e) => e.type === 'run.start');
    const locked = (r: Timed) => at(r, (e) => e.type === 'log' && (e.message ?? '').startsWith('cluster lock taken'));
    const end = (r: Timed) => at(r, (e) => e.type === 'run.end');
    return [String(n), phase(start), phase((r) => locked(r) - start(r)), phase((r) => end(r) - locked(r)), phase((r) => r.ms - end(r)), phase((r) => r.ms)];
  });
  printTable('Anatomy of runbook\'s 0-step run (medians; ms since spawn, from the arrival of its JSON events)', ['N hosts', 'start-up to run.start', 'connect + host keys + sudo check + lock', 'step + unlock + close', 'run.end to exit', 'total'], arows, [
    'start-up to run.start: Node, imports, reading and checking playbook and inventory, compiling the plan, the run dir and program.json.',
  ]);
}, 3_600_000);

it('anatomy of the fixed cost, in process: connect, lock, unlock, close, one journal record', async () => {
  const rows: string[][] = [];
  for (const n of SIZES) {
    const loaded = loadInventory(writeLabInventory(firstNodes(lab, n), join(dir, `inventory-anatomy-${n}.yml`)), { sshEnv: defaultSshEnv(process.env) });
    if (!loaded.ok) throw new Error(JSON.stringify(loaded.problems));
    const hosts: Host[] = loaded.value.hosts;
    const t = { connect: [] as number[], exec: [] as number[], lock: [] as number[], unlock: [] as number[], close: [] as number[] };
    for (let rep = 0; rep < RUNS; rep++) {
      const transport = new SshTransport({ acceptNewHostKeys: false, connectTimeoutMs: 10_000, keepaliveIntervalMs: 5_000 });
      const time = async (into: number[], f: () => Promise<unknown>) => {
        const s = performance.now();
        await f();
        into.push(performance.now() - s);
      };
      await time(t.connect, async () => {
        const r = await Promise.all(hosts.map((h) => transport.connect(h)));
        expect(r.every((x) => x.ok)).toBe(true);
      });
      await time(t.exec, () => Promise.all(hosts.map((h) => transport.exec(h, sh`true`))));
      const owner = { runId: `bench-${rep}`, user: 'bench', machine: hostname(), pid: process.pid, playbook: 'bench', since: new Date().toISOString() };
      await time(t.lock, async () => expect((await acquireLock(hosts, owner, transport, owner.machine)).ok).toBe(true));
      await time(t.unlock, () => releaseLock(hosts, owner.runId, transport));
      await time(t.close, () => transport.close());
    }
    rows.push([String(n), msec(median(t.connect)), msec(median(t.exec)), msec(median(t.lock)), msec(median(t.unlock)), msec(median(t.close))]);
  }
  // a journal record that is fsynced (command.start/end, run.end), in the runs dir the runs above used
  const journal = new Journal(join(dir, 'runs', 'bench-journal'));
  const records = 50;
  const s = performance.now();
  for (let i = 0; i < records; i++) journal.write({ type: 'run.end', status: 'ok', exitCode: 0, failedStep: undefined, message: 'bench', durationMs: i });
  const perRecord = (performance.now() - s) / records;
  journal.close();
  printTable(
    'Anatomy of the fixed cost, in process (SshTransport, acquireLock, releaseLock; medians)',
    ['N hosts', 'connect all (parallel)', 'one `true` on all', 'lock (host by host)', 'unlock (parallel)', 'close'],
    rows,
    [`one fsynced journal record: ${msec(perRecord)} (mean of ${records}); a run journals command.start and command.end with fsync for every command on every host, so ${TASKS} tasks on N hosts fsync ${2 * TASKS}·N times.`],
  );
}, 600_000);
