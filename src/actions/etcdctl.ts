import type { Host } from '../model/inventory.js';
import type { Shell } from '../model/shell.js';
import { sh } from '../shell/build.js';

export type EtcdTool = 'etcd' | 'etcdctl' | 'etcdutl';

/**
 * Where the run finds an etcd tool on a host: the runbook's own bin dir, which the `etcd.tools` step fills
 * (a link to the host's binary of the member's version, or a copy from the jump host's tools dir). Every
 * etcd command names it by this path, so the dry run shows exactly which binary runs.
 */
export function toolPath(h: Host, tool: EtcdTool): string {
  return `${h.etcd.stashDir}/bin/${tool}`;
}

/** etcdctl with TLS and explicit endpoints (3.4 defaults to 127.0.0.1:2379, which is nobody's on a shared loopback). */
/** etcdctl's --dial-timeout and --command-timeout, in seconds. */
export interface EtcdctlTimeouts {
  dialS: number;
  commandS: number;
}

export function etcdctl(h: Host, endpoints: string[], timeouts: EtcdctlTimeouts = { dialS: 3, commandS: 10 }): Shell {
  return sh`ETCDCTL_API=3 ${toolPath(h, 'etcdctl')} --endpoints=${endpoints.join(',')} --cacert=${h.etcd.cacert} --cert=${h.etcd.cert} --key=${h.etcd.key} --dial-timeout=${`${timeouts.dialS}s`} --command-timeout=${`${timeouts.commandS}s`}`;
}

/**
 * For a poll, tried again every fraction of a second: a member that is not up yet is given up on after 1 s
 * (not 3 s of dialing a closed port, each try, while the rest of the cluster is already healthy).
 */
export const POLL_TIMEOUTS: EtcdctlTimeouts = { dialS: 1, commandS: 3 };

export function urlHostPort(url: string): { address: string; port: number } {
  const m = /^[a-z]+:\/\/\[?([^\]/]+?)\]?:(\d+)\/?$/.exec(url);
  return { address: m?.[1] ?? '', port: Number(m?.[2] ?? 0) };
}

/** `name=peer,...` as --initial-cluster wants it. */
export function initialCluster(hosts: Host[]): string {
  return hosts.map((h) => `${h.etcd.name}=${h.etcd.peerUrl}`).join(',');
}
