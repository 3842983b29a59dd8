import { homedir } from 'node:os';
import { dirname, isAbsolute, resolve } from 'node:path';
import type { EtcdSettings, Host, Inventory } from '../model/inventory.js';
import type { Loaded, Problem } from './problem.js';
import { schemaCheck } from './schema-check.js';
import { readYaml, type YamlSource } from './yaml-source.js';

interface RawEtcd {
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

function mergeEtcd(base: EtcdSettings, raw: RawEtcd | undefined): EtcdSettings {
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

function normalise(src: YamlSource, raw: RawInventory): Loaded<Inventory> {
  const problems: Problem[] = [];
  const base = dirname(src.file);
  const d = raw.defaults ?? {};
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
    const address = h.address ?? '';
    const style = h.etcd?.style ?? d.etcd?.style ?? 'static-pod';
    const etcd = mergeEtcd(mergeEtcd(etcdDefaults(name, address, style), { ...d.etcd, name: undefined }), h.etcd);
    const prev = memberNames.get(etcd.name);
    if (prev) problems.push(src.problem(['hosts', name], `etcd member name '${etcd.name}' is used by host '${prev}' too: member names must be unique`, true));
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
    const identity = h.identity_file ?? d.identity_file;
    return {
      name,
      address,
      port: h.port ?? d.port ?? 22,
      user: h.user ?? d.user ?? 'root',
      identityFile: identity === undefined ? undefined : expandHome(identity, base),
      become: h.become ?? d.become ?? true,
      down: h.down ?? false,
      groups: inGroups,
      vars,
      varPos,
      etcd,
    };
  });
  // two hosts at one address and port are one machine under two names: a restore would run twice there
  const seen = new Map<string, string>();
  for (const h of hosts) {
    const at = `${h.address}:${h.port}`;
    const other = seen.get(at);
    if (other) problems.push(src.problem(['hosts', h.name, 'address'], `host '${h.name}' has the same address and port (${at}) as host '${other}': each master needs its own`));
    else seen.set(at, h.name);
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
      knownHosts: expandHome(raw.known_hosts ?? '~/.ssh/known_hosts', base),
      hosts,
      groups,
      vars: raw.vars ?? {},
    },
  };
}

/** Parse → JSON Schema → normalise → rules. Problems are returned, never thrown. */
export function loadInventory(file: string): Loaded<Inventory> {
  const read = readYaml(file);
  if (!read.ok) return read;
  const problems = [...read.problems, ...schemaCheck('inventory', read.source)];
  if (problems.length) {
    problems.sort((a, b) => (a.line ?? 0) - (b.line ?? 0) || (a.col ?? 0) - (b.col ?? 0));
    return { ok: false, problems };
  }
  return normalise(read.source, read.source.data as RawInventory);
}
