// Injection property test on the lab: 1000 generated hostile values through -e, inventory variables and
// registered stdout (and JSON), into every template context validate accepts (shell word, word inside
// a larger word, command argv, file.write content, wait's until_cmd, a step's undo). Each host file must
// hold exactly the value, and nothing the values try to run may run.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Lab, startLab } from '../lab/lab.js';
import { runCli } from '../support/cli.js';
import { writeLabInventory } from '../support/lab-inventory.js';

const N = 1000;
const CHUNK = 50;

/** Seeded generator: quotes of both kinds, $( ), backticks, ; | & *, newlines, spaces, leading -, unicode, attempts to run `touch`. */
function values(n: number): string[] {
  const atoms = ["'", '"', '$(touch /root/pwned-a)', '`touch /root/pwned-b`', ';touch /root/pwned-c;', '|', '&', '*', '\n', ' ', '-', '--', '\\', '$HOME', '!', '#', '~', '>', '<', 'é', '日本', '🙂', 'a', 'Z', '9', '\t', '$((1+1))', '%s', '%n', '&&', '||', '(', ')', '[', ']', "'\"'"];
  let x = 20261201;
  const next = () => {
    x ^= x << 13;
    x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    return x;
  };
  const out = new Set<string>();
  while (out.size < n) {
    const v = Array.from({ length: 1 + (next() % 7) }, () => atoms[next() % atoms.length]).join('');
    // a leading '-' for some, so options parsing is tried too
    out.add(next() % 5 === 0 ? `-${v}` : v);
  }
  return [...out];
}

let lab: Lab;
let dir: string;
const vals = values(N);
const fromE = vals.slice(0, N / 2);
const fromInv = vals.slice(N / 2);

beforeAll(async () => {
  lab = await startLab({ nodes: 1 });
  dir = lab.stateDir;
}, 120_000);

afterAll(async () => {
  await lab?.stop();
});

/** The playbook: every value in every context, in steps of CHUNK values. */
function playbook(): string {
  const names = vals.map((_, i) => `v${i}`);
  const lines = ['name: injection', 'hosts: masters', 'params:'];
  for (let i = 0; i < N / 2; i++) lines.push(`  ${names[i]}: { required: true }`);
  lines.push('vars:');
  for (let i = N / 2; i < N; i++) lines.push(`  ${names[i]}: ""`);
  lines.push('steps:', '  - name: scratch', '    action: shell', '    args: { cmd: "rm -rf /root/inj && mkdir -p /root/inj/shell /root/inj/cat /root/inj/argv /root/inj/write /root/inj/reg /root/inj/json /root/inj/wait /root/inj/undo" }', '    no_undo: test scratch');
  const q = (s: string) => JSON.stringify(s);
  for (let c = 0; c < N; c += CHUNK) {
    const ids = Array.from({ length: Math.min(CHUNK, N - c) }, (_, j) => c + j);
    lines.push(`  - name: shell words ${c}`, '    action: shell', `    args: { cmd: ${q(ids.map((i) => `printf %s {{ vars.v${i} }} > /root/inj/shell/${i}`).join('; '))} }`, '    no_undo: test evidence');
    lines.push(`  - name: inside a word ${c}`, '    action: shell', `    args: { cmd: ${q(ids.map((i) => `printf %s x{{ vars.v${i} }}y > /root/inj/cat/${i}`).join('; '))} }`, '    no_undo: test evidence');
    lines.push(`  - name: registered json ${c}`, '    action: shell', '    changes: false', `    args: { cmd: ${q(`printf %s {{ [${ids.map((i) => `vars.v${i}`).join(', ')}] | json }}`)} }`, `    register: j${c}`);
    lines.push(`  - name: from registered json ${c}`, '    action: shell', `    args: { cmd: ${q(ids.map((i, j) => `printf %s {{ j${c}.json[${j}] }} > /root/inj/json/${i}`).join('; '))} }`, '    no_undo: test evidence');
    for (const i of ids.filter((i) => i % 10 === 0)) {
      lines.push(`  - name: registered stdout ${i}`, '    action: shell', '    changes: false', `    args: { cmd: ${q(`printf %s {{ vars.v${i} }}`)} }`, `    register: r${i}`);
      lines.push(`  - name: from registered stdout ${i}`, '    action: shell', `    args: { cmd: ${q(`printf %s {{ r${i}.stdout }} > /root/inj/reg/${i}`)} }`, '    no_undo: test evidence');
      lines.push(`  - name: argv ${i}`, '    action: command', `    args: { argv: ["sh", "-c", "printf %s \\"$1\\" > /root/inj/argv/${i}", "sh", "{{ vars.v${i} }}"] }`, '    no_undo: test evidence');
      lines.push(`  - name: file.write ${i}`, '    action: file.write', `    args: { dest: /root/inj/write/${i}, content: "{{ vars.v${i} }}" }`);
      lines.push(`  - name: wait ${i}`, '    action: wait', `    args: { until_cmd: ${q(`printf %s {{ vars.v${i} }} > /root/inj/wait/${i}`)}, timeout: 30 }`);
    }
  }
  // undos run on the way back to this point
  lines.push('  - rollback_point: all written');
  for (let i = 0; i < N; i += 10) lines.push(`  - name: undo ${i}`, '    action: shell', `    args: { cmd: "true" }`, `    undo: ${q(`printf %s {{ vars.v${i} }} > /root/inj/undo/${i}`)}`);
  lines.push('  - name: fail to run the undos', '    action: shell', '    changes: false', '    args: { cmd: "exit 1" }');
  return `${lines.join('\n')}\n`;
}

