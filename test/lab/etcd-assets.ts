// Files the test lab puts on its nodes when it runs etcd (lab.ts, etcd: 'static-pod' | 'systemd'):
// a lab CA and kubeadm-named certificates (openssl, ECDSA P-256), kubeadm-shaped static-pod
// manifests, and systemd-style unit files. Only Node built-ins and the openssl CLI.

import { spawn } from 'node:child_process';
import { chmod, copyFile, mkdir, symlink, writeFile } from 'node:fs/promises';
import * as path from 'node:path';

export type EtcdMode = 'none' | 'static-pod' | 'systemd';

export interface EtcdMember {
  name: string;
  /** etcd's --name (default: the node name, as kubeadm does it). */
  memberName?: string | undefined;
  hostname: string;
  address: string;
  /** Full etcd version this member runs (a dir of the lab's etcd cache, see etcd-dist.sh), e.g. 3.5.30. */
  etcdVersion: string;
}

/** Where a node sees the lab's etcd "images": one dir of binaries per version (etcd-dist.sh). */
export const ETCD_IMAGES_DIR = '/etc/lab-bin/images/etcd';

/** Paths on the nodes (kubeadm layout), plus the host-side copies. */
export interface LabPki {
  dir: string;
  etcdDir: string;
  caCert: string;
  caKey: string;
  serverCert: string;
  serverKey: string;
  peerCert: string;
  peerKey: string;
  healthcheckClientCert: string;
  healthcheckClientKey: string;
  apiserverEtcdClientCert: string;
  apiserverEtcdClientKey: string;
  /**
   * The same files on the host, in the lab state dir: CA, the two client certs, and
   * `nodes/<name>/{server,peer}.{crt,key}`. Use these to talk to etcd from the test
   * process itself (the network is shared).
   */
  host: {
    dir: string;
    caCert: string;
    caKey: string;
    healthcheckClientCert: string;
    healthcheckClientKey: string;
    apiserverEtcdClientCert: string;
    apiserverEtcdClientKey: string;
  };
}

/** kubeadm's etcd image for a version; the lab's kubelet runs it from ETCD_IMAGES_DIR/<version>. */
export const etcdImage = (version: string): string => `registry.k8s.io/etcd:${version}-0`;
export const APISERVER_IMAGE = 'registry.k8s.io/kube-apiserver:v1.26.15';

/**
 * 'kubeadm': /etc/kubernetes/pki/etcd/{ca,server,peer,healthcheck-client}.crt. 'ssl' (a binary install's
 * layout): everything flat in /etc/kubernetes/ssl, no healthcheck-client (etcdctl then uses the apiserver's
 * etcd client certificate, which `healthcheckClient*` name in that layout).
 */
export function nodePki(hostDir: string, layout: 'kubeadm' | 'ssl' = 'kubeadm'): LabPki {
  const d = '/etc/kubernetes/pki';
  const e = `${d}/etcd`;
  const host = {
    dir: hostDir,
    caCert: path.join(hostDir, 'ca.crt'),
    caKey: path.join(hostDir, 'ca.key'),
    healthcheckClientCert: path.join(hostDir, 'healthcheck-client.crt'),
    healthcheckClientKey: path.join(hostDir, 'healthcheck-client.key'),
    apiserverEtcdClientCert: path.join(hostDir, 'apiserver-etcd-client.crt'),
    apiserverEtcdClientKey: path.join(hostDir, 'apiserver-etcd-client.key'),
  };
  if (layout === 'ssl') {
    const s = '/etc/kubernetes/ssl';
    return {
      dir: s,
      etcdDir: s,
      caCert: `${s}/etcd-ca.pem`,
      caKey: `${s}/etcd-ca-key.pem`,
      serverCert: `${s}/etcd-server.pem`,
      serverKey: `${s}/etcd-server-key.pem`,
      peerCert: `${s}/etcd-peer.pem`,
      peerKey: `${s}/etcd-peer-key.pem`,
      healthcheckClientCert: `${s}/apiserver-etcd-client.pem`,
      healthcheckClientKey: `${s}/apiserver-etcd-client-key.pem`,
      apiserverEtcdClientCert: `${s}/apiserver-etcd-client.pem`,
      apiserverEtcdClientKey: `${s}/apiserver-etcd-client-key.pem`,
      host,
    };
  }
  return {
    dir: d,
    etcdDir: e,
    caCert: `${e}/ca.crt`,
    caKey: `${e}/ca.key`,
    serverCert: `${e}/server.crt`,
    serverKey: `${e}/server.key`,
    peerCert: `${e}/peer.crt`,
    peerKey: `${e}/peer.key`,
    healthcheckClientCert: `${e}/healthcheck-client.crt`,
    healthcheckClientKey: `${e}/healthcheck-client.key`,
    apiserverEtcdClientCert: `${d}/apiserver-etcd-client.crt`,
    apiserverEtcdClientKey: `${d}/apiserver-etcd-client.key`,
    host,
  };
}

