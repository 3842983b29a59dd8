// The lab's systemctl stand-in (lab-systemctl.sh) against real etcd in a lab node: Type=notify readiness on
// NOTIFY_SOCKET, TimeoutStartSec, --no-block, Restart=/RestartSec=, WorkingDirectory=, systemctl show.
// No timing assertions: states are polled with deadlines.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ETCD_TIMEOUT_START_S } from './etcd-assets.js';
import { type Lab, startLab } from './lab.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function sh(lab: Lab, node: number, cmd: string, timeoutMs = 120_000) {
  return lab.exec(node, cmd, { timeoutMs });
}

/** `systemctl show -p ActiveState,SubState,Result` as one line "active running success". */
async function state(lab: Lab, node: number, unit: string): Promise<string> {
  const r = await sh(lab, node, `systemctl show -p ActiveState,SubState,Result --value ${unit}`);
  return r.stdout.trim().split('\n').join(' ');
}

async function waitState(lab: Lab, node: number, unit: string, want: string, timeoutMs = 60_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let last = '';
  while (Date.now() < deadline) {
    last = await state(lab, node, unit);
    if (last === want) return;
    await sleep(200);
  }
  throw new Error(`${unit} on node ${node}: still "${last}" after ${timeoutMs} ms, want "${want}"`);
}

async function writeUnit(lab: Lab, node: number, name: string, body: string): Promise<void> {
  const w = await lab.exec(node, `cat > /etc/systemd/system/${name} && systemctl daemon-reload`, { input: body });
  expect(w.code).toBe(0);
}

