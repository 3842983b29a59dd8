import { availableParallelism, loadavg } from 'node:os';

/**
 * vitest globalSetup of `npm run bench`: the load average and the number of cores at the start and at the
 * end, printed with the tables, since the machine is shared and every number depends on what else ran.
 */
const line = (when: string) =>
  `[bench] ${when}: load average ${loadavg()
    .map((l) => l.toFixed(2))
    .join(' ')} (1, 5, 15 min), ${availableParallelism()} cores, ${new Date().toISOString()}`;

export default function setup(): () => void {
  console.log(line('start'));
  return () => {
    console.log(line('end'));
  };
}
