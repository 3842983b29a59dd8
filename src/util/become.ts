import type { Host } from '../model/inventory.js';
import { shellQuote } from './shell-quote.js';

/** Whether commands on this host go through sudo: a non-root SSH user with become on. */
export function needsSudo(host: Host, stepBecome?: boolean): boolean {
  return (stepBecome ?? host.become) && host.user !== 'root';
}

/** `sudo -n` (never prompts: a password prompt at 3 a.m. would hang the run) around a shell command. */
export function sudoWrap(cmd: string): string {
  return `sudo -n -- bash -c ${shellQuote(cmd)}`;
}
