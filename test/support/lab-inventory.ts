import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Lab } from '../lab/lab.js';

export interface InventoryExtras {
  cluster?: string;
  /** Extra YAML lines under each host, e.g. etcd settings. */
  hostExtra?: (index: number) => string;
  down?: number[];
  /** SSH user of every host (default: the lab's sshUser, root unless startLab got users). */
  user?: string;
}

/** Write an inventory that reaches the lab's nodes with strict host-key checking. */
export function writeLabInventory(lab: Lab, file = join(lab.stateDir, 'inventory.yml'), extras: InventoryExtras = {}): string {
  const hosts = lab.nodes
    .map((n, i) => {
      // the lab's nodes share one 127.0.0.1: each rehearses a restore on its own address
      const lines = [`  ${n.name}:`, `    address: ${n.address}`, `    vars: { rehearsal_address: ${n.address} }`];
      if (extras.down?.includes(i)) lines.push('    down: true');
      const extra = extras.hostExtra?.(i);
      if (extra) lines.push(extra);
      return lines.join('\n');
    })
    .join('\n');
  const yaml = `# yaml-language-server: $schema=../../schemas/inventory.schema.json
cluster: ${extras.cluster ?? 'lab'}
known_hosts: ${lab.knownHostsFile}
defaults:
  user: ${extras.user ?? lab.sshUser}
  port: ${lab.nodes[0]?.port ?? 22}
  identity_file: ${lab.identityFile}
hosts:
${hosts}
groups:
  masters: [${lab.nodes.map((n) => n.name).join(', ')}]
`;
  writeFileSync(file, yaml);
  return file;
}

/** The `etcd:` block of a lab host: its apiserver, controller-manager and scheduler stand-ins answer plain HTTP on the node address. */
export function labEtcdBlock(lab: Lab, i: number, extra: string[] = []): string {
  const a = lab.nodes[i]?.address ?? '';
  return ['    etcd:', ...extra.map((l) => `      ${l}`), `      apiserver_url: http://${a}:6443`, `      controller_manager_url: http://${a}:10257`, `      scheduler_url: http://${a}:10259`].join('\n');
}
