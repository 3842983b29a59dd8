import type { Host, Inventory } from '../model/inventory.js';
import type { Playbook } from '../model/playbook.js';
import { ExpressionError, type Scope } from '../template/expression.js';
import { type RenderOptions, renderValue } from '../template/render.js';

export interface RunInfo {
  id: string;
  dir: string;
  user: string;
  started: string;
  /** Git commit of the playbook, or 'unknown'. */
  commit: string;
}

const views = new WeakMap<Host, Record<string, unknown>>();

/**
 * The template view of a host: snake_case, as playbooks write it. Its etcd settings are read when a template
 * reads them (getters), so a compile shows which settings it used (dependsOnEtcdSettings). One view per host.
 */
export function hostView(h: Host): Record<string, unknown> {
  const seen = views.get(h);
  if (seen) return seen;
  const e = h.etcd;
  const view = {
    name: h.name,
    address: h.address,
    port: h.port,
    user: h.user,
    groups: h.groups,
    vars: h.vars,
    etcd: {
      get name() { return e.name; },
      get client_url() { return e.clientUrl; },
      get peer_url() { return e.peerUrl; },
      get data_dir() { return e.dataDir; },
      get manifests_dir() { return e.manifestsDir; },
      get manifest() { return e.manifest; },
      get apiserver_manifest() { return e.apiserverManifest; },
      get apiserver_url() { return e.apiserverUrl; },
      get unit() { return e.unit; },
      get apiserver_unit() { return e.apiserverUnit; },
      get stash_dir() { return e.stashDir; },
      get style() { return e.style; },
      get cacert() { return e.cacert; },
      get cert() { return e.cert; },
      get key() { return e.key; },
      get etcdctl() { return e.etcdctl; },
      get etcdutl() { return e.etcdutl; },
      get etcd_binary() { return e.etcdBinary; },
      /** where etcd.tools puts the tools every etcd command runs */
      get bin_dir() { return `${e.stashDir}/bin`; },
    },
  };
  views.set(h, view);
  return view;
}

export interface ScopeInput {
  playbook: Playbook;
  inventory: Inventory;
  host: Host;
  run: RunInfo;
  extraVars: Record<string, unknown>;
  /** Results registered on this host so far. */
  registered: Record<string, unknown>;
  /** The etcd members: the playbook's host group. */
  cluster: Host[];
  /**
   * Planning: secret variables are left out (their templates become references the run fills in), and
   * names registered at run time are known to exist. A run's scope has neither: it holds the values.
   */
  planning?: RenderOptions | undefined;
}

/**
 * Variables, lowest to highest: param defaults and playbook vars (the playbook's declared
 * interface), then inventory/group/host vars, then -e. Templated vars are rendered once per host.
 */
export function buildScope(input: ScopeInput): Scope {
  const { playbook, inventory, host } = input;
  const vars: Record<string, unknown> = {};
  for (const [k, p] of Object.entries(playbook.params)) if (p.default !== undefined) vars[k] = p.default;
  Object.assign(vars, playbook.vars, host.vars, input.extraVars);
  for (const k of input.planning?.secrets ?? []) delete vars[k];
  const hosts: Record<string, unknown> = {};
  for (const h of inventory.hosts) hosts[h.name] = hostView(h);
  const base: Scope = {
    host: hostView(host),
    vars,
    run: input.run,
    cluster: inventory.cluster,
    hosts,
    groups: inventory.groups,
    playbook: { name: playbook.name, file: playbook.file },
    members: {
      names: input.cluster.map((h) => h.name),
      /** Members not marked down: the ones a step can use as a helper. */
      up: input.cluster.filter((h) => !h.down).map((h) => h.name),
      get initial_cluster() {
        return input.cluster.map((h) => `${h.etcd.name}=${h.etcd.peerUrl}`).join(',');
      },
      get client_urls() {
        return input.cluster.map((h) => h.etcd.clientUrl).join(',');
      },
      count: input.cluster.length,
    },
    ...input.registered,
  };
  return { ...base, vars: renderVars(vars, base, new Set(Object.keys(input.extraVars)), input.planning ?? {}) };
}

/**
 * Every variable rendered to its final value: one that refers to another gets that one's rendered value
 * (to any depth), a cycle is an error naming it. Values given with -e are taken literally, never rendered.
 */
function renderVars(vars: Record<string, unknown>, base: Scope, literal: Set<string>, planning: RenderOptions): Record<string, unknown> {
  const done = new Map<string, unknown>();
  const stack: string[] = [];
  const lazy: Record<string, unknown> = {};
  const scope: Scope = { ...base, vars: lazy };
  const get = (k: string): unknown => {
    if (done.has(k)) return done.get(k);
    if (stack.includes(k)) throw new ExpressionError(`variables refer to each other in a cycle: ${[...stack.slice(stack.indexOf(k)), k].join(' → ')}`);
    stack.push(k);
    try {
      let v: unknown;
      try {
        v = literal.has(k) ? vars[k] : renderValue(vars[k], scope, planning);
      } catch (e) {
        // say which variable, once (the innermost one that failed)
        if (e instanceof ExpressionError && !e.message.startsWith('vars.') && !e.message.startsWith('variables refer')) throw new ExpressionError(`vars.${k}: ${e.message}`);
        throw e;
      }
      done.set(k, v);
      return v;
    } finally {
      stack.pop();
    }
  };
  for (const k of Object.keys(vars)) Object.defineProperty(lazy, k, { enumerable: true, get: () => get(k) });
  return Object.fromEntries(Object.keys(vars).map((k) => [k, get(k)]));
}
