import type { Command } from '../model/command.js';
import type { Host } from '../model/inventory.js';
import { MEMBERS_MARK, STATUS_MARK } from '../facts/etcd-json.js';
import { shellQuote as q } from '../util/shell-quote.js';
import { type Action, type ActionContext, backupDir, checkPath, ok, refuse } from './action.js';
import { etcdctl, initialCluster, urlHostPort, usesEtcdutl } from './etcdctl.js';
import { isHostAddress, portProbe } from './wait.js';
import { isDeferred } from '../template/render.js';
import { moveCommand } from './file.js';

function clusterHosts(ctx: ActionContext, exclude: string[] = []): Host[] {
  return ctx.cluster.filter((h) => !h.down && !exclude.includes(h.name) && !exclude.includes(h.etcd.name));
}

function endpointsOf(hosts: Host[]): string[] {
  return hosts.map((h) => h.etcd.clientUrl);
}

/** One command printing member list and endpoint status as JSON, tolerant of members that are down. */
export function statusCommand(h: Host, endpoints: string[]): string {
  const ctl = etcdctl(h, endpoints);
  return `echo ${q(MEMBERS_MARK)}; ${ctl} member list -w json || true; echo; echo ${q(STATUS_MARK)}; ${ctl} endpoint status -w json 2>/dev/null || true; echo`;
}

interface StatusArgs {
  scope?: 'cluster' | 'self';
  exclude?: string[];
}

export const etcdStatus: Action<StatusArgs> = {
  name: 'etcd.status',
  changes: 'never',
  shellArgs: [],
  plan(args, ctx) {
    const eps = args.scope === 'self' ? [ctx.host.etcd.clientUrl] : endpointsOf(clusterHosts(ctx, args.exclude));
    return ok({ commands: [{ kind: 'exec', cmd: statusCommand(ctx.host, eps), parse: { parser: 'etcd-cluster', endpoints: eps } }], undo: [], changes: false });
  },
};

interface WaitHealthyArgs extends StatusArgs {
  members?: number;
  converged?: boolean;
  quorum_of?: number;
  timeout?: number;
  interval?: number;
}

export const etcdWaitHealthy: Action<WaitHealthyArgs> = {
  name: 'etcd.wait_healthy',
  changes: 'never',
  shellArgs: [],
  plan(args, ctx) {
    const eps = args.scope === 'self' ? [ctx.host.etcd.clientUrl] : endpointsOf(clusterHosts(ctx, args.exclude));
    const members = args.members === undefined ? undefined : Number(args.members);
    return ok({
      commands: [
        {
          kind: 'exec',
          cmd: statusCommand(ctx.host, eps),
          parse: { parser: 'etcd-cluster', endpoints: eps, expect: { members, endpoints: args.quorum_of === undefined ? eps : undefined, converged: args.converged ?? true, quorumOf: args.quorum_of === undefined ? undefined : Number(args.quorum_of) } },
          poll: { until: 'succeeds', timeoutMs: Number(args.timeout ?? 120) * 1000, intervalMs: Number(args.interval ?? 1) * 1000 },
        },
      ],
      undo: [],
      changes: false,
    });
  },
};

export const etcdKeyCount: Action<{ prefix?: string; equals?: number | string; min?: number | string; scope?: 'cluster' | 'self' }> = {
  name: 'etcd.key_count',
  changes: 'never',
  shellArgs: [],
  plan(args, ctx) {
    const eps = args.scope === 'self' ? [ctx.host.etcd.clientUrl] : endpointsOf(clusterHosts(ctx));
    // in a dry run a registered count is not known yet: the plan shows the command all the same
    const num = (v: unknown) => (v === undefined || v === '' || isDeferred(v) ? undefined : Number(v));
    const equals = num(args.equals);
    const min = num(args.min);
    if ((equals !== undefined && !Number.isFinite(equals)) || (min !== undefined && !Number.isFinite(min))) return refuse('equals/min must be numbers');
    return ok({
      commands: [{ kind: 'exec', cmd: `${etcdctl(ctx.host, eps)} get ${q(args.prefix ?? '')} --prefix --keys-only --limit=1 -w json`, parse: { parser: 'key-count', expect: { equals, min } } }],
      undo: [],
      changes: false,
    });
  },
};

