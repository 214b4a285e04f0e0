import { watch, type FSWatcher } from 'node:fs';
import { stat } from 'node:fs/promises';
import { basename, dirname } from 'node:path';
import type { Logger } from './log.js';

/**
 * Watches the directory of `file` and calls `onChange` when an event names the file, or a name
 * `alsoMatches` accepts. The directory, not the file: a watch on the file itself is lost when an
 * editor saves by rename or a Kubernetes volume swaps its files. A watch that fails or cannot
 * start is logged and given up; the caller's poll still finds changes. Returns the closer.
 */
export function watchDirectoryOf(
  file: string,
  what: string,
  log: Logger,
  onChange: () => void,
  alsoMatches: (name: string) => boolean = () => false,
): () => void {
  const name = basename(file);
  let watcher: FSWatcher | undefined;
  const close = (): void => {
    watcher?.close();
    watcher = undefined;
  };
  try {
    watcher = watch(dirname(file), { persistent: false }, (_event, changed) => {
      if (changed === null || changed === name || alsoMatches(changed)) onChange();
    });
    watcher.on('error', (err) => {
      log.warn({ err: (err as NodeJS.ErrnoException).code }, `${what} directory watch failed; polling only`);
      close();
    });
  } catch (err) {
    log.warn({ err: (err as NodeJS.ErrnoException).code }, `cannot watch the ${what} directory; polling only`);
  }
  return close;
}

/**
 * What the watchers' polls compare: changes when the file, or the file a symlink points to, is
 * replaced or rewritten; undefined while it cannot be read.
 */
export async function fileSignature(file: string): Promise<string | undefined> {
  try {
    const s = await stat(file);
    return `${s.ino}:${s.size}:${s.mtimeMs}`;
  } catch {
    return undefined;
  }
}
