import type { Command } from '../model/command.js';
import type { Host } from '../model/inventory.js';
import type { Ref, Shell } from '../model/shell.js';
import { MEMBERS_MARK, STATUS_MARK } from '../facts/etcd-json.js';
import { arg, isRef, join, sh } from '../shell/build.js';
import { type Action, type ActionContext, backupDir, boolArg, checkPath, ok, refuse, stagedDir } from './action.js';
import { etcdctl, type EtcdctlTimeouts, initialCluster, POLL_TIMEOUTS, toolPath, urlHostPort } from './etcdctl.js';
import { DEFAULT_BUMP_REVISION, type EtcdCommands } from './etcd-version.js';
import { isHostAddress, portProbe, seconds } from './wait.js';
import { moveCommand, moveOnce } from './file.js';

function clusterHosts(ctx: ActionContext, exclude: string[] = []): Host[] {
  return ctx.cluster.filter((h) => !h.down && !exclude.includes(h.name) && !exclude.includes(h.etcd.name));
}

function endpointsOf(hosts: Host[]): string[] {
  return hosts.map((h) => h.etcd.clientUrl);
}

/** One command printing member list and endpoint status as JSON, tolerant of members that are down. */
export function statusCommand(h: Host, endpoints: string[], timeouts?: EtcdctlTimeouts): Shell {
  const ctl = etcdctl(h, endpoints, timeouts);
  return sh`echo ${MEMBERS_MARK}; ${ctl} member list -w json || true; echo; echo ${STATUS_MARK}; ${ctl} endpoint status -w json 2>/dev/null || true; echo`;
}

/** `partial` when a member with this peer URL exists, `not-started` when none does. */
function memberByPeerProbe(h: Host, endpoints: string[], peerUrl: string): Shell {
  return sh`list=$(${etcdctl(h, endpoints)} member list) || { echo unknown; exit 0; }; if printf '%s\n' "$list" | awk -F ${', '} -v ${`p=${peerUrl}`} ${'$4 == p { found = 1 } END { exit !found }'}; then echo partial; else echo not-started; fi`;
}

/**
 * Remove the member that has this peer URL, looked up when the command runs (so an undo written before
 * the member existed, or journaled before a crash, still names the right one). No such member: nothing to do.
 */
export function removeByPeerUrl(h: Host, endpoints: string[], peerUrl: string): Shell {
  const ctl = etcdctl(h, endpoints);
  return sh`list=$(${ctl} member list) || exit 1; id=$(printf '%s\n' "$list" | awk -F ${', '} -v ${`p=${peerUrl}`} ${'$4 == p { print $1 }'}); if [ -z "$id" ]; then echo ${`no member has peer URL ${peerUrl}: nothing to remove`} >&2; exit 0; fi; ${whileUnhealthy(sh`${ctl} member remove "$id"`)}`;
}

/**
 * A membership change, tried again every second for up to 30 s while etcd refuses it for one of `refusals`
 * (text in its error): etcd 3.4 says "unhealthy cluster" for ~5 s after a member (re)connected, even with
 * quorum (strict reconfig check). Any other error is final. Its output is passed on.
 */
export function retriedWhile(change: Shell, refusals: string[]): Shell {
  const refused = join(refusals.map((r) => sh`*${r}*`), '|');
  return sh`for i in $(seq 1 30); do if out=$({ ${change}; } 2>&1); then printf '%s\n' "$out"; exit 0; fi; case "$out" in ${refused}) sleep 1;; *) printf '%s\n' "$out" >&2; exit 1;; esac; done; printf '%s\n' "$out" >&2; exit 1`;
}