export const etcdSnapshotSave: Action<{ path: string }> = {
  name: 'etcd.snapshot_save',
  changes: 'always',
  shellArgs: [],
  plan(args, ctx) {
    const bad = checkPath(args.path, 'path');
    if (bad) return refuse(bad);
    const p = args.path;
    const dir = p.slice(0, p.lastIndexOf('/')) || '/';
    const ctl = etcdctl(ctx.host, [ctx.host.etcd.clientUrl]);
    return ok({
      commands: [
        {
          kind: 'exec',
          cmd: `if [ -e ${q(p)} ]; then echo ${q(`refusing: ${p} already exists`)} >&2; exit 17; fi; mkdir -p ${q(dir)} && ${ctl} snapshot save ${q(`${p}.part`)} >&2 && mv -- ${q(`${p}.part`)} ${q(p)} && ${ctl} snapshot status ${q(p)} -w json`,
          parse: { parser: 'snapshot-status' },
        },
      ],
      undo: [{ kind: 'exec', cmd: `rm -f -- ${q(p)} ${q(`${p}.part`)}` }],
      changes: true,
    });
  },
};

export const etcdSnapshotStatus: Action<{ path: string; version?: string }> = {
  name: 'etcd.snapshot_status',
  changes: 'never',
  shellArgs: [],
  plan(args, ctx) {
    const bad = checkPath(args.path, 'path');
    if (bad) return refuse(bad);
    const tool = usesEtcdutl(String(args.version ?? '3.4')) ? 'etcdutl' : `ETCDCTL_API=3 ${q(ctx.host.etcd.etcdctl)}`;
    return ok({ commands: [{ kind: 'exec', cmd: `${tool} snapshot status ${q(args.path)} -w json`, parse: { parser: 'snapshot-status' } }], undo: [], changes: false });
  },
};

interface RestoreArgs {
  snapshot: string;
  token: string;
  data_dir?: string;
  version?: string;
  skip_hash_check?: boolean;
  bump_revision?: number | string;
  mark_compacted?: boolean;
  initial_cluster?: string;
}

/** Build the restore command for one member; version-aware (etcdctl on 3.4, etcdutl from 3.5). Pure. */
export function restoreCommand(h: Host, a: RestoreArgs & { initialCluster: string; dataDir: string }): string {
  const version = String(a.version ?? '3.4');
  const etcdutl = usesEtcdutl(version);
  const parts = [
    etcdutl ? 'etcdutl' : `ETCDCTL_API=3 ${q(h.etcd.etcdctl)}`,
    'snapshot restore',
    q(a.snapshot),
    `--name=${q(h.etcd.name)}`,
    `--initial-cluster=${q(a.initialCluster)}`,
    `--initial-cluster-token=${q(a.token)}`,
    `--initial-advertise-peer-urls=${q(h.etcd.peerUrl)}`,
    `--data-dir=${q(a.dataDir)}`,
  ];
  if (a.skip_hash_check) parts.push('--skip-hash-check');
  if (etcdutl && a.bump_revision !== undefined && Number(a.bump_revision) > 0) parts.push(`--bump-revision=${Number(a.bump_revision)}`);
  if (etcdutl && a.mark_compacted) parts.push('--mark-compacted');
  return parts.join(' ');
}

