import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseManifest, parseUnit } from '../../src/facts/etcd-flags.js';
import { type FactPaths, factsCommand, parseFacts } from '../../src/facts/host-etcd.js';
import { showShell } from '../../src/shell/render.js';

const KUBEADM = `apiVersion: v1
kind: Pod
metadata:
  name: etcd
spec:
  containers:
  - command:
    - etcd
    - --advertise-client-urls=https://10.0.0.1:2379
    - --data-dir=/var/lib/etcd
    - "--name=cp-1"
    - '--initial-advertise-peer-urls=https://10.0.0.1:2380'
    - --trusted-ca-file
    - /etc/kubernetes/pki/etcd/ca.crt
    - --client-cert-auth
    image: registry.k8s.io/etcd:3.5.16-0
    name: etcd
`;

describe('parseManifest: the etcd container command of a static-pod manifest', () => {
  const table: [string, string, Record<string, [string | true, number]>][] = [
    ['kubeadm layout, --flag=value, quoted items, --flag value, a bare flag', KUBEADM, {
      'advertise-client-urls': ['https://10.0.0.1:2379', 9],
      'data-dir': ['/var/lib/etcd', 10],
      name: ['cp-1', 11],
      'initial-advertise-peer-urls': ['https://10.0.0.1:2380', 12],
      'trusted-ca-file': ['/etc/kubernetes/pki/etcd/ca.crt', 13],
      'client-cert-auth': [true, 15],
    }],
    ['flow list in command, flags in args', 'spec:\n  containers:\n  - name: etcd\n    command: [etcd]\n    args: ["--name", "m 1", "--data-dir=/d"]\n', {
      name: ['m 1', 5],
      'data-dir': ['/d', 5],
    }],
    ['the etcd container among others; a later flag wins', 'spec:\n  containers:\n  - name: sidecar\n    command: [sleep, --name=no]\n  - name: etcd\n    command:\n    - /usr/local/bin/etcd\n    - --name=a\n    - --name=b\n', {
      name: ['b', 9],
    }],
  ];
  it.each(table)('%s', (_what, text, want) => {
    const r = parseManifest({ file: '/m.yaml', text }, 'etcd');
    expect(r.ok, JSON.stringify(r)).toBe(true);
    if (!r.ok) return;
    const got = Object.fromEntries(Object.entries(r.command.flags).map(([k, f]) => [k, [f.value, f.at.line]]));
    expect(got).toMatchObject(want);
    for (const f of Object.values(r.command.flags)) expect(f.at.file).toBe('/m.yaml');
  });

  it.each([
    ['not YAML', 'spec: [', /not valid YAML/],
    ['no containers', 'kind: Pod\n', /no spec.containers/],
    ['no command', 'spec:\n  containers:\n  - name: etcd\n', /has no command/],
  ])('refuses %s, with where', (_w, text, msg) => {
    const r = parseManifest({ file: '/m.yaml', text }, 'etcd');
    expect(r.ok).toBe(false);
    if (!r.ok) expect(r.message).toMatch(msg);
  });
});

const UNIT = `[Unit]
Description=etcd
[Service]
Type=notify
Environment="ETCD_OPTS=--snapshot-count=5000" ETCD_INITIAL_CLUSTER_STATE=new
ExecStart=/usr/local/bin/etcd \\
  --name=etcd-a \\
  # a comment inside the continuation
  --data-dir /var/lib/etcd-data \\
  --listen-client-urls "https://10.0.0.1:2379,https://127.0.0.1:2379" \\
  --cert-file='/etc/kubernetes/ssl/etcd server.pem' \\
  $ETCD_OPTS --peer-key-file=\${KEYDIR}/peer.pem
Restart=always
`;