function openssl(args: string[]): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn('openssl', args, { stdio: ['ignore', 'ignore', 'pipe'] });
    let err = '';
    child.stderr.on('data', (b: Buffer) => (err += b.toString()));
    child.on('error', (e) => reject(new Error(`lab: cannot run openssl: ${e.message}`)));
    child.on('close', (code) => (code === 0 ? resolve() : reject(new Error(`lab: openssl ${args.join(' ')} failed: ${err.trim()}`))));
  });
}

interface CertSpec {
  cn: string;
  org?: string;
  ext: string[];
}

/** One openssl invocation: new P-256 key + certificate, self-signed or signed by the CA. */
async function makeCert(dir: string, base: string, spec: CertSpec, ca?: { cert: string; key: string }): Promise<void> {
  const cfg = path.join(dir, `${base}.cnf`);
  const dn = [`CN = ${spec.cn}`, ...(spec.org ? [`O = ${spec.org}`] : [])];
  await writeFile(cfg, ['[req]', 'distinguished_name = dn', 'prompt = no', '[dn]', ...dn, '[ext]', ...spec.ext, ''].join('\n'));
  await openssl([
    'req', '-x509', '-new', '-config', cfg, '-extensions', 'ext',
    '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes',
    '-keyout', path.join(dir, `${base}.key`), '-out', path.join(dir, `${base}.crt`),
    '-days', '3650', '-sha256',
    ...(ca ? ['-CA', ca.cert, '-CAkey', ca.key] : []),
  ]);
  await chmod(path.join(dir, `${base}.key`), 0o600);
}

/**
 * Lab CA + certificates, like kubeadm's etcd PKI: server and peer certificates per node
 * (SANs: node address, 127.0.0.1, ::1, localhost, hostname; serverAuth + clientAuth),
 * healthcheck-client and apiserver-etcd-client (clientAuth). ~60 ms for 3 nodes.
 */
export async function generatePki(hostDir: string, members: EtcdMember[]): Promise<LabPki> {
  await mkdir(hostDir, { recursive: true, mode: 0o700 });
  const pki = nodePki(hostDir);
  await makeCert(hostDir, 'ca', {
    cn: 'etcd-ca',
    ext: ['basicConstraints = critical, CA:TRUE', 'keyUsage = critical, digitalSignature, keyEncipherment, keyCertSign', 'subjectKeyIdentifier = hash'],
  });
  const ca = { cert: pki.host.caCert, key: pki.host.caKey };
  const leaf = (eku: string, san?: string): string[] => [
    'basicConstraints = critical, CA:FALSE',
    'keyUsage = critical, digitalSignature, keyEncipherment',
    `extendedKeyUsage = ${eku}`,
    'authorityKeyIdentifier = keyid',
    ...(san ? [`subjectAltName = ${san}`] : []),
  ];
  const jobs: Promise<void>[] = [
    makeCert(hostDir, 'healthcheck-client', { cn: 'kube-etcd-healthcheck-client', ext: leaf('clientAuth') }, ca),
    makeCert(hostDir, 'apiserver-etcd-client', { cn: 'kube-apiserver-etcd-client', ext: leaf('clientAuth') }, ca),
  ];
  for (const m of members) {
    const dir = path.join(hostDir, 'nodes', m.name);
    await mkdir(dir, { recursive: true, mode: 0o700 });
    const san = `DNS:${m.hostname}, DNS:localhost, IP:${m.address}, IP:127.0.0.1, IP:0:0:0:0:0:0:0:1`;
    jobs.push(makeCert(dir, 'server', { cn: m.hostname, ext: leaf('serverAuth, clientAuth', san) }, ca));
    jobs.push(makeCert(dir, 'peer', { cn: m.hostname, ext: leaf('serverAuth, clientAuth', san) }, ca));
  }
  await Promise.all(jobs);
  return pki;
}