export const etcdSnapshotRestore: Action<RestoreArgs> = {
  name: 'etcd.snapshot_restore',
  changes: 'always',
  shellArgs: [],
  plan(args, ctx) {
    const dataDir = args.data_dir ?? ctx.host.etcd.dataDir;
    const bad = checkPath(args.snapshot, 'snapshot') ?? checkPath(dataDir, 'data_dir');
    if (bad) return refuse(bad);
    if (!args.token) return refuse('a new --initial-cluster-token is required (token)');
    const ic = args.initial_cluster ?? initialCluster(ctx.cluster);
    const [maj, min] = String(args.version ?? '3.4').split('.').map(Number);
    if (args.mark_compacted && !usesEtcdutl(String(args.version ?? '3.4'))) return refuse(`--mark-compacted needs etcdutl (etcd ≥3.5), this is ${maj}.${min}`);
    // Everything happens inside the data dir's own filesystem, so a data dir that is a mount point
    // (a dedicated etcd disk) works, and a full disk shows up here, with nothing half-written left.
    const tmp = `${dataDir}/.restore-${ctx.runId}`;
    const member = `${dataDir}/member`;
    const rolledBack = `${dataDir}/.rolled-back-${ctx.runId}`;
    return ok({
      commands: [
        {
          kind: 'exec',
          cmd: `if [ -e ${q(member)} ]; then echo ${q(`refusing to restore: ${member} exists (move it aside first)`)} >&2; exit 17; fi; mkdir -p -m 700 ${q(dataDir)} && rm -rf -- ${q(tmp)}`,
        },
        // 3.4 refuses an existing --data-dir, even an empty one: restore into a fresh scratch dir; on failure remove only that
        { kind: 'exec', cmd: `${restoreCommand(ctx.host, { ...args, initialCluster: ic, dataDir: tmp })} || { rc=$?; rm -rf -- ${q(tmp)}; exit $rc; }` },
        // owned like the data dir: an etcd that runs as its own user must be able to open it
        { kind: 'exec', cmd: `mv -T -- ${q(`${tmp}/member`)} ${q(member)} && rmdir -- ${q(tmp)} && chown -R --reference=${q(dataDir)} -- ${q(member)}` },
      ],
      // never delete: the restored member dir is moved aside inside the data dir
      undo: [{ kind: 'exec', cmd: `if [ -e ${q(member)} ]; then mkdir -p ${q(rolledBack)} && mv -T -- ${q(member)} ${q(`${rolledBack}/member`)}; fi` }],
      partialUndo: [[], [{ kind: 'exec', cmd: `rm -rf -- ${q(tmp)}` }], []],
      changes: true,
    });
  },
};

export const etcdMemberRemove: Action<{ id: string; name: string }> = {
  name: 'etcd.member_remove',
  changes: 'always',
  shellArgs: [],
  plan(args, ctx) {
    if (!/^[0-9a-f]{1,16}$/.test(String(args.id)) && !isDeferred(args.id)) return refuse(`member id '${args.id}' is not a hex id: take it from etcd.status (members_by_name)`);
    const eps = endpointsOf(clusterHosts(ctx, [args.name]));
    return ok({
      commands: [{ kind: 'exec', cmd: `${etcdctl(ctx.host, eps)} member remove ${q(String(args.id))}` }],
      undo: [],
      changes: true,
      irreversible: `a removed member cannot come back with its old identity; the way forward is to add ${args.name} again (later steps)`,
    });
  },
};

export const etcdMemberAdd: Action<{ name: string; peer_url: string }> = {
  name: 'etcd.member_add',
  changes: 'always',
  shellArgs: [],
  undoNeedsResult: true,
  plan(args, ctx) {
    const eps = endpointsOf(clusterHosts(ctx, [args.name]));
    const json = ctx.self?.['json'] as { id?: string } | undefined;
    const id = json?.id ?? '<id of the added member: known at run time>';
    return ok({
      commands: [{ kind: 'exec', cmd: `${etcdctl(ctx.host, eps)} member add ${q(args.name)} --peer-urls=${q(args.peer_url)} -w json`, parse: { parser: 'member-add', name: args.name, peerUrl: args.peer_url } }],
      undo: [{ kind: 'exec', cmd: `${etcdctl(ctx.host, eps)} member remove ${q(id)}` }],
      changes: true,
    });
  },
};

interface FlagsArgs {
  set?: Record<string, string | boolean>;
  remove?: string[];
  file?: string;
}

export const etcdSetFlags: Action<FlagsArgs> = {
  name: 'etcd.set_flags',
  changes: 'always',
  shellArgs: [],
  plan(args, ctx) {
    const e = ctx.host.etcd;
    const file = args.file ?? (e.style === 'systemd' ? e.manifest : stashedPath(ctx.host, e.manifest));
    const bad = checkPath(file, 'file');
    if (bad) return refuse(bad);
    const edits = [
      ...Object.entries(args.set ?? {}).map(([flag, v]) => ({ flag, value: v === true ? (true as const) : String(v) })),
      ...(args.remove ?? []).map((flag) => ({ flag, value: null })),
    ];
    if (edits.length === 0) return refuse('nothing to set or remove');
    const bk = backupDir(ctx);
    const dir = file.slice(0, file.lastIndexOf('/'));
    const tmp = `${dir}/.${file.split('/').pop()}.runbook-undo`;
    const cmds: Command[] = [
      { kind: 'exec', cmd: `mkdir -p ${q(bk)} && cp -a -- ${q(file)} ${q(`${bk}/previous`)}` },
      { kind: 'edit', path: file, style: e.style, edits },
    ];
    return ok({ commands: cmds, undo: [{ kind: 'exec', cmd: `cp -a -- ${q(`${bk}/previous`)} ${q(tmp)} && mv -f -- ${q(tmp)} ${q(file)}` }], changes: true });
  },
};