/** A remove refused this way changed nothing: tried again on that refusal only. */
export const whileUnhealthy = (remove: Shell): Shell => retriedWhile(remove, ['unhealthy cluster']);

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
    const timeout = seconds(args.timeout, 120, 'timeout');
    // every 0.25 s: each second of waiting for a restored cluster is RTO
    const interval = seconds(args.interval, 0.25, 'interval');
    if (typeof timeout === 'string') return refuse(timeout);
    if (typeof interval === 'string') return refuse(interval);
    if (members !== undefined && (!Number.isInteger(members) || members < 1)) return refuse(`members must be a whole number ≥ 1, got ${String(args.members)}`);
    // every endpoint must answer: a try fails at once on a port not open yet (a bash /dev/tcp probe), rather
    // than after etcdctl's dial timeout
    const ports = args.quorum_of === undefined ? eps.map((u) => urlHostPort(u)).filter((a) => isHostAddress(a.address) && a.port > 0) : [];
    const status = statusCommand(ctx.host, eps, POLL_TIMEOUTS);
    const cmd = ports.length === eps.length && ports.length > 0 ? sh`${join(ports.map((a) => portProbe(a.address, a.port)), ' && ')} && { ${status}; }` : status;
    return ok({
      commands: [
        {
          kind: 'exec',
          cmd,
          parse: { parser: 'etcd-cluster', endpoints: eps, expect: { members, endpoints: args.quorum_of === undefined ? eps : undefined, converged: args.converged ?? true, quorumOf: args.quorum_of === undefined ? undefined : Number(args.quorum_of) } },
          poll: { until: 'succeeds', timeoutMs: timeout * 1000, intervalMs: interval * 1000 },
        },
      ],
      undo: [],
      changes: false,
    });
  },
};

export const etcdKeyCount: Action<{ prefix?: string; equals?: number | string | Ref; min?: number | string | Ref; scope?: 'cluster' | 'self' }> = {
  name: 'etcd.key_count',
  changes: 'never',
  shellArgs: [],
  runtimeArgs: ['equals', 'min'],
  plan(args, ctx) {
    const eps = args.scope === 'self' ? [ctx.host.etcd.clientUrl] : endpointsOf(clusterHosts(ctx));
    // in a dry run a registered count is not known yet: the plan shows the command all the same
    // a count registered by an earlier step is a reference: the run checks it is a number when it arrives
    const num = (v: unknown): number | Ref | undefined => (v === undefined || v === '' ? undefined : isRef(v) ? v : Number(v));
    const equals = num(args.equals);
    const min = num(args.min);
    if ((typeof equals === 'number' && !Number.isFinite(equals)) || (typeof min === 'number' && !Number.isFinite(min))) return refuse('equals/min must be numbers');
    return ok({
      commands: [{ kind: 'exec', cmd: sh`${etcdctl(ctx.host, eps)} get ${args.prefix ?? ''} --prefix --keys-only --limit=1 -w json`, parse: { parser: 'key-count', expect: { equals, min } } }],
      undo: [],
      changes: false,
    });
  },
};

/** `snapshot status` of a file, with the tool the version has for it (etcdctl on 3.4, etcdutl from 3.5). */
export function snapshotStatusCommand(h: Host, etcd: EtcdCommands, path: string): Shell {
  return etcd.offline === 'etcdutl' ? sh`${toolPath(h, 'etcdutl')} snapshot status ${path} -w json` : sh`ETCDCTL_API=3 ${toolPath(h, 'etcdctl')} snapshot status ${path} -w json`;
}

export const etcdSnapshotSave: Action<{ path: string; version?: string }> = {
  name: 'etcd.snapshot_save',
  changes: 'always',
  shellArgs: [],
  versioned: true,
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
          cmd: sh`if [ -e ${p} ]; then echo ${`refusing: ${p} already exists`} >&2; exit 17; fi; mkdir -p ${dir} && ${ctl} snapshot save ${`${p}.part`} >&2 && mv -- ${`${p}.part`} ${p} && ${snapshotStatusCommand(ctx.host, ctx.etcd, p)}`,
          parse: { parser: 'snapshot-status' },
        },
      ],
      undo: [{ kind: 'exec', cmd: sh`rm -f -- ${p} ${`${p}.part`}` }],
      changes: true,
      // a snapshot a crash interrupted is taken again: what it registers (its status) is not kept across a crash
      probe: { cmd: sh`if [ -e ${p} ] || [ -e ${`${p}.part`} ]; then echo partial; else echo not-started; fi`, cleanup: [{ kind: 'exec', cmd: sh`rm -f -- ${p} ${`${p}.part`}` }] },
    });
  },
};

