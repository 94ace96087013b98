import assert from 'node:assert/strict';
import { mkdtemp, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { pathExists } from '../../../src/lib/fs.js';

describe('pathExists', () => {
  let dir: string;
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'apt-ostree-fs-'));
    await writeFile(join(dir, 'file'), '');
    await symlink('file', join(dir, 'link'));
    await symlink('missing', join(dir, 'dangling'));
  });
  after(async () => { await rm(dir, { recursive: true, force: true }); });

  test('files and directories are there, missing paths and paths through a file are not', async () => {
    assert.equal(await pathExists(dir), true);
    assert.equal(await pathExists(join(dir, 'file')), true);
    assert.equal(await pathExists(join(dir, 'missing')), false);
    assert.equal(await pathExists(join(dir, 'file', 'below')), false);
  });

  test('symlinks are followed unless follow is false', async () => {
    assert.equal(await pathExists(join(dir, 'link')), true);
    assert.equal(await pathExists(join(dir, 'dangling')), false);
    assert.equal(await pathExists(join(dir, 'dangling'), { follow: false }), true);
    assert.equal(await pathExists(join(dir, 'missing'), { follow: false }), false);
  });
});
