/** Inventory model after validation and normalisation. Types only. */

export type EtcdStyle = 'static-pod' | 'systemd';

export interface EtcdSettings {
  /** etcd member name (--name). */
  name: string;
  clientUrl: string;
  peerUrl: string;
  dataDir: string;
  manifestsDir: string;
  /** Path of the etcd static-pod manifest, or of the systemd unit file. */
  manifest: string;
  /** kube-apiserver static-pod manifest, or its systemd unit file. */
  apiserverManifest: string;
  /** Where the apiserver answers /readyz. */
  apiserverUrl: string;
  /** systemd unit names (systemd style). */
  unit: string;
  apiserverUnit: string;
  /** Where the runbook stashes manifests and keeps per-run state on the host; outside the manifests dir. */
  stashDir: string;
  style: EtcdStyle;
  cacert: string;
  cert: string;
  key: string;
  /** Path to etcdctl on the host. */
  etcdctl: string;
}

export interface Host {
  name: string;
  address: string;
  port: number;
  user: string;
  identityFile: string | undefined;
  /** Use sudo -n for commands when the user is not root. */
  become: boolean;
  /** A host marked down is never contacted. */
  down: boolean;
  groups: string[];
  vars: Record<string, unknown>;
  etcd: EtcdSettings;
}

export interface Inventory {
  file: string;
  cluster: string;
  knownHosts: string;
  /** Hosts in file order. */
  hosts: Host[];
  groups: Record<string, string[]>;
  vars: Record<string, unknown>;
}
