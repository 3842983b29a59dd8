/**
 * Resolve how to reach a host over ssh, the way OpenSSH's `ssh` would: the inventory's explicit fields
 * and the CLI first (as `ssh`'s command line), then the ssh config (first obtained value wins), then the
 * defaults. Jump hosts (ProxyJump) are resolved through the same config. Pure apart from reading the
 * config files and checking which identity files exist.
 */
import { existsSync } from 'node:fs';
import { isAbsolute, join, resolve } from 'node:path';
import type { SshEndpoint, SshRoute } from '../model/inventory.js';
import type { ConfigItem } from './ssh-config-file.js';

/** What the resolution may know of this machine (cli.ts reads it from the process). */
export interface SshEnv {
  home: string;
  localUser: string;
  localHost: string;
  uid: number;
  env: Record<string, string | undefined>;
}

/** What `ssh`'s command line would say: from the inventory's explicit fields and the runbook CLI. */
export interface SshRequest {
  /** The inventory host name (shown in messages and the plan). */
  name: string;
  /** What is typed after `ssh`: the inventory's address, or else the host's name (an ssh alias). */
  destination: string;
  port: number | undefined;
  user: string | undefined;
  /** -i files, tried before the config's IdentityFile. */
  identityFiles: string[];
  /** An explicit known_hosts file (inventory known_hosts): beats UserKnownHostsFile. */
  knownHosts: string | undefined;
  acceptNewHostKeys: boolean;
  /** User when neither the request nor the config names one. */
  defaultUser: string;
}

export type Resolved<T> = { ok: true; value: T } | { ok: false; message: string };

/** Options that collect every value instead of keeping the first. */
const ACCUMULATE = new Set(['identityfile', 'certificatefile']);
const MAX_JUMP_DEPTH = 8;

/** An ssh pattern: `*` any run, `?` exactly one character, case-insensitive. */
export function patternMatches(pattern: string, text: string): boolean {
  const re = new RegExp(`^${pattern.replace(/[.+^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '.*').replace(/\?/g, '.')}$`, 'i');
  return re.test(text);
}

/** A pattern list (`a,b !c`): false if any negated entry matches, else true if any positive one does. */
export function patternListMatches(patterns: string[], text: string): boolean {
  let hit = false;
  for (const p of patterns.flatMap((x) => x.split(','))) {
    if (p === '') continue;
    if (p.startsWith('!')) {
      if (patternMatches(p.slice(1), text)) return false;
    } else if (patternMatches(p, text)) hit = true;
  }
  return hit;
}

export type Options = Map<string, string[]>;

interface EvalState {
  destination: string;
  localUser: string;
  /** User given on the "command line", if any: Match user sees it. */
  user: string | undefined;
  final: boolean;
  sawFinal: boolean;
}

/** Match criteria, left to right, each possibly negated with `!`; stops at the first that fails. */
function matchCriteria(tokens: string[], opts: Options, st: EvalState, file: string): Resolved<boolean> {
  const hostName = opts.get('hostname')?.[0]?.replace(/%h/g, st.destination) ?? st.destination;
  const user = st.user ?? opts.get('user')?.[0] ?? st.localUser;
  for (let i = 0; i < tokens.length; i++) {
    const raw = tokens[i] ?? '';
    const neg = raw.startsWith('!');
    const key = (neg ? raw.slice(1) : raw).toLowerCase();
    let hit: boolean;
    if (key === 'all') hit = true;
    else if (key === 'canonical') hit = false; // CanonicalizeHostname is not done
    else if (key === 'final') {
      st.sawFinal = true;
      hit = st.final;
    } else {
      const arg = tokens[++i];
      if (arg === undefined) return { ok: false, message: `${file}: Match ${key} needs an argument` };
      const list = arg.split(',');
      if (key === 'host') hit = patternListMatches(list, hostName);
      else if (key === 'originalhost') hit = patternListMatches(list, st.destination);
      else if (key === 'user') hit = patternListMatches(list, user);
      else if (key === 'localuser') hit = patternListMatches(list, st.localUser);
      else
        return {
          ok: false,
          message: `${file}: 'Match ${key}' is not supported here (supported: all, host, originalhost, user, localuser, final${key === 'exec' ? '; exec would run a command to decide' : ''}): write a Host or Match host block for these hosts`,
        };
    }
    if (neg) hit = !hit;
    if (!hit) return { ok: true, value: false };
  }
  return { ok: true, value: true };
}

