import { it } from 'vitest';
import { startLab } from './lab.js';
it('scratch', async () => {
  const t0 = Date.now();
  let lab;
  try {
    lab = await startLab({ nodes: 3, etcd: (process.env.LABMODE as 'systemd') ?? 'static-pod' });
    console.log('started in', Date.now() - t0, 'ms');
    const h = await lab.waitHealthy();
    console.log(JSON.stringify(h.members), h.leaderName, h.clusterId);
    for (let i = 0; i < 3; i++) {
      const r = await lab.exec(i, 'ps -eo pid,ppid,stat,comm,args | cut -c1-150; ls -la /run/pods /etc/lab-bin; cat /var/log/lab-boot.log; tail -3 /var/log/kubelet.log');
      console.log(r.stdout, r.stderr);
    }
  } finally {
    const t1 = Date.now();
    await lab?.stop();
    console.log('stopped in', Date.now() - t1, 'ms');
  }
}, 60_000);
