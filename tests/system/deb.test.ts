/**
 * The Debian package `make deb` builds: lintian passes it, its control fields and file list are what the systems that
 * install it rely on, dpkg installs, removes and purges it in a scratch root (a changed conffile survives removal),
 * the packaged programs run with the host's node, the man pages render without warnings and document every command
 * and option of the packaged client, and the bash completion is current and completes. Needs root (dpkg --root),
 * make, dpkg-dev, lintian, man-db, shellcheck, apt.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdir, mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { readCliTree, allCommands, type CliCommand } from '../../packaging/cli-tree.js';
import { buildDeb } from '../../packaging/build-deb.js';
import { bundledPackageDirs } from '../../packaging/copyright.js';
import { COMPLETION_COMMAND, completionScript } from '../../packaging/gen-completion.js';
import { DEFAULT_CONFIG } from '../../src/daemon/config.js';
import { INSTALLED_FILES } from '../../src/dbus/names.js';
import { run, runUnchecked } from '../../src/lib/exec.js';
import { parseDeb822, parseRelationField } from '../../src/lib/deb822.js';
import { KeyFile } from '../../src/lib/keyfile.js';

const REPO = fileURLToPath(new URL('../..', import.meta.url));
const MAN_PAGES = ['/usr/share/man/man8/apt-ostree.8.gz', '/usr/share/man/man8/apt-ostreed.8.gz',
  '/usr/share/man/man5/apt-ostreed.conf.5.gz'];
const COMPLETION = '/usr/share/bash-completion/completions/apt-ostree';

let version = '';
let deb = '';
/** A scratch root the package is installed into with dpkg --root, for the whole file. */
let root = '';
let tree: CliCommand;

async function scratchRoot(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'apt-ostree-deb-'));
  await mkdir(join(dir, 'var/lib/dpkg/updates'), { recursive: true });
  await mkdir(join(dir, 'var/lib/dpkg/info'));
  await writeFile(join(dir, 'var/lib/dpkg/status'), '');
  return dir;
}

/**
 * dpkg on another root. The maintainer scripts run outside it (the scratch root has no shell) with DPKG_ROOT set,
 * which they honour by leaving this machine's systemd alone; the dependencies are this machine's, not the root's.
 */
function dpkg(dir: string, ...args: string[]): ReturnType<typeof runUnchecked> {
  return runUnchecked(['dpkg', `--root=${dir}`, '--force-script-chrootless', '--force-depends', ...args]);
}

before(async () => {
  const built = await runUnchecked(['make', 'deb'], { cwd: REPO });
  assert.equal(built.code, 0, `make deb failed:\n${built.stdout}\n${built.stderr}`);
  version = (await run(['dpkg-parsechangelog', '-l', join(REPO, 'packaging/changelog'), '-S', 'Version'])).stdout.trim();
  deb = join(REPO, 'dist', `apt-ostree_${version}_all.deb`);
  root = await scratchRoot();
  const installed = await dpkg(root, '-i', deb);
  assert.equal(installed.code, 0, installed.stderr);
  tree = await readCliTree(join(root, 'usr/lib/apt-ostree/apt-ostree.mjs'));
});

after(async () => {
  if (root !== '') await rm(root, { recursive: true, force: true });
});

test('lintian: no errors and no warnings', async (t) => {
  const r = await runUnchecked(['lintian', '--fail-on', 'error', '-EvIL', '+pedantic', '--tag-display-limit', '0', deb]);
  for (const line of r.stdout.trim().split('\n')) if (line !== '') t.diagnostic(`lintian: ${line}`);
  assert.equal(r.code, 0, `lintian found errors:\n${r.stdout}${r.stderr}`);
  const serious = r.stdout.split('\n').filter((l) => /^[EW]: /.test(l));
  assert.deepEqual(serious, [], 'lintian warnings');
});

