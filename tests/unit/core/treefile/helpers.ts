import assert from 'node:assert/strict';
import { mkdir, mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { loadTreefile, type LoadedTreefile } from '../../../../src/core/compose/treefile/index.js';
import { AptOstreeError } from '../../../../src/lib/errors.js';

/** A scratch directory with the given files (relative path → content). */
export async function tree(files: Record<string, string>): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'apt-ostree-treefile-'));
  for (const [name, text] of Object.entries(files)) {
    await mkdir(dirname(join(dir, name)), { recursive: true });
    await writeFile(join(dir, name), text);
  }
  return dir;
}

export async function load(files: Record<string, string>, top = 'treefile.yaml'): Promise<{ dir: string; loaded: LoadedTreefile }> {
  const dir = await tree(files);
  return { dir, loaded: await loadTreefile(join(dir, top)) };
}

/** Loads and expects a failure; returns the message with the scratch directory replaced by "<dir>". */
export async function failure(files: Record<string, string>, code = 'treefile-invalid', top = 'treefile.yaml'): Promise<{ message: string; hint: string }> {
  const dir = await tree(files);
  try {
    await loadTreefile(join(dir, top));
  } catch (err) {
    assert.ok(err instanceof AptOstreeError, String(err));
    assert.equal(err.code, code, err.message);
    assert.ok(!err.message.includes('\n'), `one line: ${err.message}`);
    return { message: err.message.split(dir).join('<dir>'), hint: err.hint ?? '' };
  }
  assert.fail('the treefile loaded');
}
