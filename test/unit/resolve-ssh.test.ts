import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { loadInventory } from '../../src/load/load-inventory.js';
import { parseJump, patternListMatches, resolveRoute, type SshEnv, type SshRequest } from '../../src/load/resolve-ssh.js';
import { readSshConfig } from '../../src/load/ssh-config-file.js';

const root = mkdtempSync(join(tmpdir(), 'resolve-ssh-'));
const home = join(root, 'home');
mkdirSync(join(home, '.ssh', 'conf.d'), { recursive: true });
afterAll(() => rmSync(root, { recursive: true, force: true }));

const env: SshEnv = { home, localUser: 'sre', localHost: 'laptop.example', uid: 1000, env: { SSH_AUTH_SOCK: '/run/agent.sock', KEYS: '/keys' } };
let n = 0;
function config(text: string, extra: Record<string, string> = {}): string {
  for (const [f, t] of Object.entries(extra)) writeFileSync(join(home, '.ssh', f), t);
  const file = join(root, `config-${n++}`);
  writeFileSync(file, text);
  return file;
}
const req = (destination: string, over: Partial<SshRequest> = {}): SshRequest => ({
  name: destination,
  destination,
  port: undefined,
  user: undefined,
  identityFiles: [],
  knownHosts: undefined,
  acceptNewHostKeys: false,
  defaultUser: 'root',
  ...over,
});
function route(text: string, r: SshRequest, extra: Record<string, string> = {}) {
  const file = config(text, extra);
  const read = readSshConfig(file, home);
  if (!read.ok) return { ok: false as const, message: read.message };
  return resolveRoute(read.items, r, env, file);
}
function value(text: string, r: SshRequest, extra: Record<string, string> = {}) {
  const out = route(text, r, extra);
  if (!out.ok) throw new Error(out.message);
  return out.value;
}

describe('ssh patterns', () => {
  it.each([
    [['master-*'], 'master-1', true],
    [['master-*', '!master-9'], 'master-9', false],
    [['!master-9', 'master-*'], 'master-1', true],
    [['!master-9'], 'master-1', false],
    [['m?'], 'm1', true],
    [['m?'], 'm', false],
    [['m?'], 'm12', false],
    [['a,b'], 'b', true],
    [['MASTER-1'], 'master-1', true],
    [['10.0.0.*'], '10.0.0.7', true],
    [['10.0.0.*'], '10.0.1.7', false],
  ])('%j matches %s: %s', (patterns, host, want) => {
    expect(patternListMatches(patterns, host)).toBe(want);
  });
});

describe('ProxyJump entries', () => {
  it.each([
    ['bastion', { user: undefined, host: 'bastion', port: undefined }],
    ['ops@bastion:2200', { user: 'ops', host: 'bastion', port: 2200 }],
    ['ssh://ops@10.0.0.1:22', { user: 'ops', host: '10.0.0.1', port: 22 }],
    ['[fd00::1]:2222', { user: undefined, host: 'fd00::1', port: 2222 }],
  ])('%s', (spec, want) => {
    expect(parseJump(spec)).toEqual({ ok: true, value: want });
  });
  it.each(['a b', 'u@', 'host:99999'])('%s is refused', (spec) => expect(parseJump(spec).ok).toBe(false));
});

