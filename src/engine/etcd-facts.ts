/**
 * The hosts' etcd facts merged into the inventory model: a value the inventory gives wins, but must agree
 * with the host (else it is drift, refused before any step, naming both values and where each is written);
 * a value it does not give is the host's. Pure.
 */
import { stashedPath } from '../actions/etcd.js';
import type { Where } from '../facts/etcd-flags.js';
import type { FactKey, FactPaths, HostFacts } from '../facts/host-etcd.js';
import { etcdDefaults, mergeEtcd, type RawEtcd } from '../load/load-inventory.js';
import type { EtcdSettings, Host, Inventory } from '../model/inventory.js';

/** Settings compared with the inventory: where they disagree, the inventory is out of date (or the host is not the one it thinks). */
export const CHECKED: readonly FactKey[] = ['style', 'name', 'data_dir', 'client_url', 'peer_url', 'cacert', 'manifest'];

export interface Drift {
  host: string;
  /** The inventory key (etcd.data_dir ...). */
  setting: string;
  inventory: string;
  /** file:line of the inventory value. */
  inventoryAt: string;
  /** What the host says ('' = the file is not there). */
  hostValue: string;
  hostAt: Where | undefined;
}

export function driftMessage(d: Drift): string {
  const host = d.hostAt ? `the host says ${d.hostValue} (${d.hostAt.file}:${d.hostAt.line})` : `${d.hostValue}`;
  return `${d.host}: etcd.${d.setting}: the inventory says ${d.inventory} (${d.inventoryAt}), ${host}`;
}

const norm = (k: string, v: string) => (k.endsWith('_url') ? v.replace(/\/$/, '') : v);

/** Where to look on a host: the inventory's paths (given or kubeadm's defaults), for either layout unless it names one. */
export function factPaths(h: Host): FactPaths {
  const e = h.etcd;
  const g = h.etcdGiven ?? {};
  const givenStyle = g['style']?.value as string | undefined;
  const dir = e.manifestsDir;
  const staticManifest = givenStyle === 'systemd' ? `${dir}/etcd.yaml` : e.manifest;
  const asStatic = givenStyle !== 'systemd';
  return {
    manifest: staticManifest,
    stashedManifest: stashedPath(h, staticManifest),
    apiserverManifest: asStatic ? e.apiserverManifest : `${dir}/kube-apiserver.yaml`,
    controllerManagerManifest: asStatic ? e.controllerManager.manifest : `${dir}/kube-controller-manager.yaml`,
    schedulerManifest: asStatic ? e.scheduler.manifest : `${dir}/kube-scheduler.yaml`,
    unit: e.unit,
    unitFile: givenStyle === 'systemd' ? e.manifest : undefined,
    apiserverUnit: e.apiserverUnit,
    apiserverUnitFile: givenStyle === 'systemd' ? e.apiserverManifest : undefined,
    controllerManagerUnit: e.controllerManager.unit,
    schedulerUnit: e.scheduler.unit,
    certs: ['cacert', 'cert', 'key'].map((k) => g[k]?.value).filter((v): v is string => typeof v === 'string'),
  };
}

export type MergeResult = { ok: true; inventory: Inventory } | { ok: false; drift: Drift[]; problems: string[] };

/** The settings one host runs with: the inventory's given values over the host's facts over kubeadm's defaults. */
function mergeHost(h: Host, f: HostFacts, file: string, drift: Drift[], problems: string[]): EtcdSettings {
  const g = h.etcdGiven ?? {};
  const at = (k: string) => `${file}:${g[k]?.line ?? '?'}`;
  for (const k of CHECKED) {
    const fact = f.settings[k];
    const given = g[k];
    if (!fact || given === undefined) continue;
    const want = norm(k, String(given.value));
    const agrees = norm(k, fact.value) === want || (fact.also ?? []).some((v) => norm(k, v) === want);
    if (!agrees) drift.push({ host: h.name, setting: k, inventory: String(given.value), inventoryAt: at(k), hostValue: fact.value, hostAt: fact.at });
  }
  for (const k of ['cacert', 'cert', 'key'] as const) {
    const given = g[k];
    if (given !== undefined && f.files[String(given.value)] !== true) drift.push({ host: h.name, setting: k, inventory: String(given.value), inventoryAt: at(k), hostValue: 'that file is not on the host', hostAt: undefined });
  }
  if (g['cert'] === undefined && !f.settings.cert)
    problems.push(`${h.name}: no client certificate for etcdctl: no healthcheck-client.crt next to --trusted-ca-file, no --etcd-certfile of the apiserver that exists, and etcd's server certificate does not allow client authentication; give etcd.cert and etcd.key in the inventory`);
  const style = (g['style']?.value as EtcdSettings['style'] | undefined) ?? (f.settings.style?.value as EtcdSettings['style']);
  const fromHost: RawEtcd = {};
  for (const [k, fact] of Object.entries(f.settings)) if (k !== 'style') (fromHost as Record<string, string>)[k] = fact.value;
  const given: RawEtcd = Object.fromEntries(Object.entries(g).map(([k, v]) => [k, v.value]));
  // the inventory's manifests_dir moves the static-pod paths: the host's are read from there already
  return mergeEtcd(mergeEtcd(etcdDefaults(h.name, h.address, style), fromHost), { ...given, manifests_dir: undefined });
}