describe('lab systemctl stand-in (etcd 3.4 on master-1 and master-3, 3.5 on master-2)', () => {
  let lab: Lab;

  beforeAll(async () => {
    // a mixed cluster (as mid-upgrade): READY=1 and the lone member are checked with both binaries
    lab = await startLab({ nodes: 3, etcd: 'systemd', etcdVersion: ['3.4', '3.5', '3.4'] });
    expect(lab.etcdVersions.map((v) => v.split('.').slice(0, 2).join('.'))).toEqual(['3.4', '3.5', '3.4']);
  }, 120_000);

  afterAll(async () => {
    await lab?.stop();
  }, 30_000);

  it('writes etcd units like the binary-install write-up and tracks READY=1 from etcd and the apiserver', async () => {
    const unit = await sh(lab, 0, 'grep -E "^(Type|WorkingDirectory|Restart|RestartSec|TimeoutStartSec)=" /etc/systemd/system/etcd.service');
    expect(unit.stdout.trim().split('\n')).toEqual(['Type=notify', 'WorkingDirectory=/var/lib/etcd/', 'Restart=always', 'RestartSec=15', `TimeoutStartSec=${ETCD_TIMEOUT_START_S}`]);
    for (const n of [0, 1, 2]) {
      await waitState(lab, n, 'etcd', 'active running success');
      await waitState(lab, n, 'kube-apiserver', 'active running success');
    }
    const r = await sh(lab, 0, 'systemctl show -p Type,Restart,TimeoutStartUSec etcd kube-apiserver; [ "$(systemctl show -p MainPID --value etcd)" = "$(pgrep -x etcd)" ] && echo mainpid-ok; cat /run/lab-systemd/etcd.service.notify; echo');
    expect(r.stdout.trim().split('\n')).toEqual([
      'Type=notify',
      'Restart=always',
      `TimeoutStartUSec=${ETCD_TIMEOUT_START_S * 1_000_000}`,
      'Type=notify',
      'Restart=always',
      'TimeoutStartUSec=90000000',
      'mainpid-ok',
      'READY=1',
    ]);
  });

  it('a lone member of a stopped cluster stays activating (--no-block returns at once) and its start fails after TimeoutStartSec', async () => {
    for (const n of [1, 2]) expect((await sh(lab, n, 'systemctl stop etcd')).code).toBe(0);
    expect((await sh(lab, 0, 'systemctl stop etcd && systemctl is-active etcd')).stdout.trim()).toBe('inactive');
    // --no-block: returns while the member cannot be ready (its peers are down)
    const nb = await sh(lab, 0, 'systemctl start --no-block etcd; echo "rc=$?"; systemctl show -p ActiveState,SubState --value etcd; systemctl is-active etcd; echo "is-active=$?"');
    expect(nb.stdout.trim().split('\n')).toEqual(['rc=0', 'activating', 'start', 'activating', 'is-active=3']);
    // an apiserver (Type=notify) started now cannot reach etcd: it is not ready either
    expect((await sh(lab, 2, 'systemctl restart --no-block kube-apiserver')).code).toBe(0);
    // the process runs and listens, but is not ready
    const mainPid = (await sh(lab, 0, 'systemctl show -p MainPID --value etcd')).stdout.trim();
    expect(Number(mainPid)).toBeGreaterThan(0);
    // a blocking start joins the pending start job and fails with it when TimeoutStartSec runs out
    const blocked = await sh(lab, 0, 'systemctl start etcd; echo "rc=$?"');
    expect(blocked.stdout.trim()).toBe('rc=1');
    expect(blocked.stderr).toContain('Job for etcd.service failed because a timeout was exceeded.');
    // Restart=always: the unit waits RestartSec, then tries again; the killed process is gone
    const after = await sh(lab, 0, `systemctl show -p ActiveState,SubState,Result,MainPID --value etcd; kill -0 ${mainPid} 2>/dev/null && echo alive || echo gone`);
    expect(after.stdout.trim().split('\n')).toEqual(['activating', 'auto-restart', 'timeout', '0', 'gone']);
    const journal = await sh(lab, 0, 'grep -c "etcd.service: start operation timed out. Terminating." /var/log/etcd.log');
    expect(journal.stdout.trim()).toBe('1');
    // TimeoutStartSec of etcd later, the apiserver is still waiting for etcd
    expect(await state(lab, 2, 'kube-apiserver')).toBe('activating start success');

    // Restart=no (a short TimeoutStartSec to keep this fast): failed, Result=timeout
    await sh(lab, 0, 'systemctl stop etcd');
    expect((await sh(lab, 0, "sed -i -e 's/^Restart=always/Restart=no/' -e 's/^TimeoutStartSec=.*/TimeoutStartSec=3/' /etc/systemd/system/etcd.service && systemctl daemon-reload")).code).toBe(0);
    const once = await sh(lab, 0, 'systemctl start etcd; echo "rc=$?"; systemctl show -p ActiveState,SubState,Result,MainPID --value etcd; systemctl is-failed etcd');
    expect(once.stderr).toContain('Job for etcd.service failed because a timeout was exceeded.');
    expect(once.stdout.trim().split('\n')).toEqual(['rc=1', 'failed', 'failed', 'timeout', '0', 'failed']);
    const status = await sh(lab, 0, 'systemctl status etcd | sed -n 3p');
    expect(status.stdout).toContain('Active: failed (Result: timeout)');

    // etcd 3.5 alone (master-2; master-1 is down again): not ready either
    await sh(lab, 0, 'systemctl stop etcd');
    expect((await sh(lab, 1, "sed -i -e 's/^Restart=always/Restart=no/' -e 's/^TimeoutStartSec=.*/TimeoutStartSec=3/' /etc/systemd/system/etcd.service && systemctl daemon-reload")).code).toBe(0);
    const v35 = await sh(lab, 1, 'systemctl start etcd; echo "rc=$?"; systemctl show -p ActiveState,SubState,Result --value etcd');
    expect(v35.stderr).toContain('Job for etcd.service failed because a timeout was exceeded.');
    expect(v35.stdout.trim().split('\n')).toEqual(['rc=1', 'failed', 'failed', 'timeout']);

    // back: the units as they were, every member started without blocking, then the cluster is healthy
    for (const n of [0, 1]) {
      expect((await sh(lab, n, `sed -i -e 's/^Restart=no/Restart=always/' -e 's/^TimeoutStartSec=.*/TimeoutStartSec=${ETCD_TIMEOUT_START_S}/' /etc/systemd/system/etcd.service && systemctl daemon-reload`)).code).toBe(0);
    }
    for (const n of [0, 1, 2]) expect((await sh(lab, n, 'systemctl start --no-block etcd')).code).toBe(0);
    for (const n of [0, 1, 2]) await waitState(lab, n, 'etcd', 'active running success');
    // and the apiserver sends READY=1 once etcd answers it
    await waitState(lab, 2, 'kube-apiserver', 'active running success');
    await lab.waitHealthy({ timeoutMs: 60_000 });
  });

  it('a blocking start returns once the service sends READY=1 on NOTIFY_SOCKET', async () => {
    await writeUnit(
      lab,
      1,
      'notifier.service',
      '[Service]\nType=notify\nExecStart=/bin/sh -c \'sleep 1; printf READY=1 | socat -u STDIN "UNIX-SENDTO:$NOTIFY_SOCKET"; exec sleep 1000\'\n',
    );
    const r = await sh(lab, 1, 'systemctl start notifier; echo "rc=$?"; systemctl show -p ActiveState,SubState,Result --value notifier');
    expect(r.stdout.trim().split('\n')).toEqual(['rc=0', 'active', 'running', 'success']);
    await sh(lab, 1, 'systemctl stop notifier');
    expect(await state(lab, 1, 'notifier')).toBe('inactive dead success');
  });

  it('Restart=always brings a killed process back after RestartSec; Restart=no leaves it failed', async () => {
    await writeUnit(lab, 1, 'sleeper.service', '[Service]\nExecStart=/bin/sleep 1000\nRestart=always\nRestartSec=1\n');
    expect((await sh(lab, 1, 'systemctl start sleeper')).code).toBe(0);
    const pid1 = (await sh(lab, 1, 'systemctl show -p MainPID --value sleeper')).stdout.trim();
    expect(Number(pid1)).toBeGreaterThan(0);
    await sh(lab, 1, `kill -9 ${pid1}`);
    // after the kill it waits (auto-restart, Result=signal), then runs again with a new PID
    const deadline = Date.now() + 30_000;
    let pid2 = pid1;
    let restarts = '0';
    while (Date.now() < deadline) {
      const r = await sh(lab, 1, 'systemctl show -p MainPID,NRestarts,ActiveState --value sleeper');
      const [p = '0', nr = '0', a = ''] = r.stdout.trim().split('\n');
      if (a === 'active' && p !== '0' && p !== pid1) {
        pid2 = p;
        restarts = nr;
        break;
      }
      await sleep(200);
    }
    expect(pid2).not.toBe(pid1);
    expect(restarts).toBe('1');
    const j = await sh(lab, 1, 'grep -c "sleeper.service: Scheduled restart job, restart counter is at 1." /var/log/sleeper.log');
    expect(j.stdout.trim()).toBe('1');
    await sh(lab, 1, 'systemctl stop sleeper');

    await writeUnit(lab, 1, 'once.service', '[Service]\nExecStart=/bin/sleep 1000\nRestart=no\n');
    expect((await sh(lab, 1, 'systemctl start once')).code).toBe(0);
    await sh(lab, 1, 'kill -9 "$(systemctl show -p MainPID --value once)"');
    await waitState(lab, 1, 'once', 'failed failed signal', 10_000);
    await writeUnit(lab, 1, 'onfail.service', '[Service]\nExecStart=/bin/sh -c "exit 0"\nRestart=on-failure\nRestartSec=1\n');
    expect((await sh(lab, 1, 'systemctl start onfail')).code).toBe(0);
    await waitState(lab, 1, 'onfail', 'inactive dead success', 10_000);
  });

  it('a WorkingDirectory= that does not exist fails the start (status=200/CHDIR)', async () => {
    await writeUnit(lab, 2, 'nowd.service', '[Service]\nType=notify\nWorkingDirectory=/var/lib/no-such-dir\nExecStart=/bin/sleep 1000\n');
    const r = await sh(lab, 2, 'systemctl start nowd; echo "rc=$?"; systemctl show -p ActiveState,Result,ExecMainStatus --value nowd; systemctl status nowd | grep "Main PID"');
    expect(r.stderr).toContain('Job for nowd.service failed because the control process exited with error code.');
    const lines = r.stdout.trim().split('\n');
    expect(lines.slice(0, 4)).toEqual(['rc=1', 'failed', 'exit-code', '200']);
    expect(lines[4]).toContain('code=exited, status=200/CHDIR');
    const j = await sh(lab, 2, 'grep -c "Failed at step CHDIR spawning /bin/sleep" /var/log/nowd.log');
    expect(j.stdout.trim()).toBe('1');
  });
});