/** Copies the PKI of one member into seedRoot (a tree that node-init.sh copies into / on first boot), at the layout's paths. */
export async function seedPki(pki: LabPki, member: EtcdMember, seedRoot: string): Promise<void> {
  const hostDir = pki.host.dir;
  const nodeDir = path.join(hostDir, 'nodes', member.name);
  const at = (p: string) => path.join(seedRoot, p);
  const copies: [string, string][] = [
    [path.join(hostDir, 'ca.crt'), at(pki.caCert)],
    [path.join(hostDir, 'ca.key'), at(pki.caKey)],
    [path.join(nodeDir, 'server.crt'), at(pki.serverCert)],
    [path.join(nodeDir, 'server.key'), at(pki.serverKey)],
    [path.join(nodeDir, 'peer.crt'), at(pki.peerCert)],
    [path.join(nodeDir, 'peer.key'), at(pki.peerKey)],
    [path.join(hostDir, 'apiserver-etcd-client.crt'), at(pki.apiserverEtcdClientCert)],
    [path.join(hostDir, 'apiserver-etcd-client.key'), at(pki.apiserverEtcdClientKey)],
  ];
  // kubeadm's healthcheck-client exists only in its layout (elsewhere the name points at the apiserver's)
  if (pki.healthcheckClientCert !== pki.apiserverEtcdClientCert)
    copies.push([path.join(hostDir, 'healthcheck-client.crt'), at(pki.healthcheckClientCert)], [path.join(hostDir, 'healthcheck-client.key'), at(pki.healthcheckClientKey)]);
  await Promise.all(copies.map(async ([from, to]) => {
    await mkdir(path.dirname(to), { recursive: true });
    await copyFile(from, to);
    await chmod(to, to.endsWith('.key') || to.endsWith('-key.pem') ? 0o600 : 0o644);
  }));
}

export interface ClusterSpec {
  members: EtcdMember[];
  token: string;
  pki: LabPki;
  /** Which etcd endpoints each kube-apiserver is given. */
  apiserverEtcdServers: 'local' | 'all';
  /** etcd's --data-dir (default /var/lib/etcd, kubeadm's). */
  dataDir?: string | undefined;
  /** The apiserver, controller-manager and scheduler stand-ins serve HTTPS (the member's server certificate), as the real ones do. */
  controlPlaneTls?: boolean | undefined;
  /** The kubelet stand-in's crash back-off (default: the lab's short one; see KubeletBackoff). */
  kubeletBackoff?: KubeletBackoff | undefined;
}

/**
 * A crashed static pod is started again after `minMs`, doubling to `maxMs`, reset once it ran `resetMs`.
 * The lab's default is short (0.5 s to 5 s, reset after 10 s) so the suite stays fast; REAL_KUBELET_BACKOFF
 * is the kubelet's own (10 s doubling to 300 s, reset after 10 min), for the tests that stress it.
 */
export interface KubeletBackoff {
  minMs: number;
  maxMs: number;
  resetMs: number;
}
export const LAB_KUBELET_BACKOFF: KubeletBackoff = { minMs: 500, maxMs: 5_000, resetMs: 10_000 };
export const REAL_KUBELET_BACKOFF: KubeletBackoff = { minMs: 10_000, maxMs: 300_000, resetMs: 600_000 };

const memberName = (m: EtcdMember): string => m.memberName ?? m.name;
const dataDirOf = (spec: ClusterSpec): string => spec.dataDir ?? '/var/lib/etcd';
/** The serving certificate flags of a control-plane stand-in (none: plain HTTP, the default lab). */
const tlsFlags = (spec: ClusterSpec): string[] => (spec.controlPlaneTls ? [`--tls-cert-file=${spec.pki.serverCert}`, `--tls-private-key-file=${spec.pki.serverKey}`] : []);

