import { existsSync } from 'node:fs';
import { homedir, hostname, userInfo } from 'node:os';
import { dirname, isAbsolute, join, resolve } from 'node:path';
import type { EtcdSettings, Host, Inventory } from '../model/inventory.js';
import type { Loaded, Problem } from './problem.js';
import { directRoute, evaluateConfig, resolveRoute, type SshEnv } from './resolve-ssh.js';
import { type ConfigItem, readSshConfig } from './ssh-config-file.js';
import { schemaCheck } from './schema-check.js';
import { readYaml, type YamlSource } from './yaml-source.js';

export interface RawEtcd {
  name?: string;
  client_url?: string;
  peer_url?: string;
  data_dir?: string;
  manifests_dir?: string;
  manifest?: string;
  apiserver_manifest?: string;
  apiserver_url?: string;
  unit?: string;
  apiserver_unit?: string;
  stash_dir?: string;
  style?: 'static-pod' | 'systemd';
  cacert?: string;
  cert?: string;
  key?: string;
  etcdctl?: string;
  etcdutl?: string;
  etcd_binary?: string;
  controller_manager_manifest?: string;
  controller_manager_unit?: string;
  controller_manager_url?: string;
  scheduler_manifest?: string;
  scheduler_unit?: string;
  scheduler_url?: string;
}
interface RawHost {
  address?: string;
  port?: number;
  user?: string;
  identity_file?: string;
  become?: boolean;
  down?: boolean;
  vars?: Record<string, unknown>;
  etcd?: RawEtcd;
}
interface RawInventory {
  cluster: string;
  known_hosts?: string;
  ssh_config?: string;
  defaults?: RawHost;
  vars?: Record<string, unknown>;
  hosts: Record<string, RawHost>;
  groups?: Record<string, string[] | { hosts: string[]; vars?: Record<string, unknown> }>;
}

export function expandHome(p: string, base: string): string {
  if (p === '~' || p.startsWith('~/')) return resolve(homedir(), p.slice(2));
  return isAbsolute(p) ? p : resolve(base, p);
}

/** kubeadm defaults, overridable per inventory (defaults.etcd) and per host. */
export function etcdDefaults(hostName: string, address: string, style: 'static-pod' | 'systemd'): EtcdSettings {
  const manifestsDir = '/etc/kubernetes/manifests';
  return {
    name: hostName,
    clientUrl: `https://${address}:2379`,
    peerUrl: `https://${address}:2380`,
    dataDir: '/var/lib/etcd',
    manifestsDir,
    manifest: style === 'systemd' ? '/etc/systemd/system/etcd.service' : `${manifestsDir}/etcd.yaml`,
    apiserverManifest: style === 'systemd' ? '/etc/systemd/system/kube-apiserver.service' : `${manifestsDir}/kube-apiserver.yaml`,
    apiserverUrl: `https://${address}:6443`,
    unit: 'etcd.service',
    apiserverUnit: 'kube-apiserver.service',
    stashDir: '/var/lib/etcd-runbook',
    style,
    cacert: '/etc/kubernetes/pki/etcd/ca.crt',
    cert: '/etc/kubernetes/pki/etcd/healthcheck-client.crt',
    key: '/etc/kubernetes/pki/etcd/healthcheck-client.key',
    etcdctl: '',
    etcdutl: '',
    etcdBinary: '',
    controllerManager: {
      manifest: style === 'systemd' ? '/etc/systemd/system/kube-controller-manager.service' : `${manifestsDir}/kube-controller-manager.yaml`,
      unit: 'kube-controller-manager.service',
      healthUrl: 'https://127.0.0.1:10257',
    },
    scheduler: {
      manifest: style === 'systemd' ? '/etc/systemd/system/kube-scheduler.service' : `${manifestsDir}/kube-scheduler.yaml`,
      unit: 'kube-scheduler.service',
      healthUrl: 'https://127.0.0.1:10259',
    },
  };
}