test('the control fields: version, architecture, dependencies', async () => {
  const [control] = parseDeb822((await run(['dpkg-deb', '-f', deb])).stdout);
  assert.ok(control);
  const pkg = JSON.parse(await readFile(join(REPO, 'package.json'), 'utf8')) as { version: string };
  assert.equal(control.get('Package'), 'apt-ostree');
  assert.equal(control.get('Version'), version);
  assert.match(version, new RegExp(`^${pkg.version.replaceAll('.', '\\.')}-\\d+$`), 'package.json version with a Debian revision');
  assert.equal(control.get('Architecture'), 'all');
  assert.equal(control.get('Section'), 'admin');
  assert.equal(control.get('Priority'), 'optional');
  assert.match(control.get('Maintainer') ?? '', /^[^<>]+ <[^@<>\s]+@[^@<>\s]+>$/);
  const synopsis = (control.get('Description') ?? '').split('\n')[0] ?? '';
  assert.ok(synopsis.length > 10 && synopsis.length < 80, synopsis);

  const relations = (field: string): string[] => parseRelationField(control.get(field) ?? '')
    .map((group) => group.map((r) => (r.relation ? `${r.name} (${r.relation} ${r.version ?? ''})` : r.name)).join(' | '));
  const depends = relations('Depends');
  for (const d of ['nodejs (>= 20)', 'ostree', 'bubblewrap', 'apt', 'default-dbus-system-bus | dbus-system-bus']) {
    assert.ok(depends.includes(d), `Depends has ${d}: ${depends.join(', ')}`);
  }
  assert.deepEqual(relations('Recommends').sort(), ['mmdebstrap', 'polkitd']);

  // apt can resolve every dependency on this Debian: the names are real packages (or provided ones).
  const sim = await runUnchecked(['apt-get', 'install', '--simulate', '--no-install-recommends', deb],
    { env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' } });
  assert.equal(sim.code, 0, sim.stderr + sim.stdout);
  assert.match(sim.stdout, /^(Inst|Conf) apt-ostree /m);
});

test('the file list: programs, daemon files, conffile, man pages, completion, copyright', async () => {
  const listing = new Map<string, { mode: string; owner: string }>();
  for (const line of (await run(['dpkg-deb', '-c', deb])).stdout.trim().split('\n')) {
    const m = /^(\S+) (\S+)\s+\d+ \S+ \S+ \.(\/\S*)$/.exec(line);
    assert.ok(m, line);
    listing.set(m[3]!.replace(/(.)\/$/, '$1'), { mode: m[1]!, owner: m[2]! });
  }
  const executables = ['/usr/bin/apt-ostree', INSTALLED_FILES.daemon];
  const files = [
    ...executables,
    '/usr/lib/apt-ostree/apt-ostree.mjs', '/usr/lib/apt-ostree/apt-ostreed.mjs',
    INSTALLED_FILES.systemdUnit, INSTALLED_FILES.activation, INSTALLED_FILES.busPolicy, INSTALLED_FILES.polkitActions,
    INSTALLED_FILES.config, '/usr/share/dbus-1/interfaces/org.aptostree.AptOstree1.xml',
    ...MAN_PAGES, COMPLETION, '/usr/share/apt-ostree/treefile.schema.json',
    '/usr/share/doc/apt-ostree/copyright', '/usr/share/doc/apt-ostree/changelog.Debian.gz',
    // Every unit in data/systemd, whatever is added there later (timers, their services).
    ...(await readdir(join(REPO, 'data/systemd'))).map((f) => `/usr/lib/systemd/system/${f}`),
  ];
  const missing = files.filter((f) => !listing.has(f));
  assert.deepEqual(missing, [], 'missing from the package');
  for (const [path, { mode, owner }] of listing) {
    assert.equal(owner, 'root/root', path);
    const expected = mode.startsWith('d') || executables.includes(path) ? /^[d-]rwxr-xr-x$/ : /^-rw-r--r--$/;
    assert.match(mode, expected, path);
  }
  assert.equal((await run(['dpkg-deb', '-I', deb, 'conffiles'])).stdout, `${INSTALLED_FILES.config}\n`);

  // What systemd and the bus start is the packaged daemon.
  const unit = KeyFile.parse(await readFile(join(root, INSTALLED_FILES.systemdUnit), 'utf8'));
  const activation = KeyFile.parse(await readFile(join(root, INSTALLED_FILES.activation), 'utf8'));
  assert.equal(unit.get('Service', 'ExecStart'), INSTALLED_FILES.daemon);
  assert.equal(activation.get('D-BUS Service', 'Exec'), INSTALLED_FILES.daemon);
  // The data files arrive as they are in the tree.
  for (const [installed, source] of [[INSTALLED_FILES.config, 'data/apt-ostreed.conf'],
    [INSTALLED_FILES.busPolicy, 'data/dbus/org.aptostree.AptOstree1.conf'],
    [INSTALLED_FILES.polkitActions, 'data/polkit/org.aptostree.AptOstree1.policy']] as const) {
    assert.equal(await readFile(join(root, installed), 'utf8'), await readFile(join(REPO, source), 'utf8'), installed);
  }
});

test('dpkg installs it; the packaged programs run with the host node', async () => {
  const status = (await run(['dpkg-query', `--root=${root}`, '-W', '-f', '${Status} ${Version}\n${Conffiles}\n', 'apt-ostree'])).stdout;
  assert.match(status, new RegExp(`^install ok installed ${version.replaceAll('.', '\\.')}\n /etc/apt-ostreed\\.conf [0-9a-f]{32}`));

  const client = join(root, 'usr/bin/apt-ostree');
  assert.match(await readFile(client, 'utf8'), /^#!\/usr\/bin\/node\n/);
  const pkg = JSON.parse(await readFile(join(REPO, 'package.json'), 'utf8')) as { version: string };
  assert.equal((await run([client, '--version'])).stdout.trim(), pkg.version);
  const help = (await run([client, '--help'])).stdout;
  assert.match(help, /^Usage: apt-ostree \[options\] \[command\]/);
  for (const c of ['status', 'upgrade', 'install', 'compose', 'remote']) assert.match(help, new RegExp(`^  ${c}\\b`, 'm'));
  // A usage error keeps its exit status through the launcher.
  assert.equal((await runUnchecked([client, 'no-such-command'])).code, 2);
  assert.equal((await run([join(root, INSTALLED_FILES.daemon.slice(1)), '--version'])).stdout.trim(), `apt-ostreed ${pkg.version}`);
});

test('the man pages render without warnings and have a whatis entry', async () => {
  for (const page of MAN_PAGES) {
    const file = join(root, page);
    const r = await runUnchecked(['man', '--warnings', '-l', file],
      { env: { ...process.env, MANWIDTH: '80', LC_ALL: 'C.UTF-8', MANPAGER: 'cat', PAGER: 'cat' } });
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stderr, '', `${page}: man warnings`);
    assert.match(r.stdout, /^NAME\n/m, page);
    const whatis = await run(['lexgrog', file]);
    assert.match(whatis.stdout, /: "apt-ostreed?(\.conf)? - .+"/, page);
  }
});

/** The text of a man page source by section (.SH) and subsection (.SS) title, with the escapes that matter undone. */
function manSections(roff: string): Map<string, string> {
  const sections = new Map<string, string>();
  let current = '';
  for (const line of roff.split('\n')) {
    const heading = /^\.S[HS] (.*)$/.exec(line);
    if (heading) {
      current = unescapeRoff(heading[1]!.replace(/^"(.*)"$/, '$1'));
      sections.set(current, '');
    } else if (!line.startsWith('.\\"')) {
      sections.set(current, `${sections.get(current) ?? ''}${unescapeRoff(line)}\n`);
    }
  }
  return sections;
}

function unescapeRoff(text: string): string {
  return text.replace(/\\-/g, '-').replace(/\\f[BIRP]/g, '').replace(/\\&/g, '').replace(/\\c/g, '').replace(/\\e/g, '\\');
}

function mentions(text: string, word: string): boolean {
  return new RegExp(`(^|[\\s"(\\[|,])${word.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}(?=$|[\\s",)\\]|=.;:])`, 'm').test(text);
}

test('apt-ostree(8) documents every command, alias and option of the packaged client', async () => {
  const sections = manSections(await readFile(join(REPO, 'data/man/apt-ostree.8'), 'utf8'));
  const gaps: string[] = [];
  for (const c of allCommands(tree)) {
    const name = c.path.join(' ');
    const text = c.path.length === 0 ? sections.get('GLOBAL OPTIONS') : sections.get(name);
    if (text === undefined) { gaps.push(`no subsection "${name}"`); continue; }
    for (const word of [...c.aliases, ...c.options.flatMap((o) => (o.short ? [o.short, o.long] : [o.long]))]) {
      // -h/--help is said once, among the global options.
      if (c.path.length > 0 && (word === '-h' || word === '--help')) continue;
      if (!mentions(text, word)) gaps.push(`${name || 'apt-ostree'}: ${word}`);
    }
    if (c.helpCommand && !sections.has(c.path.length === 0 ? 'help' : name)) gaps.push(`${name}: help`);
  }
  assert.deepEqual(gaps, [], 'undocumented in data/man/apt-ostree.8');
});

test('apt-ostreed(8) documents its options and polkit actions, apt-ostreed.conf(5) every key', async () => {
  const daemon = manSections(await readFile(join(REPO, 'data/man/apt-ostreed.8'), 'utf8'));
  const usage = (await run([join(root, INSTALLED_FILES.daemon.slice(1)), '--help'])).stdout;
  const options = [...usage.matchAll(/--[a-z][a-z-]*/g)].map((m) => m[0]);
  assert.ok(options.includes('--sysroot'), usage);
  for (const o of [...options, '--help']) assert.ok(mentions(daemon.get('OPTIONS') ?? '', o), `apt-ostreed(8) OPTIONS: ${o}`);
  const policy = await readFile(join(REPO, 'data/polkit/org.aptostree.AptOstree1.policy'), 'utf8');
  const actions = [...policy.matchAll(/<action id="([^"]+)"/g)].map((m) => m[1]!);
  assert.ok(actions.length > 0);
  const all = [...daemon.values()].join('\n');
  for (const a of actions) assert.ok(mentions(all, a), `apt-ostreed(8): polkit action ${a}`);

  const conf = [...manSections(await readFile(join(REPO, 'data/man/apt-ostreed.conf.5'), 'utf8')).values()].join('\n');
  const shipped = (await readFile(join(REPO, 'data/apt-ostreed.conf'), 'utf8')).match(/^[A-Za-z]+(?==)/gm) ?? [];
  const parsed = Object.keys(DEFAULT_CONFIG).map((k) => k[0]!.toUpperCase() + k.slice(1));
  assert.ok(shipped.length > 0);
  for (const key of new Set([...shipped, ...parsed])) assert.match(conf, new RegExp(`^${key}=`, 'm'), `apt-ostreed.conf(5): ${key}`);
});

/** Runs the packaged completion function for a command line (the last word is the one being completed). */
async function complete(words: string[]): Promise<string[]> {
  const script = 'source "$1"; shift; COMP_WORDS=("$@"); COMP_CWORD=$((${#COMP_WORDS[@]} - 1)); COMPREPLY=(); _apt_ostree; '
    + '((${#COMPREPLY[@]})) && printf "%s\\n" "${COMPREPLY[@]}"; true';
  const r = await run(['bash', '-c', script, 'bash', join(root, COMPLETION), ...words]);
  return r.stdout.split('\n').filter((l) => l !== '').sort();
}

test('the bash completion is current, loads and completes commands, options and values', async (t) => {
  const committed = await readFile(join(REPO, 'data/completion/apt-ostree'), 'utf8');
  assert.ok(committed === completionScript(tree), `data/completion/apt-ostree is out of date: run \`${COMPLETION_COMMAND}\` and commit it`);
  assert.equal(await readFile(join(root, COMPLETION), 'utf8'), committed);

  const loaded = await run(['bash', '-c', 'source "$1"; complete -p apt-ostree', 'bash', join(root, COMPLETION)]);
  assert.equal(loaded.stdout.trim(), 'complete -F _apt_ostree apt-ostree');

  assert.deepEqual(await complete(['apt-ostree', 'comp']), ['compose']);
  assert.deepEqual(await complete(['apt-ostree', 're']), ['rebase', 'refresh-md', 'reload', 'remote', 'remove', 'reset']);
  assert.deepEqual(await complete(['apt-ostree', 'compose', '']), ['commit', 'help', 'install', 'postprocess', 'publish', 'tree']);
  assert.deepEqual(await complete(['apt-ostree', 'remote', '']), ['add', 'delete', 'help', 'list', 'remove']);
  assert.deepEqual(await complete(['apt-ostree', 'help', 'kar']), ['kargs']);
  assert.deepEqual(await complete(['apt-ostree', '--sysroot', '/', 'compose', 'tree', '--r']), ['--repo']);
  // An alias walks to its command; --os NAME is skipped as an option with its value.
  assert.deepEqual(await complete(['apt-ostree', '--os', 'debian', 'update', '--c']), ['--check']);
  assert.deepEqual(await complete(['apt-ostree', 'kargs', '--deploy-index', '']), []);
  assert.deepEqual(await complete(['apt-ostree', 'status', '']), []);

  // Values: a treefile is a file, a stateroot comes from the sysroot given on the command line.
  const dir = await mkdtemp(join(tmpdir(), 'apt-ostree-completion-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  await writeFile(join(dir, 'treefile.yaml'), 'ref: x\n');
  await mkdir(join(dir, 'ostree/deploy/debian'), { recursive: true });
  assert.deepEqual(await complete(['apt-ostree', 'compose', 'tree', join(dir, 'tree')]), [join(dir, 'treefile.yaml')]);
  assert.deepEqual(await complete(['apt-ostree', '--sysroot', dir, '--os', 'de']), ['debian']);
  assert.deepEqual(await complete(['apt-ostree', `--sysroot`, '=', dir, '--os', '=', '']), ['debian']);

  // Every command offers exactly its own options and the global ones.
  const globals = tree.options.filter((o) => o.long !== '--version').map((o) => o.long);
  for (const c of allCommands(tree).filter((x) => x.path.length > 0)) {
    const expected = [...new Set([...c.options.map((o) => o.long), ...globals])].sort();
    assert.deepEqual(await complete(['apt-ostree', ...c.path, '--']), expected, c.path.join(' '));
  }

  const shellcheck = await runUnchecked(['shellcheck', '--shell=bash', join(root, COMPLETION)]);
  assert.equal(shellcheck.code, 0, shellcheck.stdout);
});

test('the maintainer scripts pass shellcheck; dpkg removes the package, keeps a changed conffile, then purges it', async (t) => {
  const control = await mkdtemp(join(tmpdir(), 'apt-ostree-control-'));
  const dir = await scratchRoot();
  t.after(() => Promise.all([rm(control, { recursive: true, force: true }), rm(dir, { recursive: true, force: true })]));
  await run(['dpkg-deb', '-e', deb, control]);
  const scripts = (await readdir(control)).filter((f) => ['preinst', 'postinst', 'prerm', 'postrm'].includes(f));
  assert.deepEqual(scripts.sort(), ['postinst', 'postrm', 'prerm']);
  const shellcheck = await runUnchecked(['shellcheck', ...scripts.map((s) => join(control, s))]);
  assert.equal(shellcheck.code, 0, shellcheck.stdout);

  assert.equal((await dpkg(dir, '-i', deb)).code, 0);
  const conf = join(dir, INSTALLED_FILES.config);
  await writeFile(conf, `${await readFile(conf, 'utf8')}IdleExitTimeout=600\n`);
  const removed = await dpkg(dir, '-r', 'apt-ostree');
  assert.equal(removed.code, 0, removed.stderr);
  assert.match(await readFile(conf, 'utf8'), /IdleExitTimeout=600\n$/);
  await assert.rejects(readFile(join(dir, 'usr/bin/apt-ostree')));
  assert.equal((await run(['dpkg-query', `--root=${dir}`, '-W', '-f', '${db:Status-Abbrev}', 'apt-ostree'])).stdout.trim(), 'rc');
  const purged = await dpkg(dir, '-P', 'apt-ostree');
  assert.equal(purged.code, 0, purged.stderr);
  await assert.rejects(readFile(conf));
});

test('the copyright file covers apt-ostree and every npm package in the bundles', async () => {
  const copyright = await readFile(join(root, 'usr/share/doc/apt-ostree/copyright'), 'utf8');
  assert.match(copyright, /^Format: https:\/\/www\.debian\.org\/doc\/packaging-manuals\/copyright-format\/1\.0\/\n/);
  assert.match(copyright, /^Files: \*\nCopyright: .+\nLicense: Expat$/m);
  assert.match(copyright, /^License: Expat\n Permission is hereby granted/m);
  const maps = ['apt-ostree.mjs.map', 'apt-ostreed.mjs.map'].map((m) => join(REPO, 'dist', m));
  const dirs = [...new Set((await Promise.all(maps.map(bundledPackageDirs))).flat())];
  const names = await Promise.all(dirs.map(async (d) => (JSON.parse(await readFile(join(d, 'package.json'), 'utf8')) as { name: string }).name));
  for (const n of ['commander', 'dbus-native', 'yaml', 'zod']) assert.ok(names.includes(n), `${n} is bundled`);
  for (const n of names) assert.match(copyright, new RegExp(`^Files: node_modules/${n}/\\*\\nCopyright: \\S.*\\nLicense: \\S+`, 'm'), n);
  // Debian ships the Apache license: the file points there instead of copying it (lintian checks that too).
  assert.doesNotMatch(copyright, /TERMS AND CONDITIONS FOR USE, REPRODUCTION/);
});

test('the same sources give the same package', async () => {
  const digest = async (): Promise<string> => createHash('sha256').update(await readFile(deb)).digest('hex');
  const first = await digest();
  assert.equal(await buildDeb(), deb);
  assert.equal(await digest(), first);
});
