/**
 * etcd facts of one master, pyinfra-style: `factsCommand` is the one read-only command (data, built with
 * the `sh` template) that prints the host's etcd manifest or unit (with drop-ins and environment files),
 * the apiserver's and the other components', and which certificate files exist (and whether each
 * certificate may be used by a client); `parseFacts` turns its stdout into settings, each with the file
 * and line on the host that says so. Pure, except for building the command.
 */
import { X509Certificate } from 'node:crypto';
import type { Shell } from '../model/shell.js';
import { lit, sh, words } from '../shell/build.js';
import { type Flag, type ParsedCommand, parseManifest, parseUnit, type TextFile, type Where } from './etcd-flags.js';

export const FACTS_MARK = '@@runbook-facts';

/** Where to look on a host (from the inventory's settings and kubeadm's and systemd's defaults). */
export interface FactPaths {
  /** Static pod: the etcd manifest, where the runbook's etcd.stop stashes it, the other components' manifests. */
  manifest: string;
  stashedManifest: string;
  apiserverManifest: string;
  controllerManagerManifest: string;
  schedulerManifest: string;
  /** systemd: unit names (etcd.service ...) and the unit file the inventory names, if any. */
  unit: string;
  unitFile: string | undefined;
  apiserverUnit: string;
  apiserverUnitFile: string | undefined;
  controllerManagerUnit: string;
  schedulerUnit: string;
  /** Certificate and key files the inventory names: checked to exist. */
  certs: string[];
  /** Where systemd unit files and drop-ins are looked for, in systemd's order (default UNIT_DIRS). */
  unitDirs?: string[] | undefined;
}

export const UNIT_DIRS = ['/etc/systemd/system', '/run/systemd/system', '/usr/lib/systemd/system', '/lib/systemd/system'];

export function unitCandidates(p: FactPaths, unit: string, given: string | undefined): string[] {
  return [...(given ? [given] : []), ...(p.unitDirs ?? UNIT_DIRS).map((d) => `${d}/${unit}`)].filter((v, i, a) => a.indexOf(v) === i);
}

/**
 * The reading part of the facts command (literal shell; the paths come in as the arrays files, dropins, named).
 * `$<` stands for the shell's `${` (a template literal would take that for its own).
 */
const FACTS_SCRIPT = String.raw`for w in "$udir"/*.wants/"$unit"; do [ -e "$w" ] && echo "$M enabled $w"; done; shown=(); show() { if [ -f "$1" ]; then shown+=("$1"); printf '%s file %s\n' "$M" "$1"; cat -- "$1"; printf '\n%s end\n' "$M"; fi; }; for f in "$<files[@]}"; do show "$f"; done; for d in "$<dropins[@]}"; do for f in "$d"/*.conf; do show "$f"; done; done; if [ $<#shown[@]} -gt 0 ]; then for f in $(sed -n 's/^[[:space:]]*EnvironmentFile[[:space:]]*=[[:space:]]*-\{0,1\}//p' "$<shown[@]}" 2>/dev/null); do show "$f"; done; fi; { if [ $<#shown[@]} -gt 0 ]; then grep -ohE '/[^[:space:]"'"'"'=,]+\.(crt|pem|key)' "$<shown[@]}" 2>/dev/null | while read -r c; do echo "$c"; echo "$<c%/*}/healthcheck-client.crt"; echo "$<c%/*}/healthcheck-client.key"; done; fi; printf '%s\n' "$<named[@]}"; } | sort -u | while read -r c; do [ "$c" = /dev/null ] && continue; if [ ! -e "$c" ]; then echo "$M cert missing - $c"; elif [ "$<c%.key}" != "$c" ] || [ "$<c%-key.pem}" != "$c" ]; then echo "$M cert exists key $c"; else echo "$M cert pem $c"; sed -n '/^-----BEGIN CERTIFICATE-----[[:space:]]*$/,/^-----END CERTIFICATE-----[[:space:]]*$/p' -- "$c" 2>/dev/null; echo "$M end"; fi; done`.replaceAll('$<', '${');

