/** File-system helpers shared by the engine and the tests. */
import { access, lstat } from 'node:fs/promises';

/**
 * Whether something is at `path`. Symlinks are followed (a dangling one is not there) unless `follow` is false, when
 * the link itself counts. Any error (missing, a file where a directory should be, no permission) answers false.
 */
export async function pathExists(path: string, { follow = true }: { follow?: boolean } = {}): Promise<boolean> {
  try {
    if (follow) await access(path);
    else await lstat(path);
    return true;
  } catch {
    return false;
  }
}