describe('resolving a host through the ssh config', () => {
  const base = `
Host master-* !master-9
  HostName %h.dc1.example
  User core
  IdentityFile ~/.ssh/%r-%h
Host master-1
  User first-block-lost
  Port 2201
Host *
  User everyone
  Port 22
  IdentityFile \${KEYS}/all
  UserKnownHostsFile ~/.ssh/kh-%n /etc/kh
  ConnectTimeout 7
  ServerAliveInterval 15
`;
  it.each<[string, SshRequest, Record<string, unknown>]>([
    ['first obtained value wins, the pattern block before Host *', req('master-1'), { address: 'master-1.dc1.example', user: 'core', port: 2201 }],
    ['a negated pattern skips the block', req('master-9'), { address: 'master-9', user: 'everyone', port: 22 }],
    ['the inventory port and user beat the config (as ssh -p / -l)', req('master-1', { port: 2300, user: 'ops' }), { port: 2300, user: 'ops' }],
    [
      'IdentityFile accumulates, -i first; tokens %r %h, ~ and an environment variable',
      req('master-2', { identityFiles: ['/cli/key'] }),
      { identityFiles: ['/cli/key', join(home, '.ssh', 'core-master-2.dc1.example'), '/keys/all'] },
    ],
    ['UserKnownHostsFile: several files, %n', req('master-2'), { knownHosts: [join(home, '.ssh', 'kh-master-2'), '/etc/kh'] }],
    ['an explicit known_hosts beats UserKnownHostsFile', req('master-2', { knownHosts: '/inv/known_hosts' }), { knownHosts: ['/inv/known_hosts'] }],
    ['ConnectTimeout, ServerAliveInterval; the agent from SSH_AUTH_SOCK', req('x'), { connectTimeoutS: 7, serverAliveIntervalS: 15, agent: '/run/agent.sock', hostKeys: 'strict' }],
  ])('%s', (_, r, want) => {
    expect(value(base, r)).toMatchObject(want);
  });

  it('no config: the destination itself, port 22, the default user, ~/.ssh/known_hosts', () => {
    expect(value('', req('10.0.0.5'))).toMatchObject({ address: '10.0.0.5', port: 22, user: 'root', knownHosts: [join(home, '.ssh', 'known_hosts')], jumps: [] });
  });

  it.each([
    ['yes', 'strict'],
    ['ask', 'strict'],
    ['accept-new', 'accept-new'],
    ['no', 'accept-new'],
  ])('StrictHostKeyChecking %s → %s (a changed key is refused either way)', (v, want) => {
    expect(value(`Host *\n  StrictHostKeyChecking ${v}\n`, req('h')).hostKeys).toBe(want);
  });

  it('IdentitiesOnly yes and IdentityAgent none turn the agent off; IdentityAgent names another socket', () => {
    expect(value('Host *\n  IdentitiesOnly yes\n', req('h')).agent).toBeUndefined();
    expect(value('Host *\n  IdentityAgent none\n', req('h')).agent).toBeUndefined();
    expect(value('Host *\n  IdentityAgent ~/.ssh/agent-%u\n', req('h')).agent).toBe(join(home, '.ssh', 'agent-sre'));
  });

  it('Match host sees the HostName obtained so far; originalhost the alias; user and ! negation', () => {
    const text = `
Host db1
  HostName 10.1.0.5
Match host 10.1.0.*
  ProxyJump bastion
Match originalhost db1 !user admin
  Port 2222
Host bastion
  HostName 127.0.0.9
`;
    const r = value(text, req('db1'));
    expect(r).toMatchObject({ address: '10.1.0.5', port: 2222 });
    expect(r.jumps.map((j) => [j.name, j.address, j.user])).toEqual([['bastion', '127.0.0.9', 'sre']]);
    expect(value(text, req('db1', { user: 'admin' })).port).toBe(22);
  });

  it('Match final gets a second pass; Match all', () => {
    expect(value('Match final\n  Port 2022\nMatch all\n  User u\n', req('h'))).toMatchObject({ port: 2022, user: 'u' });
  });

  it('Match exec and other criteria it cannot evaluate are refused, not guessed', () => {
    const r = route('Match exec "true"\n  Port 1\n', req('h'));
    expect(r.ok).toBe(false);
    expect(r.ok ? '' : r.message).toMatch(/Match exec.*not supported.*run a command/);
  });

  it('ProxyCommand is refused (only ProxyJump), ProxyJump none means direct', () => {
    expect(route('Host *\n  ProxyCommand ssh -W %h:%p b\n', req('h')).ok).toBe(false);
    expect(value('Host *\n  ProxyJump none\n  ProxyCommand ssh -W %h:%p b\n', req('h')).jumps).toEqual([]);
  });

  it('Include: globs relative to ~/.ssh, in file order; inside a Host block only for that host', () => {
    const text = 'Include conf.d/*.conf\nHost special\n  Include special.conf\nHost *\n  Port 22\n';
    const extra = { 'conf.d/10-a.conf': 'Host a\n  HostName 10.0.0.1\n', 'conf.d/20-b.conf': 'Host a b\n  HostName 10.0.0.99\n  User bee\n', 'special.conf': 'User special\nPort 2200\n' };
    expect(value(text, req('a'), extra)).toMatchObject({ address: '10.0.0.1', user: 'bee', port: 22 });
    expect(value(text, req('special'), extra)).toMatchObject({ user: 'special', port: 2200 });
    expect(value(text, req('other'), extra)).toMatchObject({ user: 'root', port: 22 });
  });

  it('an Include loop is refused', () => {
    expect(route('Include loop.conf\n', req('h'), { 'loop.conf': 'Include loop.conf\n' }).ok).toBe(false);
  });

  it('ProxyJump chains: several hops; the first hop own ProxyJump first; aliases resolve through the config; user@host:port', () => {
    const text = `
Host master-*
  ProxyJump bastion,ops@inner:2200
Host bastion
  HostName 127.0.0.10
  User jump
  ProxyJump edge
  IdentityFile ~/.ssh/bastion-key
Host inner
  HostName 10.9.0.1
  ProxyJump ignored-for-a-later-hop
Host edge
  HostName 127.0.0.11
  Port 2022
`;
    const r = value(text, req('master-1', { identityFiles: ['/inv/key'] }));
    expect(r.jumps.map((j) => `${j.name}=${j.user}@${j.address}:${j.port}`)).toEqual(['edge=sre@127.0.0.11:2022', 'bastion=jump@127.0.0.10:22', 'ops@inner:2200=ops@10.9.0.1:2200']);
    // a jump host gets its own keys, never the target's (as ssh -i does not reach a ProxyJump)
    expect(r.jumps[1]?.identityFiles).toEqual([join(home, '.ssh', 'bastion-key')]);
  });

  it('a ProxyJump loop is refused', () => {
    const r = route('Host a\n  ProxyJump b\nHost b\n  ProxyJump a\n', req('a'));
    expect(r.ok ? '' : r.message).toMatch(/ProxyJump chain longer/);
  });

  it('an unknown token is refused', () => {
    const r = route('Host *\n  IdentityFile ~/.ssh/%C\n', req('h'));
    expect(r.ok ? '' : r.message).toMatch(/token %C is not supported/);
  });
});

