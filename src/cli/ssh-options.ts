import { resolve } from 'node:path';
import { defaultSshEnv, type InventoryOptions } from '../load/load-inventory.js';
import type { SshOptions } from '../transport/ssh.js';
import type { CliArgs } from './args.js';

/** The CLI's ssh settings (-F, -u, --private-key) as recorded with a run or a saved plan: absolute paths. */
export interface SshCliOptions {
  configFile?: string | undefined;
  user?: string | undefined;
  privateKey?: string | undefined;
}

export function sshCliOptions(args: CliArgs): SshCliOptions {
  const out: SshCliOptions = {};
  if (args.sshConfig !== undefined) out.configFile = args.sshConfig === 'none' ? 'none' : resolve(args.sshConfig);
  if (args.user !== undefined) out.user = args.user;
  if (args.privateKey !== undefined) out.privateKey = resolve(args.privateKey);
  return out;
}

/** How the inventory is resolved: this command's flags, else those recorded with the run (resume, rollback, run --plan). */
export function inventoryOptions(args: CliArgs, env: Record<string, string | undefined>, recorded: SshCliOptions = {}): InventoryOptions {
  const now = sshCliOptions(args);
  return {
    sshConfig: now.configFile ?? recorded.configFile,
    user: now.user ?? recorded.user,
    privateKey: now.privateKey ?? recorded.privateKey,
    sshEnv: defaultSshEnv(env),
  };
}

export function transportOptions(args: CliArgs, acceptNewHostKeys: boolean): SshOptions {
  return { acceptNewHostKeys, connectTimeoutMs: args.connectTimeout * 1000, connectTimeoutFixed: args.connectTimeoutGiven, keepaliveIntervalMs: 5000 };
}