export function mergeEtcd(base: EtcdSettings, raw: RawEtcd | undefined): EtcdSettings {
  if (!raw) return base;
  const out = { ...base };
  if (raw.name !== undefined) out.name = raw.name;
  if (raw.client_url !== undefined) out.clientUrl = raw.client_url.replace(/\/$/, '');
  if (raw.peer_url !== undefined) out.peerUrl = raw.peer_url.replace(/\/$/, '');
  if (raw.data_dir !== undefined) out.dataDir = raw.data_dir;
  if (raw.manifests_dir !== undefined) {
    out.manifestsDir = raw.manifests_dir;
    if (base.style === 'static-pod') {
      out.manifest = `${raw.manifests_dir}/etcd.yaml`;
      out.apiserverManifest = `${raw.manifests_dir}/kube-apiserver.yaml`;
      out.controllerManager = { ...out.controllerManager, manifest: `${raw.manifests_dir}/kube-controller-manager.yaml` };
      out.scheduler = { ...out.scheduler, manifest: `${raw.manifests_dir}/kube-scheduler.yaml` };
    }
  }
  if (raw.manifest !== undefined) out.manifest = raw.manifest;
  if (raw.apiserver_manifest !== undefined) out.apiserverManifest = raw.apiserver_manifest;
  if (raw.apiserver_url !== undefined) out.apiserverUrl = raw.apiserver_url.replace(/\/$/, '');
  if (raw.unit !== undefined) out.unit = raw.unit;
  if (raw.apiserver_unit !== undefined) out.apiserverUnit = raw.apiserver_unit;
  if (raw.stash_dir !== undefined) out.stashDir = raw.stash_dir;
  if (raw.cacert !== undefined) out.cacert = raw.cacert;
  if (raw.cert !== undefined) out.cert = raw.cert;
  if (raw.key !== undefined) out.key = raw.key;
  if (raw.etcdctl !== undefined) out.etcdctl = raw.etcdctl;
  if (raw.etcdutl !== undefined) out.etcdutl = raw.etcdutl;
  if (raw.etcd_binary !== undefined) out.etcdBinary = raw.etcd_binary;
  const url = (u: string) => u.replace(/\/$/, '');
  if (raw.controller_manager_manifest !== undefined) out.controllerManager = { ...out.controllerManager, manifest: raw.controller_manager_manifest };
  if (raw.controller_manager_unit !== undefined) out.controllerManager = { ...out.controllerManager, unit: raw.controller_manager_unit };
  if (raw.controller_manager_url !== undefined) out.controllerManager = { ...out.controllerManager, healthUrl: url(raw.controller_manager_url) };
  if (raw.scheduler_manifest !== undefined) out.scheduler = { ...out.scheduler, manifest: raw.scheduler_manifest };
  if (raw.scheduler_unit !== undefined) out.scheduler = { ...out.scheduler, unit: raw.scheduler_unit };
  if (raw.scheduler_url !== undefined) out.scheduler = { ...out.scheduler, healthUrl: url(raw.scheduler_url) };
  return out;
}

/** What the CLI adds to an inventory's ssh settings (like ssh's -F, -l, -i) and what it knows of this machine. */
export interface InventoryOptions {
  /** -F FILE ('none': no config). Beats the inventory's ssh_config. */
  sshConfig?: string | undefined;
  /** -u USER: every host's user. */
  user?: string | undefined;
  /** --private-key FILE: tried first on every host. */
  privateKey?: string | undefined;
  sshEnv?: SshEnv | undefined;
}

/** This machine as the ssh resolution sees it, when the caller gives nothing. */
export function defaultSshEnv(env: Record<string, string | undefined> = {}): SshEnv {
  let user = env['USER'] ?? '';
  try {
    user ||= userInfo().username;
  } catch {
    // no passwd entry
  }
  return { home: env['HOME'] || homedir(), localUser: user || 'root', localHost: hostname(), uid: process.getuid?.() ?? 0, env };
}

const ADDRESS_RE = /^(\[[0-9A-Fa-f:.]+\]|[0-9A-Fa-f:]*:[0-9A-Fa-f:.]+|[A-Za-z0-9]([A-Za-z0-9.-]*[A-Za-z0-9])?)$/;

/** -F beats the inventory's ssh_config, which beats ~/.ssh/config (when it exists); 'none' reads nothing. */
function sshConfigFile(raw: RawInventory, base: string, opts: InventoryOptions, env: SshEnv): string {
  const chosen = opts.sshConfig ?? (raw.ssh_config === undefined ? undefined : raw.ssh_config === 'none' ? 'none' : expandHome(raw.ssh_config, base));
  if (chosen === 'none') return '';
  if (chosen !== undefined) return opts.sshConfig !== undefined ? resolve(chosen) : chosen;
  const user = join(env.home, '.ssh', 'config');
  return existsSync(user) ? user : '';
}