/** The inventory with every host that has facts merged; drift and unusable hosts as data. */
export function mergeFacts(inv: Inventory, facts: Record<string, HostFacts>): MergeResult {
  const drift: Drift[] = [];
  const problems: string[] = [];
  const hosts = inv.hosts.map((h): Host => {
    const f = facts[h.name];
    if (!f) return h;
    return { ...h, etcd: mergeHost(h, f, inv.file, drift, problems), etcdSource: 'host' };
  });
  const names = new Map<string, string>();
  for (const h of hosts) {
    const other = names.get(h.etcd.name);
    if (other) problems.push(`${h.name}: etcd member name '${h.etcd.name}' is the name of ${other}'s member too`);
    names.set(h.etcd.name, h.name);
  }
  if (drift.length || problems.length) return { ok: false, drift, problems };
  return { ok: true, inventory: { ...inv, hosts } };
}

/** Settings that differ between two views of the same hosts (what a plan was compiled with, and what the hosts say now). */
export function settingsDiff(planned: Inventory, now: Inventory, facts: Record<string, HostFacts>): string[] {
  const out: string[] = [];
  const keys: [keyof EtcdSettings, string][] = [
    ['style', 'style'],
    ['name', 'name'],
    ['dataDir', 'data_dir'],
    ['clientUrl', 'client_url'],
    ['peerUrl', 'peer_url'],
    ['cacert', 'cacert'],
    ['cert', 'cert'],
    ['key', 'key'],
    ['manifest', 'manifest'],
    ['apiserverManifest', 'apiserver_manifest'],
    ['apiserverUrl', 'apiserver_url'],
  ];
  for (const h of now.hosts) {
    const p = planned.hosts.find((x) => x.name === h.name);
    if (!p || p.down || h.down) continue;
    for (const [k, key] of keys) {
      if (p.etcd[k] === h.etcd[k]) continue;
      const at = facts[h.name]?.settings[key as FactKey]?.at;
      out.push(`${h.name}: etcd.${key}: the plan was made with ${String(p.etcd[k])}, the host says ${String(h.etcd[k])}${at ? ` (${at.file}:${at.line})` : ''}`);
    }
  }
  return out;
}

/** The etcd settings the hosts' facts fill in where the inventory does not give them: inventory key → setting. */
const FROM_FACTS = { name: 'name', data_dir: 'dataDir', client_url: 'clientUrl', peer_url: 'peerUrl', cacert: 'cacert', cert: 'cert', key: 'key', manifest: 'manifest', apiserver_url: 'apiserverUrl', style: 'style' } as const;

/**
 * The inventory as it is, its hosts' etcd settings that the hosts' facts could change (those it does not
 * give) reporting every read (a copy of the whole object too): a compile from it is the real one, and
 * whether it read any of them says whether the program depends on the hosts' facts.
 */
export function watchedInventory(inv: Inventory, onRead: (setting: string) => void): Inventory {
  return {
    ...inv,
    hosts: inv.hosts.map((h) => {
      const g = h.etcdGiven ?? {};
      const open = new Set<string>(Object.entries(FROM_FACTS).flatMap(([given, setting]) => (g[given] === undefined ? [setting] : [])));
      const watched = new Proxy(h.etcd, {
        get(t, k, r) {
          if (typeof k === 'string' && open.has(k)) onRead(k);
          return Reflect.get(t, k, r);
        },
        ownKeys(t) {
          for (const k of open) onRead(k);
          return Reflect.ownKeys(t);
        },
      });
      return { ...h, etcd: watched };
    }),
  };
}

/** The facts a saved program was compiled with, as data (a program records them; `run --plan` checks them again). */
export function factsSummary(facts: Record<string, HostFacts>): Record<string, Record<string, string>> {
  return Object.fromEntries(Object.entries(facts).map(([h, f]) => [h, Object.fromEntries(Object.entries(f.settings).map(([k, v]) => [k, `${v.value} (${v.at.file}:${v.at.line})`]))]));
}