export const clientUrl = (m: EtcdMember): string => `https://${m.address}:2379`;
export const peerUrl = (m: EtcdMember): string => `https://${m.address}:2380`;

/** etcd flags for one member, in kubeadm's (alphabetical) order. */
export function etcdFlags(spec: ClusterSpec, m: EtcdMember): string[] {
  const p = spec.pki;
  return [
    `--advertise-client-urls=${clientUrl(m)}`,
    `--cert-file=${p.serverCert}`,
    '--client-cert-auth=true',
    `--data-dir=${dataDirOf(spec)}`,
    `--initial-advertise-peer-urls=${peerUrl(m)}`,
    `--initial-cluster=${spec.members.map((x) => `${memberName(x)}=${peerUrl(x)}`).join(',')}`,
    '--initial-cluster-state=new',
    `--initial-cluster-token=${spec.token}`,
    `--key-file=${p.serverKey}`,
    `--listen-client-urls=${clientUrl(m)}`,
    `--listen-metrics-urls=http://${m.address}:2381`,
    `--listen-peer-urls=${peerUrl(m)}`,
    `--name=${memberName(m)}`,
    `--peer-cert-file=${p.peerCert}`,
    '--peer-client-cert-auth=true',
    `--peer-key-file=${p.peerKey}`,
    `--peer-trusted-ca-file=${p.caCert}`,
    '--snapshot-count=10000',
    `--trusted-ca-file=${p.caCert}`,
  ];
}

export function apiserverFlags(spec: ClusterSpec, m: EtcdMember): string[] {
  const p = spec.pki;
  const servers = spec.apiserverEtcdServers === 'local' ? [clientUrl(m)] : spec.members.map(clientUrl);
  return [
    `--advertise-address=${m.address}`,
    `--bind-address=${m.address}`,
    `--etcd-cafile=${p.caCert}`,
    `--etcd-certfile=${p.apiserverEtcdClientCert}`,
    `--etcd-keyfile=${p.apiserverEtcdClientKey}`,
    `--etcd-servers=${servers.join(',')}`,
    '--secure-port=6443',
    ...tlsFlags(spec),
  ];
}

const yamlList = (items: string[], indent: string): string => items.map((s) => `${indent}- ${s}\n`).join('');

export function etcdManifest(spec: ClusterSpec, m: EtcdMember): string {
  return (
    'apiVersion: v1\n' +
    'kind: Pod\n' +
    'metadata:\n' +
    '  annotations:\n' +
    `    kubeadm.kubernetes.io/etcd.advertise-client-urls: ${clientUrl(m)}\n` +
    '  creationTimestamp: null\n' +
    '  labels:\n' +
    '    component: etcd\n' +
    '    tier: control-plane\n' +
    '  name: etcd\n' +
    '  namespace: kube-system\n' +
    'spec:\n' +
    '  containers:\n' +
    '  - command:\n' +
    '    - etcd\n' +
    yamlList(etcdFlags(spec, m), '    ') +
    `    image: ${etcdImage(m.etcdVersion)}\n` +
    '    imagePullPolicy: IfNotPresent\n' +
    '    name: etcd\n' +
    '    resources:\n' +
    '      requests:\n' +
    '        cpu: 100m\n' +
    '        memory: 100Mi\n' +
    '    volumeMounts:\n' +
    `    - mountPath: ${dataDirOf(spec)}\n` +
    '      name: etcd-data\n' +
    '    - mountPath: /etc/kubernetes/pki/etcd\n' +
    '      name: etcd-certs\n' +
    '  hostNetwork: true\n' +
    '  priorityClassName: system-node-critical\n' +
    '  volumes:\n' +
    '  - hostPath:\n' +
    '      path: /etc/kubernetes/pki/etcd\n' +
    '      type: DirectoryOrCreate\n' +
    '    name: etcd-certs\n' +
    '  - hostPath:\n' +
    `      path: ${dataDirOf(spec)}\n` +
    '      type: DirectoryOrCreate\n' +
    '    name: etcd-data\n' +
    'status: {}\n'
  );
}

