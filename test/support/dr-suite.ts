import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Lab, type LabUser, startLab } from '../lab/lab.js';
import { startS3 } from '../lab/s3.js';
import { clusterView, expectedKeys, readKeys, writeCensus } from './census.js';
import { pollUntil, runCli, waitForFile } from './cli.js';
import { labEtcdBlock, writeLabInventory, writeLabSshConfig } from './lab-inventory.js';
import { CLI, ROOT } from './paths.js';
import { s3Helpers } from './s3-client.js';

type S3 = Awaited<ReturnType<typeof startS3>>;

/**
 * Start time (clock ticks since boot) of a lab pod or unit's process: unchanged means never restarted.
 * Throws when it is not running (no PID file, no such process), so two "not running" never compare equal.
 */
async function procStart(lab: Lab, node: number, style: 'static-pod' | 'systemd', name: string): Promise<string> {
  const pidFile = style === 'static-pod' ? `/run/pods/${name}.pid` : `/run/lab-systemd/${name}.service.pid`;
  const r = await lab.exec(node, `set -o pipefail; pid=$(cat ${pidFile}) && cut -d' ' -f22 /proc/$pid/stat`);
  const start = r.stdout.trim();
  if (r.code !== 0 || !/^\d+$/.test(start)) throw new Error(`${name} on node ${node + 1} is not running (${pidFile}): exit ${r.code} ${r.stderr.trim()}`);
  return start;
}

const etcdStartTime = (lab: Lab, node: number, style: 'static-pod' | 'systemd'): Promise<string> => procStart(lab, node, style, 'etcd');

/** How often the node's etcd was restarted after it exited (the kubelet stand-in's pod status, or the unit's NRestarts). */
async function etcdRestarts(lab: Lab, node: number, style: 'static-pod' | 'systemd'): Promise<number> {
  const r = await lab.exec(node, style === 'static-pod' ? 'cat /run/pods/etcd.status' : 'systemctl show -p NRestarts etcd');
  const m = /(?:restarts|NRestarts)=(\d+)/.exec(r.stdout);
  return m ? Number(m[1]) : -1;
}

/** `endpoint health` of one member alone (3 s): false while it cannot serve. */
async function memberHealthy(lab: Lab, node: number): Promise<boolean> {
  const h = await lab.etcdctl(0, ['endpoint', 'health', '--command-timeout=3s'], { endpoints: [lab.etcdEndpoints[node]!] });
  return h.code === 0;
}

export interface DrSuiteOptions {
  full: boolean;
  /** etcd of the lab ('3.4' default, '3.5'). */
  version?: '3.4' | '3.5';
  /** Nodes whose login PATH has no etcd tools: the playbooks get them from the lab's etcd cache as the tools dir. */
  noTools?: number[];
  /** Login users of the lab (startLab users): the inventory then logs in as the first, with become (sudo -n). */
  users?: LabUser[];
  /** Masters behind a bastion (startLab bastion), named in the inventory only by their ssh alias (writeLabSshConfig). */
  bastion?: boolean;
  /**
   * 'custom': the lab lays etcd out as by hand (member names not the hostnames, data dir /var/lib/etcd-data,
   * systemd certificates under /etc/kubernetes/ssl, HTTPS control plane) and the inventory has only the
   * addresses and the ssh user and key: every other setting is read from the hosts (startLab layout).
   */
  layout?: 'kubeadm' | 'custom';
  /** More tests inside the suite's describe, after backup and full-restore, with the suite's lab. */
  more?: (ctx: () => DrContext) => void;
}

export interface DrContext {
  lab: Lab;
  s3: S3;
  inv: string;
  env: Record<string, string>;
  s3vars: () => string[];
}

/** What a suite file may look at after (or between) the suite's own tests. */
export interface DrSuiteContext {
  lab(): Lab;
  inventory(): string;
  env(): Record<string, string>;
  s3vars(): string[];
  /** The S3 key of the snapshot the suite's backup test wrote ('' before it ran). */
  backupKey(): string;
}

