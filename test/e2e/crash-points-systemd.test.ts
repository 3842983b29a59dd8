// systemd style (Type=notify etcd units with Restart=always, as in the binary-install write-up): the runbook
// process SIGKILLed while a full restore puts the restored data in place — right after the first member's
// rename finished, so the point is exact — then `runbook rollback` must return the pre-run cluster, its keys and
// every apiserver (exit 0), and `runbook resume` must complete. The rollback undoes "stop etcd everywhere"
// one host at a time: a member started alone never becomes ready, so a start that blocked on readiness
// would time out there.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type PointResult, resumePoint, rollbackPoint, type SweepLab, startSweepLab, table } from '../support/crash-sweep.js';

let l: SweepLab;
const rows: PointResult[] = [];
// every etcd is stopped and the first member's restored data is in place; the others' may not be yet
const DURING_RESTORE = '{"type":"host.result","step":"put the restored member in place"';

beforeAll(async () => {
  l = await startSweepLab('systemd');
}, 600_000);

afterAll(async () => {
  console.log(`\n[crash points, systemd]\n${table(rows)}\n`);
  await l?.stop();
});

describe('crash points, systemd units', () => {
  it('SIGKILL during the restore step, then rollback: exit 0, the pre-run cluster, its keys and every apiserver', async () => {
    const r = await rollbackPoint(l, DURING_RESTORE);
    rows.push(r);
    expect(r.event).toBe('host.result put the restored member in place');
    expect(r, table(rows)).toMatchObject({ ok: true, keysLost: 0 });
    // every etcd and apiserver unit is up and ready again
    for (const i of [0, 1, 2]) {
      const s = await l.lab.exec(i, 'systemctl show -p ActiveState,SubState --value etcd kube-apiserver');
      expect(s.stdout.trim().split('\n')).toEqual(['active', 'running', 'active', 'running']);
    }
  }, 900_000);

  it('SIGKILL during the restore step, then resume: completes with every key', async () => {
    const r = await resumePoint(l, DURING_RESTORE);
    rows.push(r);
    expect(r, table(rows)).toMatchObject({ ok: true, keysLost: 0 });
  }, 900_000);
});