/**
 * `snapshot status` of a file. `restore_with` (the member's etcd version, from etcd.tools) and `written_by`
 * (the backup provenance's etcd_version): a snapshot written by a newer etcd than would restore it is refused.
 */
export const etcdSnapshotStatus: Action<{ path: string; version?: string; restore_with?: string | Ref; written_by?: string | Ref }> = {
  name: 'etcd.snapshot_status',
  changes: 'never',
  shellArgs: [],
  versioned: true,
  runtimeArgs: ['restore_with', 'written_by'],
  plan(args, ctx) {
    const bad = checkPath(args.path, 'path');
    if (bad) return refuse(bad);
    return ok({
      commands: [{ kind: 'exec', cmd: snapshotStatusCommand(ctx.host, ctx.etcd, args.path), parse: { parser: 'snapshot-status', restoreWith: args.restore_with, writtenBy: args.written_by } }],
      undo: [],
      changes: false,
    });
  },
};

export interface RestoreArgs {
  snapshot: string;
  token: string;
  data_dir?: string;
  version?: string;
  skip_hash_check?: boolean;
  bump_revision?: number | string;
  mark_compacted?: boolean | string;
  initial_cluster?: string;
}

/**
 * The revision bump a restore applies: on 3.5+ `bump_revision` (default DEFAULT_BUMP_REVISION; 0 = none)
 * with --mark-compacted (default with a bump); on 3.4 none is possible. A bump asked for explicitly on 3.4
 * is an error, never silently dropped.
 */
export function bumpOf(etcd: EtcdCommands, a: { bump_revision?: number | string | undefined; mark_compacted?: boolean | string | undefined }): { bump: number; markCompacted: boolean } | string {
  const given = a.bump_revision === undefined || a.bump_revision === '' ? undefined : Number(a.bump_revision);
  if (given !== undefined && (!Number.isSafeInteger(given) || given < 0)) return `bump_revision '${String(a.bump_revision)}' must be a whole number ≥ 0`;
  const mark = a.mark_compacted === undefined || a.mark_compacted === '' ? undefined : a.mark_compacted === true || a.mark_compacted === 'true';
  if (!etcd.bumpRevision) {
    if (given !== undefined && given > 0) return `etcd ${etcd.set} cannot bump the revision on restore (etcdutl --bump-revision needs etcd 3.5+): use bump_revision=0 on this cluster`;
    if (mark === true) return `etcd ${etcd.set} has no --mark-compacted (etcdutl, etcd 3.5+)`;
    return { bump: 0, markCompacted: false };
  }
  const bump = given ?? DEFAULT_BUMP_REVISION;
  return { bump, markCompacted: mark ?? bump > 0 };
}

/** What the plan says of a restore's revision bump. */
export function bumpNote(etcd: EtcdCommands, bump: { bump: number; markCompacted: boolean }): string {
  return etcd.bumpRevision
    ? bump.bump > 0
      ? `etcd 3.5+: revision bumped by ${bump.bump}${bump.markCompacted ? ' and the old revisions marked compacted' : ''}, so that watchers (the apiserver's informers) re-list instead of missing events`
      : `etcd 3.5+: no revision bump (bump_revision=0): watchers that saw revisions after the snapshot may miss events`
    : `etcd ${etcd.set}: no revision bump is possible (etcdutl --bump-revision needs etcd 3.5+): watchers that saw revisions after the snapshot may miss events until they re-list`;
}

/** Build the restore command for one member; version-aware (etcdctl on 3.4, etcdutl from 3.5). Pure. */
export function restoreCommand(h: Host, etcd: EtcdCommands, a: RestoreArgs & { initialCluster: string; dataDir: string; name?: string; peerUrl?: string }, bump: { bump: number; markCompacted: boolean }): Shell {
  const etcdutl = etcd.offline === 'etcdutl';
  const parts = [
    etcdutl ? sh`${toolPath(h, 'etcdutl')}` : sh`ETCDCTL_API=3 ${toolPath(h, 'etcdctl')}`,
    sh`snapshot restore ${a.snapshot}`,
    sh`--name=${a.name ?? h.etcd.name}`,
    sh`--initial-cluster=${a.initialCluster}`,
    sh`--initial-cluster-token=${a.token}`,
    sh`--initial-advertise-peer-urls=${a.peerUrl ?? h.etcd.peerUrl}`,
    sh`--data-dir=${a.dataDir}`,
  ];
  if (a.skip_hash_check) parts.push(sh`--skip-hash-check`);
  if (bump.bump > 0) parts.push(sh`--bump-revision=${bump.bump}`);
  if (bump.markCompacted) parts.push(sh`--mark-compacted`);
  return join(parts, ' ');
}

