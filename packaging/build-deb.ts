/**
 * Builds dist/apt-ostree_<version>_all.deb from the bundles in dist/ (run `node build.mjs` first; `make deb` does
 * both). No debhelper: the package is a handful of files at fixed places, so the tree is staged here, exactly, and
 * packed with `dpkg-deb --root-owner-group`, which needs neither root nor fakeroot. The version is the top entry of
 * packaging/changelog, whose upstream part must be package.json's; the Maintainer comes from there too.
 * Usage: node --import tsx packaging/build-deb.ts
 */
import { createHash } from 'node:crypto';
import { chmod, copyFile, mkdir, readFile, readdir, rm, stat, utimes, writeFile } from 'node:fs/promises';
import { basename, dirname, join, relative } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { INSTALLED_FILES } from '../src/dbus/names.js';
import { run } from '../src/lib/exec.js';
import { copyrightFile } from './copyright.js';

const REPO = fileURLToPath(new URL('..', import.meta.url));
const PACKAGING = join(REPO, 'packaging');
const DIST = join(REPO, 'dist');
/** The staged package tree; dist/ is ignored by git and holds the bundles already. */
const STAGE = join(DIST, 'deb');
const PACKAGE = 'apt-ostree';
/** Where the bundles go: private program code, not a library others may import. */
const LIB_DIR = '/usr/lib/apt-ostree';
const CLIENT = '/usr/bin/apt-ostree';

/**
 * The launchers: the bundles are ES modules and must keep their .mjs name (an extensionless file is loaded as
 * CommonJS), so /usr/bin/apt-ostree and /usr/libexec/apt-ostreed are CommonJS files that import them. They find the
 * bundle relative to themselves, so that an unpacked package runs from any root.
 */
function launcher(fromDir: string, bundle: string): string {
  const rel = relative(fromDir, bundle);
  return `#!/usr/bin/node
// The program is the ES module ${bundle}, which must keep its .mjs name: this file only loads it.
const { join } = require('node:path');
const { pathToFileURL } = require('node:url');
import(pathToFileURL(join(__dirname, '${rel}')).href);
`;
}

interface Staged {
  /** The absolute path on the installed system. */
  path: string;
  from?: string;
  text?: string;
  mode: number;
  /** gzip -9n it and add .gz to the name (man pages, the Debian changelog). */
  gzip?: boolean;
}

async function parseChangelog(field: 'Version' | 'Maintainer' | 'Timestamp'): Promise<string> {
  return (await run(['dpkg-parsechangelog', '-l', join(PACKAGING, 'changelog'), '-S', field])).stdout.trim();
}

/** Every file of a data/ directory, sorted, so that files added there later are packaged without a change here. */
async function filesIn(dir: string): Promise<string[]> {
  const entries = await readdir(join(REPO, dir), { withFileTypes: true });
  return entries.filter((e) => e.isFile()).map((e) => join(REPO, dir, e.name)).sort();
}

async function contents(): Promise<Staged[]> {
  const doc = `/usr/share/doc/${PACKAGE}`;
  const files: Staged[] = [
    { path: CLIENT, text: launcher(dirname(CLIENT), `${LIB_DIR}/apt-ostree.mjs`), mode: 0o755 },
    { path: INSTALLED_FILES.daemon, text: launcher(dirname(INSTALLED_FILES.daemon), `${LIB_DIR}/apt-ostreed.mjs`), mode: 0o755 },
    { path: `${LIB_DIR}/apt-ostree.mjs`, from: join(DIST, 'apt-ostree.mjs'), mode: 0o644 },
    { path: `${LIB_DIR}/apt-ostreed.mjs`, from: join(DIST, 'apt-ostreed.mjs'), mode: 0o644 },
    { path: INSTALLED_FILES.config, from: join(REPO, 'data/apt-ostreed.conf'), mode: 0o644 },
    { path: INSTALLED_FILES.activation, from: join(REPO, 'data/dbus/org.aptostree.AptOstree1.service'), mode: 0o644 },
    { path: INSTALLED_FILES.busPolicy, from: join(REPO, 'data/dbus/org.aptostree.AptOstree1.conf'), mode: 0o644 },
    // The contract, where D-Bus interface descriptions go, for other clients and bus browsers.
    { path: '/usr/share/dbus-1/interfaces/org.aptostree.AptOstree1.xml', from: join(REPO, 'data/dbus/org.aptostree.AptOstree1.xml'), mode: 0o644 },
    { path: INSTALLED_FILES.polkitActions, from: join(REPO, 'data/polkit/org.aptostree.AptOstree1.policy'), mode: 0o644 },
    { path: `/usr/share/${PACKAGE}/treefile.schema.json`, from: join(REPO, 'data/treefile.schema.json'), mode: 0o644 },
    { path: `/usr/share/bash-completion/completions/${PACKAGE}`, from: join(REPO, 'data/completion/apt-ostree'), mode: 0o644 },
    { path: `${doc}/changelog.Debian`, from: join(PACKAGING, 'changelog'), mode: 0o644, gzip: true },
    { path: `/usr/share/lintian/overrides/${PACKAGE}`, from: join(PACKAGING, 'lintian-overrides'), mode: 0o644 },
  ];
  const unitDir = dirname(INSTALLED_FILES.systemdUnit);
  for (const f of await filesIn('data/systemd')) files.push({ path: `${unitDir}/${basename(f)}`, from: f, mode: 0o644 });
  if (!files.some((f) => f.path === INSTALLED_FILES.systemdUnit)) throw new Error(`data/systemd has no ${basename(INSTALLED_FILES.systemdUnit)}`);
  for (const f of await filesIn('data/man')) {
    const section = /\.([1-9])$/.exec(f)?.[1];
    if (section === undefined) throw new Error(`${f}: a man page's name ends with its section`);
    files.push({ path: `/usr/share/man/man${section}/${basename(f)}`, from: f, mode: 0o644, gzip: true });
  }
  const maps = [join(DIST, 'apt-ostree.mjs.map'), join(DIST, 'apt-ostreed.mjs.map')];
  files.push({ path: `${doc}/copyright`, text: await copyrightFile(await readFile(join(PACKAGING, 'copyright'), 'utf8'), maps), mode: 0o644 });
  return files;
}