export function apiserverManifest(spec: ClusterSpec, m: EtcdMember): string {
  return (
    'apiVersion: v1\n' +
    'kind: Pod\n' +
    'metadata:\n' +
    '  annotations:\n' +
    `    kubeadm.kubernetes.io/kube-apiserver.advertise-address.endpoint: ${m.address}:6443\n` +
    '  creationTimestamp: null\n' +
    '  labels:\n' +
    '    component: kube-apiserver\n' +
    '    tier: control-plane\n' +
    '  name: kube-apiserver\n' +
    '  namespace: kube-system\n' +
    'spec:\n' +
    '  containers:\n' +
    '  - command:\n' +
    '    - kube-apiserver\n' +
    yamlList(apiserverFlags(spec, m), '    ') +
    `    image: ${APISERVER_IMAGE}\n` +
    '    imagePullPolicy: IfNotPresent\n' +
    '    name: kube-apiserver\n' +
    '    volumeMounts:\n' +
    '    - mountPath: /etc/kubernetes/pki\n' +
    '      name: k8s-certs\n' +
    '      readOnly: true\n' +
    '  hostNetwork: true\n' +
    '  priorityClassName: system-node-critical\n' +
    '  volumes:\n' +
    '  - hostPath:\n' +
    '      path: /etc/kubernetes/pki\n' +
    '      type: DirectoryOrCreate\n' +
    '    name: k8s-certs\n' +
    'status: {}\n'
  );
}

const continued = (cmd: string, flags: string[]): string => [cmd, ...flags.map((f) => `  ${f}`)].join(' \\\n');

/** TimeoutStartSec= of the lab's etcd units: a member that has not sent READY=1 by then is killed (and restarted). */
export const ETCD_TIMEOUT_START_S = 20;

export function etcdUnit(spec: ClusterSpec, m: EtcdMember): string {
  return (
    '[Unit]\n' +
    'Description=Etcd Server\n' +
    'After=network.target\n' +
    'After=network-online.target\n' +
    'Wants=network-online.target\n' +
    'Documentation=https://github.com/coreos\n' +
    '\n' +
    '[Service]\n' +
    'Type=notify\n' +
    `WorkingDirectory=${dataDirOf(spec)}/\n` +
    `ExecStart=${continued(`${ETCD_IMAGES_DIR}/${m.etcdVersion}/etcd`, etcdFlags(spec, m))}\n` +
    'Restart=always\n' +
    'RestartSec=15\n' +
    // not in the write-up (systemd's default is 90 s): short, so that tests of a start that times out stay fast
    `TimeoutStartSec=${ETCD_TIMEOUT_START_S}\n` +
    'LimitNOFILE=65536\n' +
    'OOMScoreAdjust=-999\n' +
    '\n' +
    '[Install]\n' +
    'WantedBy=multi-user.target\n'
  );
}

export function apiserverUnit(spec: ClusterSpec, m: EtcdMember): string {
  return (
    '[Unit]\n' +
    'Description=Kubernetes API Server (test lab stand-in)\n' +
    'After=network.target etcd.service\n' +
    '\n' +
    '[Service]\n' +
    `ExecStart=${continued('/etc/lab-bin/kube-apiserver', apiserverFlags(spec, m))}\n` +
    'Restart=always\n' +
    'RestartSec=5\n' +
    'Type=notify\n' +
    'LimitNOFILE=65536\n' +
    '\n' +
    '[Install]\n' +
    'WantedBy=multi-user.target\n'
  );
}

/** kube-controller-manager and kube-scheduler (stand-ins: fake-component.mjs) and their health ports. */
export const COMPONENTS = [
  { name: 'kube-controller-manager', port: 10257 },
  { name: 'kube-scheduler', port: 10259 },
] as const;

const componentFlags = (m: EtcdMember, port: number, spec?: ClusterSpec): string[] => [`--bind-address=${m.address}`, `--secure-port=${port}`, '--kubeconfig=/etc/kubernetes/controller-manager.conf', ...(spec ? tlsFlags(spec) : [])];

