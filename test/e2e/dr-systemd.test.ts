import { expect, it } from 'vitest';
import { runCli } from '../support/cli.js';
import { drSuite } from '../support/dr-suite.js';

// A binary install laid out by hand: member names member-a.. (not the hostnames), data dir /var/lib/etcd-data,
// every certificate under /etc/kubernetes/ssl (no healthcheck-client), an HTTPS control plane; the inventory
// has only the addresses and the ssh user and key: the rest is read from the units.
drSuite('systemd', {
  full: true,
  layout: 'custom',
  more: (ctx) => {
    it("runbook facts -o json: the units' settings; etcdctl's client certificate is the apiserver's (no healthcheck-client here)", async () => {
      const { lab, inv, env } = ctx();
      const r = await runCli(['facts', '-i', inv, '-o', 'json'], { env });
      expect(r.code, r.stdout + r.stderr).toBe(0);
      type H = { host: string; settings: Record<string, { value: string; file: string; line: number; why?: string }> };
      const hosts = (JSON.parse(r.stdout) as { hosts: H[] }).hosts;
      console.log(`runbook facts -i inventory.yml -o json (systemd, master-1):\n${JSON.stringify(hosts[0]?.settings, null, 2)}`);
      for (const [i, h] of hosts.entries()) {
        expect(h.settings['style']?.value).toBe('systemd');
        expect(h.settings['name']).toMatchObject({ value: lab.memberNames[i], file: '/etc/systemd/system/etcd.service' });
        expect(h.settings['data_dir']?.value).toBe('/var/lib/etcd-data');
        expect(h.settings['cacert']?.value).toBe('/etc/kubernetes/ssl/etcd-ca.pem');
        expect(h.settings['cert']).toMatchObject({ value: '/etc/kubernetes/ssl/apiserver-etcd-client.pem', file: '/etc/systemd/system/kube-apiserver.service', why: expect.stringMatching(/apiserver's etcd client certificate/) });
      }
    }, 60_000);
  },
});
