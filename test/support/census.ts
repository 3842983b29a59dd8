import type { Lab } from '../lab/lab.js';

/** Write `n` keys /census/0000.. in transactions of 100 (etcd's default --max-txn-ops is 128). */
export async function writeCensus(lab: Lab, n: number, prefix = '/census/'): Promise<void> {
  const ep = lab.etcdEndpoints.join(',');
  const pki = `--cacert=${lab.pki.caCert} --cert=${lab.pki.healthcheckClientCert} --key=${lab.pki.healthcheckClientKey}`;
  const script = `set -e
for start in $(seq 0 100 ${n - 1}); do
  { echo; for i in $(seq $start $((start + 99))); do [ $i -lt ${n} ] && printf 'put ${prefix}%04d value-%d\\n' $i $i; done; echo; echo; } |
    ETCDCTL_API=3 /etc/lab-bin/images/etcd/${lab.etcdVersions[0]}/etcdctl --endpoints=${ep} ${pki} txn >/dev/null
done`;
  const r = await lab.exec(0, script);
  if (r.code !== 0) throw new Error(`census write failed: ${r.stderr}`);
}

/** The keys under the prefix, as a sorted list, read from one member (serializable: that member's own data). */
export async function readKeys(lab: Lab, node: number, prefix = '/census/', consistency: 'l' | 's' = 'l'): Promise<string[]> {
  const r = await lab.etcdctl(node, ['get', prefix, '--prefix', '--keys-only', `--consistency=${consistency}`]);
  if (r.code !== 0) throw new Error(`get ${prefix} on node ${node} failed: ${r.stderr}`);
  return r.stdout.split('\n').filter(Boolean).sort();
}

export function expectedKeys(n: number, prefix = '/census/'): string[] {
  return Array.from({ length: n }, (_, i) => `${prefix}${String(i).padStart(4, '0')}`);
}

export interface ClusterView {
  members: number;
  started: number;
  leaders: string[];
  clusterIds: string[];
}

/** Members, leaders and cluster ids as every node sees them (JSON, ids kept as strings). */
export async function clusterView(lab: Lab): Promise<ClusterView> {
  const m = await lab.etcdctl(0, ['member', 'list', '-w', 'json'], { endpoints: 'all' });
  const quoted = (t: string) => t.replace(/("(?:ID|cluster_id|member_id|leader)"\s*:\s*)(\d+)/g, '$1"$2"');
  const members = (JSON.parse(quoted(m.stdout)) as { members: { name?: string; clientURLs?: string[] }[] }).members;
  const s = await lab.etcdctl(0, ['endpoint', 'status', '-w', 'json'], { endpoints: 'all' });
  const st = JSON.parse(quoted(s.stdout)) as { Status: { leader: string; header: { cluster_id: string } } }[];
  return {
    members: members.length,
    started: members.filter((x) => x.name && (x.clientURLs?.length ?? 0) > 0).length,
    leaders: [...new Set(st.map((x) => x.Status.leader))],
    clusterIds: [...new Set(st.map((x) => x.Status.header.cluster_id))],
  };
}
