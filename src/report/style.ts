import { Chalk, type ChalkInstance } from 'chalk';

/** Colours only on a TTY and never with NO_COLOR set (https://no-color.org). */
export function makeStyle(stream: NodeJS.WriteStream, env: NodeJS.ProcessEnv): ChalkInstance {
  const off = env['NO_COLOR'] !== undefined && env['NO_COLOR'] !== '';
  return new Chalk({ level: off || !stream.isTTY ? 0 : 1 });
}
