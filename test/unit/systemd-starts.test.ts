// Every systemd start in every shipped playbook's plan, its undo included, is `systemctl … --no-block`: a
// Type=notify etcd unit is "started" only once its member has joined its cluster, so a start that blocks
// on one member while the others are down (a full restore, its rollback one host at a time,
// force-new-cluster's re-adds) fails after TimeoutStartSec. Readiness is waited for separately.
import { spawnSync } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { CLI, ROOT } from '../support/paths.js';

const params: Record<string, string[]> = {
  'full-restore.yml': ['-e', 'snapshot_key=etcd/c/20261121-020000-ab12cd/snapshot.db'],
  'reinitialize-member.yml': ['-e', 'member=k8s-master2'],
  'force-new-cluster.yml': ['-e', 'survivor=k8s-master1'],
};

/** Every string anywhere in the plan (commands, undo, partial undo, probes), with where it was found. */
function strings(v: unknown, at: string, out: { at: string; text: string }[] = []): { at: string; text: string }[] {
  if (typeof v === 'string') out.push({ at, text: v });
  else if (Array.isArray(v)) for (const [i, x] of v.entries()) strings(x, `${at}[${i}]`, out);
  else if (v && typeof v === 'object') for (const [k, x] of Object.entries(v)) strings(x, `${at}.${k}`, out);
  return out;
}

const START = /systemctl((?:\s+-[-\w]+)*)\s+(start|restart|try-restart|reload-or-restart|enable)\b([^;&|)]*)/g;

type Start = { at: string; cmd: string; noBlock: boolean };
const planned = new Map<string, Start[]>();

/** The systemd starts in one playbook's plan (planned once per playbook). */
function starts(playbook: string): Start[] {
  const known = planned.get(playbook);
  if (known) return known;
  const r = spawnSync('node', [CLI, 'plan', `playbooks/${playbook}`, '-i', 'inventories/example-systemd.yml', '--output', 'json', ...(params[playbook] ?? [])], { cwd: ROOT, encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`plan ${playbook}: ${r.stderr}`);
  const seen = new Map<string, Start>();
  for (const { at, text } of strings(JSON.parse(r.stdout), 'plan')) {
    for (const m of text.matchAll(START)) {
      if (m[2] === 'enable' && !/--now/.test(`${m[1]}${m[3]}`)) continue;
      seen.set(`${at}:${m.index}`, { at, cmd: m[0].trim(), noBlock: /--no-block/.test(`${m[1]}${m[3]}`) });
    }
  }
  const found = [...seen.values()];
  planned.set(playbook, found);
  return found;
}

const files = readdirSync(join(ROOT, 'playbooks')).filter((f) => f.endsWith('.yml'));

describe('systemd starts in the shipped playbooks (inventories/example-systemd.yml)', () => {
  it.each(files)('%s: every systemctl start/restart in the plan and the undo is --no-block', (f) => {
    const found = starts(f);
    expect(found.filter((s) => !s.noBlock)).toEqual([]);
  });

  // not vacuous: the playbooks that start units do have them in their plan and in their undo
  it.each([
    ['full-restore.yml', /etcd\.service/, /kube-apiserver\.service/],
    ['force-new-cluster.yml', /etcd\.service/, /etcd\.service/],
    ['reinitialize-member.yml', /etcd\.service/, /etcd\.service/],
  ] as const)('%s starts units in its commands and in its undo', (f, inCommands, inUndo) => {
    const found = starts(f);
    expect(found.some((s) => /\.commands\[/.test(s.at) && inCommands.test(s.cmd))).toBe(true);
    expect(found.some((s) => /[uU]ndo/.test(s.at) && inUndo.test(s.cmd))).toBe(true);
  });

  it('the start pattern sees a blocking start', () => {
    const m = [...'x; systemctl daemon-reload && systemctl start etcd.service && y'.matchAll(START)];
    expect(m.map((x) => /--no-block/.test(`${x[1]}${x[3]}`))).toEqual([false]);
  });
});