const dropInDirs = (p: FactPaths, unit: string) => (p.unitDirs ?? UNIT_DIRS).map((d) => `${d}/${unit}.d`);

/**
 * One command, read-only: prints every file as `@@runbook-facts file PATH`, its text, `@@runbook-facts end`;
 * then, for every certificate or key path named in those files (and kubeadm's healthcheck-client next to
 * each), and those the inventory names: `@@runbook-facts cert missing - PATH`, `… cert exists key PATH`
 * (a key: never read), or `… cert pem PATH`, the file's CERTIFICATE blocks only (public; a key block in the
 * same file is never printed), `@@runbook-facts end`. Whether a certificate is for client authentication is
 * read here, not by one `openssl x509` per file on the host (about 60 ms each on the lab, most of a run's
 * preflight).
 */
export function factsCommand(p: FactPaths): Shell {
  const files = [
    p.manifest,
    p.stashedManifest,
    p.apiserverManifest,
    p.controllerManagerManifest,
    p.schedulerManifest,
    ...unitCandidates(p, p.unit, p.unitFile),
    ...unitCandidates(p, p.apiserverUnit, p.apiserverUnitFile),
    ...unitCandidates(p, p.controllerManagerUnit, undefined),
    ...unitCandidates(p, p.schedulerUnit, undefined),
  ];
  const dropIns = [p.unit, p.apiserverUnit].flatMap((u) => dropInDirs(p, u));
  return sh`M=${FACTS_MARK}; files=(${words(files)}); dropins=(${words(dropIns)}); named=(${words(['/dev/null', ...p.certs])}); unit=${p.unit}; udir=${(p.unitDirs ?? UNIT_DIRS)[0] ?? '/etc/systemd/system'}; ${lit(FACTS_SCRIPT)}`;
}

export interface FactsDump {
  files: Map<string, string>;
  /** The etcd unit is enabled (a link in a .wants dir): it is what starts etcd at boot. */
  enabled: boolean;
  certs: Map<string, { exists: boolean; use: 'client' | 'noclient' | 'unknown' | 'key' | '-' }>;
}

/** TLS Web Client Authentication, in a certificate's extended key usage. */
const CLIENT_AUTH = '1.3.6.1.5.5.7.3.2';

/** What the first certificate of a PEM text is for: client authentication or not; unknown if it does not parse. */
export function certificateUse(pem: string): 'client' | 'noclient' | 'unknown' {
  const first = /-----BEGIN CERTIFICATE-----[\s\S]*?-----END CERTIFICATE-----/.exec(pem)?.[0];
  if (!first) return 'unknown';
  try {
    // keyUsage is the extended key usage; none at all means no client authentication (as openssl shows it)
    return new X509Certificate(first).keyUsage?.includes(CLIENT_AUTH) ? 'client' : 'noclient';
  } catch {
    return 'unknown';
  }
}

/** The command's stdout → the files it printed and the certificates it checked. */
export function parseDump(stdout: string): FactsDump {
  const files = new Map<string, string>();
  const certs: FactsDump['certs'] = new Map();
  let enabled = false;
  const lines = stdout.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const l = lines[i] as string;
    if (l.startsWith(`${FACTS_MARK} file `)) {
      const path = l.slice(`${FACTS_MARK} file `.length);
      const body: string[] = [];
      for (i++; i < lines.length && lines[i] !== `${FACTS_MARK} end`; i++) body.push(lines[i] as string);
      // the command adds one newline before the end mark
      files.set(path, body.join('\n').replace(/\n$/, ''));
    } else if (l.startsWith(`${FACTS_MARK} enabled `)) enabled = true;
    else if (l.startsWith(`${FACTS_MARK} cert pem `)) {
      const path = l.slice(`${FACTS_MARK} cert pem `.length);
      const pem: string[] = [];
      for (i++; i < lines.length && lines[i] !== `${FACTS_MARK} end`; i++) pem.push(lines[i] as string);
      certs.set(path, { exists: true, use: certificateUse(pem.join('\n')) });
    } else if (l.startsWith(`${FACTS_MARK} cert `)) {
      const m = /^(exists|missing) (\S+) (.+)$/.exec(l.slice(`${FACTS_MARK} cert `.length));
      if (m) certs.set(m[3] as string, { exists: m[1] === 'exists', use: m[2] as 'client' });
    }
  }
  return { files, certs, enabled };
}