describe('parseUnit: ExecStart of a systemd unit and its drop-ins', () => {
  it('a multi-line ExecStart: both flag forms, quotes, comments in the continuation, $VAR and {VAR} in braces, ETCD_* variables', () => {
    const r = parseUnit([{ file: '/u', text: UNIT }], [], 'ETCD_');
    expect(r.ok, JSON.stringify(r)).toBe(true);
    if (!r.ok) return;
    const f = r.unit.command.flags;
    expect(r.unit.command.binary).toBe('/usr/local/bin/etcd');
    expect([f['name']?.value, f['name']?.at.line]).toEqual(['etcd-a', 7]);
    expect([f['data-dir']?.value, f['data-dir']?.at.line]).toEqual(['/var/lib/etcd-data', 9]);
    expect([f['listen-client-urls']?.value, f['listen-client-urls']?.at.line]).toEqual(['https://10.0.0.1:2379,https://127.0.0.1:2379', 10]);
    expect(f['cert-file']?.value).toBe('/etc/kubernetes/ssl/etcd server.pem');
    expect(f['snapshot-count']?.value).toBe('5000');
    expect(f['peer-key-file']?.value).toBe('/peer.pem');
    // an ETCD_ variable counts as the flag the command line does not give, at the variable's line
    expect([f['initial-cluster-state']?.value, f['initial-cluster-state']?.at.line]).toEqual(['new', 5]);
  });

  it('a drop-in resets ExecStart= and sets its own; its EnvironmentFile= is read (a flag on the command line still wins)', () => {
    const dropIn = '[Service]\nEnvironmentFile=-/etc/etcd.env\nExecStart=\nExecStart=/opt/etcd --name=from-drop-in --data-dir=/x\n';
    const env = '# kubespray style\nETCD_DATA_DIR=/var/lib/etcd-env\nETCD_LISTEN_PEER_URLS="https://10.0.0.1:2380"\n';
    const r = parseUnit([{ file: '/etc/systemd/system/etcd.service', text: UNIT }, { file: '/etc/systemd/system/etcd.service.d/10-x.conf', text: dropIn }], [{ file: '/etc/etcd.env', text: env }], 'ETCD_');
    expect(r.ok).toBe(true);
    if (!r.ok) return;
    const f = r.unit.command.flags;
    expect(r.unit.command.binary).toBe('/opt/etcd');
    expect(f['name']).toEqual({ value: 'from-drop-in', at: { file: '/etc/systemd/system/etcd.service.d/10-x.conf', line: 4 } });
    expect(f['data-dir']?.value).toBe('/x');
    expect(f['listen-peer-urls']).toEqual({ value: 'https://10.0.0.1:2380', at: { file: '/etc/etcd.env', line: 3 } });
    expect(r.unit.environmentFiles).toEqual([{ path: '/etc/etcd.env', optional: true }]);
  });

  it('a one-line ExecStart with a systemd prefix; flags outside [Service] are not read', () => {
    const r = parseUnit([{ file: '/u', text: '[Unit]\nExecStart=/bin/false --name=no\n[Service]\nExecStart=-/usr/bin/etcd --name x\n' }]);
    expect(r.ok).toBe(true);
    if (r.ok) expect([r.unit.command.binary, r.unit.command.flags['name']?.value]).toEqual(['/usr/bin/etcd', 'x']);
  });

  it('no ExecStart (or reset and never set again) is a problem', () => {
    const r = parseUnit([{ file: '/u', text: '[Service]\nExecStart=/usr/bin/etcd\n' }, { file: '/d.conf', text: '[Service]\nExecStart=\n' }]);
    expect(r.ok).toBe(false);
    if (!r.ok) expect(r.message).toMatch(/no ExecStart=/);
  });
});

