/**
 * Which etcd commands exist for which etcd version. Pure; the unit tables in
 * test/unit/etcd-version.test.ts are the reference.
 *
 * - 3.4: everything is etcdctl (`snapshot status`, `snapshot restore`); no revision bump; a member that
 *   rejoins is added as a voter (as the 3.4 docs do).
 * - 3.5: offline snapshot work moved to etcdutl (etcdctl's `snapshot status`/`restore` are deprecated);
 *   `etcdutl snapshot restore --bump-revision --mark-compacted`; members rejoin as learners and are
 *   promoted once caught up.
 * - 3.6: as 3.5 for what the playbooks use, and etcdctl's `snapshot status`/`restore` are gone.
 */

export type CommandSet = '3.4' | '3.5' | '3.6';
export const COMMAND_SETS: readonly CommandSet[] = ['3.4', '3.5', '3.6'];

export interface EtcdCommands {
  set: CommandSet;
  /** The tool for `snapshot status` and `snapshot restore` (offline work on a snapshot file). */
  offline: 'etcdctl' | 'etcdutl';
  /** Tools a master needs for the playbooks, besides etcd itself (the rehearsal's throwaway member). */
  tools: readonly ('etcd' | 'etcdctl' | 'etcdutl')[];
  /** `snapshot restore --bump-revision/--mark-compacted` exist. */
  bumpRevision: boolean;
  /** A rejoining member is added with `member add --learner` and promoted once it has caught up. */
  learnerRejoin: boolean;
  /** `etcdctl snapshot status` still exists (deprecated on 3.5). */
  etcdctlSnapshotStatus: boolean;
}

export function majorMinor(v: string): [number, number] | undefined {
  const m = /^v?(\d+)\.(\d+)(?:\.\d+)?(?:[-+].*)?$/.exec(v.trim());
  return m ? [Number(m[1]), Number(m[2])] : undefined;
}

/** The command set of an etcd version; undefined for versions this tool does not know how to drive (< 3.4, 4+). */
export function commandSetOf(version: string): CommandSet | undefined {
  const mm = majorMinor(version);
  if (mm?.[0] !== 3) return undefined;
  if (mm[1] === 4) return '3.4';
  if (mm[1] === 5) return '3.5';
  if (mm[1] >= 6) return '3.6';
  return undefined;
}

export function commandsFor(set: CommandSet): EtcdCommands {
  switch (set) {
    case '3.4':
      return { set, offline: 'etcdctl', tools: ['etcd', 'etcdctl'], bumpRevision: false, learnerRejoin: false, etcdctlSnapshotStatus: true };
    case '3.5':
      return { set, offline: 'etcdutl', tools: ['etcd', 'etcdctl', 'etcdutl'], bumpRevision: true, learnerRejoin: true, etcdctlSnapshotStatus: true };
    case '3.6':
      return { set, offline: 'etcdutl', tools: ['etcd', 'etcdctl', 'etcdutl'], bumpRevision: true, learnerRejoin: true, etcdctlSnapshotStatus: false };
  }
}

/** -1, 0, 1 comparing major.minor only (patch releases share a storage format). */
export function compareMinor(a: string, b: string): number | undefined {
  const x = majorMinor(a);
  const y = majorMinor(b);
  if (!x || !y) return undefined;
  return x[0] !== y[0] ? Math.sign(x[0] - y[0]) : Math.sign(x[1] - y[1]);
}

/**
 * The revision bump a 3.5+ full restore applies by default: 1,000,000,000, the figure the etcd
 * maintainers give for Kubernetes. At 1,000 writes a second (far above a busy control plane) the
 * writes since the snapshot would need 11 days to reach it; the revision stays far below 2^63.
 */
export const DEFAULT_BUMP_REVISION = 1_000_000_000;
