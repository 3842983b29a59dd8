import { createInterface, type Interface } from 'node:readline';

type In = NodeJS.ReadableStream & { isTTY?: boolean };

/**
 * One reader per input stream, for every question of the process: answers piped in ahead
 * (`printf 'y\nn\nc\n' | runbook run --step …`) are queued, never lost between two questions.
 */
class Lines {
  private readonly rl: Interface;
  private readonly queue: string[] = [];
  private waiting: ((line: string | undefined) => void) | undefined;
  private ended = false;

  constructor(private readonly input: In, private readonly output: NodeJS.WritableStream) {
    this.rl = createInterface({ input, terminal: false });
    this.rl.on('line', (l) => {
      if (this.waiting) {
        const w = this.waiting;
        this.waiting = undefined;
        w(l);
      } else this.queue.push(l);
    });
    this.rl.on('close', () => {
      this.ended = true;
      this.waiting?.(undefined);
      this.waiting = undefined;
    });
    // stdin keeps the process alive only while a question waits for its answer
    this.hold(false);
  }

  private hold(on: boolean) {
    const s = this.input as { ref?: () => void; unref?: () => void };
    if (on) s.ref?.();
    else s.unref?.();
  }

  /** The next line, or undefined at end of input. */
  ask(prompt: string): Promise<string | undefined> {
    this.output.write(prompt);
    const queued = this.queue.shift();
    if (queued !== undefined) return Promise.resolve(queued);
    if (this.ended) return Promise.resolve(undefined);
    this.hold(true);
    return new Promise((resolve) => {
      this.waiting = (line) => {
        this.hold(false);
        resolve(line);
      };
    });
  }
}

const readers = new WeakMap<object, Lines>();

function linesOf(input: In, output: NodeJS.WritableStream): Lines {
  let r = readers.get(input);
  if (!r) {
    r = new Lines(input, output);
    readers.set(input, r);
  }
  return r;
}

/** Ask on the terminal (or read one line from piped stdin). EOF or anything else than `expect` is a no. */
export async function askToType(prompt: string, expect: string, input: In, output: NodeJS.WritableStream): Promise<boolean> {
  const answer = await linesOf(input, output).ask(`${prompt}: `);
  return answer !== undefined && answer.trim() === expect;
}

export type StepAnswer = 'run' | 'skip' | 'all' | 'stop';

/**
 * `--step`: ask before a step. y = run it, n = skip it, c = run this and the rest without asking.
 * Anything else asks again; end of input (no one there to answer) stops the run, which then unwinds.
 */
export async function askStep(prompt: string, input: In, output: NodeJS.WritableStream): Promise<StepAnswer> {
  const lines = linesOf(input, output);
  for (;;) {
    const answer = await lines.ask(`${prompt} (y)es/(n)o/(c)ontinue: `);
    if (answer === undefined) {
      output.write('\n');
      return 'stop';
    }
    const a = answer.trim().toLowerCase();
    if (a === 'y' || a === 'yes') return 'run';
    if (a === 'n' || a === 'no') return 'skip';
    if (a === 'c' || a === 'continue') return 'all';
  }
}