/** What every restore checks first (etcd.snapshot_restore, etcd.stage_restore): its paths, a new token, the bump. */
export function restoreInputs(args: RestoreArgs, ctx: ActionContext): { dataDir: string; initialCluster: string; bump: { bump: number; markCompacted: boolean } } | string {
  const dataDir = args.data_dir ?? ctx.host.etcd.dataDir;
  const bad = checkPath(args.snapshot, 'snapshot') ?? checkPath(dataDir, 'data_dir');
  if (bad) return bad;
  if (!args.token) return 'a new --initial-cluster-token is required (token)';
  const bump = bumpOf(ctx.etcd, args);
  if (typeof bump === 'string') return bump;
  return { dataDir, initialCluster: args.initial_cluster ?? initialCluster(ctx.cluster), bump };
}

export const etcdSnapshotRestore: Action<RestoreArgs> = {
  name: 'etcd.snapshot_restore',
  changes: 'always',
  shellArgs: [],
  versioned: true,
  plan(args, ctx) {
    const inputs = restoreInputs(args, ctx);
    if (typeof inputs === 'string') return refuse(inputs);
    const { dataDir, initialCluster: ic, bump } = inputs;
    // Everything happens inside the data dir's own filesystem, so a data dir that is a mount point
    // (a dedicated etcd disk) works, and a full disk shows up here, with nothing half-written left.
    const tmp = `${dataDir}/.restore-${ctx.runId}`;
    const member = `${dataDir}/member`;
    const rolledBack = `${dataDir}/.rolled-back-${ctx.runId}`;
    return ok({
      commands: [
        {
          kind: 'exec',
          cmd: sh`if [ -e ${member} ]; then echo ${`refusing to restore: ${member} exists (move it aside first)`} >&2; exit 17; fi; mkdir -p -m 700 ${dataDir} && rm -rf -- ${tmp}`,
        },
        // 3.4 refuses an existing --data-dir, even an empty one: restore into a fresh scratch dir; on failure remove only that
        { kind: 'exec', cmd: sh`${restoreCommand(ctx.host, ctx.etcd, { ...args, initialCluster: ic, dataDir: tmp }, bump)} || { rc=$?; rm -rf -- ${tmp}; exit $rc; }` },
        // owned like the data dir (an etcd that runs as its own user must open it), before it is moved into place
        { kind: 'exec', cmd: sh`chown -R --reference=${dataDir} -- ${`${tmp}/member`} && mv -T -- ${`${tmp}/member`} ${member} && rmdir -- ${tmp}` },
      ],
      // never delete: the restored member dir is moved aside inside the data dir
      undo: [{ kind: 'exec', cmd: sh`if [ -e ${member} ]; then mkdir -p ${rolledBack} && mv -T -- ${member} ${`${rolledBack}/member`}; fi` }],
      partialUndo: [[], [{ kind: 'exec', cmd: sh`rm -rf -- ${tmp}` }], []],
      changes: true,
      note: bumpNote(ctx.etcd, bump),
      // the restored member appears by one rename: there means done; a scratch dir alone means half-written
      probe: {
        cmd: sh`if [ -e ${member} ]; then echo done; elif [ -e ${tmp} ]; then echo partial; else echo not-started; fi`,
        cleanup: [{ kind: 'exec', cmd: sh`rm -rf -- ${tmp}` }],
      },
    });
  },
};

