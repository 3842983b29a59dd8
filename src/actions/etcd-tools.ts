import type { Command } from '../model/command.js';
import type { Host } from '../model/inventory.js';
import type { Shell } from '../model/shell.js';
import { sh, words } from '../shell/build.js';
import { type Action, ok, refuse } from './action.js';
import { commandSetOf } from './etcd-version.js';
import { stashedPath } from './etcd.js';

/** Lines the detection prints: `version V`, `source S`, `tool NAME PATH VERSION`. */
export const TOOLS_MARK = '@@etcd-tools';

/**
 * Read-only apart from the runbook's own bin dir: find which etcd the member runs and link the host's
 * tools of that version into the bin dir.
 *
 * The member's version, first that answers: the running member (`/version` on its client URL, with the
 * client certificate); the version the host would start (static pod: the image tag in the manifest, or in
 * the runbook's stash of it while etcd is stopped; systemd: the unit's ExecStart binary); the etcd binary
 * the inventory names or the PATH has. Each tool (etcd, etcdctl, etcdutl) is taken from, in order: the bin
 * dir itself (an earlier run's link or copy), the inventory's path, the PATH, and for etcd the unit's
 * binary, and only if it reports the member's major.minor.
 */
export function detectCommand(h: Host): Shell {
  const e = h.etcd;
  const bin = `${e.stashDir}/bin`;
  const manifests = e.style === 'systemd' ? [e.manifest] : [e.manifest, stashedPath(h, e.manifest)];
  const ver = sh`ver() { case "$1" in etcd) "$2" --version 2>/dev/null | awk ${'/^etcd Version:/ { print $3; exit }'};; *) "$2" version 2>/dev/null | awk -v ${'t=^'}"$1"${' version:'} ${'$0 ~ t { print $3; exit }'};; esac; }`;
  const mm = sh`mm() { printf '%s\\n' "$1" | cut -d. -f1,2; }`;
  const imageTag = sh`for m in ${words(manifests)}; do [ -f "$m" ] || continue; t=$(sed -n ${'s/^[[:space:]]*image:[[:space:]]*["\']\\{0,1\\}[^"\' ]*etcd:v\\{0,1\\}\\([0-9][0-9.]*\\).*/\\1/p'} "$m" | head -n 1); [ -n "$t" ] && { v=$t; src="image tag in $m"; break; }; done`;
  const unitBin = sh`ub=''; if [ -f ${e.manifest} ]; then ub=$(sed -n ${'s/^ExecStart=[-@:+!]*\\([^[:space:]]*\\).*/\\1/p'} ${e.manifest} | head -n 1); fi`;
  return sh`${ver}; ${mm}; mkdir -p ${bin}; ${unitBin}; v=$(curl -fsS --max-time 3 --cacert ${e.cacert} --cert ${e.cert} --key ${e.key} ${`${e.clientUrl}/version`} 2>/dev/null | sed -n ${'s/.*"etcdserver":"\\([^"]*\\)".*/\\1/p'}); src=${`running member at ${e.clientUrl}`}; if [ -z "$v" ] && [ ${e.style} = static-pod ]; then ${imageTag}; fi; if [ -z "$v" ]; then for b in "$ub" ${e.etcdBinary} "$(command -v etcd)"; do [ -n "$b" ] && [ -x "$b" ] || continue; v=$(ver etcd "$b"); [ -n "$v" ] && { src="binary $b"; break; }; done; fi; echo ${TOOLS_MARK}; echo "version $v"; echo "source $src"; [ -n "$v" ] || exit 0; for t in etcd etcdctl etcdutl; do case $t in etcd) mine=${e.etcdBinary}; extra="$ub";; etcdctl) mine=${e.etcdctl}; extra='';; *) mine=${e.etcdutl}; extra='';; esac; for c in ${bin}/$t "$mine" "$(command -v $t)" "$extra"; do [ -n "$c" ] && [ -x "$c" ] || continue; got=$(ver $t "$c"); [ -n "$got" ] && [ "$(mm "$got")" = "$(mm "$v")" ] || continue; if [ "$c" != ${bin}/$t ]; then ln -sfn -- "$(readlink -f -- "$c")" ${bin}/$t; fi; echo "tool $t $c $got"; break; done; done`;
}

/**
 * Find the member's etcd version and give the host the tools of that version in the runbook's bin dir
 * (every etcd command of the playbooks runs them from there). A tool the host lacks is copied from the
 * jump host's tools dir (`from/<version>/{etcd,etcdctl,etcdutl}` with a SHA256SUMS, as an operator
 * provides it), sha256 checked before and after the copy. Registers `{ version, set, source, tools, copied }`:
 * the version-aware steps after it pick their commands by `set`.
 *
 * Nothing the cluster runs is touched, so there is nothing to undo; the tools stay for resume and rollback.
 */
export const etcdTools: Action<{ from?: string; version?: string }> = {
  name: 'etcd.tools',
  changes: 'never',
  shellArgs: [],
  repeatable: true,
  plan(args, ctx) {
    const forced = args.version === undefined || args.version === '' ? undefined : String(args.version);
    if (forced !== undefined && commandSetOf(forced) === undefined) return refuse(`version '${forced}' is not an etcd version this tool drives (3.4, 3.5, 3.6)`);
    const from = args.from ?? '';
    const detect = detectCommand(ctx.host);
    const commands: Command[] = [{ kind: 'exec', cmd: detect, parse: { parser: 'etcd-tools', complete: from === '', forced } }];
    if (from !== '') {
      commands.push({ kind: 'put-tools', from, dest: `${ctx.host.etcd.stashDir}/bin` });
      // looked at again after the copy: every tool the version needs is there and reports that version
      commands.push({ kind: 'exec', cmd: detect, parse: { parser: 'etcd-tools', complete: true, forced } });
    }
    return ok({ commands, undo: [], changes: false });
  },
};