/** One discovered setting: its value and the host's file and line that say so. */
export interface Fact {
  value: string;
  at: Where;
  /** Other values the host accepts for it (every URL of --advertise-client-urls): an inventory naming one agrees. */
  also?: string[] | undefined;
  /** Why this one (the client certificate's choice). */
  why?: string | undefined;
}

/** Inventory keys (etcd.*) the facts can set; the first six are compared with the inventory. */
export const FACT_KEYS = ['style', 'name', 'data_dir', 'client_url', 'peer_url', 'cacert', 'cert', 'key', 'manifest', 'apiserver_manifest', 'apiserver_url', 'controller_manager_url', 'scheduler_url'] as const;
export type FactKey = (typeof FACT_KEYS)[number];

export interface HostFacts {
  settings: Partial<Record<FactKey, Fact>>;
  /** Read from the host but not an inventory setting: shown by `runbook facts`. */
  info: Record<string, Fact>;
  /** The certificate and key files the host has (path → exists). */
  files: Record<string, boolean>;
  /** The member is stopped: its manifest was found where the runbook's etcd.stop stashes it. */
  stopped: boolean;
}

export type FactsResult = { ok: true; facts: HostFacts } | { ok: false; message: string; at?: Where | undefined };

const str = (f: Flag | undefined): string | undefined => (f === undefined || f.value === true ? undefined : f.value);
const firstUrl = (v: string) => (v.split(',')[0] ?? '').trim().replace(/\/$/, '');
const urls = (v: string) => v.split(',').map((u) => u.trim().replace(/\/$/, '')).filter(Boolean);
const isLoopback = (u: string) => /^[a-z]+:\/\/(127\.|localhost|\[::1\])/.test(u);

function readCommand(p: FactPaths, dump: FactsDump, style: 'static-pod' | 'systemd', file: string, container: string, unit: string, envPrefix: string | undefined): { ok: true; cmd: ParsedCommand } | { ok: false; message: string; at?: Where | undefined } {
  const text = dump.files.get(file);
  if (text === undefined) return { ok: false, message: `${file} is not there` };
  if (style === 'static-pod') {
    const r = parseManifest({ file, text }, container);
    return r.ok ? { ok: true, cmd: r.command } : r;
  }
  const dropIns: TextFile[] = [...dump.files.entries()]
    .filter(([f]) => dropInDirs(p, unit).some((d) => f.startsWith(`${d}/`)))
    .map(([f, t]) => ({ file: f, text: t }))
    // systemd applies drop-ins by file name, whatever dir they are in (the first dir wins a name)
    .sort((a, b) => (a.file.split('/').pop() ?? '').localeCompare(b.file.split('/').pop() ?? ''));
  const envFiles = [...dump.files.entries()].map(([f, t]) => ({ file: f, text: t }));
  const r = parseUnit([{ file, text }, ...dropIns], envFiles, envPrefix);
  return r.ok ? { ok: true, cmd: r.unit.command } : r;
}

const flagFact = (cmd: ParsedCommand, name: string): Fact | undefined => {
  const f = cmd.flags[name];
  const v = str(f);
  return f && v !== undefined ? { value: v, at: f.at } : undefined;
};

/** https://ADDR:PORT of a component from its --bind-address/--advertise-address and --secure-port. */
function componentUrl(cmd: ParsedCommand, addressFlags: string[], defaultAddress: string, defaultPort: number): Fact {
  const addr = addressFlags.map((n) => cmd.flags[n]).find((f) => str(f) !== undefined && str(f) !== '0.0.0.0' && str(f) !== '::');
  const port = cmd.flags['secure-port'];
  const a = str(addr) ?? defaultAddress;
  const at = addr?.at ?? port?.at ?? cmd.binaryAt;
  return { value: `https://${a.includes(':') ? `[${a}]` : a}:${str(port) ?? defaultPort}`, at };
}