/** Where a stopped static pod's manifest waits: outside the manifests dir, so kubelet does not run it. */
export function stashedPath(h: Host, manifest: string): string {
  return `${h.etcd.stashDir}/stopped/${manifest.split('/').pop() ?? 'manifest'}`;
}

/** `member add`, retried while etcd 3.4 answers "unhealthy cluster" (for ~5 s after members connect). */
export function memberAddCommand(h: Host, endpoints: string[], name: string, peerUrl: string): string {
  const add = `${etcdctl(h, endpoints)} member add ${q(name)} --peer-urls=${q(peerUrl)} -w json`;
  return `for i in $(seq 1 30); do if out=$(${add} 2>&1); then printf '%s\n' "$out"; exit 0; fi; case "$out" in *unhealthy*|*'not started'*|*'started members'*|*timeout*|*'timed out'*) sleep 1;; *) printf '%s\n' "$out" >&2; exit 1;; esac; done; printf '%s\n' "$out" >&2; exit 1`;
}

/**
 * Rejoin this host's member to a running cluster, all from the member itself: its data dir moved aside
 * (kept), `member add` on the others, --initial-cluster-state=existing and the exact --initial-cluster
 * that member add printed, start, wait for its port. Every part has its undo, also when it fails half-way.
 */
export const etcdRejoin: Action<{ timeout?: number }> = {
  name: 'etcd.rejoin',
  changes: 'always',
  shellArgs: [],
  undoNeedsResult: true,
  plan(args, ctx) {
    const h = ctx.host;
    const e = h.etcd;
    const bk = backupDir(ctx);
    const eps = endpointsOf(clusterHosts(ctx, [h.name]));
    const { address, port } = urlHostPort(e.clientUrl);
    const timeoutMs = Number(args.timeout ?? 120) * 1000;
    const member = `${e.dataDir}/member`;
    const aside = `${e.dataDir}/member.before-${ctx.runId}`;
    const moved = q(`${bk}/data-moved`);
    const id = (ctx.self?.['json'] as { id?: string } | undefined)?.id ?? '<id of the added member: known at run time>';
    const file = e.style === 'systemd' ? e.manifest : stashedPath(h, e.manifest);
    const tmp = `${file.slice(0, file.lastIndexOf('/'))}/.${file.split('/').pop()}.runbook-undo`;
    const stop: Command[] =
      e.style === 'systemd'
        ? [{ kind: 'exec', cmd: `systemctl stop ${q(e.unit)}` }]
        : [{ kind: 'exec', cmd: moveCommand(e.manifest, stashedPath(h, e.manifest)) }];
    const waitClosed: Command = { kind: 'exec', cmd: portProbe(address, port), poll: { until: 'fails', timeoutMs: 60_000, intervalMs: 500 } };
    const commands: Command[] = [
      { kind: 'exec', cmd: `if ${portProbe(address, port)}; then echo ${q(`etcd still answers on ${address}:${port}: stop it before rejoining`)} >&2; exit 1; fi; mkdir -p ${q(bk)} && cp -a -- ${q(file)} ${q(`${bk}/previous`)}` },
      { kind: 'exec', cmd: `if [ -e ${q(member)} ]; then ${moveCommand(member, aside)} && : > ${moved}; fi` },
      { kind: 'exec', cmd: memberAddCommand(h, eps, e.name, e.peerUrl), parse: { parser: 'member-add', name: e.name, peerUrl: e.peerUrl } },
      {
        kind: 'edit',
        path: file,
        style: e.style,
        edits: [
          { flag: '--initial-cluster-state', value: 'existing' },
          { flag: '--initial-cluster', value: { fact: 'initial_cluster' } },
        ],
      },
      e.style === 'systemd' ? { kind: 'exec', cmd: `systemctl daemon-reload && systemctl start ${q(e.unit)}` } : { kind: 'exec', cmd: moveCommand(stashedPath(h, e.manifest), e.manifest) },
      { kind: 'exec', cmd: portProbe(address, port), poll: { until: 'succeeds', timeoutMs, intervalMs: 500 } },
      // an open port is not a joined member: wait until it serves (has a leader, caught up enough to answer)
      { kind: 'exec', cmd: `${etcdctl(h, [e.clientUrl])} endpoint health`, poll: { until: 'succeeds', timeoutMs, intervalMs: 500 } },
    ];
    const partialUndo: Command[][] = [
      [],
      [{ kind: 'exec', cmd: `if [ -e ${moved} ]; then if [ -e ${q(member)} ]; then mv -T -- ${q(member)} ${q(`${e.dataDir}/.rejoin-rolled-back-${ctx.runId}`)}; fi; mv -T -- ${q(aside)} ${q(member)}; fi` }],
      [{ kind: 'exec', cmd: `${etcdctl(h, eps)} member remove ${q(id)}` }],
      [{ kind: 'exec', cmd: `cp -a -- ${q(`${bk}/previous`)} ${q(tmp)} && mv -f -- ${q(tmp)} ${q(file)}` }],
      [...stop, waitClosed],
      [],
      [],
    ];
    // the full undo takes the member out of the cluster while it still runs, and only then stops it:
    // stopping first could leave the others without quorum for the removal
    const [, moveBack = [], removeMember = [], restoreManifest = [], stopIt = []] = partialUndo;
    return ok({ commands, undo: [...removeMember, ...stopIt, ...restoreManifest, ...moveBack], partialUndo, changes: true });
  },
};

