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

/** How one ssh connection is made: the target, or one jump host on its way (resolved from inventory, CLI and ssh config). */
export interface SshEndpoint {
  /** How it was named: the inventory host, or the ProxyJump entry as written. */
  name: string;
  address: string;
  port: number;
  user: string;
  /** Private key files, tried in order (missing ones skipped). */
  identityFiles: string[];
  /** ssh-agent socket to offer, or undefined (none set, IdentitiesOnly yes, IdentityAgent none). */
  agent: string | undefined;
  /** known_hosts files checked (a new key, where accepted, goes to the first). */
  knownHosts: string[];
  /** 'accept-new' records a key seen for the first time; a changed key is refused either way. */
  hostKeys: 'strict' | 'accept-new';
  connectTimeoutS: number | undefined;
  serverAliveIntervalS: number | undefined;
  serverAliveCountMax: number | undefined;
}

/** The target and the jump hosts before it, first hop first. */
export interface SshRoute extends SshEndpoint {
  jumps: SshEndpoint[];
  /** The ssh config file read for it ('' = none). */
  configFile: string;
}

export interface Host {
  name: string;
  /** Resolved: the inventory's address, or the ssh config's HostName for the host's alias. */
  address: string;
  port: number;
  user: string;
  identityFile: string | undefined;
  /** How to reach it over ssh (same address, port and user as above). */
  ssh: SshRoute;
  /** Use sudo -n for commands when the user is not root. */
  become: boolean;
  /** A host marked down is never contacted. */
  down: boolean;
  groups: string[];
  vars: Record<string, unknown>;
  /** Where each of `vars` was set in the inventory (the winning one). */
  varPos?: Record<string, { line: number; col: number }> | undefined;
  etcd: EtcdSettings;
  /**
   * The etcd settings the inventory gives (host or defaults), by inventory key (data_dir), with where:
   * these win over the host's facts but must agree with them. The others are kubeadm's defaults until
   * facts are gathered.
   */
  etcdGiven?: Record<string, { value: unknown; line: number; col: number }> | undefined;
  /** Where `etcd` comes from: the inventory (and defaults) alone, or merged with the host's own facts. */
  etcdSource?: 'inventory' | 'host' | undefined;
}

export interface Inventory {
  file: string;
  cluster: string;
  knownHosts: string;
  /** The OpenSSH client config the hosts were resolved with ('' = none). */
  sshConfig: string;
  /** Hosts in file order. */
  hosts: Host[];
  groups: Record<string, string[]>;
  vars: Record<string, unknown>;
}