export const etcdMemberRemove: Action<{ id: string | Ref; name: string }> = {
  name: 'etcd.member_remove',
  changes: 'always',
  shellArgs: [],
  runtimeArgs: ['id'],
  plan(args, ctx) {
    if (!isRef(args.id) && !/^[0-9a-f]{1,16}$/.test(String(args.id))) return refuse(`member id '${args.id}' is not a hex id: take it from etcd.status (members_by_name)`);
    const eps = endpointsOf(clusterHosts(ctx, [args.name]));
    const id = isRef(args.id) ? args.id : String(args.id);
    const ctl = etcdctl(ctx.host, eps);
    return ok({
      commands: [{ kind: 'exec', cmd: whileUnhealthy(sh`${ctl} member remove ${id}`) }],
      // removed, or still a member: etcd's member list says which
      probe: { cmd: sh`list=$(${ctl} member list) || { echo unknown; exit 0; }; if printf '%s\n' "$list" | cut -d, -f1 | grep -qx -- ${id}; then echo not-started; else echo done; fi`, cleanup: [] },
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
  plan(args, ctx) {
    const eps = endpointsOf(clusterHosts(ctx, [args.name]));
    return ok({
      commands: [{ kind: 'exec', cmd: sh`${etcdctl(ctx.host, eps)} member add ${args.name} --peer-urls=${args.peer_url} -w json`, parse: { parser: 'member-add', name: args.name, peerUrl: args.peer_url } }],
      undo: [{ kind: 'exec', cmd: removeByPeerUrl(ctx.host, eps, args.peer_url) }],
      // added or not, by peer URL; an added member is taken out again and added anew (its output is registered)
      probe: { cmd: memberByPeerProbe(ctx.host, eps, args.peer_url), cleanup: [{ kind: 'exec', cmd: removeByPeerUrl(ctx.host, eps, args.peer_url) }] },
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
  repeatable: true,
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
    // one flag is one line of the manifest or unit: a newline in a value would add another flag
    const multi = edits.find((x) => /[\r\n\0]/.test(x.flag) || (typeof x.value === 'string' && /[\r\n\0]/.test(x.value)));
    if (multi) return refuse(`set.${multi.flag.replace(/[\r\n\0]/g, '?')}: a flag or value with a newline or NUL would write more than one flag line: give one line`);
    const bk = backupDir(ctx);
    const dir = file.slice(0, file.lastIndexOf('/'));
    const tmp = `${dir}/.${file.split('/').pop()}.runbook-undo`;
    const cmds: Command[] = [
      // the backup is taken once: a retried attempt must not save its own edit as "previous"
      { kind: 'exec', cmd: sh`mkdir -p ${bk} && if [ ! -e ${`${bk}/previous`} ]; then cp -a -- ${file} ${`${bk}/previous`}; fi` },
      { kind: 'edit', path: file, style: e.style, edits },
    ];
    return ok({ commands: cmds, undo: [{ kind: 'exec', cmd: sh`cp -a -- ${`${bk}/previous`} ${tmp} && mv -f -- ${tmp} ${file}` }], changes: true });
  },
};

/** Where a stopped static pod's manifest waits: outside the manifests dir, so kubelet does not run it. */
export function stashedPath(h: Host, manifest: string): string {
  return `${h.etcd.stashDir}/stopped/${manifest.split('/').pop() ?? 'manifest'}`;
}

/** `member add`, retried while etcd 3.4 answers "unhealthy cluster" (for ~5 s after members connect). */
export function memberAddCommand(h: Host, endpoints: string[], name: string, peerUrl: string, learner = false): Shell {
  const add = learner ? sh`${etcdctl(h, endpoints)} member add ${name} --learner --peer-urls=${peerUrl} -w json` : sh`${etcdctl(h, endpoints)} member add ${name} --peer-urls=${peerUrl} -w json`;
  return retriedWhile(add, ['unhealthy', 'not started', 'started members', 'timeout', 'timed out']);
}

/**
 * Rejoin this host's member to a running cluster, all from the member itself: its data dir moved aside
 * (kept), `member add` on the others, --initial-cluster-state=existing and the exact --initial-cluster
 * that member add printed, start, wait for its port. Every part has its undo, also when it fails half-way.
 */
/**
 * Promote the learner that has this peer URL, looked up when it runs; already a voter: nothing to do. etcd
 * refuses while the learner has not caught up with the leader ("not in sync"): polled until it has.
 */
export function promoteByPeerUrl(h: Host, endpoints: string[], peerUrl: string): Shell {
  const ctl = etcdctl(h, endpoints);
  return sh`list=$(${ctl} member list) || exit 1; line=$(printf '%s\n' "$list" | awk -F ${', '} -v ${`p=${peerUrl}`} ${'$4 == p { print $1, $6 }'}); set -- $line; if [ -z "$1" ]; then echo ${`no member has peer URL ${peerUrl}`} >&2; exit 1; fi; if [ "$2" != true ]; then echo "member $1 is a voting member already"; exit 0; fi; ${ctl} member promote "$1"`;
}

export const etcdRejoin: Action<{ timeout?: number; version?: string }> = {
  name: 'etcd.rejoin',
  changes: 'always',
  shellArgs: [],
  versioned: true,
  plan(args, ctx) {
    const learner = ctx.etcd.learnerRejoin;
    const h = ctx.host;
    const e = h.etcd;
    const bk = backupDir(ctx);
    const eps = endpointsOf(clusterHosts(ctx, [h.name]));
    const { address, port } = urlHostPort(e.clientUrl);
    const timeoutS = seconds(args.timeout, 120, 'timeout');
    if (typeof timeoutS === 'string') return refuse(timeoutS);
    const timeoutMs = timeoutS * 1000;
    const member = `${e.dataDir}/member`;
    const aside = `${e.dataDir}/member.before-${ctx.runId}`;
    const moved = `${bk}/data-moved`;
    const file = e.style === 'systemd' ? e.manifest : stashedPath(h, e.manifest);
    const tmp = `${file.slice(0, file.lastIndexOf('/'))}/.${file.split('/').pop()}.runbook-undo`;
    const stop: Command[] =
      e.style === 'systemd'
        ? [{ kind: 'exec', cmd: sh`systemctl stop ${e.unit}` }]
        : [{ kind: 'exec', cmd: moveOnce(e.manifest, stashedPath(h, e.manifest)) }];
    const waitClosed: Command = { kind: 'exec', cmd: portProbe(address, port), poll: { until: 'fails', timeoutMs: 60_000, intervalMs: 500 } };
    const commands: Command[] = [
      { kind: 'exec', cmd: sh`if ${portProbe(address, port)}; then echo ${`etcd still answers on ${address}:${port}: stop it before rejoining`} >&2; exit 1; fi; mkdir -p ${bk} && if [ ! -e ${`${bk}/previous`} ]; then cp -a -- ${file} ${`${bk}/previous`}; fi` },
      { kind: 'exec', cmd: sh`if [ -e ${member} ]; then ${moveCommand(member, aside)} && : > ${moved}; fi` },
      { kind: 'exec', cmd: memberAddCommand(h, eps, e.name, e.peerUrl, learner), parse: { parser: 'member-add', name: e.name, peerUrl: e.peerUrl } },
      {
        kind: 'edit',
        path: file,
        style: e.style,
        edits: [
          { flag: '--initial-cluster-state', value: 'existing' },
          { flag: '--initial-cluster', value: { fact: 'initial_cluster' } },
        ],
      },
      e.style === 'systemd' ? { kind: 'exec', cmd: sh`systemctl daemon-reload && systemctl start --no-block ${e.unit}` } : { kind: 'exec', cmd: moveCommand(stashedPath(h, e.manifest), e.manifest) },
      { kind: 'exec', cmd: portProbe(address, port), poll: { until: 'succeeds', timeoutMs, intervalMs: 500 } },
      // 3.5+: the learner becomes a voter only once it has caught up with the leader (etcd refuses before)
      ...(learner ? [{ kind: 'exec' as const, cmd: promoteByPeerUrl(h, eps, e.peerUrl), poll: { until: 'succeeds' as const, timeoutMs, intervalMs: 1000 } }] : []),
      // an open port is not a joined member: wait until it serves (has a leader, caught up enough to answer)
      { kind: 'exec', cmd: sh`${etcdctl(h, [e.clientUrl])} endpoint health`, poll: { until: 'succeeds', timeoutMs, intervalMs: 500 } },
    ];
    const partialUndo: Command[][] = [
      [],
      [{ kind: 'exec', cmd: sh`if [ -e ${moved} ]; then if [ -e ${member} ]; then mv -T -- ${member} ${`${e.dataDir}/.rejoin-rolled-back-${ctx.runId}`}; fi; mv -T -- ${aside} ${member} && rm -f -- ${moved}; fi` }],
      // by peer URL, looked up when it runs: the id member add printed is not needed (nor known after a crash)
      [{ kind: 'exec', cmd: removeByPeerUrl(h, eps, e.peerUrl) }],
      [{ kind: 'exec', cmd: sh`if [ -e ${`${bk}/previous`} ]; then cp -a -- ${`${bk}/previous`} ${tmp} && mv -f -- ${tmp} ${file}; fi` }],
      [...stop, waitClosed],
      [],
      ...(learner ? [[]] : []),
      [],
    ];
    // the full undo takes the member out of the cluster while it still runs, and only then stops it:
    // stopping first could leave the others without quorum for the removal
    const [, moveBack = [], removeMember = [], restoreManifest = [], stopIt = []] = partialUndo;
    const undo = [...removeMember, ...stopIt, ...restoreManifest, ...moveBack];
    // interrupted anywhere: every part of the undo checks what is there, so it is run, and the rejoin starts over
    const probe = { cmd: sh`if [ -e ${`${bk}/previous`} ]; then echo partial; else echo not-started; fi`, cleanup: [...undo, { kind: 'exec' as const, cmd: sh`rm -f -- ${`${bk}/previous`} ${moved}` }] };
    return ok({ commands, undo, partialUndo, changes: true, probe, note: learner ? `etcd 3.5+: added as a learner, promoted to a voter once it has caught up` : `etcd ${ctx.etcd.set}: added as a voting member (as on 3.4)` });
  },
};

/** After a restore: every member's revision is at least the snapshot's plus the bump the restore applied. */
export const etcdCheckRevision: Action<{ snapshot_revision: string | number | Ref; bump_revision?: number | string; mark_compacted?: boolean | string; timeout?: number; version?: string }> = {
  name: 'etcd.check_revision',
  changes: 'never',
  shellArgs: [],
  versioned: true,
  runtimeArgs: ['snapshot_revision'],
  plan(args, ctx) {
    const bump = bumpOf(ctx.etcd, args);
    if (typeof bump === 'string') return refuse(bump);
    const eps = endpointsOf(clusterHosts(ctx));
    return ok({
      commands: [
        {
          kind: 'exec',
          cmd: statusCommand(ctx.host, eps, POLL_TIMEOUTS),
          parse: { parser: 'etcd-cluster', endpoints: eps, expect: { endpoints: eps, minRevision: { base: args.snapshot_revision, plus: bump.bump } } },
          poll: { until: 'succeeds', timeoutMs: Number(args.timeout ?? 30) * 1000, intervalMs: 1000 },
        },
      ],
      undo: [],
      changes: false,
      note: bump.bump > 0 ? `every member at revision ≥ snapshot + ${bump.bump}` : `etcd 3.4: no bump, every member at revision ≥ the snapshot's`,
    });
  },
};

/**
 * Rehearse a restore without touching the member: restore into a scratch dir, boot a throwaway etcd on
 * spare ports of this host, count its keys and read its revision, then stop it and remove the scratch dir.
 */
export const etcdRehearseRestore: Action<{ snapshot?: string; staged?: boolean | string; address?: string; client_port?: number | string; peer_port?: number | string; version?: string; bump_revision?: number | string }> = {
  name: 'etcd.rehearse_restore',
  changes: 'never',
  shellArgs: [],
  versioned: true,
  plan(args, ctx) {
    // the bump is the restore's: checked here (a bump 3.4 cannot do is refused before anything stops), not rehearsed
    const bump = bumpOf(ctx.etcd, args);
    if (typeof bump === 'string') return refuse(bump);
    const staged = boolArg(args.staged, 'staged');
    if (typeof staged === 'string') return refuse(staged);
    if (staged && args.snapshot !== undefined) return refuse('give snapshot or staged: true, not both');
    const bad = staged ? undefined : checkPath(args.snapshot, 'snapshot');
    if (bad) return refuse(bad);
    const h = ctx.host;
    const cport = Number(args.client_port ?? 12379);
    const pport = Number(args.peer_port ?? 12380);
    if (![cport, pport].every((p) => Number.isInteger(p) && p > 0 && p < 65536)) return refuse('client_port and peer_port must be 1-65535');
    const dir = `${backupDir(ctx)}/rehearsal`;
    const log = `${dir}.log`;
    // the throwaway etcd holds every key, Secrets included, without TLS: by default only this host can reach it
    const address = args.address ?? '127.0.0.1';
    if (!isHostAddress(address)) return refuse(`address '${address}' is not a host name or IP address`);
    const peer = `http://${address}:${pport}`;
    const client = `http://${address}:${cport}`;
    // staged: a copy of what etcd.stage_restore wrote for this member, booted alone (--force-new-cluster drops
    // the other members from the copy's membership; the staged dir itself is not touched). It shows the
    // revision plus the restore's bump, reported without it. Else a restore of its own into the scratch dir.
    const stage = `${stagedDir(ctx)}/member`;
    const name = staged ? h.etcd.name : 'rehearsal';
    const prepare = staged
      ? sh`if [ ! -d ${stage} ]; then echo ${`no restore staged by this run at ${stage} (etcd.stage_restore)`} >&2; exit 1; fi; mkdir -p ${dir} && cp -a -- ${stage} ${`${dir}/member`} || exit 1`
      : sh`${restoreCommand(h, ctx.etcd, { snapshot: args.snapshot ?? '', token: `rehearsal-${ctx.runId}`, initialCluster: `rehearsal=${peer}`, dataDir: dir, name: 'rehearsal', peerUrl: peer }, { bump: 0, markCompacted: false })} >&2 || exit 1`;
    // one member with no peer to hear from: a short election timeout makes it leader in tens of milliseconds
    // instead of the default's second or so (a member of the real cluster keeps its own settings)
    const etcd = sh`${toolPath(h, 'etcd')} --name=${name} --data-dir=${dir} --listen-client-urls=${client} --advertise-client-urls=${client} --listen-peer-urls=${peer} --initial-advertise-peer-urls=${peer} --initial-cluster=${`${name}=${peer}`} --heartbeat-interval=10 --election-timeout=100${staged ? sh` --force-new-cluster` : sh``}`;
    const get = sh`ETCDCTL_API=3 ${toolPath(h, 'etcdctl')} --endpoints=${client} --dial-timeout=1s --command-timeout=3s get '' --prefix --keys-only --limit=1 -w json`;
    // the trap's text is a command of its own: built as one, and quoted once as trap's argument
    const cleanup = sh`kill $pid 2>/dev/null; wait $pid 2>/dev/null; rm -rf -- ${dir} ${log}`;
    const cmd = join(
      [
        sh`rm -rf -- ${dir} && mkdir -p ${dir.slice(0, dir.lastIndexOf('/'))}`,
        prepare,
        sh`${etcd} > ${log} 2>&1 & pid=$!`,
        sh`trap ${arg(cleanup)} EXIT`,
        // its port first (a bash /dev/tcp probe fails at once): etcdctl dialing a port that is not open yet
        // gives up only after its dial timeout, and each such try would be most of a second of the RTO
        sh`for i in $(seq 1 400); do if ${portProbe(address, cport)}; then break; fi; kill -0 $pid 2>/dev/null || break; sleep 0.05; done`,
        sh`if ! kill -0 $pid 2>/dev/null; then echo 'the throwaway etcd exited; its log:' >&2; tail -n 20 ${log} >&2; exit 1; fi`,
        sh`for i in $(seq 1 100); do if ${get} 2>/dev/null; then exit 0; fi; sleep 0.1; done`,
        sh`echo 'the throwaway etcd did not answer; its log:' >&2; tail -n 20 ${log} >&2; exit 1`,
      ],
      '; ',
    );
    return ok({ commands: [{ kind: 'exec', cmd, parse: { parser: 'key-count', ...(staged && bump.bump > 0 ? { bump: bump.bump } : {}) } }], undo: [], changes: false });
  },
};