async function files(sub: string): Promise<Map<number, string>> {
  const r = await lab.exec(0, `cd /root/inj/${sub} && for f in *; do printf '%s ' "$f"; base64 -w0 "$f"; echo; done`);
  const out = new Map<number, string>();
  for (const line of r.stdout.split('\n').filter(Boolean)) {
    const [name, b64 = ''] = line.split(' ');
    out.set(Number(name), Buffer.from(b64, 'base64').toString('utf8'));
  }
  return out;
}

describe('injection property test on the lab', () => {
  it(`${N} generated values reach the host literally in every context; nothing they try to run runs`, async () => {
    const pb = join(dir, 'injection.yml');
    writeFileSync(pb, playbook());
    const invFile = writeLabInventory(lab, join(dir, 'inv.yml'));
    // the second half comes from the inventory, as JSON strings (valid YAML)
    const inv = (await import('node:fs')).readFileSync(invFile, 'utf8').replace(/ {4}vars: \{ rehearsal_address: ([^ ]+) \}/, (_m, a: string) => `    vars: { rehearsal_address: ${a}, ${fromInv.map((v, j) => `v${N / 2 + j}: ${JSON.stringify(v)}`).join(', ')} }`);
    writeFileSync(invFile, inv);
    const e = fromE.flatMap((v, i) => ['-e', `v${i}=${v}`]);
    const valid = await runCli(['validate', pb, '-i', invFile, ...e]);
    expect(valid.code, valid.stderr.slice(0, 2000)).toBe(0);
    // the last step fails on purpose: the undos run too (newest first)
    const r = await runCli(['run', pb, '-i', invFile, ...e], { env: { RUNBOOK_RUNS_DIR: join(dir, 'runs') } });
    expect(r.code, (r.stdout + r.stderr).slice(-3000)).toBe(1);
    expect(r.stdout).toMatch(/rolled back to 'all written'/);
    const want = (i: number) => vals[i]!;
    const sampled = vals.map((_, i) => i).filter((i) => i % 10 === 0);
    const checks: [string, number[], (i: number) => string][] = [
      ['shell', vals.map((_, i) => i), want],
      ['cat', vals.map((_, i) => i), (i) => `x${want(i)}y`],
      ['json', vals.map((_, i) => i), want],
      ['reg', sampled, want],
      ['argv', sampled, want],
      ['write', sampled, want],
      ['wait', sampled, want],
      ['undo', sampled, want],
    ];
    let compared = 0;
    for (const [sub, ids, expected] of checks) {
      const got = await files(sub);
      for (const i of ids) {
        expect(got.get(i), `${sub}/${i}: value ${JSON.stringify(vals[i])}`).toBe(expected(i));
        compared++;
      }
    }
    expect(compared).toBe(3 * N + 5 * (N / 10));
    expect((await lab.exec(0, 'ls /root/pwned-* 2>/dev/null | wc -l')).stdout.trim()).toBe('0');
    console.log(`[injection] ${N} values (${fromE.length} via -e, ${fromInv.length} via the inventory), ${compared} host files compared byte for byte, 0 stray processes`);
  }, 600_000);

  it('hostile host fields (etcd paths, etcdctl) reach commands literally, and the engine\'s own paths under them too', async () => {
    const fieldValues = vals.filter((v) => !v.includes('/') && !v.includes('\n')).slice(0, 10);
    const pb = join(dir, 'host-fields.yml');
    writeFileSync(
      pb,
      `name: host-fields
hosts: masters
steps:
  - name: print the fields
    action: shell
    args: { cmd: "mkdir -p /root/hf && printf '%s\\\\n' {{ host.etcd.data_dir }} {{ host.etcd.stash_dir }} {{ host.etcd.manifests_dir }} {{ host.etcd.cacert }} {{ host.etcd.etcdctl }} > /root/hf/out" }
    undo: "rm -rf /root/hf"
  - name: a file with its backup under the stash dir
    action: file.write
    args: { dest: /root/hf/written, content: "x" }
  - rollback_point: written
  - name: fail
    action: shell
    changes: false
    args: { cmd: "exit 1" }
`,
    );
    for (const [n, v] of fieldValues.entries()) {
      const base = `/root/hf-${n} ${v}`;
      const extra = `    etcd:\n      data_dir: ${JSON.stringify(`${base}/data`)}\n      stash_dir: ${JSON.stringify(`${base}/stash`)}\n      manifests_dir: ${JSON.stringify(`${base}/manifests`)}\n      cacert: ${JSON.stringify(`${base}/ca.crt`)}\n      etcdctl: ${JSON.stringify(v)}`;
      const invFile = writeLabInventory(lab, join(dir, `inv-hf-${n}.yml`), { hostExtra: () => extra });
      const r = await runCli(['run', pb, '-i', invFile], { env: { RUNBOOK_RUNS_DIR: join(dir, 'runs') } });
      expect(r.code, `${JSON.stringify(v)}: ${r.stdout}${r.stderr}`).toBe(1);
      const out = (await lab.exec(0, 'cat /root/hf/out')).stdout;
      expect(out, JSON.stringify(v)).toBe(`${base}/data\n${base}/stash\n${base}/manifests\n${base}/ca.crt\n${v}\n`);
      // the engine's own paths (lock, backups) are built under the stash dir: literally there
      const listed = await lab.exec(0, `p=$(printf %s ${Buffer.from(`${base}/stash`).toString('base64')} | base64 -d) && ls -d "$p"/runs/*/02-*/absent`);
      expect(listed.code, `${JSON.stringify(v)}: ${listed.stderr}`).toBe(0);
      await lab.exec(0, 'rm -rf /root/hf /root/hf-*');
    }
    expect((await lab.exec(0, 'ls /root/pwned-* 2>/dev/null | wc -l')).stdout.trim()).toBe('0');
  }, 300_000);

  it('a NUL byte is refused at input', async () => {
    const invFile = writeLabInventory(lab, join(dir, 'inv-nul.yml'));
    const text = (await import('node:fs')).readFileSync(invFile, 'utf8').replace(/ {4}vars: \{ rehearsal_address: ([^ ]+) \}/, (_m, a: string) => `    vars: { rehearsal_address: ${a}, v0: "a\\0b" }`);
    writeFileSync(invFile, text);
    const r = await runCli(['plan', 'playbooks/demo-files.yml', '-i', invFile]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/NUL/);
  });
});
