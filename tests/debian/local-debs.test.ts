/**
 * Treefile `local-debs` in a real Debian compose: mmdebstrap --mode=root (dpkg chrooted in the new root) installs a
 * .deb built here, runs its maintainer script inside the root, takes its dependency from the archive, and leaves no
 * trace of the build's own repository in the image's apt configuration. `compose install` (the mmdebstrap phase,
 * where local-debs act) of a treefile that includes tests/debian/test-image.yaml, so that the suites' cached .debs
 * (/var/tmp/apt-ostree-debian/debs) serve it. Needs root and, for what is not cached, the network.
 *
 *   node build.mjs && node --import tsx --test tests/debian/local-debs.test.ts
 */
import assert from 'node:assert/strict';
import { chmod, mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { run, runUnchecked } from '../../src/lib/exec.js';
import { CLI, debianCacheRoot, TREEFILE } from './base.js';

const skip = process.getuid?.() !== 0 ? 'needs root (mmdebstrap --mode=root)' : false;
const PACKAGE = 'apt-ostree-test-local';

describe('local-debs in a real Debian compose (trixie, mmdebstrap root mode)', { skip, timeout: 30 * 60 * 1000 }, () => {
  let work = '';
  let root = '';
  const started = Date.now();
  const log = (line: string): void => {
    process.stderr.write(`local-debs [${((Date.now() - started) / 1000).toFixed(1).padStart(6)}s] ${line}\n`);
  };

  before(async () => {
    // Beside the cache, on its file system: compose hardlinks the cached .debs.
    const cacheRoot = debianCacheRoot();
    await mkdir(cacheRoot, { recursive: true });
    work = await mkdtemp(join(cacheRoot, '..', 'apt-ostree-local-debs-test-'));
    const stage = join(work, 'stage');
    await mkdir(join(stage, 'DEBIAN'), { recursive: true });
    await mkdir(join(stage, 'usr/share', PACKAGE), { recursive: true });
    await writeFile(join(stage, 'usr/share', PACKAGE, 'content'), 'from a local .deb\n');
    await writeFile(join(stage, 'DEBIAN/control'), [
      `Package: ${PACKAGE}`, 'Version: 1.0-1', 'Architecture: all', 'Maintainer: apt-ostree tests <tests@apt-ostree.invalid>',
      // Not in the image otherwise: it must come from the archive because the local package asks for it.
      'Depends: jq',
      'Description: a local .deb for the local-debs test', '',
    ].join('\n'));
    // Runs chrooted in root mode: it writes into the new root, not onto the host.
    await writeFile(join(stage, 'DEBIAN/postinst'), [
      '#!/bin/sh', 'set -e', `if [ "$1" = configure ]; then mkdir -p /var/lib/${PACKAGE} && echo configured > /var/lib/${PACKAGE}/state; fi`, '',
    ].join('\n'));
    await chmod(join(stage, 'DEBIAN/postinst'), 0o755);
    const deb = join(work, `${PACKAGE}_1.0-1_all.deb`);
    await run(['dpkg-deb', '--root-owner-group', '-b', stage, deb]);
    await writeFile(join(work, 'treefile.json'), `${JSON.stringify({ include: TREEFILE, 'local-debs': [deb] }, null, 2)}\n`);

    log(`apt-ostree compose install (test-image.yaml + local-debs) with the cache ${cacheRoot}/debs`);
    const t0 = Date.now();
    const r = await runUnchecked([process.execPath, CLI, 'compose', 'install', join(work, 'treefile.json'), join(work, 'dest'),
      '--cachedir', cacheRoot], { onStderrLine: (l) => { if (/[EW]: /.test(l)) log(l); } });
    assert.equal(r.code, 0, r.stderr);
    log(`installed in ${((Date.now() - t0) / 1000).toFixed(1)}s`);
    root = join(work, 'dest/rootfs');
  });
  after(async () => {
    if (work !== '') await rm(work, { recursive: true, force: true });
  });

  const status = async (name: string): Promise<string> => {
    const r = await runUnchecked(['dpkg-query', `--admindir=${join(root, 'var/lib/dpkg')}`, '-W', '-f', '${Status} ${Version}', name]);
    return r.stdout.trim();
  };

  test('the local package is installed, its maintainer script ran in the root, its dependency came from the archive', async () => {
    assert.equal(await status(PACKAGE), 'install ok installed 1.0-1');
    assert.match(await status('jq'), /^install ok installed /);
    assert.equal(await readFile(join(root, 'usr/share', PACKAGE, 'content'), 'utf8'), 'from a local .deb\n');
    assert.equal(await readFile(join(root, 'var/lib', PACKAGE, 'state'), 'utf8'), 'configured\n');
    // The image's own packages are all there too.
    for (const name of ['systemd', 'linux-image-amd64', 'ostree']) assert.match(await status(name), /^install ok installed /, name);
  });

  test('the build\'s repository of local .debs is not in the image, nor in the shared cache', async () => {
    const etcApt = join(root, 'etc/apt');
    assert.deepEqual((await readdir(join(etcApt, 'sources.list.d'))).filter((n) => !/^debian(-security)?\.sources$/.test(n)), []);
    assert.equal((await readdir(etcApt)).includes('sources.list'), false);
    assert.deepEqual(await readdir(join(etcApt, 'preferences.d')).catch(() => []), []);
    const mentions = await runUnchecked(['grep', '-rlE', 'local-debs|copy://|trusted=yes', etcApt]);
    assert.equal(mentions.stdout.trim(), '');
    const lists = await readdir(join(root, 'var/lib/apt/lists')).catch(() => []);
    assert.deepEqual(lists.filter((n) => n.includes('local-debs')), []);
    const cached = await readdir(join(debianCacheRoot(), 'debs'));
    assert.deepEqual(cached.filter((n) => n.startsWith(`${PACKAGE}_`)), []);
    assert.ok(cached.some((n) => n.startsWith('jq_')), 'the archive\'s .debs are cached for the next compose');
  });
});
