/**
 * Pure parsers for etcdctl's JSON output (pyinfra-style facts: the command is built elsewhere).
 * etcd prints member and cluster ids as uint64 numbers that do not fit a double: they are
 * quoted before JSON.parse and turned into the hex form etcdctl takes as arguments.
 */

const BIG_ID_KEYS = ['ID', 'cluster_id', 'member_id', 'leader'];

export function parseEtcdJson(text: string): unknown {
  const quoted = text.replace(new RegExp(`("(?:${BIG_ID_KEYS.join('|')})"\\s*:\\s*)(\\d+)`, 'g'), '$1"$2"');
  return JSON.parse(quoted);
}

export function hexId(v: unknown): string {
  if (typeof v !== 'string' && typeof v !== 'number') return '';
  try {
    return BigInt(v).toString(16);
  } catch {
    return '';
  }
}

export interface Member {
  id: string;
  name: string;
  peerURLs: string[];
  clientURLs: string[];
  isLearner: boolean;
  /** A member that was added but never started has no name and no client URLs. */
  started: boolean;
}

export interface EndpointStatus {
  endpoint: string;
  memberId: string;
  clusterId: string;
  leader: string;
  revision: number;
  raftIndex: number;
  raftTerm: number;
  dbSize: number;
  version: string;
  isLearner: boolean;
}

export interface ClusterFacts {
  members: Member[];
  membersByName: Record<string, Member>;
  endpoints: EndpointStatus[];
  /** Endpoints that did not answer endpoint status. */
  unreachable: string[];
  leader: string | undefined;
  leaderName: string | undefined;
  clusterIds: string[];
  revisions: number[];
  version: string | undefined;
}

type Obj = Record<string, unknown>;
const obj = (v: unknown): Obj => (v && typeof v === 'object' && !Array.isArray(v) ? (v as Obj) : {});
const arr = (v: unknown): unknown[] => (Array.isArray(v) ? v : []);
const strs = (v: unknown): string[] => arr(v).filter((x): x is string => typeof x === 'string');

export function parseMembers(text: string): Member[] {
  const data = obj(parseEtcdJson(text));
  return arr(data['members']).map((m) => {
    const o = obj(m);
    const clientURLs = strs(o['clientURLs']);
    const name = typeof o['name'] === 'string' ? o['name'] : '';
    return { id: hexId(o['ID']), name, peerURLs: strs(o['peerURLs']), clientURLs, isLearner: o['isLearner'] === true, started: name !== '' && clientURLs.length > 0 };
  });
}

export function parseEndpointStatus(text: string): EndpointStatus[] {
  return arr(parseEtcdJson(text)).map((e) => {
    const o = obj(e);
    const s = obj(o['Status']);
    const h = obj(s['header']);
    return {
      endpoint: String(o['Endpoint'] ?? ''),
      memberId: hexId(h['member_id']),
      clusterId: hexId(h['cluster_id']),
      leader: hexId(s['leader']),
      revision: Number(h['revision'] ?? 0),
      raftIndex: Number(s['raftIndex'] ?? 0),
      raftTerm: Number(s['raftTerm'] ?? 0),
      dbSize: Number(s['dbSize'] ?? 0),
      version: String(s['version'] ?? ''),
      isLearner: s['isLearner'] === true,
    };
  });
}

/** Markers the status command prints around each JSON document (etcdctl's own output has none). */
export const MEMBERS_MARK = '### runbook:members';
export const STATUS_MARK = '### runbook:status';

function section(text: string, mark: string): string | undefined {
  const i = text.indexOf(mark);
  if (i < 0) return undefined;
  const rest = text.slice(i + mark.length);
  const j = rest.indexOf('### runbook:');
  return (j < 0 ? rest : rest.slice(0, j)).trim();
}

