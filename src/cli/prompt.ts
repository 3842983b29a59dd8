import { createInterface } from 'node:readline';

/** Ask on the terminal (or read one line from piped stdin). EOF or anything else than `expect` is a no. */
export function askToType(prompt: string, expect: string, input: NodeJS.ReadStream, output: NodeJS.WriteStream): Promise<boolean> {
  return new Promise((resolve) => {
    const rl = createInterface({ input, output, terminal: input.isTTY === true });
    let answered = false;
    rl.question(`${prompt}: `, (answer) => {
      answered = true;
      rl.close();
      resolve(answer.trim() === expect);
    });
    rl.on('close', () => {
      if (!answered) resolve(false);
    });
  });
}