/**
 * The host's etcd settings from the dump. `style` is the inventory's when given (then only that layout is
 * read); otherwise what the host has: a static-pod manifest (in place, or stashed by the runbook) or an
 * etcd unit file. A host with both, or neither, is a problem named here.
 */
export function parseFacts(stdout: string, p: FactPaths, givenStyle: 'static-pod' | 'systemd' | undefined): FactsResult {
  const dump = parseDump(stdout);
  const s: HostFacts['settings'] = {};
  const info: HostFacts['info'] = {};
  const manifestFile = dump.files.has(p.manifest) ? p.manifest : dump.files.has(p.stashedManifest) ? p.stashedManifest : undefined;
  const unitFile = unitCandidates(p, p.unit, p.unitFile).find((f) => dump.files.has(f));
  let style = givenStyle;
  let why: string | undefined;
  if (style === undefined) {
    // a packaged etcd unit that is not enabled (Debian's etcd-server next to kubeadm) is not what runs etcd
    if (manifestFile && unitFile && dump.enabled) return { ok: false, message: `both a static-pod manifest (${manifestFile}) and an enabled etcd unit (${unitFile}) are there: say which one runs etcd with etcd.style in the inventory` };
    if (!manifestFile && !unitFile) return { ok: false, message: `no etcd found: neither ${p.manifest} (nor ${p.stashedManifest}) nor an etcd unit (${unitCandidates(p, p.unit, p.unitFile).join(', ')})` };
    style = manifestFile ? 'static-pod' : 'systemd';
    if (manifestFile && unitFile) why = `a static-pod manifest (${unitFile} is there too, but not enabled)`;
  }
  const file = style === 'static-pod' ? manifestFile : unitFile;
  if (!file) return { ok: false, message: style === 'static-pod' ? `no etcd manifest: neither ${p.manifest} nor ${p.stashedManifest} is there` : `no etcd unit file: none of ${unitCandidates(p, p.unit, p.unitFile).join(', ')} is there` };
  const r = readCommand(p, dump, style, file, 'etcd', p.unit, 'ETCD_');
  if (!r.ok) return { ok: false, message: `${file}: ${r.message}`, at: r.at };
  const cmd = r.cmd;
  const fileAt: Where = { file, line: 1 };
  s.style = { value: style, at: fileAt, why: why ?? (givenStyle ? 'the inventory says so' : style === 'static-pod' ? 'a static-pod manifest' : 'a systemd unit') };
  // the path the runbook works with: the manifest's place in the manifests dir even when found stashed
  s.manifest = { value: style === 'static-pod' ? p.manifest : file, at: fileAt };
  const name = flagFact(cmd, 'name');
  if (name) s.name = name;
  const dataDir = flagFact(cmd, 'data-dir');
  if (dataDir) s.data_dir = dataDir;
  const adv = flagFact(cmd, 'advertise-client-urls');
  const listen = flagFact(cmd, 'listen-client-urls');
  if (adv) s.client_url = { value: firstUrl(adv.value), at: adv.at, also: [...urls(adv.value), ...(listen ? urls(listen.value) : [])] };
  else if (listen) {
    const all = urls(listen.value);
    s.client_url = { value: all.find((u) => !isLoopback(u)) ?? all[0] ?? '', at: listen.at, also: all };
  }
  const peer = flagFact(cmd, 'initial-advertise-peer-urls');
  if (peer) s.peer_url = { value: firstUrl(peer.value), at: peer.at, also: urls(peer.value) };
  const ca = flagFact(cmd, 'trusted-ca-file');
  if (ca) s.cacert = ca;
  for (const [k, flag] of [
    ['initial_cluster', 'initial-cluster'],
    ['initial_cluster_state', 'initial-cluster-state'],
    ['server_cert', 'cert-file'],
    ['server_key', 'key-file'],
    ['peer_cert', 'peer-cert-file'],
    ['peer_key', 'peer-key-file'],
    ['peer_cacert', 'peer-trusted-ca-file'],
    ['listen_client_urls', 'listen-client-urls'],
  ] as const) {
    const f = flagFact(cmd, flag);
    if (f) info[k] = f;
  }
  if (style === 'systemd') info['binary'] = { value: cmd.binary, at: cmd.binaryAt };
  const has = (f: string | undefined) => f !== undefined && dump.certs.get(f)?.exists === true;
  // the apiserver: its URL, and its etcd client certificate (the second choice for etcdctl)
  const apiFile = style === 'static-pod' ? (dump.files.has(p.apiserverManifest) ? p.apiserverManifest : undefined) : unitCandidates(p, p.apiserverUnit, p.apiserverUnitFile).find((f) => dump.files.has(f));
  let apiCert: { cert: Fact; key: Fact } | undefined;
  if (apiFile) {
    const a = readCommand(p, dump, style, apiFile, 'kube-apiserver', p.apiserverUnit, undefined);
    if (a.ok) {
      s.apiserver_manifest = { value: apiFile, at: { file: apiFile, line: 1 } };
      s.apiserver_url = componentUrl(a.cmd, ['advertise-address', 'bind-address'], '127.0.0.1', 6443);
      const c = flagFact(a.cmd, 'etcd-certfile');
      const k = flagFact(a.cmd, 'etcd-keyfile');
      if (c && k) apiCert = { cert: c, key: k };
    }
  }
  for (const [key, manifest, unit, container, port] of [
    ['controller_manager_url', p.controllerManagerManifest, p.controllerManagerUnit, 'kube-controller-manager', 10257],
    ['scheduler_url', p.schedulerManifest, p.schedulerUnit, 'kube-scheduler', 10259],
  ] as const) {
    const f = style === 'static-pod' ? (dump.files.has(manifest) ? manifest : undefined) : unitCandidates(p, unit, undefined).find((x) => dump.files.has(x));
    if (!f) continue;
    const c = readCommand(p, dump, style, f, container, unit, undefined);
    if (c.ok) s[key] = componentUrl(c.cmd, ['bind-address'], '127.0.0.1', port);
  }
  // the client certificate etcdctl uses: kubeadm's healthcheck-client, else the apiserver's, else the server's own when it may be a client
  const caDir = ca ? ca.value.slice(0, ca.value.lastIndexOf('/')) : undefined;
  const server = flagFact(cmd, 'cert-file');
  const serverKey = flagFact(cmd, 'key-file');
  if (caDir && has(`${caDir}/healthcheck-client.crt`) && has(`${caDir}/healthcheck-client.key`)) {
    const at = ca?.at ?? fileAt;
    s.cert = { value: `${caDir}/healthcheck-client.crt`, at, why: "kubeadm's healthcheck-client, next to --trusted-ca-file" };
    s.key = { value: `${caDir}/healthcheck-client.key`, at, why: s.cert.why };
  } else if (apiCert && has(apiCert.cert.value) && has(apiCert.key.value)) {
    s.cert = { ...apiCert.cert, why: "the apiserver's etcd client certificate (--etcd-certfile)" };
    s.key = { ...apiCert.key, why: s.cert.why };
  } else if (server && serverKey && dump.certs.get(server.value)?.use === 'client' && has(serverKey.value)) {
    s.cert = { ...server, why: "etcd's server certificate, which allows client authentication (no healthcheck-client, no apiserver client certificate)" };
    s.key = { ...serverKey, why: s.cert.why };
  }
  const files: Record<string, boolean> = {};
  for (const [f, c] of dump.certs) files[f] = c.exists;
  return { ok: true, facts: { settings: s, info, files, stopped: style === 'static-pod' && file === p.stashedManifest } };
}