/** A host's files under a temp root: the real facts command runs against them with bash. */
function hostDir(files: Record<string, string>): { root: string; paths: FactPaths } {
  const root = mkdtempSync(join(tmpdir(), 'facts-'));
  for (const [f, text] of Object.entries(files)) {
    mkdirSync(join(root, f, '..'), { recursive: true });
    writeFileSync(join(root, f), text.replaceAll('@ROOT@', root));
  }
  const r = (p: string) => join(root, p);
  return {
    root,
    paths: {
      manifest: r('/etc/kubernetes/manifests/etcd.yaml'),
      stashedManifest: r('/var/lib/etcd-runbook/stopped/etcd.yaml'),
      apiserverManifest: r('/etc/kubernetes/manifests/kube-apiserver.yaml'),
      controllerManagerManifest: r('/etc/kubernetes/manifests/kube-controller-manager.yaml'),
      schedulerManifest: r('/etc/kubernetes/manifests/kube-scheduler.yaml'),
      unit: 'etcd.service',
      unitFile: r('/etc/systemd/system/etcd.service'),
      apiserverUnit: 'kube-apiserver.service',
      apiserverUnitFile: r('/etc/systemd/system/kube-apiserver.service'),
      controllerManagerUnit: 'kube-controller-manager.service',
      schedulerUnit: 'kube-scheduler.service',
      certs: [],
      unitDirs: [r('/etc/systemd/system'), r('/usr/lib/systemd/system')],
    },
  };
}

const run = (paths: FactPaths) => execFileSync('bash', ['-c', showShell(factsCommand(paths))], { encoding: 'utf8' });