describe('the inventory with an ssh config: precedence and alias-only hosts', () => {
  const dir = join(root, 'inv');
  mkdirSync(dir, { recursive: true });
  writeFileSync(
    join(dir, 'ssh_config'),
    'Host master-1\n  HostName 10.0.0.1\nHost master-2\n  HostName 10.0.0.2\nHost master-3\n  HostName 10.0.0.1\nHost master-*\n  User core\n  Port 2222\n  ProxyJump bastion\n  IdentityFile /cfg/key\nHost bastion\n  HostName 127.0.0.10\n',
  );
  writeFileSync(join(dir, 'other_config'), 'Host *\n  User other\n');
  const inv = (body: string) => {
    const f = join(dir, `inv-${n++}.yml`);
    writeFileSync(f, `cluster: c\nssh_config: ssh_config\n${body}`);
    return f;
  };
  const load = (f: string, o: Parameters<typeof loadInventory>[1] = {}) => loadInventory(f, { sshEnv: env, ...o });

  it('a host named only by its alias gets HostName, User, Port and its jump host from the config', () => {
    const r = load(inv('hosts:\n  master-1: {}\n  master-2: { port: 22 }\n'));
    if (!r.ok) throw new Error(JSON.stringify(r.problems));
    const [m1, m2] = r.value.hosts;
    expect(m1).toMatchObject({ address: '10.0.0.1', user: 'core', port: 2222, identityFile: '/cfg/key' });
    expect(m1?.etcd.clientUrl).toBe('https://10.0.0.1:2379');
    expect(m1?.ssh.jumps.map((j) => j.address)).toEqual(['127.0.0.10']);
    expect(m2?.port).toBe(22);
    expect(r.value.sshConfig).toBe(join(dir, 'ssh_config'));
  });

  it('-u beats the inventory and the config; --private-key comes first; -F beats the inventory ssh_config', () => {
    const f = inv('defaults: { user: inv-user, identity_file: inv-key }\nhosts:\n  master-1: {}\n');
    const a = load(f);
    expect(a.ok && a.value.hosts[0]).toMatchObject({ user: 'inv-user', ssh: { identityFiles: [join(dir, 'inv-key'), '/cfg/key'] } });
    const b = load(f, { user: 'cli', privateKey: '/cli/key' });
    expect(b.ok && b.value.hosts[0]).toMatchObject({ user: 'cli', ssh: { identityFiles: ['/cli/key', join(dir, 'inv-key'), '/cfg/key'] } });
    const c = load(inv('hosts:\n  m: { address: 10.1.1.1 }\n'), { sshConfig: join(dir, 'other_config') });
    expect(c.ok && c.value.hosts[0]).toMatchObject({ user: 'other', ssh: { jumps: [] } });
  });

  it('an alias the config does not name is refused at the host', () => {
    const r = load(inv('hosts:\n  master-1: {}\n  typo-2: {}\n'));
    expect(r.ok).toBe(false);
    expect(r.ok ? [] : r.problems.map((p) => p.message)).toEqual([expect.stringMatching(/^host 'typo-2' has no address, and no ssh config gives it a HostName/)]);
  });

  it('duplicate address:port is checked on the resolved values, and the route is part of it', () => {
    const same = load(inv('hosts:\n  master-1: {}\n  again: { address: 10.0.0.1, port: 2222 }\n'), { sshConfig: join(dir, 'ssh_config') });
    // 'again' is not under Host master-*: direct, so another machine than master-1 behind the bastion
    expect(same.ok).toBe(true);
    const dup = load(inv('hosts:\n  master-1: {}\n  master-3: {}\n'));
    expect(dup.ok ? [] : dup.problems.map((p) => p.message)).toEqual([expect.stringMatching(/same address and port \(10\.0\.0\.1:2222\) as host 'master-1'/)]);
  });

  it("ssh_config: none reads nothing, and a missing -F file is a problem", () => {
    const f = join(dir, 'none.yml');
    writeFileSync(f, 'cluster: c\nssh_config: none\nhosts:\n  m: { address: 10.0.0.1 }\n');
    expect(load(f)).toMatchObject({ ok: true, value: { sshConfig: '', hosts: [{ user: 'root', port: 22 }] } });
    const bad = load(f, { sshConfig: join(dir, 'missing') });
    expect(bad.ok ? '' : bad.problems[0]?.message).toMatch(/cannot read ssh config .*missing: ENOENT/);
  });
});

