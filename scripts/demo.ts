// The README's main job, on the shipped default: compose examples/minimal-server.yaml (Debian 13 trixie from the
// archive the host's apt sources name) into an archive repository, publish it signed, serve it over HTTP, and
// install it into a local directory sysroot the way a fleet machine gets it; then status, layering htop from the
// archive, kargs and rollback with apt-ostree, and a second compose that finds nothing changed.
//
//   scripts/demo [--workdir DIR]      (default /var/tmp/apt-ostree-demo; the .deb cache stays there between runs)
import { spawn } from 'node:child_process';
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { run, runUnchecked } from '../src/lib/exec.js';
import { serveDirectory } from '../tests/kit/http.js';

const cliPath = fileURLToPath(new URL('../dist/apt-ostree.mjs', import.meta.url));
const treefile = fileURLToPath(new URL('../examples/minimal-server.yaml', import.meta.url));
const workdirArg = process.argv.indexOf('--workdir');
const work = workdirArg > 0 ? process.argv[workdirArg + 1] ?? '' : '/var/tmp/apt-ostree-demo';

function apt(args: string[], sysroot?: string): Promise<void> {
  const shown = [...(sysroot ? ['--sysroot', sysroot] : []), ...args];
  process.stdout.write(`\n$ apt-ostree ${shown.join(' ')}\n`);
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [cliPath, ...shown], { stdio: 'inherit', env: { ...process.env, APT_OSTREE_NO_DAEMON: '1' } });
    child.on('error', reject);
    child.on('close', (code) => { if (code === 0) resolve(); else reject(new Error(`apt-ostree ${args.join(' ')} exited ${code}`)); });
  });
}

async function shell(argv: string[]): Promise<void> {
  process.stdout.write(`\n$ ${argv.join(' ')}\n`);
  const r = await run(argv);
  if (r.stdout.trim()) process.stdout.write(`${r.stdout.trim()}\n`);
}

/** A signing key for the demo's publisher, made once and kept with the demo's cache. */
async function demoKey(dir: string): Promise<{ secret: string; public: string }> {
  const secret = join(dir, 'secret.asc');
  const pub = join(dir, 'public.asc');
  const home = join(dir, 'gnupg');
  if ((await readFile(pub, 'utf8').catch(() => '')).includes('PUBLIC KEY')) return { secret, public: pub };
  await rm(home, { recursive: true, force: true });
  await mkdir(home, { recursive: true, mode: 0o700 });
  const gpg = (args: string[]): Promise<{ stdout: string }> => run(['gpg', '--homedir', home, '--batch', '--pinentry-mode', 'loopback', '--passphrase', '', ...args]);
  await gpg(['--quick-gen-key', 'apt-ostree demo <demo@example.invalid>', 'ed25519', 'sign', 'never']);
  await writeFile(secret, (await gpg(['--armor', '--export-secret-keys'])).stdout, { mode: 0o600 });
  await writeFile(pub, (await gpg(['--armor', '--export'])).stdout);
  await runUnchecked(['gpgconf', '--homedir', home, '--kill', 'all']);
  return { secret, public: pub };
}

const started = Date.now();
const repo = join(work, 'repo');
const sysroot = join(work, 'sysroot');
await mkdir(work, { recursive: true });
if (!(await readFile(join(repo, 'config'), 'utf8').catch(() => ''))) await run(['ostree', 'init', `--repo=${repo}`, '--mode=archive']);

// 1. The image: first run downloads ~170 packages; later runs reuse the .deb cache and commit only when something changed.
await apt(['compose', 'tree', treefile, '--repo', repo, '--cachedir', join(work, 'cache')]);
const key = await demoKey(work);
await apt(['compose', 'publish', '--repo', repo, '--sign-key', key.secret, '--static-deltas', '1']);
const ref = (await run(['ostree', 'refs', `--repo=${repo}`])).stdout.split('\n').find((r) => r.startsWith('debian/13/')) ?? '';

// 2. A machine: a fresh sysroot that trusts the publisher's key, with the image deployed as an installer would.
const server = await serveDirectory(repo);
try {
  await runUnchecked(['chattr', '-R', '-i', join(sysroot, 'ostree/deploy')]);
  await rm(sysroot, { recursive: true, force: true });
  await mkdir(sysroot);
  await run(['ostree', 'admin', 'init-fs', sysroot]);
  await run(['ostree', 'admin', 'os-init', `--sysroot=${sysroot}`, 'debian']);
  await apt(['remote', 'add', 'debian', server.url, '--sign-key', key.public, '--branch', ref], sysroot);
  await apt(['remote', 'list'], sysroot);
  await shell(['ostree', 'pull', `--repo=${join(sysroot, 'ostree/repo')}`, 'debian', ref]);
  await shell(['ostree', 'admin', 'deploy', `--sysroot=${sysroot}`, '--os=debian', '--karg=root=LABEL=root', '--karg=rw', `debian:${ref}`]);

  // 3. apt-ostree on it.
  await apt(['status'], sysroot);
  await apt(['upgrade', '--check'], sysroot).catch(() => undefined);
  await apt(['install', 'htop'], sysroot);
  await apt(['db', 'diff'], sysroot);
  await apt(['kargs', '--append=quiet'], sysroot);
  await apt(['status'], sysroot);
  await apt(['rollback'], sysroot);
  await apt(['status', '--json'], sysroot);

  // 4. Nothing changed in the inputs: no new commit.
  await apt(['compose', 'tree', treefile, '--repo', repo, '--cachedir', join(work, 'cache')]);
} finally {
  await server.close();
}
process.stdout.write(`\nDone in ${((Date.now() - started) / 1000).toFixed(1)} s. The repository is ${repo}, the sysroot ${sysroot}.\n`);