function onePass(items: ConfigItem[], opts: Options, st: EvalState): Resolved<Options> {
  let active = true;
  for (const it of items) {
    if (it.kind === 'condition') {
      const c = it.condition;
      if (c.kind === 'all') active = true;
      else if (c.kind === 'host') active = patternListMatches(c.patterns, st.destination);
      else {
        const m = matchCriteria(c.tokens, opts, st, it.file);
        if (!m.ok) return m;
        active = m.value;
      }
      continue;
    }
    if (!active) continue;
    if (ACCUMULATE.has(it.key)) opts.set(it.key, [...(opts.get(it.key) ?? []), ...it.values]);
    else if (!opts.has(it.key)) opts.set(it.key, it.values);
  }
  return { ok: true, value: opts };
}

/** The options the config gives one destination: first obtained value wins; a `Match final` block gets a second pass. */
export function evaluateConfig(items: ConfigItem[], destination: string, localUser: string, user?: string): Resolved<Options> {
  const st: EvalState = { destination, localUser, user, final: false, sawFinal: false };
  const first = onePass(items, new Map(), st);
  if (!first.ok || !st.sawFinal) return first;
  st.final = true;
  return onePass(items, first.value, st);
}

/** `%` tokens and `~`, `${VAR}` in a path-like option value. */
export function expandTokens(value: string, tokens: Record<string, string>, env: SshEnv, what: string): Resolved<string> {
  let bad: string | undefined;
  let out = value.replace(/%(.)/g, (m, t: string) => {
    if (t === '%') return '%';
    const v = tokens[t];
    if (v === undefined) bad ??= m;
    return v ?? m;
  });
  if (bad) return { ok: false, message: `${what}: the token ${bad} is not supported (supported: ${Object.keys(tokens).map((t) => `%${t}`).join(' ')} %%)` };
  out = out.replace(/\$\{([A-Za-z_][A-Za-z0-9_]*)\}/g, (m, name: string) => {
    const v = env.env[name];
    if (v === undefined) bad ??= m;
    return v ?? m;
  });
  if (bad) return { ok: false, message: `${what}: the environment variable ${bad} is not set` };
  if (out === '~' || out.startsWith('~/')) out = join(env.home, out.slice(1));
  return { ok: true, value: out };
}

function num(opts: Options, key: string, name: string, min: number): Resolved<number | undefined> {
  const v = opts.get(key)?.[0];
  if (v === undefined) return { ok: true, value: undefined };
  const n = Number(v);
  if (!Number.isInteger(n) || n < min || n > 65535 * 1000) return { ok: false, message: `${name} ${v} is not a whole number${min > 0 ? ` ≥ ${min}` : ''}` };
  return { ok: true, value: n };
}

export interface JumpSpec {
  user: string | undefined;
  host: string;
  port: number | undefined;
}