export function drSuite(style: 'static-pod' | 'systemd', opts: DrSuiteOptions): DrSuiteContext {
  const version = opts.version ?? '3.4';
  let lab: Lab;
  let s3: S3;
  let inv: string;
  let env: Record<string, string>;
  let s3c: ReturnType<typeof s3Helpers>;
  const N = 1000;
  // every request the lab S3 saw, one JSON line each: how often a restore read the snapshot
  const s3LogDir = mkdtempSync(join(tmpdir(), 'runbook-s3-requests-'));
  const s3Log = join(s3LogDir, 'requests.jsonl');
  const requests = (): { method: string; url: string; range?: string }[] =>
    existsSync(s3Log)
      ? readFileSync(s3Log, 'utf8')
          .split('\n')
          .filter(Boolean)
          .map((l) => JSON.parse(l) as { method: string; url: string; range?: string })
      : [];
  /** GETs of the object itself (not its .json record), whole or ranged, among `reqs`. */
  const objectGets = (reqs: { method: string; url: string; range?: string }[], key: string) => reqs.filter((q) => q.method === 'GET' && q.url.split('?')[0] === `/${s3.bucket}/${key}`);

  const run = (args: string[]) => runCli(args, { env });
  const s3vars = () => ['-e', `s3_endpoint=${s3.endpoint}`, '-e', `s3_bucket=${s3.bucket}`, ...toolsVars()];
  // masters without etcd tools get them from the jump host: the lab's etcd cache is laid out as an operator's tools dir
  const toolsVars = () => (opts.noTools?.length ? ['-e', `etcd_tools_dir=${lab.etcdCache}`] : []);

  async function healthy(): Promise<void> {
    // the playbook already waited for health; this is the test's own, independent look
    await lab.waitHealthy({ timeoutMs: 30_000 });
    const v = await clusterView(lab);
    expect(v).toEqual({ members: 3, started: 3, leaders: [expect.any(String)], clusterIds: [expect.any(String)] });
  }

  async function apiserversReady(): Promise<void> {
    for (const [i, n] of lab.nodes.entries()) {
      const r = await lab.exec(i, `curl -fsSk --max-time 3 ${lab.apiserverUrl(n)}/readyz`);
      expect(r.code, `apiserver on ${n.name}: ${r.stderr}`).toBe(0);
    }
  }

  let backupKey = '';

  /**
   * Start a full restore and SIGKILL the runbook process right after the first journal record that
   * contains `match`: the process holds itself there (test hook), so the crash point is exact every time.
   */
  async function killAfter(runId: string, match: string): Promise<void> {
    const journal = join(env['RUNBOOK_RUNS_DIR']!, runId, 'journal.jsonl');
    const hold = mkdtempSync(join(lab.stateDir, 'hold-'));
    const child = spawn(process.execPath, [CLI, 'run', 'playbooks/full-restore.yml', '-i', inv, '--yes', '--run-id', runId, '-e', `snapshot_key=${backupKey}`, ...s3vars()], {
      cwd: ROOT,
      env: { ...process.env, ...env, RUNBOOK_TEST_HOLD_AFTER_MATCH: match, RUNBOOK_TEST_HOLD_DIR: hold },
      stdio: 'ignore',
    });
    const closed = new Promise((r) => child.on('close', r));
    await Promise.race([waitForFile(join(hold, 'held')), closed.then(() => Promise.reject(new Error(`the run ended before ${match}`)))]);
    child.kill('SIGKILL');
    await closed;
    const text = readFileSync(journal, 'utf8').trim();
    expect(text.split('\n').at(-1)).toContain(match);
    expect(text).not.toContain('"type":"run.end"');
  }

  beforeAll(async () => {
    [lab, s3] = await Promise.all([startLab({ nodes: 3, etcd: style, layout: opts.layout ?? 'kubeadm', etcdVersion: version, hostTools: [0, 1, 2].map((i) => !opts.noTools?.includes(i)), users: opts.users ?? [], bastion: opts.bastion === true }), startS3({ headerLog: s3Log })]);
    inv = writeLabInventory(lab, join(lab.stateDir, 'inventory.yml'), {
      cluster: `lab-${style}`,
      ...(opts.layout === 'custom' ? {} : { hostExtra: (i: number) => labEtcdBlock(lab, i, [`style: ${style}`]) }),
      ...(opts.bastion ? { sshConfig: writeLabSshConfig(lab) } : {}),
    });
    env = { RUNBOOK_RUNS_DIR: join(lab.stateDir, 'runs'), AWS_ACCESS_KEY_ID: s3.accessKeyId, AWS_SECRET_ACCESS_KEY: s3.secretAccessKey, AWS_REGION: s3.region };
    s3c = s3Helpers(s3);
    await writeCensus(lab, N);
  }, 120_000);

  afterAll(async () => {
    await Promise.allSettled([lab?.stop(), s3?.stop()]);
    rmSync(s3LogDir, { recursive: true, force: true });
  });

  describe(`disaster recovery playbooks, ${style}, etcd ${version}${opts.noTools?.length ? `, no etcd tools on ${opts.noTools.map((i) => `master-${i + 1}`).join(', ')}` : ''}${opts.users?.[0] ? `, logged in as ${opts.users[0].name}` : ''}${opts.bastion ? ', masters behind a bastion' : ''}`, () => {
    it('backup.yml streams a verified snapshot and /etc/kubernetes to S3', async () => {
      const runId = `backup-${Date.now()}`;
      const r = await run(['run', 'playbooks/backup.yml', '-i', inv, '--run-id', runId, ...s3vars()]);
      expect(r.code, r.stdout + r.stderr).toBe(0);
      backupKey = `etcd/lab-${style}/${runId}/snapshot.db`;
      const prov = JSON.parse(await s3c.getText(`${backupKey}.json`)) as Record<string, string | number | boolean>;
      expect(prov).toMatchObject({ cluster: `lab-${style}`, member: lab.memberNames[0], verified: true, kind: 'etcd-snapshot' });
      expect(String(prov['sha256'])).toMatch(/^[0-9a-f]{64}$/);
      expect(Number(prov['revision'])).toBeGreaterThan(0);
      // metadata keys are stored as S3 header names: etcd_version → etcd-version
      expect(String(prov['etcd-version'])).toBe(lab.etcdVersions[0]);
      if (opts.noTools?.includes(0)) {
        // the master without tools ran the snapshot with the copies from the tools dir, checked by sha256
        const bin = await lab.exec(0, 'ls -l /var/lib/etcd-runbook/bin/ && sha256sum /var/lib/etcd-runbook/bin/etcdctl');
        const sums = readFileSync(join(lab.etcdCache, lab.etcdVersions[0] as string, 'SHA256SUMS'), 'utf8');
        expect(sums).toContain(bin.stdout.split('\n').at(-2)?.split(' ')[0] ?? 'none');
      }
      expect(await s3c.sha256(backupKey)).toBe(prov['sha256']);
      expect(await s3c.exists(`etcd/lab-${style}/${runId}/etc-kubernetes.tar.gz`)).toBe(true);
      // nothing was left on the member's disk
      expect((await lab.exec(0, `test -e /var/lib/etcd-runbook/backups/${runId}`)).code).not.toBe(0);
    }, 120_000);

    /** Per member: how often its etcd began handing leadership on (etcd 3.4's and 3.5's words for it). */
    const leadershipTransfers = async (): Promise<number[]> => {
      const log = style === 'systemd' ? '/var/log/etcd.log' : '/var/log/pods/etcd.log';
      const rs = await Promise.all([0, 1, 2].map((i) => lab.exec(i, `grep -cE 'starts leadership transfer|leadership transfer starting' ${log} || true`)));
      return rs.map((x) => Number(x.stdout.trim() || '0'));
    };

    it('full-restore.yml brings back exactly the backed-up keys after a wipe', async () => {
      expect(backupKey).not.toBe('');
      const del = await lab.etcdctl(0, ['del', '/census/', '--prefix']);
      expect(del.code).toBe(0);
      await lab.etcdctl(0, ['put', '/after-backup', 'must-vanish']);
      expect(await readKeys(lab, 0)).toEqual([]);
      const schedulers = await Promise.all([0, 1, 2].map((i) => procStart(lab, i, style, 'kube-scheduler')));
      const prov = JSON.parse(await s3c.getText(`${backupKey}.json`)) as Record<string, string>;
      const runId = `restore-${Date.now()}`;
      const seen = requests().length;
      const transfersBefore = await leadershipTransfers();
      const r = await run(['run', 'playbooks/full-restore.yml', '-i', inv, '--yes', '--run-id', runId, '-e', `snapshot_key=${backupKey}`, ...s3vars()]);
      expect(r.code, r.stdout + r.stderr).toBe(0);
      // the leader was stopped last (leader_last): no member was handed leadership on its way down
      expect(await leadershipTransfers()).toEqual(transfersBefore);
      // the object was read from S3 once for the three members, verification included (hashed as it streamed)
      expect(objectGets(requests().slice(seen), backupKey)).toEqual([{ method: 'GET', url: expect.any(String) }]);
      expect(r.stdout).toMatch(/master-1 download snapshot\.db \(one fetch for master-1, master-2, master-3\): 100% .*, done/);
      for (const i of [0, 1, 2]) expect(await readKeys(lab, i, '/census/', 's')).toEqual(expectedKeys(N));
      // every member's revision: past the snapshot's plus the bump on 3.5, the snapshot's own on 3.4 (no bump there)
      const st = await lab.etcdctl(0, ['endpoint', 'status', '-w', 'json'], { endpoints: 'all' });
      const revs = (JSON.parse(st.stdout) as { Status: { header: { revision: number } } }[]).map((x) => Number(x.Status.header.revision));
      const bump = version === '3.4' ? 0 : 1_000_000_000;
      console.log(`etcd ${version} ${style}: snapshot revision ${prov['revision']}, bump ${bump}, member revisions after restore ${revs.join(', ')}`);
      for (const rev of revs) expect(rev).toBeGreaterThanOrEqual(Number(prov['revision']) + bump);
      if (bump > 0) for (const rev of revs) expect(rev).toBeLessThan(Number(prov['revision']) + bump + 1000);
      // kube-scheduler (and controller-manager) were restarted after the restore
      const after = await Promise.all([0, 1, 2].map((i) => procStart(lab, i, style, 'kube-scheduler')));
      for (const i of [0, 1, 2]) expect(after[i]).not.toBe(schedulers[i]);
      expect(await readKeys(lab, 0, '/after-backup')).toEqual([]);
      await healthy();
      await apiserversReady();
      // the old data dirs were kept
      for (const i of [0, 1, 2]) expect((await lab.exec(i, `ls -d ${lab.dataDir}/member.before-*`)).code).toBe(0);
    }, 240_000);

    opts.more?.(() => ({ lab, s3, inv, env, s3vars }));
    if (!opts.full) return;

    it('a full-restore that fails after the destructive point unwinds to the old cluster and its keys', async () => {
      await lab.etcdctl(0, ['put', '/pre-run', 'kept']);
      const before = await readKeys(lab, 0, '/');
      const runId = `failing-restore-${Date.now()}`;
      // block the third member's "move data dir aside": it fails after apiservers and etcd were stopped
      await lab.exec(2, `mkdir -p ${lab.dataDir}/member.before-${runId}`);
      const r = await run(['run', 'playbooks/full-restore.yml', '-i', inv, '--yes', '--run-id', runId, '-e', `snapshot_key=${backupKey}`, ...s3vars()]);
      expect(r.code, r.stdout + r.stderr).toBe(1);
      expect(r.stdout).toMatch(/rolled back to 'snapshot-verified'/);
      expect(r.stdout).toMatch(/undone stop etcd everywhere on master-1/);
      await lab.exec(2, `rmdir ${lab.dataDir}/member.before-${runId}`);
      await healthy();
      expect(await readKeys(lab, 0, '/')).toEqual(before);
      await apiserversReady();
    }, 240_000);

    it('the runbook process SIGKILLed mid-restore: runbook resume completes it from the journal', async () => {
      await lab.etcdctl(0, ['del', '/census/', '--prefix']);
      await lab.etcdctl(0, ['put', '/written-after-backup', 'x']);
      const runId = `killed-resume-${Date.now()}`;
      // mid-step: the staged restore has finished on one member and is in flight on the others
      await killAfter(runId, '"type":"command.end","step":"restore the snapshot beside every member\'s data","host":"master-2","phase":"do","index":1');
      const r = await run(['resume', runId, '--yes']);
      expect(r.code, r.stdout + r.stderr).toBe(0);
      expect(r.stdout).toMatch(/OK all steps completed/);
      await healthy();
      for (const i of [0, 1, 2]) expect(await readKeys(lab, i, '/census/', 's')).toEqual(expectedKeys(N));
      expect(await readKeys(lab, 0, '/written-after-backup')).toEqual([]);
      await apiserversReady();
      const shown = await run(['runs', 'show', runId]);
      expect(shown.stdout).toMatch(/resumed/);
    }, 240_000);

    it('the runbook process SIGKILLed mid-restore: runbook rollback returns to the pre-run cluster with its keys', async () => {
      await lab.etcdctl(0, ['put', '/pre-kill', 'kept']);
      const before = await readKeys(lab, 0, '/');
      const runId = `killed-rollback-${Date.now()}`;
      await killAfter(runId, '"type":"command.start","step":"start etcd everywhere"');
      const refused = await run(['run', 'playbooks/demo-files.yml', '-i', inv]);
      expect(refused.stdout).toMatch(/STALE/);
      const r = await run(['rollback', runId, '--yes']);
      expect(r.code, r.stdout + r.stderr).toBe(0);
      expect(r.stdout).toMatch(/back at rollback point 'snapshot-verified'/);
      await healthy();
      expect(await readKeys(lab, 0, '/')).toEqual(before);
      await apiserversReady();
    }, 240_000);

    it('reinitialize-member.yml rebuilds a wiped member; the others are never restarted', async () => {
      const others = [0, 2];
      const startTimes = await Promise.all(others.map((i) => etcdStartTime(lab, i, style)));
      // wipe member 2's data dir under a running kubelet: it comes back empty and cannot rejoin by itself
      const wipe =
        style === 'static-pod'
          ? `mv /etc/kubernetes/manifests/etcd.yaml /root/etcd.yaml && for i in $(seq 1 50); do [ -e /run/pods/etcd.pid ] || break; sleep 0.1; done; rm -rf ${lab.dataDir}/member && mv /root/etcd.yaml /etc/kubernetes/manifests/etcd.yaml`
          : // --no-block: an empty member never becomes ready (it cannot join by itself), so a blocking start would
            // fail after the unit's TimeoutStartSec, as with systemd
            `systemctl stop etcd && rm -rf ${lab.dataDir}/member && systemctl start --no-block etcd`;
      // a file of the test's own in the member dir: gone after the wipe (an inode number is not: a new db may reuse it)
      const mark = `${lab.dataDir}/member/.test-before-wipe`;
      expect((await lab.exec(1, `test -s ${lab.dataDir}/member/snap/db && : > ${mark}`)).code).toBe(0);
      expect((await lab.exec(1, wipe)).code).toBe(0);
      // broken before the run: its old data is gone, and the empty member it starts with is not the one the
      // others know: it either exits and is started again ("already bootstrapped"), or listens but cannot serve
      const { address } = lab.nodes[1]!;
      await pollUntil(
        'the wiped member to be restarted or to listen',
        // (a pod's restarts count from its new start; a unit's NRestarts from its manual start)
        async () => (await etcdRestarts(lab, 1, style)) > 0 || (await lab.exec(1, `exec 3<>/dev/tcp/${address}/2379`)).code === 0,
        60_000,
        250,
      );
      expect(await memberHealthy(lab, 1)).toBe(false);
      expect((await lab.exec(1, `test -e ${mark}`)).code, 'the wipe removed the member dir').not.toBe(0);
      const runId = `reinit-${Date.now()}`;
      const r = await run(['run', 'playbooks/reinitialize-member.yml', '-i', inv, '--run-id', runId, '-e', 'member=master-2', ...toolsVars()]);
      expect(r.code, r.stdout + r.stderr).toBe(0);
      // 3.5+: the journal shows the member added as a learner, then promoted; 3.4: added as a voter
      const journal = readFileSync(join(env['RUNBOOK_RUNS_DIR']!, runId, 'journal.jsonl'), 'utf8');
      const started = journal.split('\n').filter((l) => l.includes('"type":"command.start"') && l.includes('"host":"master-2"'));
      const learnerAdd = started.findIndex((l) => l.includes(`member add ${lab.memberNames[1]} --learner`));
      const promote = started.findIndex((l) => l.includes('member promote'));
      if (version === '3.4') expect([learnerAdd, promote]).toEqual([-1, -1]);
      else {
        expect(learnerAdd).toBeGreaterThanOrEqual(0);
        expect(promote).toBeGreaterThan(learnerAdd);
        console.log(`etcd ${version} ${style} reinitialize journal (master-2): ${started.length} commands, learner add at #${learnerAdd + 1}, promote at #${promote + 1}`);
        const list = await lab.etcdctl(0, ['member', 'list', '-w', 'json'], { endpoints: 'all' });
        const members = (JSON.parse(list.stdout) as { members: { name: string; isLearner?: boolean }[] }).members;
        expect(members.find((m) => m.name === lab.memberNames[1])?.isLearner ?? false).toBe(false);
      }
      expect(await readKeys(lab, 1, '/census/', 's')).toEqual(expectedKeys(N));
      await healthy();
      expect(await Promise.all(others.map((i) => etcdStartTime(lab, i, style)))).toEqual(startTimes);
    }, 240_000);

    it('force-new-cluster.yml with two members stopped: 3 healthy members again, all keys, no --force-new-cluster left', async () => {
      for (const i of [1, 2]) {
        const stop = await lab.exec(i, style === 'static-pod' ? 'mkdir -p /var/lib/etcd-runbook/stopped && mv /etc/kubernetes/manifests/etcd.yaml /var/lib/etcd-runbook/stopped/etcd.yaml' : 'systemctl stop etcd');
        expect(stop.code).toBe(0);
      }
      const r = await run(['run', 'playbooks/force-new-cluster.yml', '-i', inv, '-e', 'survivor=master-1', ...toolsVars()]);
      expect(r.code, r.stdout + r.stderr).toBe(0);
      await healthy();
      for (const i of [0, 1, 2]) {
        expect(await readKeys(lab, i, '/census/', 's')).toEqual(expectedKeys(N));
        const m = await lab.exec(i, style === 'static-pod' ? 'cat /etc/kubernetes/manifests/etcd.yaml' : 'cat /etc/systemd/system/etcd.service');
        expect(m.code).toBe(0);
        expect(m.stdout).not.toMatch(/force-new-cluster/);
      }
    }, 300_000);

    it('force-new-cluster.yml mode=rebuild-db rebuilds the survivor from its own member/snap/db (crash-loop recovery)', async () => {
      // put the survivor into a crash loop: its WAL garbled while it was stopped (member/snap/db intact), so
      // every start fails and the kubelet (or Restart=always) keeps starting it again
      const wal = `${lab.dataDir}/member/wal`;
      // (and a file of the test's own in the member dir, to find that very dir again after the run: etcd 3.5
      // rewrites a damaged WAL's tail as it fails, so the WAL's own bytes do not identify it)
      const tag = `.test-crash-loop-${Date.now()}`;
      const garble = `f=$(ls ${wal}/*.wal | tail -1) && head -c 4096 /dev/urandom | dd of="$f" bs=4096 seek=0 conv=notrunc status=none && : > ${lab.dataDir}/member/${tag}`;
      const broken =
        style === 'static-pod'
          ? `mv /etc/kubernetes/manifests/etcd.yaml /root/etcd.yaml && for i in $(seq 1 100); do [ -e /run/pods/etcd.pid ] || break; sleep 0.1; done && ${garble} && mv /root/etcd.yaml /etc/kubernetes/manifests/etcd.yaml`
          : `systemctl stop etcd && ${garble} && systemctl start --no-block etcd`;
      const g = await lab.exec(2, broken);
      expect(g.code, g.stderr).toBe(0);
      // (a pod's restarts count from its new start; a unit's NRestarts from its manual start)
      await pollUntil('the survivor to crash and be restarted', async () => (await etcdRestarts(lab, 2, style)) > 0, 60_000, 250);
      expect(await memberHealthy(lab, 2)).toBe(false);
      const runId = `rebuild-${Date.now()}`;
      const r = await run(['run', 'playbooks/force-new-cluster.yml', '-i', inv, '--run-id', runId, '-e', 'survivor=master-3', '-e', 'mode=rebuild-db', ...toolsVars()]);
      expect(r.code, r.stdout + r.stderr).toBe(0);
      expect(r.stdout).toMatch(/rebuild the data dir from member\/snap\/db on master-3/);
      await healthy();
      for (const i of [0, 1, 2]) expect(await readKeys(lab, i, '/census/', 's')).toEqual(expectedKeys(N));
      // the survivor's crash-looping data dir was kept, as this run's member.before-<run id>, WAL and all
      const kept = await lab.exec(2, `ls -A ${lab.dataDir}/member.before-${runId}`);
      expect(kept.code, kept.stderr).toBe(0);
      expect(kept.stdout.trim().split('\n').sort()).toEqual([tag, 'snap', 'wal'].sort());
      expect((await lab.exec(2, `test -e ${lab.dataDir}/member/${tag}`)).code, 'the rebuilt member dir is a new one').not.toBe(0);
    }, 300_000);
  });
  return { lab: () => lab, inventory: () => inv, env: () => env, s3vars, backupKey: () => backupKey };
}