export function componentManifest(c: (typeof COMPONENTS)[number], m: EtcdMember, spec?: ClusterSpec): string {
  return (
    'apiVersion: v1\n' +
    'kind: Pod\n' +
    'metadata:\n' +
    '  labels:\n' +
    `    component: ${c.name}\n` +
    '    tier: control-plane\n' +
    `  name: ${c.name}\n` +
    '  namespace: kube-system\n' +
    'spec:\n' +
    '  containers:\n' +
    '  - command:\n' +
    '    - /etc/lab-bin/fake-component.mjs\n' +
    `    - ${c.name}\n` +
    yamlList(componentFlags(m, c.port, spec), '    ') +
    `    image: registry.k8s.io/${c.name}:v1.26.15\n` +
    `    name: ${c.name}\n` +
    '  hostNetwork: true\n' +
    'status: {}\n'
  );
}

export function componentUnit(c: (typeof COMPONENTS)[number], m: EtcdMember, spec?: ClusterSpec): string {
  return (
    '[Unit]\n' +
    `Description=${c.name} (test lab stand-in)\n` +
    'After=kube-apiserver.service\n' +
    '\n' +
    '[Service]\n' +
    `ExecStart=${continued(`/etc/lab-bin/fake-component.mjs ${c.name}`, componentFlags(m, c.port, spec))}\n` +
    'Restart=always\n' +
    'RestartSec=5\n' +
    '\n' +
    '[Install]\n' +
    'WantedBy=multi-user.target\n'
  );
}

export function kubeletUnit(b: KubeletBackoff = LAB_KUBELET_BACKOFF): string {
  return (
    '[Unit]\n' +
    'Description=kubelet: The Kubernetes Node Agent (test lab stand-in, static pods only)\n' +
    'After=network-online.target\n' +
    '\n' +
    '[Service]\n' +
    'Environment=PATH=/etc/lab-bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin\n' +
    `ExecStart=/etc/lab-bin/kubelet --pod-manifest-path=/etc/kubernetes/manifests --crash-backoff-min-ms=${b.minMs} --crash-backoff-max-ms=${b.maxMs} --crash-backoff-reset-ms=${b.resetMs}\n` +
    'Restart=always\n' +
    'RestartSec=10\n' +
    '\n' +
    '[Install]\n' +
    'WantedBy=multi-user.target\n'
  );
}

/** Writes the seed tree for one node: PKI, manifests or units (+ enable symlinks). */
export async function writeSeed(seedRoot: string, mode: EtcdMode, spec: ClusterSpec, m: EtcdMember): Promise<void> {
  await seedPki(spec.pki, m, seedRoot);
  // a data dir elsewhere than kubeadm's: there before etcd starts (a unit's WorkingDirectory= is it)
  if (spec.dataDir) await mkdir(path.join(seedRoot, spec.dataDir), { recursive: true, mode: 0o700 });
  const manifests = path.join(seedRoot, 'etc/kubernetes/manifests');
  const units = path.join(seedRoot, 'etc/systemd/system');
  const wants = path.join(units, 'multi-user.target.wants');
  await mkdir(manifests, { recursive: true });
  await mkdir(wants, { recursive: true });
  const enable = async (unit: string, text: string): Promise<void> => {
    await writeFile(path.join(units, unit), text, { mode: 0o644 });
    // absolute target as `systemctl enable` makes it; it resolves inside the node
    await symlink(`/etc/systemd/system/${unit}`, path.join(wants, unit));
  };
  if (mode === 'static-pod') {
    await writeFile(path.join(manifests, 'etcd.yaml'), etcdManifest(spec, m), { mode: 0o600 });
    await writeFile(path.join(manifests, 'kube-apiserver.yaml'), apiserverManifest(spec, m), { mode: 0o600 });
    for (const c of COMPONENTS) await writeFile(path.join(manifests, `${c.name}.yaml`), componentManifest(c, m, spec), { mode: 0o600 });
    await enable('kubelet.service', kubeletUnit(spec.kubeletBackoff));
  } else if (mode === 'systemd') {
    await enable('etcd.service', etcdUnit(spec, m));
    await enable('kube-apiserver.service', apiserverUnit(spec, m));
    for (const c of COMPONENTS) await enable(`${c.name}.service`, componentUnit(c, m, spec));
  }
}
