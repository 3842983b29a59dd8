import { join } from 'node:path';
import { it } from 'vitest';
import { startLab } from './lab/lab.js';
import { runCli } from './support/cli.js';
import { writeLabInventory } from './support/lab-inventory.js';
import { writeCensus, readKeys } from './support/census.js';

it('scratch', async () => {
  const t0 = Date.now();
  const lab = await startLab({ nodes: 3, etcd: 'static-pod' });
  console.log('lab up in', Date.now() - t0);
  try {
    const inv = writeLabInventory(lab, join(lab.stateDir, 'inv.yml'), { hostExtra: (i) => `    etcd:\n      apiserver_url: http://${lab.nodes[i]!.address}:6443` });
    await writeCensus(lab, 1000);
    console.log('keys', (await readKeys(lab, 0)).length);
    for (const i of [1, 2]) await lab.exec(i, 'mkdir -p /var/lib/etcd-runbook/stopped && mv /etc/kubernetes/manifests/etcd.yaml /var/lib/etcd-runbook/stopped/etcd.yaml');
    const r = await runCli(['run', 'playbooks/force-new-cluster.yml', '-i', inv, '-e', 'survivor=master-1', '-e', 'mode=rebuild-db'], { env: { RUNBOOK_RUNS_DIR: join(lab.stateDir, 'runs') } });
    console.log(r.code, r.stdout.slice(-6000), r.stderr);
    for (const i of [0,1,2]) console.log((await lab.exec(i, 'grep -c force-new /etc/kubernetes/manifests/etcd.yaml')).stdout);
    console.log('keys on 2', (await readKeys(lab, 1, '/census/', 's')).length);
  } finally {
    await lab.stop();
  }
}, 300_000);