function normalise(src: YamlSource, raw: RawInventory, opts: InventoryOptions): Loaded<Inventory> {
  const problems: Problem[] = [];
  const base = dirname(src.file);
  const d = raw.defaults ?? {};
  const sshEnv = opts.sshEnv ?? defaultSshEnv();
  const configFile = sshConfigFile(raw, base, opts, sshEnv);
  let items: ConfigItem[] = [];
  if (configFile !== '') {
    const read = readSshConfig(configFile, sshEnv.home);
    if (!read.ok) return { ok: false, problems: [raw.ssh_config !== undefined && opts.sshConfig === undefined ? src.problem(['ssh_config'], read.message) : { file: src.file, line: undefined, col: undefined, message: read.message }] };
    items = read.items;
  }
  const knownHostsExplicit = raw.known_hosts === undefined ? undefined : expandHome(raw.known_hosts, base);
  const hostNames = Object.keys(raw.hosts);
  // null prototypes: a group may be called 'constructor' or 'toString'
  const groups: Record<string, string[]> = Object.assign(Object.create(null) as Record<string, string[]>, { all: hostNames });
  const groupVars: Record<string, Record<string, unknown>> = Object.create(null) as Record<string, Record<string, unknown>>;
  for (const [g, def] of Object.entries(raw.groups ?? {})) {
    if (g === 'all') {
      problems.push(src.problem(['groups', g], "group 'all' is implicit (every host): choose another name", true));
      continue;
    }
    if (hostNames.includes(g)) problems.push(src.problem(['groups', g], `group '${g}' has the same name as a host: rename one`, true));
    const members = Array.isArray(def) ? def : def.hosts;
    groupVars[g] = Array.isArray(def) ? {} : (def.vars ?? {});
    members.forEach((m, i) => {
      if (!hostNames.includes(m))
        problems.push(src.problem(['groups', g, ...(Array.isArray(def) ? [] : ['hosts']), i], `unknown host '${m}' in group '${g}' (hosts: ${hostNames.join(', ')})`));
    });
    groups[g] = members;
  }
  const memberNames = new Map<string, string>();
  const hosts: Host[] = hostNames.map((name) => {
    const h = raw.hosts[name]!;
    const identity = h.identity_file ?? d.identity_file;
    const routed = resolveRoute(
      items,
      {
        name,
        destination: h.address ?? name,
        port: h.port ?? d.port,
        user: opts.user ?? h.user ?? d.user,
        identityFiles: [...(opts.privateKey ? [resolve(opts.privateKey)] : []), ...(identity === undefined ? [] : [expandHome(identity, base)])],
        knownHosts: knownHostsExplicit,
        acceptNewHostKeys: false,
        defaultUser: 'root',
      },
      sshEnv,
      configFile,
    );
    const route = routed.ok ? routed.value : directRoute({ name, address: h.address ?? name, port: 22, user: 'root' });
    if (!routed.ok) problems.push(src.problem(['hosts', name], `ssh config${configFile ? ` ${configFile}` : ''}: ${routed.message}`, true));
    else if (h.address === undefined) {
      const ev = evaluateConfig(items, name, sshEnv.localUser);
      if (!(ev.ok && ev.value.has('hostname')))
        problems.push(
          src.problem(['hosts', name], `host '${name}' has no address, and no ssh config gives it a HostName (${configFile ? `read ${configFile}` : 'no ssh config read'}): give it an address, or write a Host ${name} block with HostName`),
        );
    }
    if (routed.ok && !ADDRESS_RE.test(route.address)) problems.push(src.problem(['hosts', name], `HostName '${route.address}' of '${name}' in ${configFile} is not an IP address or DNS name`, true));
    const address = route.address;
    const style = h.etcd?.style ?? d.etcd?.style ?? 'static-pod';
    const etcd = mergeEtcd(mergeEtcd(etcdDefaults(name, address, style), { ...d.etcd, name: undefined }), h.etcd);
    const etcdGiven: NonNullable<Host['etcdGiven']> = {};
    for (const [path, o] of [[['defaults', 'etcd'], d.etcd], [['hosts', name, 'etcd'], h.etcd]] as const)
      for (const [k, v] of Object.entries(o ?? {})) if (v !== undefined && !(k === 'name' && path[0] === 'defaults')) etcdGiven[k] = { value: v, ...src.pos([...path, k]) };
    const prev = memberNames.get(etcd.name);
    if (prev) problems.push(src.problem(['hosts', name], `etcd member name '${etcd.name}' is used by host '${prev}' too: member names must be unique, rename one`, true));
    memberNames.set(etcd.name, name);
    const inGroups = Object.entries(groups)
      .filter(([, m]) => m.includes(name))
      .map(([g]) => g);
    const vars: Record<string, unknown> = { ...(raw.vars ?? {}) };
    const varPos: Record<string, { line: number; col: number }> = {};
    const from = (o: Record<string, unknown> | undefined, path: (string | number)[]) => {
      for (const k of Object.keys(o ?? {})) varPos[k] = src.pos([...path, k]);
    };
    from(raw.vars, ['vars']);
    for (const g of inGroups) {
      Object.assign(vars, groupVars[g] ?? {});
      from(groupVars[g], ['groups', g, 'vars']);
    }
    Object.assign(vars, d.vars ?? {}, h.vars ?? {});
    from(d.vars, ['defaults', 'vars']);
    from(h.vars, ['hosts', name, 'vars']);
    return {
      name,
      address,
      port: route.port,
      user: route.user,
      identityFile: route.identityFiles[0],
      ssh: route,
      become: h.become ?? d.become ?? true,
      down: h.down ?? false,
      groups: inGroups,
      vars,
      varPos,
      etcd,
      etcdGiven,
      etcdSource: 'inventory',
    };
  });
  // two hosts at one address and port are one machine under two names: a restore would run twice there
  // (behind different jump hosts one address can be two machines: the route is part of the key)
  const seen = new Map<string, string>();
  for (const h of hosts) {
    const at = `${h.address}:${h.port}`;
    const key = [...h.ssh.jumps.map((j) => `${j.address}:${j.port}`), at].join(' > ');
    const other = seen.get(key);
    if (other) problems.push(src.problem(['hosts', h.name, ...(raw.hosts[h.name]?.address === undefined ? [] : ['address'])], `host '${h.name}' has the same address and port (${at}) as host '${other}': each master needs its own`));
    else seen.set(key, h.name);
    // a member name is written into --initial-cluster (name=url,...): a comma or '=' would forge another member
    if (/[,=\s]/.test(h.etcd.name)) problems.push(src.problem(['hosts', h.name], `etcd member name '${h.etcd.name}' contains a comma, '=' or a space, which --initial-cluster cannot hold: rename it`, true));
  }
  // one scheme for every member: an http:// member in a TLS cluster is a typo, and would send keys in clear
  const schemes = new Set(hosts.map((h) => h.etcd.clientUrl.split(':')[0]));
  if (schemes.size > 1)
    for (const h of hosts.filter((x) => x.etcd.clientUrl.startsWith('http:')))
      problems.push(src.problem(['hosts', h.name, 'etcd', 'client_url'], `etcd client URL ${h.etcd.clientUrl} is plain http while other members use https: use https (the cluster uses TLS)`));
  if (problems.length) return { ok: false, problems };
  return {
    ok: true,
    value: {
      file: src.file,
      cluster: raw.cluster,
      knownHosts: knownHostsExplicit ?? join(sshEnv.home, '.ssh', 'known_hosts'),
      sshConfig: configFile,
      hosts,
      groups,
      vars: raw.vars ?? {},
    },
  };
}

/** Parse → JSON Schema → normalise → rules. Problems are returned, never thrown. */
export function loadInventory(file: string, opts: InventoryOptions = {}): Loaded<Inventory> {
  const read = readYaml(file);
  if (!read.ok) return read;
  const problems = [...read.problems, ...schemaCheck('inventory', read.source)].filter(read.source.reliable);
  if (problems.length) {
    problems.sort((a, b) => (a.line ?? 0) - (b.line ?? 0) || (a.col ?? 0) - (b.col ?? 0));
    return { ok: false, problems };
  }
  return normalise(read.source, read.source.data as RawInventory, opts);
}