/**
 * Rehearse a restore without touching the member: restore into a scratch dir, boot a throwaway etcd on
 * spare ports of this host, count its keys and read its revision, then stop it and remove the scratch dir.
 */
export const etcdRehearseRestore: Action<{ snapshot: string; address?: string; client_port?: number | string; peer_port?: number | string; version?: string }> = {
  name: 'etcd.rehearse_restore',
  changes: 'never',
  shellArgs: [],
  plan(args, ctx) {
    const bad = checkPath(args.snapshot, 'snapshot');
    if (bad) return refuse(bad);
    const h = ctx.host;
    const cport = Number(args.client_port ?? 12379);
    const pport = Number(args.peer_port ?? 12380);
    const dir = `${backupDir(ctx)}/rehearsal`;
    // the throwaway etcd holds every key, Secrets included, without TLS: by default only this host can reach it
    const address = args.address ?? '127.0.0.1';
    if (!isHostAddress(address)) return refuse(`address '${address}' is not a host name or IP address`);
    const peer = `http://${address}:${pport}`;
    const client = `http://${address}:${cport}`;
    const restore = restoreCommand(h, { snapshot: args.snapshot, token: `rehearsal-${ctx.runId}`, version: args.version, initialCluster: `rehearsal=${peer}`, dataDir: dir }).replace(
      `--name=${q(h.etcd.name)}`,
      '--name=rehearsal',
    ).replace(`--initial-advertise-peer-urls=${q(h.etcd.peerUrl)}`, `--initial-advertise-peer-urls=${q(peer)}`);
    const etcd = `etcd --name=rehearsal --data-dir=${q(dir)} --listen-client-urls=${q(client)} --advertise-client-urls=${q(client)} --listen-peer-urls=${q(peer)} --initial-advertise-peer-urls=${q(peer)} --initial-cluster=${q(`rehearsal=${peer}`)}`;
    const get = `ETCDCTL_API=3 ${q(h.etcd.etcdctl)} --endpoints=${q(client)} --dial-timeout=1s --command-timeout=3s get '' --prefix --keys-only --limit=1 -w json`;
    const cmd = [
      `rm -rf -- ${q(dir)} && mkdir -p ${q(dir.slice(0, dir.lastIndexOf('/')))}`,
      `${restore} >&2 || exit 1`,
      `${etcd} > ${q(`${dir}.log`)} 2>&1 & pid=$!`,
      `trap 'kill $pid 2>/dev/null; wait $pid 2>/dev/null; rm -rf -- ${q(dir)} ${q(`${dir}.log`)}' EXIT`,
      `for i in $(seq 1 100); do if ${get} 2>/dev/null; then exit 0; fi; sleep 0.2; done`,
      `echo 'the throwaway etcd did not answer; its log:' >&2; tail -n 20 ${q(`${dir}.log`)} >&2; exit 1`,
    ].join('; ');
    return ok({ commands: [{ kind: 'exec', cmd, parse: { parser: 'key-count' } }], undo: [], changes: false });
  },
};

