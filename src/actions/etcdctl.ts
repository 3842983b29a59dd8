import type { Host } from '../model/inventory.js';
import type { Shell } from '../model/shell.js';
import { sh } from '../shell/build.js';

/** etcdctl with TLS and explicit endpoints (3.4 defaults to 127.0.0.1:2379, which is nobody's on a shared loopback). */
export function etcdctl(h: Host, endpoints: string[]): Shell {
  return sh`ETCDCTL_API=3 ${h.etcd.etcdctl} --endpoints=${endpoints.join(',')} --cacert=${h.etcd.cacert} --cert=${h.etcd.cert} --key=${h.etcd.key} --dial-timeout=3s --command-timeout=10s`;
}

export function urlHostPort(url: string): { address: string; port: number } {
  const m = /^[a-z]+:\/\/\[?([^\]/]+?)\]?:(\d+)\/?$/.exec(url);
  return { address: m?.[1] ?? '', port: Number(m?.[2] ?? 0) };
}

/** `name=peer,...` as --initial-cluster wants it. */
export function initialCluster(hosts: Host[]): string {
  return hosts.map((h) => `${h.etcd.name}=${h.etcd.peerUrl}`).join(',');
}

export function majorMinor(v: string): [number, number] {
  const m = /^v?(\d+)\.(\d+)/.exec(v);
  return [Number(m?.[1] ?? 3), Number(m?.[2] ?? 4)];
}

/** etcd ≥3.5 moved offline snapshot work to etcdutl. */
export function usesEtcdutl(version: string): boolean {
  const [maj, min] = majorMinor(version);
  return maj > 3 || (maj === 3 && min >= 5);
}
