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
  /**
   * etcd tools on the host named by the inventory ('' = look on the PATH, and for etcd also in the unit's
   * ExecStart). `etcd.tools` links the one whose version matches the member into the runbook's bin dir.
   */
  etcdctl: string;
  etcdutl: string;
  etcdBinary: string;
  /** kube-controller-manager and kube-scheduler: restarted after a full restore, where the host has them. */
  controllerManager: ComponentSettings;
  scheduler: ComponentSettings;
}

export interface ComponentSettings {
  /** Static-pod manifest, or systemd unit file. */
  manifest: string;
  unit: string;
  /** Where it answers /healthz. */
  healthUrl: string;
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
  /** Where each of `vars` was set in the inventory (the winning one). */
  varPos?: Record<string, { line: number; col: number }> | undefined;
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