/** Parse the output of the cluster status command into facts; tolerant of members that are down. */
export function parseClusterFacts(stdout: string, expectedEndpoints: string[]): ClusterFacts {
  let members: Member[] = [];
  let endpoints: EndpointStatus[] = [];
  const m = section(stdout, MEMBERS_MARK);
  const s = section(stdout, STATUS_MARK);
  try {
    if (m) members = parseMembers(m);
  } catch {
    members = [];
  }
  try {
    if (s) endpoints = parseEndpointStatus(s);
  } catch {
    endpoints = [];
  }
  const answered = new Set(endpoints.map((e) => e.endpoint.replace(/\/$/, '')));
  const leaders = [...new Set(endpoints.map((e) => e.leader).filter((l) => l && l !== '0'))];
  const leader = leaders.length === 1 ? leaders[0] : undefined;
  const membersByName: Record<string, Member> = {};
  for (const mm of members) if (mm.name) membersByName[mm.name] = mm;
  return {
    members,
    membersByName,
    endpoints,
    unreachable: expectedEndpoints.filter((e) => !answered.has(e.replace(/\/$/, ''))),
    leader,
    leaderName: members.find((mm) => mm.id === leader)?.name,
    clusterIds: [...new Set(endpoints.map((e) => e.clusterId))],
    revisions: endpoints.map((e) => e.revision),
    version: endpoints[0]?.version,
  };
}

export interface ClusterExpectation {
  /** How many members the cluster must have, all started, none a learner. */
  members?: number | undefined;
  /** Endpoints that must answer. */
  endpoints?: string[] | undefined;
  /** Revisions of all answering endpoints must be equal. */
  converged?: boolean | undefined;
  /** A quorum of these members must answer (for "the others have quorum"). */
  quorumOf?: number | undefined;
  /** Every answering member's revision must be at least `base + plus` (a restore's revision bump). */
  minRevision?: { base: unknown; plus: number } | undefined;
}

/** Whether the facts meet the expectation; the reason says what is missing. */
export function checkCluster(f: ClusterFacts, want: ClusterExpectation): { ok: true } | { ok: false; reason: string } {
  if (f.endpoints.length === 0) return { ok: false, reason: 'no endpoint answered' };
  if (want.quorumOf !== undefined) {
    const need = Math.floor(want.quorumOf / 2) + 1;
    if (f.endpoints.length < need) return { ok: false, reason: `only ${f.endpoints.length} of ${want.quorumOf} members answer, quorum needs ${need}` };
  }
  if (!f.leader) return { ok: false, reason: 'no leader' };
  if (f.clusterIds.length !== 1) return { ok: false, reason: `members disagree on the cluster id: ${f.clusterIds.join(', ')}` };
  if (want.endpoints) {
    const missing = want.endpoints.filter((e) => f.unreachable.includes(e));
    if (missing.length) return { ok: false, reason: `not answering: ${missing.join(', ')}` };
  }
  if (want.members !== undefined) {
    if (f.members.length !== want.members) return { ok: false, reason: `${f.members.length} members, want ${want.members}` };
    const notStarted = f.members.filter((m) => !m.started || m.isLearner);
    if (notStarted.length) return { ok: false, reason: `members not started yet: ${notStarted.map((m) => m.name || m.id).join(', ')}` };
  }
  if (want.converged && new Set(f.revisions).size > 1) return { ok: false, reason: `revisions differ: ${f.revisions.join(', ')}` };
  if (want.minRevision !== undefined) {
    const base = Number(want.minRevision.base);
    if (!Number.isSafeInteger(base) || base < 0) return { ok: false, reason: `the snapshot revision '${String(want.minRevision.base)}' is not a revision` };
    const need = base + want.minRevision.plus;
    const low = f.endpoints.filter((e) => e.revision < need);
    if (low.length) return { ok: false, reason: `revision below ${need} (snapshot ${base} + bump ${want.minRevision.plus}): ${low.map((e) => `${e.endpoint} at ${e.revision}`).join(', ')}` };
  }
  return { ok: true };
}

export interface SnapshotStatus {
  hash: number;
  revision: number;
  totalKey: number;
  totalSize: number;
  /** Storage version, printed by etcdutl 3.5+. */
  version?: string;
}

export function parseSnapshotStatus(text: string): SnapshotStatus {
  const o = obj(JSON.parse(text.trim()));
  const base = { hash: Number(o['hash']), revision: Number(o['revision']), totalKey: Number(o['totalKey']), totalSize: Number(o['totalSize']) };
  // etcdutl 3.5+ also prints the snapshot's storage version ("3.5.0")
  return typeof o['version'] === 'string' && o['version'] !== '' ? { ...base, version: o['version'] } : base;
}

/** `get "" --prefix --limit=1 -w json` → the number of keys; etcd leaves `count` out when it is 0. */
export function parseKeyCount(text: string): { count: number; revision: number } {
  const o = obj(parseEtcdJson(text));
  return { count: Number(o['count'] ?? 0), revision: Number(obj(o['header'])['revision'] ?? 0) };
}
