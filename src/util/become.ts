import type { Host } from '../model/inventory.js';

/** Whether commands on this host go through `sudo -n` (never prompts): a non-root SSH user with become on. */
export function needsSudo(host: Host, stepBecome?: boolean): boolean {
  return (stepBecome ?? host.become) && host.user !== 'root';
}