describe('parseFacts: what the facts command reads on a host', () => {
  it('kubeadm static pod: settings with their lines, the healthcheck-client chosen, the apiserver URL from its manifest', () => {
    const { root, paths } = hostDir({
      '/etc/kubernetes/manifests/etcd.yaml': KUBEADM.replaceAll('/etc/kubernetes', '@ROOT@/etc/kubernetes'),
      '/etc/kubernetes/manifests/kube-apiserver.yaml': 'spec:\n  containers:\n  - name: kube-apiserver\n    command:\n    - kube-apiserver\n    - --advertise-address=10.0.0.1\n    - --etcd-certfile=@ROOT@/etc/kubernetes/pki/apiserver-etcd-client.crt\n    - --etcd-keyfile=@ROOT@/etc/kubernetes/pki/apiserver-etcd-client.key\n',
      '/etc/kubernetes/pki/etcd/ca.crt': 'x',
      '/etc/kubernetes/pki/etcd/healthcheck-client.crt': 'x',
      '/etc/kubernetes/pki/etcd/healthcheck-client.key': 'x',
      '/etc/kubernetes/pki/apiserver-etcd-client.crt': 'x',
      '/etc/kubernetes/pki/apiserver-etcd-client.key': 'x',
    });
    const r = parseFacts(run(paths), paths, undefined);
    expect(r.ok, JSON.stringify(r)).toBe(true);
    if (!r.ok) return;
    const s = r.facts.settings;
    expect(s.style?.value).toBe('static-pod');
    expect(s.name).toEqual({ value: 'cp-1', at: { file: paths.manifest, line: 11 } });
    expect(s.data_dir?.value).toBe('/var/lib/etcd');
    expect(s.client_url?.value).toBe('https://10.0.0.1:2379');
    expect(s.peer_url?.value).toBe('https://10.0.0.1:2380');
    expect(s.cert?.value).toBe(`${root}/etc/kubernetes/pki/etcd/healthcheck-client.crt`);
    expect(s.apiserver_url).toEqual({ value: 'https://10.0.0.1:6443', at: { file: paths.apiserverManifest, line: 6 } });
    expect(r.facts.stopped).toBe(false);
  });

  it('a stopped static pod is read from the stash; without healthcheck-client the apiserver client certificate is chosen', () => {
    const { root, paths } = hostDir({
      '/var/lib/etcd-runbook/stopped/etcd.yaml': KUBEADM.replaceAll('/etc/kubernetes', '@ROOT@/etc/kubernetes'),
      '/etc/kubernetes/manifests/kube-apiserver.yaml': 'spec:\n  containers:\n  - name: kube-apiserver\n    command:\n    - kube-apiserver\n    - --etcd-certfile=@ROOT@/etc/kubernetes/pki/apiserver-etcd-client.crt\n    - --etcd-keyfile=@ROOT@/etc/kubernetes/pki/apiserver-etcd-client.key\n',
      '/etc/kubernetes/pki/apiserver-etcd-client.crt': 'x',
      '/etc/kubernetes/pki/apiserver-etcd-client.key': 'x',
    });
    const r = parseFacts(run(paths), paths, undefined);
    expect(r.ok, JSON.stringify(r)).toBe(true);
    if (!r.ok) return;
    expect(r.facts.stopped).toBe(true);
    expect(r.facts.settings.manifest?.value).toBe(paths.manifest);
    expect(r.facts.settings.name?.at.file).toBe(paths.stashedManifest);
    expect(r.facts.settings.cert?.value).toBe(`${root}/etc/kubernetes/pki/apiserver-etcd-client.crt`);
    expect(r.facts.settings.cert?.why).toMatch(/apiserver/);
  });

  it('systemd with a drop-in; the server certificate is the client one only when it allows client authentication', () => {
    const { root, paths } = hostDir({
      '/etc/systemd/system/etcd.service': UNIT.replace(/\$ETCD_OPTS .*peer\.pem/, '--trusted-ca-file=@ROOT@/ssl/ca.pem --key-file=@ROOT@/ssl/server-key.pem --advertise-client-urls=https://10.0.0.1:2379'),
      '/etc/systemd/system/etcd.service.d/20-name.conf': '[Service]\nExecStart=\nExecStart=/usr/local/bin/etcd --name=etcd-b --data-dir=/var/lib/etcd-data --cert-file=@ROOT@/ssl/server.pem --key-file=@ROOT@/ssl/server-key.pem --trusted-ca-file=@ROOT@/ssl/ca.pem\n',
      '/ssl/ca.pem': 'x',
      '/ssl/server-key.pem': 'x',
    });
    execFileSync('bash', ['-c', `cd ${root}/ssl && openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout k -out server.pem -days 1 -subj /CN=s -addext extendedKeyUsage=serverAuth,clientAuth 2>/dev/null`]);
    const r = parseFacts(run(paths), paths, undefined);
    expect(r.ok, JSON.stringify(r)).toBe(true);
    if (!r.ok) return;
    const s = r.facts.settings;
    expect(s.style?.value).toBe('systemd');
    expect(s.name).toEqual({ value: 'etcd-b', at: { file: `${paths.unitFile}.d/20-name.conf`, line: 3 } });
    expect(s.data_dir?.value).toBe('/var/lib/etcd-data');
    expect(s.cert?.value).toBe(`${root}/ssl/server.pem`);
    expect(s.cert?.why).toMatch(/server certificate/);
    // without clientAuth it is not chosen
    execFileSync('bash', ['-c', `cd ${root}/ssl && openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout k -out server.pem -days 1 -subj /CN=s -addext extendedKeyUsage=serverAuth 2>/dev/null`]);
    const again = parseFacts(run(paths), paths, undefined);
    expect(again.ok && again.facts.settings.cert).toBe(undefined);
  });

  it('neither layout, or both, is a problem naming the files', () => {
    const none = hostDir({});
    const r = parseFacts(run(none.paths), none.paths, undefined);
    expect(r.ok).toBe(false);
    if (!r.ok) expect(r.message).toMatch(/no etcd found/);
    // a packaged unit that is not enabled does not run etcd: the manifest does
    const both = hostDir({ '/etc/kubernetes/manifests/etcd.yaml': KUBEADM, '/usr/lib/systemd/system/etcd.service': UNIT });
    const packaged = parseFacts(run(both.paths), both.paths, undefined);
    expect(packaged.ok && packaged.facts.settings.style).toMatchObject({ value: 'static-pod', why: expect.stringMatching(/not enabled/) });
    mkdirSync(join(both.root, '/etc/systemd/system/multi-user.target.wants'), { recursive: true });
    writeFileSync(join(both.root, '/etc/systemd/system/multi-user.target.wants/etcd.service'), '');
    const b = parseFacts(run(both.paths), both.paths, undefined);
    expect(b.ok).toBe(false);
    if (!b.ok) expect(b.message).toMatch(/both a static-pod manifest .* and an enabled etcd unit .*etcd.style/);
    // the inventory's style decides then
    expect(parseFacts(run(both.paths), both.paths, 'systemd').ok).toBe(true);
  });
});