/** Installed-Size as dpkg-gencontrol counts it: KiB per file, rounded up, and one per directory; DEBIAN/ is not installed. */
async function installedSize(dir: string): Promise<number> {
  let kib = 0;
  for (const e of await readdir(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    if (p === join(STAGE, 'DEBIAN')) continue;
    if (e.isDirectory()) kib += 1 + await installedSize(p);
    else kib += Math.ceil((await stat(p)).size / 1024);
  }
  return kib;
}

async function walkFiles(dir: string): Promise<string[]> {
  const out: string[] = [];
  for (const e of await readdir(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    if (e.isDirectory()) out.push(...await walkFiles(p));
    else out.push(p);
  }
  return out.sort();
}

/**
 * dpkg-deb packs modes and times as they are on disk: directories get 0755 whatever the umask, and everything the
 * changelog's date, so that the same sources give the same package.
 */
async function normalize(dir: string, epoch: number): Promise<void> {
  for (const e of await readdir(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    if (e.isDirectory()) await normalize(p, epoch);
    else await utimes(p, epoch, epoch);
  }
  await chmod(dir, 0o755);
  await utimes(dir, epoch, epoch);
}

export async function buildDeb(): Promise<string> {
  const version = await parseChangelog('Version');
  const pkg = JSON.parse(await readFile(join(REPO, 'package.json'), 'utf8')) as { version: string };
  if (version.replace(/-[^-]+$/, '') !== pkg.version) {
    throw new Error(`packaging/changelog is at ${version}, package.json at ${pkg.version}: add a changelog entry`);
  }
  // The bundle must be the one built from this tree (its --version comes from src/version.ts).
  const bundled = (await run([process.execPath, join(DIST, 'apt-ostree.mjs'), '--version'])).stdout.trim();
  if (bundled !== pkg.version) throw new Error(`dist/apt-ostree.mjs says ${bundled}, package.json ${pkg.version}: run node build.mjs`);

  await rm(STAGE, { recursive: true, force: true });
  const files = await contents();
  for (const f of files) {
    const target = join(STAGE, f.path);
    await mkdir(dirname(target), { recursive: true });
    if (f.text !== undefined) await writeFile(target, f.text);
    else if (f.from !== undefined) await copyFile(f.from, target);
    await chmod(target, f.mode);
    if (f.gzip === true) await run(['gzip', '-9n', target]);
  }

  const debian = join(STAGE, 'DEBIAN');
  await mkdir(debian);
  for (const script of ['postinst', 'prerm', 'postrm']) {
    await copyFile(join(PACKAGING, script), join(debian, script));
    await chmod(join(debian, script), 0o755);
  }
  await writeFile(join(debian, 'conffiles'), `${INSTALLED_FILES.config}\n`);
  const conffiles = new Set<string>([INSTALLED_FILES.config]);
  const sums: string[] = [];
  for (const file of await walkFiles(STAGE)) {
    const rel = relative(STAGE, file);
    if (rel.startsWith('DEBIAN/') || conffiles.has(`/${rel}`)) continue;
    sums.push(`${createHash('md5').update(await readFile(file)).digest('hex')}  ${rel}`);
  }
  await writeFile(join(debian, 'md5sums'), `${sums.join('\n')}\n`);
  const control = (await readFile(join(PACKAGING, 'control'), 'utf8'))
    .replace('@VERSION@', version)
    .replace('@MAINTAINER@', await parseChangelog('Maintainer'))
    .replace('@INSTALLED_SIZE@', String(await installedSize(STAGE)));
  if (/@[A-Z_]+@/.test(control)) throw new Error('packaging/control has a placeholder left');
  await writeFile(join(debian, 'control'), control);
  for (const f of ['control', 'conffiles', 'md5sums']) await chmod(join(debian, f), 0o644);
  const epoch = Number(process.env.SOURCE_DATE_EPOCH ?? await parseChangelog('Timestamp'));
  await normalize(STAGE, epoch);

  const deb = join(DIST, `${PACKAGE}_${version}_all.deb`);
  await rm(deb, { force: true });
  // SOURCE_DATE_EPOCH also dates the archive members.
  await run(['dpkg-deb', '--root-owner-group', '-Zxz', '--build', STAGE, deb], {
    env: { ...process.env, SOURCE_DATE_EPOCH: String(epoch) },
  });
  return deb;
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  process.stdout.write(`built ${relative(process.cwd(), await buildDeb())}\n`);
}
