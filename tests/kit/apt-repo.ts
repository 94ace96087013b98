/**
 * The kit's apt repository, laid out like a Debian mirror (pool/ and dists/<suite>/<component>/binary-<arch>/),
 * indexed by apt-ftparchive and left unsigned: sources use `[trusted=yes]`.
 */
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { gzip } from 'node:zlib';
import { run } from '../../src/lib/exec.js';
import { KIT_APT_COMPONENT, KIT_APT_SUITE } from './layout.js';

const gzipAsync = promisify(gzip);

/** Where the .debs go, relative to the repository root. */
export const APT_POOL = `pool/${KIT_APT_COMPONENT}`;

/** Indexes the .debs in the pool: Packages(.gz) and an unsigned Release. */
export async function writeAptIndexes(dir: string, arch: string): Promise<void> {
  const pool = APT_POOL;
  const binaryDir = `dists/${KIT_APT_SUITE}/${KIT_APT_COMPONENT}/binary-${arch}`;
  await mkdir(join(dir, binaryDir), { recursive: true });
  // run from `dir` so the Filename: fields are relative to the repository root, as apt expects
  const packages = (await run(['apt-ftparchive', 'packages', pool], { cwd: dir })).stdout;
  await writeFile(join(dir, binaryDir, 'Packages'), packages);
  await writeFile(join(dir, binaryDir, 'Packages.gz'), await gzipAsync(packages));
  const release = (await run([
    'apt-ftparchive',
    '-o', 'APT::FTPArchive::Release::Origin=apt-ostree-kit',
    '-o', 'APT::FTPArchive::Release::Label=apt-ostree-kit',
    '-o', `APT::FTPArchive::Release::Suite=${KIT_APT_SUITE}`,
    '-o', `APT::FTPArchive::Release::Codename=${KIT_APT_SUITE}`,
    '-o', `APT::FTPArchive::Release::Architectures=${arch}`,
    '-o', `APT::FTPArchive::Release::Components=${KIT_APT_COMPONENT}`,
    'release', `dists/${KIT_APT_SUITE}`,
  ], { cwd: dir })).stdout;
  await writeFile(join(dir, `dists/${KIT_APT_SUITE}/Release`), release);
}
