// Fault matrix on a real etcd lab: every fault ends at success or at a rollback point, with the
// keys counted before and after. Each test prints one row for the closing note.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Lab, startLab } from '../lab/lab.js';
import { startS3 } from '../lab/s3.js';
import { type ClusterView, clusterView, readKeys, writeCensus } from './census.js';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { type CliResult, holdEnv, pollUntil, runCli, spawnCli, waitForFile } from './cli.js';
import { labEtcdBlock, writeLabInventory } from './lab-inventory.js';
import { s3Helpers } from './s3-client.js';

/**
 * The fault matrix on a lab of this etcd version, etcd as static pods (kubelet stand-in) or as systemd units
 * (the lab's systemctl: Type=notify, Restart=always, TimeoutStartSec).
 */
export interface FaultMatrixOptions {
  /** The kubelet stand-in's crash back-off (static pods): default the lab's short one; 'real' is the kubelet's 10 s doubling to 300 s. */
  kubeletBackoff?: 'real';
  /** Only these faults (their numbers: '1', '4b', '8', ...); default all. */
  only?: string[];
}

export function faultMatrix(version: '3.4' | '3.5', style: 'static-pod' | 'systemd' = 'static-pod', opts: FaultMatrixOptions = {}): void {
  const fault = (id: string, name: string, fn: () => Promise<void>, timeoutMs: number): void => {
    if (!opts.only || opts.only.includes(id)) it(`${id}. ${name}`, fn, timeoutMs);
  };
  // every fault but 8 restores (or refuses to restore) the backup taken before them
  const needsBackup = !opts.only || opts.only.some((id) => id !== '8');
  const systemd = style === 'systemd';
  const unitFile = '/etc/systemd/system/etcd.service';
  /** The last line of a wrapper script that runs etcd: a pod's command is `etcd ARGS`, a unit's ExecStart the full path. */
  const execEtcd = systemd ? 'exec "$@"' : 'exec etcd "$@"';
  /** sed that puts WRAPPER before etcd in FILE (a manifest's command, or a unit's ExecStart). */
  const wrapSed = (wrapper: string) => (systemd ? `'s#^ExecStart=/#ExecStart=${wrapper} /#'` : `'s#^    - etcd$#    - ${wrapper}#'`);
  const unwrapSed = (wrapper: string) => (systemd ? `'s#^ExecStart=${wrapper} /#ExecStart=/#'` : `'s#^    - ${wrapper}$#    - etcd#'`);
  let lab: Lab;
  let s3: Awaited<ReturnType<typeof startS3>>;
  let s3c: ReturnType<typeof s3Helpers>;
  let inv: string;
  let env: Record<string, string>;
  let backupKey = '';

  const run = (args: string[]) => runCli(args, { env });
  const s3vars = () => ['-e', `s3_endpoint=${s3.endpoint}`, '-e', `s3_bucket=${s3.bucket}`];
  const rows: string[] = [];

  function row(fault: string, outcome: string, before: number, after: number, ms: number): void {
    rows.push(`| ${fault} | ${outcome} | ${before} | ${after} | ${(ms / 1000).toFixed(1)} s |`);
  }

  async function allKeys(): Promise<string[]> {
    return readKeys(lab, 0, '/');
  }

  /**
   * The cluster is healthy and every member agrees on its leader and cluster. A member restarted just
   * before (a static pod's manifest edited, an election) can leave the members' views apart for a moment
   * after lab.waitHealthy: their views are asked again until they agree, for at most 60 s, then checked.
   */
  async function healthy(): Promise<void> {
    await lab.waitHealthy({ timeoutMs: 60_000 });
    const want = { members: 3, started: 3, leaders: [expect.any(String)], clusterIds: [expect.any(String)] };
    const agreed = (v: ClusterView) => v.members === 3 && v.started === 3 && v.leaders.length === 1 && typeof v.leaders[0] === 'string' && v.clusterIds.length === 1;
    let v = await clusterView(lab).catch(() => undefined);
    for (const until = Date.now() + 60_000; !(v && agreed(v)) && Date.now() < until; ) {
      await new Promise((r) => setTimeout(r, 200));
      v = await clusterView(lab).catch(() => undefined);
    }
    expect(v).toEqual(want);
  }

  /** master-N's etcd process as "pid start-time", or undefined while none runs (the kubelet stand-in's or lab systemd's PID file). */
  async function etcdProcess(node: number): Promise<string | undefined> {
    const pidFile = systemd ? '/run/lab-systemd/etcd.service.pid' : '/run/pods/etcd.pid';
    const r = await lab.exec(node, `set -o pipefail; pid=$(cat ${pidFile}) && echo "$pid $(cut -d' ' -f22 /proc/$pid/stat)"`);
    const got = r.stdout.trim();
    return r.code === 0 && /^\d+ \d+$/.test(got) ? got : undefined;
  }

  /** A static pod's manifest was edited: wait until the kubelet stand-in has restarted that etcd (a unit file edit restarts nothing). */
  async function restartedBy(node: number, before: string | undefined, edit: () => Promise<void>): Promise<void> {
    await edit();
    if (systemd) return;
    await pollUntil(`the kubelet to restart etcd on master-${node + 1} after its manifest changed`, async () => {
      const now = await etcdProcess(node);
      return now !== undefined && now !== before;
    }, 60_000, 100);
  }

  /**
   * Start a run in the background, held before `step` (deterministically, by the engine itself): `held`
   * resolves once it waits there, `release()` lets it go on.
   */
  function startHeld(args: string[], runId: string, step: string): { held: Promise<void>; release: () => void; done: Promise<CliResult> } {
    const dir = mkdtempSync(join(lab.stateDir, 'hold-'));
    const { done } = spawnCli([...args, '--run-id', runId], { env: { ...env, ...holdEnv(step, dir) } });
    // a run that ends before it reaches the step fails the test at once, with what it printed
    const endedFirst = done.then((r) => {
      throw new Error(`the run ended (exit ${r.code}) before it reached '${step}':\n${r.stdout.slice(-4000)}\n${r.stderr.slice(-2000)}`);
    });
    return { held: Promise.race([waitForFile(join(dir, 'held')), endedFirst]), release: () => writeFileSync(join(dir, 'release'), ''), done };
  }

  beforeAll(async () => {
    [lab, s3] = await Promise.all([startLab({ nodes: 3, etcd: style, etcdVersion: version, ...(opts.kubeletBackoff ? { kubeletBackoff: opts.kubeletBackoff } : {}) }), startS3()]);
    inv = writeLabInventory(lab, join(lab.stateDir, 'inventory.yml'), {
      cluster: 'lab-faults',
      hostExtra: (i) => labEtcdBlock(lab, i, systemd ? ['style: systemd'] : []),
    });
    env = { RUNBOOK_RUNS_DIR: join(lab.stateDir, 'runs'), AWS_ACCESS_KEY_ID: s3.accessKeyId, AWS_SECRET_ACCESS_KEY: s3.secretAccessKey, AWS_REGION: s3.region };
    s3c = s3Helpers(s3);
    await writeCensus(lab, 1000);
    if (!needsBackup) return;
    const runId = `faults-backup-${Date.now()}`;
    const b = await run(['run', 'playbooks/backup.yml', '-i', inv, '--run-id', runId, ...s3vars()]);
    if (b.code !== 0) throw new Error(`backup failed: ${b.stdout}${b.stderr}`);
    backupKey = `etcd/lab-faults/${runId}/snapshot.db`;
  }, 180_000);

  afterAll(async () => {
    if (rows.length) console.log(`\n[fault matrix, etcd ${version}, ${style}${opts.kubeletBackoff ? `, ${opts.kubeletBackoff} kubelet back-off` : ''}]\n| fault | outcome | keys before | keys after | time |\n|---|---|---|---|---|\n${rows.join('\n')}\n`);
    await Promise.allSettled([lab?.stop(), s3?.stop()]);
  });

  describe(`fault matrix, etcd ${version}${systemd ? ', systemd units' : ''}${opts.kubeletBackoff ? `, ${opts.kubeletBackoff} kubelet back-off` : ''}`, () => {
    fault('1', 'etcd cannot start on one member after the restore → full-restore unwinds to the old cluster', async () => {
      await lab.etcdctl(0, ['put', '/pre-run-1', 'kept']);
      const before = await allKeys();
      // master-3's etcd is started through a wrapper that refuses to run while a restore's
      // member.before-* is there: the restored member never starts, the old one does again
      // (systemd: the unit file is edited; the restore's start does daemon-reload)
      const target = systemd ? unitFile : '/etc/kubernetes/manifests/etcd.yaml';
      // the edit restarts master-3's static pod: the run starts only once that restart is done
      await restartedBy(2, await etcdProcess(2), async () => {
        const wrap = await lab.exec(
          2,
          `rm -f /var/lib/etcd-fault-fired && printf '%s\\n' '#!/bin/sh' 'for d in /var/lib/etcd/member.before-*; do [ -e "$d" ] && { echo "injected fault: etcd refuses to start" >&2; echo "$d" >> /var/lib/etcd-fault-fired; exit 1; }; done' '${execEtcd}' > /etc/etcd-fault-wrapper && chmod +x /etc/etcd-fault-wrapper && sed -i ${wrapSed('/etc/etcd-fault-wrapper')} ${target} && grep -c etcd-fault-wrapper ${target}`,
        );
        expect(wrap.stdout.trim()).toBe('1');
      });
      try {
        await healthy();
        const runId = `start-fails-${Date.now()}`;
        const t0 = Date.now();
        const r = await run(['run', 'playbooks/full-restore.yml', '-i', inv, '--yes', '--run-id', runId, '-e', `snapshot_key=${backupKey}`, '-e', 'health_timeout=8', ...s3vars()]);
        expect(r.code, r.stdout + r.stderr).toBe(1);
        expect(r.stdout).toMatch(/step 'cluster is healthy' failed/);
        expect(r.stdout).toMatch(/rolled back to 'snapshot-verified'/);
        // the injected fault is what failed the run: master-3's restored etcd was refused (by this run's
        // member.before-<run id>), not merely slow to become healthy on a busy machine
        const fired = await lab.exec(2, 'cat /var/lib/etcd-fault-fired');
        expect(fired.code, 'the fault never fired').toBe(0);
        expect(fired.stdout).toContain(`/var/lib/etcd/member.before-${runId}`);
        const journal = readFileSync(join(env['RUNBOOK_RUNS_DIR']!, runId, 'journal.jsonl'), 'utf8');
        expect(journal).toMatch(/"type":"step.end","step":"start etcd everywhere"[^\n]*"status":"(ok|changed)"/);
        await healthy();
        const after = await allKeys();
        expect(after).toEqual(before);
        row('etcd fails to start on one member after restore', 'rolled back', before.length, after.length, Date.now() - t0);
      } finally {
        // whatever failed above: the wrapper goes, so the faults after this one meet a plain etcd (restarted)
        await restartedBy(2, await etcdProcess(2), async () => {
          await lab.exec(2, `sed -i ${unwrapSed('/etc/etcd-fault-wrapper')} ${target}${systemd ? ' && systemctl daemon-reload' : ''}`);
        });
      }
      await healthy();
    }, 240_000);

    fault('4', 'a snapshot corrupted in S3 (one byte flipped) → refused by the download (hashed as it streams), every copy discarded, nothing stopped', async () => {
      const good = await s3c.bytes(backupKey);
      const bad = Buffer.from(good);
      bad[Math.floor(bad.length / 2)]! ^= 0x01;
      await s3c.put(backupKey, bad);
      const before = await allKeys();
      const runId = `corrupt-${Date.now()}`;
      const t0 = Date.now();
      try {
        const r = await run(['run', 'playbooks/full-restore.yml', '-i', inv, '--yes', '--run-id', runId, '-e', `snapshot_key=${backupKey}`, ...s3vars()]);
        expect(r.code, r.stdout + r.stderr).toBe(1);
        // the object is read once, by the download: the mismatch is found there, on all three members at once
        for (const m of ['master-1', 'master-2', 'master-3']) expect(r.stdout).toMatch(new RegExp(`${m}: sha256 mismatch for s3://[^ ]+: got [0-9a-f]{64}, recorded [0-9a-f]{64}\\. The object is corrupt or was replaced: refusing to use it; nothing was left on ${m}`));
        const journal = readFileSync(join(env['RUNBOOK_RUNS_DIR']!, runId, 'journal.jsonl'), 'utf8');
        expect(journal).toMatch(/"type":"step.end","step":"fetch and verify the snapshot on every member"[^\n]*"status":"failed"/);
        // nothing was stopped or restored
        expect(journal).not.toMatch(/"type":"step.start","step":"(stop kube-apiservers|stop etcd everywhere|snapshot status)"/);
        // neither the snapshot nor a partial copy is left on any member
        for (const i of [0, 1, 2]) expect((await lab.exec(i, `ls -A /var/lib/etcd-runbook/restore/${runId} 2>/dev/null`)).stdout.trim()).toBe('');
        const after = await allKeys();
        expect(after).toEqual(before);
        row('snapshot corrupted in S3', 'refused', before.length, after.length, Date.now() - t0);
      } finally {
        await s3c.put(backupKey, good);
      }
    }, 120_000);

    fault('4b', 'a snapshot whose etcd hash differs from the one recorded at backup time → refused before anything is stopped', async () => {
      const prov = JSON.parse((await s3c.bytes(`${backupKey}.json`)).toString('utf8')) as Record<string, unknown>;
      const before = await allKeys();
      const t0 = Date.now();
      try {
        await s3c.put(`${backupKey}.json`, Buffer.from(JSON.stringify({ ...prov, hash: '12345' })));
        const r = await run(['run', 'playbooks/full-restore.yml', '-i', inv, '--yes', '-e', `snapshot_key=${backupKey}`, ...s3vars()]);
        expect(r.code, r.stdout + r.stderr).toBe(1);
        expect(r.stdout).toMatch(/different etcd hash than the backup's provenance record/);
        expect(r.stdout).not.toMatch(/stop etcd everywhere/);
        const after = await allKeys();
        expect(after).toEqual(before);
        row('snapshot etcd hash differs from the backup record', 'refused', before.length, after.length, Date.now() - t0);
      } finally {
        await s3c.put(`${backupKey}.json`, Buffer.from(JSON.stringify(prov)));
      }
    }, 120_000);

    fault('4c', 'a snapshot written by a newer etcd than the members run → refused before anything is stopped', async () => {
      const prov = JSON.parse((await s3c.bytes(`${backupKey}.json`)).toString('utf8')) as Record<string, unknown>;
      const [major, minor] = String(lab.etcdVersions[0]).split('.').map(Number);
      const newer = `${major}.${(minor ?? 0) + 1}.0`;
      const before = await allKeys();
      const t0 = Date.now();
      try {
        await s3c.put(`${backupKey}.json`, Buffer.from(JSON.stringify({ ...prov, 'etcd-version': newer })));
        const r = await run(['run', 'playbooks/full-restore.yml', '-i', inv, '--yes', '-e', `snapshot_key=${backupKey}`, ...s3vars()]);
        expect(r.code, r.stdout + r.stderr).toBe(1);
        expect(r.stdout).toContain(`written by etcd ${newer} (the backup's provenance), newer than the etcd ${lab.etcdVersions[0]} that would restore it`);
        expect(r.stdout).not.toMatch(/stop etcd everywhere/);
        const after = await allKeys();
        expect(after).toEqual(before);
        row(`snapshot written by etcd ${newer}, members on ${lab.etcdVersions[0]}`, 'refused', before.length, after.length, Date.now() - t0);
      } finally {
        await s3c.put(`${backupKey}.json`, Buffer.from(JSON.stringify(prov)));
      }
    }, 120_000);

    fault('5', 'a backup during a restore → refused by the cluster lock; the restore completes', async () => {
      const before = await allKeys();
      const runId = `locked-restore-${Date.now()}`;
      const t0 = Date.now();
      // held before its first destructive step, with the lock taken: the others come while it holds it
      const restore = startHeld(['run', 'playbooks/full-restore.yml', '-i', inv, '--yes', '-e', `snapshot_key=${backupKey}`, ...s3vars()], runId, 'stop kube-apiservers');
      await restore.held;
      const backup = await run(['run', 'playbooks/backup.yml', '-i', inv, ...s3vars()]);
      expect(backup.code).toBe(1);
      expect(backup.stdout).toMatch(new RegExp(`the cluster is locked: master-1 is held by run ${runId}`));
      const second = await run(['run', 'playbooks/full-restore.yml', '-i', inv, '--yes', '-e', `snapshot_key=${backupKey}`, ...s3vars()]);
      expect(second.code).toBe(1);
      expect(second.stdout).toMatch(/the cluster is locked/);
      restore.release();
      const r = await restore.done;
      expect(r.code, r.stdout + r.stderr).toBe(0);
      await healthy();
      const after = await allKeys();
      expect(after.filter((k) => k.startsWith('/census/'))).toHaveLength(1000);
      row('backup (and a second restore) during a restore', 'refused (lock); restore completed', before.length, after.length, Date.now() - t0);
    }, 240_000);

    fault('7', 'the data dir filesystem of one member is too small for the restore → unwound, nothing lost', async () => {
      const stopEtcd = systemd ? 'systemctl stop etcd' : 'mv /etc/kubernetes/manifests/etcd.yaml /root/etcd.yaml\n  for i in $(seq 1 100); do [ -e /run/pods/etcd.pid ] || break; sleep 0.1; done';
      const startEtcd = systemd ? 'systemctl start --no-block etcd' : 'mv /root/etcd.yaml /etc/kubernetes/manifests/etcd.yaml';
      // give master-3 a dedicated small filesystem for /var/lib/etcd (a mount point, as with a dedicated disk)
      const setup = await lab.exec(
        2,
        `set -e
  ${stopEtcd}
  cp -a --sparse=never /var/lib/etcd /root/etcd-copy
  used=$(du -sm /root/etcd-copy | cut -f1)
  mount -t tmpfs -o size=$((used + 24))m,mode=700 tmpfs /var/lib/etcd
  cp -a --sparse=never /root/etcd-copy/. /var/lib/etcd/
  rm -rf /root/etcd-copy
  ${startEtcd}
  df -m /var/lib/etcd | tail -1`,
      );
      expect(setup.code, setup.stderr).toBe(0);
      try {
        await healthy();
        await lab.etcdctl(0, ['put', '/pre-run-7', 'kept']);
        const before = await allKeys();
        const runId = `disk-full-${Date.now()}`;
        const t0 = Date.now();
        // held right before the restore is staged (etcd still runs, and nothing writes to it): leave exactly
        // 40 MB free, less than the restore's WAL preallocation (64 MB) needs, every time; the full disk must
        // show up there, before anything is stopped
        const held = startHeld(['run', 'playbooks/full-restore.yml', '-i', inv, '--yes', '-e', `snapshot_key=${backupKey}`, ...s3vars()], runId, "restore the snapshot beside every member's data");
        await held.held;
        const fill = await lab.exec(2, `avail=$(df -m --output=avail /var/lib/etcd | tail -1 | tr -d ' '); if [ "$avail" -gt 40 ]; then fallocate -l $((avail - 40))M /var/lib/etcd/.filler; fi; df -m --output=size,avail /var/lib/etcd | tail -1`);
        held.release();
        const r = await held.done;
        expect(fill.code, fill.stderr).toBe(0);
        expect(r.code, r.stdout + r.stderr).toBe(1);
        expect(r.stdout).toMatch(/restore the snapshot beside every member's data/);
        expect(r.stdout).toMatch(/master-3 FAILED/);
        // nothing was stopped: the full disk showed up while the restore was being staged
        expect(r.stdout).not.toMatch(/stop kube-apiservers/);
        expect(r.stdout).toMatch(/rolled back to 'snapshot-verified'/);
        await healthy();
        const after = await allKeys();
        expect(after).toEqual(before);
        // the half-written scratch dir is gone; the old data is back in place on the small filesystem
        const left = (await lab.exec(2, 'ls -A /var/lib/etcd')).stdout.trim().split('\n');
        expect(left).toContain('member');
        expect(left.filter((f) => f.includes(runId))).toEqual([]);
        expect(r.stdout).toMatch(/no space left on device/i);
        row(`data dir filesystem full on one member during restore (tmpfs MB size/free: ${fill.stdout.trim()})`, 'rolled back', before.length, after.length, Date.now() - t0);
      } finally {
        // master-3 back on its own data dir (not a nearly full tmpfs), with its current data: the faults after this one
        // would otherwise run with a member that has 24 MB to write in
        const back = await lab.exec(
          2,
          `set -e
  ${stopEtcd}
  rm -f /var/lib/etcd/.filler
  rm -rf /root/etcd-now && cp -a --sparse=never /var/lib/etcd /root/etcd-now
  umount /var/lib/etcd
  find /var/lib/etcd -mindepth 1 -maxdepth 1 -exec rm -rf -- {} +
  cp -a --sparse=never /root/etcd-now/. /var/lib/etcd/ && rm -rf /root/etcd-now
  ${startEtcd}
  ! mountpoint -q /var/lib/etcd`,
        );
        expect(back.code, back.stderr).toBe(0);
      }
      await healthy();
    }, 240_000);

    fault('8', 'the member being reinitialized is killed mid-rejoin → quorum kept throughout; restarted after the crash back-off, the run completes', async () => {
      const before = await allKeys();
      const runId = `reinit-kill-${Date.now()}`;
      const t0 = Date.now();
      const reinit = startHeld(['run', 'playbooks/reinitialize-member.yml', '-i', inv, '-e', 'member=master-2'], runId, 'rejoin the member with an empty data dir');
      let quorumLost = 0;
      let probes = 0;
      let watching = true;
      const watcher = (async () => {
        while (watching) {
          const h = await lab.etcdctl(0, ['endpoint', 'health'], { endpoints: [lab.etcdEndpoints[0]!, lab.etcdEndpoints[2]!] });
          probes++;
          if (h.code !== 0) quorumLost++;
          await new Promise((r) => setTimeout(r, 150));
        }
      })();
      try {
        await reinit.held;
        // the member's etcd will die (SIGKILL) the first time it starts in the rejoin; kubelet (or Restart=always) restarts it. Armed
        // while the run is held, so the kill happens in the step every time, however fast or slow the machine is
        const arm = await lab.exec(
          1,
          `printf '%s\\n' '#!/bin/sh' 'if [ -e /var/lib/etcd-crash-once ]; then rm -f /var/lib/etcd-crash-once; echo "injected fault: killed" >&2; kill -9 $$; fi' '${execEtcd}' > /etc/etcd-crash-wrapper && chmod +x /etc/etcd-crash-wrapper && : > /var/lib/etcd-crash-once && f=${systemd ? unitFile : '/var/lib/etcd-runbook/stopped/etcd.yaml'} && sed -i ${wrapSed('/etc/etcd-crash-wrapper')} "$f" && grep -c etcd-crash-wrapper "$f"`,
        );
        expect(arm.stdout.trim(), arm.stderr).toBe('1');
        reinit.release();
        const r = await reinit.done;
        watching = false;
        await watcher;
        const killed = (await lab.exec(1, 'test -e /var/lib/etcd-crash-once')).code !== 0;
        expect(killed).toBe(true);
        expect(quorumLost, `endpoint health of the two others failed ${quorumLost}/${probes} times`).toBe(0);
        // the kubelet (or Restart=always) starts the killed member again after its back-off, and the rejoin's
        // waits outlast it: the run completes
        expect(r.code, r.stdout + r.stderr).toBe(0);
        await healthy();
        const after = await allKeys();
        expect(after).toEqual(before);
        let backoff = '';
        if (!systemd) {
          const log = (await lab.exec(1, 'grep -E "pod etcd pid [0-9]+ ended \\(signal SIGKILL\\); restarting in" /var/log/kubelet.log | tail -1')).stdout;
          backoff = /restarting in (\d+) ms/.exec(log)?.[1] ?? '';
          expect(backoff, 'the kubelet restarted the killed member').not.toBe('');
          if (opts.kubeletBackoff === 'real') expect(Number(backoff)).toBe(10_000);
        }
        row(`member killed during reinitialize-member${backoff ? ` (kubelet restarted it after ${Number(backoff) / 1000} s)` : ''}`, `completed (quorum kept: ${probes} probes)`, before.length, after.length, Date.now() - t0);
      } finally {
        // the health watcher stops whatever failed above (it must not outlive the lab)
        watching = false;
        await watcher;
        await lab.exec(1, systemd ? `sed -i ${unwrapSed('/etc/etcd-crash-wrapper')} ${unitFile} && systemctl daemon-reload` : `for f in /etc/kubernetes/manifests/etcd.yaml /var/lib/etcd-runbook/stopped/etcd.yaml; do [ -e "$f" ] && sed -i ${unwrapSed('/etc/etcd-crash-wrapper')} "$f"; done; true`);
      }
    }, 240_000);
  });
}
