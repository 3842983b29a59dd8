import type { ChalkInstance } from 'chalk';
import { describeCommand, describeDeadline } from '../engine/describe-command.js';
import type { Program } from '../engine/plan.js';
import type { HostStepPlan, RunPlan } from '../engine/plan-step.js';
import { KILL_AFTER_S } from '../shell/wire.js';

/**
 * A command as one line of the plan: a newline inside a quoted value is shown as ␤, so a value can never
 * start a line of its own (a forged `$ …` line in the dry run an SRE reviews).
 */
function oneLine(text: string): string {
  return text.replace(/\r\n|\r|\n/g, '␤');
}

/** The S3 objects a step downloads, each with the hosts it goes to (the run reads each once per wave of hosts). */
function sharedFetches(hosts: HostStepPlan[]): { object: string; to: string[] }[] {
  const by = new Map<string, string[]>();
  for (const h of hosts) {
    if (h.kind !== 'run') continue;
    for (const cmd of h.commands) if (cmd.kind === 's3-get') by.set(`${cmd.bucket}/${cmd.key}`, [...(by.get(`${cmd.bucket}/${cmd.key}`) ?? []), h.host]);
  }
  return [...by].map(([object, to]) => ({ object, to }));
}

/** The dry run as text: every step and host in order, exact commands, undo, rollback points. */
export function formatPlan(plan: Program, c: ChalkInstance): string {
  const out: string[] = [];
  const showRun = (h: RunPlan, indent: string): void => {
    for (const cmd of h.commands) {
      const d = describeDeadline(cmd);
      out.push(`${indent}$ ${oneLine(describeCommand(cmd))}${d ? c.dim(`    [${d}]`) : ''}`);
    }
    for (const u of h.undo) out.push(c.dim(`${indent}undo $ ${oneLine(describeCommand(u))}`));
    if (h.note) out.push(c.cyan(`${indent}note: ${h.note}`));
    if (h.irreversible) out.push(c.yellow(`${indent}no undo: ${h.irreversible}`));
  };
  out.push(`${c.bold('plan')} ${plan.playbook} on cluster ${plan.cluster} (dry run: ${plan.settingsFrom === 'hosts' ? 'the hosts were read, nothing was changed' : 'nothing was contacted'})`);
  if (plan.settingsFrom === 'inventory')
    out.push(c.yellow("  etcd settings: from the inventory and kubeadm's defaults, NOT checked against the hosts (plan --facts reads them from the hosts; a run reads them and refuses drift)"));
  if (plan.settingsFrom === 'hosts') {
    out.push(`${c.bold('etcd settings')} read from the hosts (the inventory's own values agree):`);
    for (const [h, f] of Object.entries(plan.facts ?? {})) {
      const s = f.settings;
      out.push(`  ${h}: ${s.style?.value ?? '?'}${f.stopped ? ' (stopped)' : ''}, member ${s.name?.value ?? '?'}, data dir ${s.data_dir?.value ?? '?'}, client ${s.client_url?.value ?? '?'}, peer ${s.peer_url?.value ?? '?'}${c.dim(`  [${s.style?.at.file ?? '?'}]`)}`);
    }
  }
  out.push(
    c.dim(
      `  each $ line is the exact text bash runs on the host, under its deadline as with \`timeout -k ${KILL_AFTER_S} SECONDS bash -c TEXT\` (through \`sudo -n --\` where become applies); <name> is a value only the run knows, filled in as one quoted word`,
    ),
  );
  // how each host is reached: user, address, port, jump hosts (inventory, -u, --private-key, the ssh config)
  const conns = plan.connections ?? [];
  if (conns.length) {
    const configs = [...new Set(conns.map((k) => k.config).filter(Boolean))];
    out.push(`${c.bold('ssh')}${c.dim(configs.length ? ` (config ${configs.join(', ')})` : ' (no ssh config)')}:`);
    for (const k of conns) {
      const auth = [...k.keys.map((f) => `key ${f}`), ...(k.agent ? ['ssh-agent'] : [])].join(', ') || 'no key, no agent';
      out.push(`  ${k.host} ${k.target}${k.via.length ? ` via ${k.via.join(' → ')}` : ''}${c.dim(`  [${auth}]`)}`);
    }
  }
  for (const e of plan.entries) {
    switch (e.kind) {
      case 'rollback_point':
        out.push(`${c.magenta('◆')} rollback point ${c.bold(e.name)}  ${c.dim('(a later failure unwinds to here)')}`);
        break;
      case 'skipped':
        out.push(c.dim(`- [${e.index + 1}] ${e.name}: skipped (${e.reason})`));
        break;
      case 'step': {
        const k = e.controls;
        const flags = [e.action, k.serial ? `serial ${k.serial}` : '', k.shareResult && !k.jumpHost ? 'run_once' : '', k.retries ? `retries ${k.retries}${k.until ? ` until ${k.until}` : ''}` : '', k.register ? `register ${k.register}` : '']
          .filter(Boolean)
          .join(', ');
        out.push(`${c.cyan('▶')} [${e.index + 1}] ${c.bold(e.name)} ${c.dim(`(${flags})`)}`);
        if (e.down.length) out.push(c.yellow(`    down, not contacted: ${e.down.join(', ')}`));
        if (e.hosts.length === 0) out.push(c.dim('    (no hosts selected)'));
        for (const f of sharedFetches(e.hosts)) out.push(c.cyan(`    one fetch: s3://${f.object} is read once on this machine and streamed to ${f.to.length} host(s) in parallel (${f.to.join(', ')}; one read per wave of --forks hosts)`));
        for (const h of e.hosts) {
          switch (h.kind) {
            case 'skip':
              out.push(c.dim(`  ${h.host}: skipped (${h.reason})`));
              break;
            case 'error':
              out.push(c.red(`  ${h.host}: ERROR ${h.message}`));
              break;
            case 'run':
              out.push(`  ${h.host}:${h.condition ? c.dim(` only if ${h.condition}`) : ''}`);
              showRun(h, '    ');
              break;
            case 'choose':
              out.push(`  ${h.host}:${h.condition ? c.dim(` only if ${h.condition}`) : ''} ${c.dim(`by the etcd version this host runs (${h.on.ref})`)}`);
              for (const k of h.cases) {
                out.push(`    on etcd ${k.sets.join(', ')}:`);
                showRun(k.plan, '      ');
              }
              break;
          }
        }
      }
    }
  }
  if (plan.errors.length) out.push(c.red(`${plan.errors.length} step(s) cannot be planned: a run would stop there.`));
  return `${out.join('\n')}\n`;
}