describe('the shipped alias-only example', () => {
  it('inventories/example-bastion.yml plans with every master via the bastion of inventories/example-ssh_config', async () => {
    const { spawnSync } = await import('node:child_process');
    const { CLI, ROOT } = await import('../support/paths.js');
    const r = spawnSync(process.execPath, [CLI, 'plan', 'playbooks/backup.yml', '-i', 'inventories/example-bastion.yml'], { cwd: ROOT, encoding: 'utf8', env: { ...process.env, NO_COLOR: '1' } });
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout).toContain('  master-2 root@10.0.0.12:22 via bastion (ops@bastion.example.invalid:22)');
    expect(r.stdout).toContain('https://10.0.0.12:2379');
  });
});

describe('a HostName from the config is checked like an inventory address', () => {
  it.each(['10.0.0.1;reboot', 'a b', '-oProxyCommand=x'])('%s is refused', (bad) => {
    const dir = mkdtempSync(join(root, 'bad-'));
    writeFileSync(join(dir, 'cfg'), `Host m\n  HostName "${bad}"\n`);
    writeFileSync(join(dir, 'inv.yml'), 'cluster: c\nssh_config: cfg\nhosts:\n  m: {}\n');
    const r = loadInventory(join(dir, 'inv.yml'), { sshEnv: env });
    expect(r.ok ? [] : r.problems.map((p) => p.message)).toEqual([expect.stringMatching(/is not an IP address or DNS name/)]);
  });
});
