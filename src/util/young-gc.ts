import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';

type Gc = (options?: { type?: 'minor' | 'major' }) => void;
let gc: Gc | null | undefined;

/**
 * Collect V8's young generation now, where V8 lets a program ask (it does through its gc extension, which
 * `--expose-gc` gives to contexts made after it is set; else this does nothing).
 *
 * Why: a long transfer turns every SSH packet into a Buffer of its own (ssh2 decrypts into a new one),
 * and what it costs is outside V8's heap. V8 collects them only when its young generation fills with their
 * small wrappers, or when the memory outside the heap has grown by 64 MiB: tens of MiB of garbage that the
 * process's RSS shows. Asked for once per part of a multipart upload (5 MiB), a young-generation
 * collection frees them while they are young, for well under a millisecond each time; a full one every
 * 16th part frees what those promoted (requests that were in flight), a few ms (s3.ts). Measured on the
 * lab, 4 GiB backup: peak RSS 161 MiB without, 139 MiB with. Not used on the restore's fan-out: there the
 * chunks are still held by the members' channels when it would run, and young collections made it worse.
 */
export function collectYoung(): void {
  collect('minor');
}

/** Collect the whole heap now (where V8 lets a program ask, as above): what young collections promoted and is garbage now. */
export function collectAll(): void {
  collect('major');
}

function collect(type: 'minor' | 'major'): void {
  if (gc === undefined) {
    try {
      setFlagsFromString('--expose-gc');
      const got: unknown = runInNewContext('typeof gc === "function" ? gc : undefined');
      gc = typeof got === 'function' ? (got as Gc) : null;
    } catch {
      gc = null;
    }
  }
  // a full collection is gc() with no options: Node 20's V8 takes { type: 'major' } for a young one
  if (type === 'minor') gc?.({ type });
  else gc?.();
}
