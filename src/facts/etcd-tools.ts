import { type CommandSet, commandSetOf, commandsFor, compareMinor } from '../actions/etcd-version.js';
import { TOOLS_MARK } from '../actions/etcd-tools.js';

export interface EtcdToolsFacts {
  /** The member's etcd version (full, e.g. 3.5.16). */
  version: string;
  /** Its command set: what the version-aware steps choose their commands by. */
  set: CommandSet;
  /** Where the version came from (the running member, an image tag, a binary), or 'forced'. */
  source: string;
  /** Tools of that major.minor found on the host (and linked into the runbook's bin dir). */
  tools: Record<string, { path: string; version: string }>;
  /** Tools the set needs that the host does not have. */
  missing: string[];
}

/**
 * etcd.tools' detection output → facts. `forced`: the version a playbook forces; it must agree with what
 * was found (major.minor), and is used when nothing could be found. Pure.
 */
export function parseEtcdTools(stdout: string, forced?: string): { ok: true; facts: EtcdToolsFacts } | { ok: false; reason: string } {
  const at = stdout.lastIndexOf(TOOLS_MARK);
  if (at < 0) return { ok: false, reason: 'the etcd tools detection printed nothing' };
  let version = '';
  let source = '';
  const tools: EtcdToolsFacts['tools'] = {};
  for (const line of stdout.slice(at + TOOLS_MARK.length).split('\n')) {
    const [kind, ...rest] = line.trim().split(' ');
    if (kind === 'version') version = rest.join(' ');
    else if (kind === 'source') source = rest.join(' ');
    else if (kind === 'tool' && rest.length >= 3) tools[rest[0] as string] = { path: rest.slice(1, -1).join(' '), version: rest.at(-1) as string };
  }
  if (forced !== undefined) {
    if (version !== '' && compareMinor(version, forced) !== 0) return { ok: false, reason: `the member runs etcd ${version} (${source}), but the playbook forces version ${forced}: refusing to drive it with the wrong commands` };
    if (version === '') {
      version = forced;
      source = 'forced by the playbook (nothing on the host says)';
    }
  }
  if (version === '') return { ok: false, reason: 'cannot tell which etcd this member runs: it does not answer, and no manifest image, unit binary or etcd binary says; give the version (-e etcd_version=3.5)' };
  const set = commandSetOf(version);
  if (set === undefined) return { ok: false, reason: `etcd ${version} (${source}) is not a version this tool drives (3.4, 3.5, 3.6)` };
  const missing = commandsFor(set).tools.filter((t) => tools[t] === undefined);
  return { ok: true, facts: { version, set, source, tools, missing: [...missing] } };
}