/** One ProxyJump entry: `[ssh://][user@]host[:port]` (an IPv6 address in brackets). */
export function parseJump(spec: string): Resolved<JumpSpec> {
  const s = spec.replace(/^ssh:\/\//, '');
  const m = /^(?:([^@\s]+)@)?(\[[0-9A-Fa-f:.]+\]|[^:@\s[\]]+)(?::(\d+))?$/.exec(s);
  if (!m?.[2]) return { ok: false, message: `ProxyJump entry '${spec}' is not [user@]host[:port]` };
  const port = m[3] === undefined ? undefined : Number(m[3]);
  if (port !== undefined && (port < 1 || port > 65535)) return { ok: false, message: `ProxyJump entry '${spec}': port ${port} is out of range` };
  return { ok: true, value: { user: m[1], host: m[2].replace(/^\[|\]$/g, ''), port } };
}

interface EndpointAndJumps {
  endpoint: SshEndpoint;
  /** The config's ProxyJump for this destination (undefined: none). */
  proxyJump: string[] | undefined;
}

function resolveEndpoint(items: ConfigItem[], req: SshRequest, env: SshEnv): Resolved<EndpointAndJumps> {
  const ev = evaluateConfig(items, req.destination, env.localUser, req.user);
  if (!ev.ok) return ev;
  const opts = ev.value;
  const fail = (message: string): Resolved<EndpointAndJumps> => ({ ok: false, message: `${req.name}: ${message}` });
  const hostNameRaw = opts.get('hostname')?.[0];
  const hostName = hostNameRaw === undefined ? req.destination : hostNameRaw.replace(/%%/g, '\0').replace(/%h/g, req.destination).replace(/\0/g, '%');
  const cfgPort = num(opts, 'port', 'Port', 1);
  if (!cfgPort.ok) return fail(cfgPort.message);
  const port = req.port ?? cfgPort.value ?? 22;
  if (port > 65535) return fail(`Port ${port} is out of range`);
  const user = req.user ?? opts.get('user')?.[0] ?? req.defaultUser;
  const tokens: Record<string, string> = {
    h: hostName,
    n: req.destination,
    p: String(port),
    r: user,
    u: env.localUser,
    d: env.home,
    l: env.localHost.split('.')[0] ?? env.localHost,
    L: env.localHost,
    i: String(env.uid),
  };
  const paths = (key: string, what: string): Resolved<string[]> => {
    const out: string[] = [];
    for (const v of opts.get(key) ?? []) {
      if (v.toLowerCase() === 'none') continue;
      const e = expandTokens(v, tokens, env, `${what} ${v}`);
      if (!e.ok) return e;
      out.push(isAbsolute(e.value) ? e.value : resolve(e.value));
    }
    return { ok: true, value: out };
  };
  const ids = paths('identityfile', 'IdentityFile');
  if (!ids.ok) return fail(ids.message);
  const identitiesOnly = (opts.get('identitiesonly')?.[0] ?? 'no').toLowerCase() === 'yes';
  const identityFiles = [...new Set([...req.identityFiles, ...ids.value])];
  if (identityFiles.length === 0) {
    // OpenSSH's default identities, where they exist
    for (const f of ['id_rsa', 'id_ecdsa', 'id_ed25519']) {
      const p = join(env.home, '.ssh', f);
      if (existsSync(p)) identityFiles.push(p);
    }
  }
  let agent: string | undefined = env.env['SSH_AUTH_SOCK'] || undefined;
  const ia = opts.get('identityagent')?.[0];
  if (ia !== undefined) {
    if (ia.toLowerCase() === 'none') agent = undefined;
    else if (ia === 'SSH_AUTH_SOCK') agent = env.env['SSH_AUTH_SOCK'] || undefined;
    else if (/^\$[A-Za-z_][A-Za-z0-9_]*$/.test(ia)) agent = env.env[ia.slice(1)] || undefined;
    else {
      const e = expandTokens(ia, tokens, env, `IdentityAgent ${ia}`);
      if (!e.ok) return fail(e.message);
      agent = e.value;
    }
  }
  if (identitiesOnly) agent = undefined;
  let knownHosts: string[];
  if (req.knownHosts !== undefined) knownHosts = [req.knownHosts];
  else {
    const raw = opts.get('userknownhostsfile');
    if (raw?.length === 1 && raw[0]?.toLowerCase() === 'none') knownHosts = ['/dev/null'];
    else {
      const k = paths('userknownhostsfile', 'UserKnownHostsFile');
      if (!k.ok) return fail(k.message);
      knownHosts = k.value.length ? k.value : [join(env.home, '.ssh', 'known_hosts')];
    }
  }
  const strict = (opts.get('stricthostkeychecking')?.[0] ?? 'yes').toLowerCase();
  if (!['yes', 'ask', 'true', 'accept-new', 'no', 'off', 'false'].includes(strict)) return fail(`StrictHostKeyChecking ${strict} is not yes, accept-new, no or ask`);
  // 'no' is taken as accept-new: a key that changed is never accepted by this tool
  const hostKeys = req.acceptNewHostKeys || ['accept-new', 'no', 'off', 'false'].includes(strict) ? 'accept-new' : 'strict';
  const ct = num(opts, 'connecttimeout', 'ConnectTimeout', 1);
  if (!ct.ok) return fail(ct.message);
  const sai = num(opts, 'serveraliveinterval', 'ServerAliveInterval', 0);
  if (!sai.ok) return fail(sai.message);
  const sac = num(opts, 'serveralivecountmax', 'ServerAliveCountMax', 1);
  if (!sac.ok) return fail(sac.message);
  const pj = opts.get('proxyjump');
  const pc = opts.get('proxycommand');
  if (pj === undefined && pc !== undefined && pc[0]?.toLowerCase() !== 'none')
    return fail(`ProxyCommand is not supported (only ProxyJump): write ProxyJump HOST for ${req.destination}`);
  const proxyJump = pj === undefined || pj[0]?.toLowerCase() === 'none' ? undefined : pj.join(',').split(',').filter(Boolean);
  return {
    ok: true,
    value: {
      endpoint: {
        name: req.name,
        address: hostName,
        port,
        user,
        identityFiles,
        agent,
        knownHosts,
        hostKeys,
        connectTimeoutS: ct.value,
        serverAliveIntervalS: sai.value,
        serverAliveCountMax: sac.value,
      },
      proxyJump,
    },
  };
}

/** The jump hosts in front of one destination: the first entry's own ProxyJump first (recursively), then the entries in order. */
function resolveJumps(items: ConfigItem[], specs: string[], base: SshRequest, env: SshEnv, depth: number): Resolved<SshEndpoint[]> {
  if (depth > MAX_JUMP_DEPTH) return { ok: false, message: `${base.name}: ProxyJump chain longer than ${MAX_JUMP_DEPTH} hops (a loop?)` };
  const out: SshEndpoint[] = [];
  for (const [i, spec] of specs.entries()) {
    const j = parseJump(spec);
    if (!j.ok) return { ok: false, message: `${base.name}: ${j.message}` };
    const r = resolveEndpoint(items, { ...base, name: spec, destination: j.value.host, port: j.value.port, user: j.value.user, identityFiles: [], defaultUser: env.localUser }, env);
    if (!r.ok) return r;
    // like `ssh -J a,b`: b is reached through a; only a's own ProxyJump from the config is followed
    if (i === 0 && r.value.proxyJump) {
      const before = resolveJumps(items, r.value.proxyJump, { ...base, name: spec }, env, depth + 1);
      if (!before.ok) return before;
      out.push(...before.value);
    }
    out.push(r.value.endpoint);
  }
  return { ok: true, value: out };
}

/** The whole route to one inventory host. */
export function resolveRoute(items: ConfigItem[], req: SshRequest, env: SshEnv, configFile: string): Resolved<SshRoute> {
  const r = resolveEndpoint(items, req, env);
  if (!r.ok) return r;
  // the jump hosts keep the inventory's known_hosts and host-key policy, never its user or key files
  const jumpBase: SshRequest = { ...req, port: undefined, user: undefined, identityFiles: [] };
  const jumps = r.value.proxyJump ? resolveJumps(items, r.value.proxyJump, jumpBase, env, 1) : { ok: true as const, value: [] };
  if (!jumps.ok) return jumps;
  return { ok: true, value: { ...r.value.endpoint, jumps: jumps.value, configFile } };
}

/** A host reached directly, with nothing from any config (tests, and the stand-in while a route has problems). */
export function directRoute(o: { name: string; address: string; port: number; user: string; identityFiles?: string[] }): SshRoute {
  return {
    name: o.name,
    address: o.address,
    port: o.port,
    user: o.user,
    identityFiles: o.identityFiles ?? [],
    agent: undefined,
    knownHosts: [],
    hostKeys: 'strict',
    connectTimeoutS: undefined,
    serverAliveIntervalS: undefined,
    serverAliveCountMax: undefined,
    jumps: [],
    configFile: '',
  };
}
