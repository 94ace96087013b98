/**
 * Publishing for fleets, end to end with real tools: `compose publish` signs with a real GPG key, generates static
 * deltas and a signed summary; nginx serves the repository over HTTP; a client sysroot that trusts the public key
 * upgrades through the delta, and refuses unsigned, untrusted and tampered commits without changing anything.
 */
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { generateKeyPairSync } from 'node:crypto';
import { copyFile, mkdir, mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { after, afterEach, before, describe, test } from 'node:test';
import type { PublishReport } from '../../src/core/compose/publish.js';
import { deltaDirectory, deltaSize } from '../../src/core/compose/publish/deltas.js';
import { parseByteArrays } from '../../src/core/compose/publish/keys.js';
import { ostreeBuild } from '../../src/core/compose/publish/signing.js';
import type { RemoteInfo } from '../../src/core/ops/remote.js';
import { run, runUnchecked } from '../../src/lib/exec.js';
import { pathExists } from '../../src/lib/fs.js';
import { getKit, type Kit } from '../kit/index.js';
import { newSysroot, removeSysroot } from '../kit/sysroot.js';
import { CLI, cli, cliJson, cliOk, fsckClean, snapshot, type CliResult, type StatusJson } from './support.js';

// The bundled client, as users run it; APT_OSTREE_TEST_CLI points at another bundle (e.g. one built from a branch).
const BUNDLE = process.env.APT_OSTREE_TEST_CLI ?? CLI;

const NO_DAEMON = { APT_OSTREE_NO_DAEMON: '1' };
const apt = (sysroot: string | undefined, args: readonly string[]): Promise<CliResult> => cli(sysroot, args, NO_DAEMON, BUNDLE);
const aptOk = (sysroot: string | undefined, args: readonly string[]): Promise<CliResult> => cliOk(sysroot, args, NO_DAEMON, BUNDLE);
const aptJson = <T>(sysroot: string | undefined, args: readonly string[]): Promise<T> => cliJson<T>(sysroot, args, NO_DAEMON, BUNDLE);

/** Fails unless the command fails with exactly this error code (the one line `error[code]: …`). */
async function aptFails(sysroot: string | undefined, args: readonly string[], code: string): Promise<string> {
  const r = await apt(sysroot, args);
  assert.notEqual(r.code, 0, `apt-ostree ${args.join(' ')} succeeded:\n${r.stdout}`);
  assert.match(r.stderr, new RegExp(`^error\\[${code}\\]: `, 'm'), `apt-ostree ${args.join(' ')}:\n${r.stderr}`);
  return r.stderr.split('\n').find((l) => l.startsWith('error[')) ?? '';
}

// ---- nginx, started with a configuration of its own -------------------------------------------------------------

interface Nginx {
  url: string;
  /** `METHOD PATH STATUS BYTES_SENT` per request. */
  accessLog: string;
  stop(): Promise<void>;
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const addr = s.address();
      const port = typeof addr === 'object' && addr ? addr.port : 0;
      s.close(() => { resolve(port); });
    });
  });
}

async function startNginx(root: string, dir: string): Promise<Nginx> {
  await mkdir(join(dir, 'tmp'), { recursive: true });
  const port = await freePort();
  const accessLog = join(dir, 'access.log');
  const conf = join(dir, 'nginx.conf');
  await writeFile(conf, [
    // Workers would run as nobody, who can not enter the 0700 test directories.
    process.getuid?.() === 0 ? 'user root root;' : '',
    'worker_processes 1;',
    `pid ${dir}/nginx.pid;`,
    `error_log ${dir}/error.log warn;`,
    'events { worker_connections 64; }',
    'http {',
    "  log_format transfer '$request_method $uri $status $bytes_sent';",
    `  access_log ${accessLog} transfer;`,
    `  client_body_temp_path ${dir}/tmp/body; proxy_temp_path ${dir}/tmp/proxy; fastcgi_temp_path ${dir}/tmp/fastcgi;`,
    `  uwsgi_temp_path ${dir}/tmp/uwsgi; scgi_temp_path ${dir}/tmp/scgi;`,
    '  default_type application/octet-stream;',
    '  sendfile on;',
    `  server { listen 127.0.0.1:${port}; root ${root}; }`,
    '}',
    '',
  ].join('\n'));
  const child: ChildProcess = spawn('nginx', ['-p', dir, '-e', `${dir}/error.log`, '-c', conf, '-g', 'daemon off;'],
    { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr?.on('data', (b: Buffer) => { stderr += b.toString(); });
  const exited = new Promise<void>((resolve) => child.once('exit', () => { resolve(); }));
  const url = `http://127.0.0.1:${port}`;
  for (let i = 0; ; i++) {
    if (child.exitCode !== null) throw new Error(`nginx exited: ${stderr}`);
    const ok = await fetch(`${url}/config`).then((r) => r.ok, () => false);
    if (ok) break;
    if (i > 100) throw new Error(`nginx did not answer on ${url}: ${stderr}`);
    await new Promise((r) => setTimeout(r, 100));
  }
  return {
    url,
    accessLog,
    stop: async () => {
      if (child.exitCode === null) child.kill('SIGQUIT');
      const timer = setTimeout(() => { child.kill('SIGKILL'); }, 5000);
      await exited;
      clearTimeout(timer);
    },
  };
}

interface Request { method: string; path: string; status: number; bytes: number }

async function logSize(path: string): Promise<number> {
  return (await stat(path)).size;
}

async function requestsSince(path: string, offset: number): Promise<Request[]> {
  const text = (await readFile(path)).subarray(offset).toString('utf8');
  return text.split('\n').filter((l) => l.trim() !== '').map((l) => {
    const [method = '', p = '', status = '0', bytes = '0'] = l.split(' ');
    return { method, path: p, status: Number(status), bytes: Number(bytes) };
  });
}

// ---- keys ------------------------------------------------------------------------------------------------------

interface GpgKey { home: string; fingerprint: string; secret: string; public: string }

async function makeGpgKey(dir: string, name: string, passphrase = ''): Promise<GpgKey> {
  const home = join(dir, `gnupg-${name}`);
  await mkdir(home, { mode: 0o700 });
  const gpg = (args: string[]): Promise<{ stdout: string }> =>
    run(['gpg', '--homedir', home, '--batch', '--pinentry-mode', 'loopback', '--passphrase', passphrase, ...args]);
  await gpg(['--quick-gen-key', `${name} <${name}@example.invalid>`, 'ed25519', 'sign', 'never']);
  const colons = (await gpg(['--with-colons', '--list-secret-keys'])).stdout;
  const fingerprint = /^fpr:+([0-9A-F]{40}):/m.exec(colons)?.[1] ?? '';
  const secret = join(dir, `${name}-secret.asc`);
  const pub = join(dir, `${name}-public.asc`);
  await writeFile(secret, (await gpg(['--armor', '--export-secret-keys', fingerprint])).stdout);
  await writeFile(pub, (await gpg(['--armor', '--export', fingerprint])).stdout);
  return { home, fingerprint, secret, public: pub };
}

/** ostree's ed25519 key files: base64 of libsodium's 64-byte secret key (seed, public key) and the 32-byte public key. */
async function makeEd25519Key(dir: string): Promise<{ secret: string; public: string }> {
  const { privateKey, publicKey } = generateKeyPairSync('ed25519');
  const jwk = privateKey.export({ format: 'jwk' });
  const seed = Buffer.from(jwk.d ?? '', 'base64url');
  const pub = Buffer.from((publicKey.export({ format: 'jwk' }).x ?? ''), 'base64url');
  const secretFile = join(dir, 'ed25519.secret');
  const publicFile = join(dir, 'ed25519.pub');
  await writeFile(secretFile, `${Buffer.concat([seed, pub]).toString('base64')}\n`);
  await writeFile(publicFile, `${pub.toString('base64')}\n`);
  return { secret: secretFile, public: publicFile };
}

async function gpgSignatureCount(repo: string, commit: string): Promise<number> {
  const r = await runUnchecked(['ostree', 'show', `--repo=${repo}`, '--print-detached-metadata-key=ostree.gpgsigs', commit]);
  return r.code === 0 ? parseByteArrays(r.stdout).length : 0;
}

// ---- fixtures ---------------------------------------------------------------------------------------------------

let kit: Kit;
let work: string;
let serverRepo: string;
let nginx: Nginx;
let key: GpgKey;
let otherKey: GpgKey;
let published: PublishReport | undefined;
const sysroots: string[] = [];
let usedByThisTest: string[] = [];

/** A fresh archive repository holding v1 of the kit's main ref, as a compose leaves it: nothing published yet. */
async function archiveRepo(name: string): Promise<string> {
  const repo = join(work, name);
  await run(['ostree', 'init', `--repo=${repo}`, '--mode=archive']);
  await run(['ostree', 'pull-local', `--repo=${repo}`, kit.bareRepo, kit.commits.v1]);
  await run(['ostree', 'refs', `--repo=${repo}`, `--create=${kit.refs.main}`, kit.commits.v1]);
  return repo;
}

/** The next compose: v2 (whose parent is v1) becomes the tip of the main ref. */
async function composeV2(repo: string): Promise<void> {
  await run(['ostree', 'pull-local', `--repo=${repo}`, kit.bareRepo, kit.refs.main]);
  assert.equal((await run(['ostree', 'rev-parse', `--repo=${repo}`, kit.refs.main])).stdout.trim(), kit.commits.v2);
}

/** A client deployed at v1 from `url`, following kit:REF, its remote verifying with `publicKey` (if any). */
async function client(url: string, publicKey?: string): Promise<string> {
  const s = (await newSysroot(kit, { remoteUrl: url })).path;
  sysroots.push(s);
  usedByThisTest.push(s);
  await aptOk(s, ['remote', 'remove', kit.remoteName]);
  await aptOk(s, ['remote', 'add', kit.remoteName, url, '--branch', kit.refs.main, ...(publicKey ? ['--sign-key', publicKey] : [])]);
  return s;
}

before(async () => {
  kit = await getKit();
  work = await mkdtemp('/var/tmp/apt-ostree-publish-');
  key = await makeGpgKey(work, 'publisher');
  otherKey = await makeGpgKey(work, 'intruder');
  serverRepo = await archiveRepo('server');
  nginx = await startNginx(serverRepo, join(work, 'nginx'));
});

afterEach(async () => {
  for (const s of usedByThisTest) await fsckClean(s);
  usedByThisTest = [];
});

after(async () => {
  await nginx.stop();
  for (const s of sysroots) await removeSysroot(s);
  for (const k of [key, otherKey]) await runUnchecked(['gpgconf', '--homedir', k.home, '--kill', 'all']);
  await rm(work, { recursive: true, force: true });
});

describe('compose publish and verifying clients (GPG, nginx)', () => {
  test('publish signs each new tip, generates the v1→v2 delta and a signed summary; a second run changes nothing', async () => {
    // Publishing v1 when it is the tip: clients deployed from it carry its signature (`ostree admin status` checks it).
    const first = await aptJson<PublishReport>(undefined, ['compose', 'publish', '--repo', serverRepo, '--sign-key', key.secret]);
    assert.deepEqual(first.commitsSigned, [{ ref: kit.refs.main, commit: kit.commits.v1 }]);
    assert.deepEqual(first.deltasGenerated, [], 'v1 has no parent');
    await composeV2(serverRepo);
    const r = await aptJson<PublishReport>(undefined, ['compose', 'publish', '--repo', serverRepo, '--sign-key', key.secret, '--static-deltas', '1']);
    published = r;
    assert.deepEqual(r.signing, { type: 'gpg', key: key.fingerprint });
    assert.deepEqual(r.commitsSigned, [{ ref: kit.refs.main, commit: kit.commits.v2 }]);
    assert.equal(r.deltasGenerated.length, 1);
    const delta = r.deltasGenerated[0]!;
    assert.deepEqual([delta.from, delta.to], [kit.commits.v1, kit.commits.v2]);
    assert.equal(delta.size, await deltaSize(serverRepo, kit.commits.v1, kit.commits.v2));
    assert.ok(delta.size > 0);
    assert.deepEqual(r.summary, { updated: true, signed: true, type: 'gpg' });
    assert.ok(await pathExists(join(serverRepo, 'summary.sig')));
    const summary = (await run(['ostree', 'summary', '-v', `--repo=${serverRepo}`])).stdout;
    assert.match(summary, new RegExp(`${kit.commits.v1}-${kit.commits.v2}`));
    assert.equal(await gpgSignatureCount(serverRepo, kit.commits.v2), 1);
    // ostree's own verification, with the public key as the only trusted one.
    const check = join(work, 'verify-home');
    await mkdir(check, { mode: 0o700 });
    await run(['gpg', '--homedir', check, '--batch', '--import', key.public]);
    await run(['gpg', '--homedir', check, '--batch', '--export', '--output', join(check, 'trustedkeys.gpg'), key.fingerprint]);
    const shown = (await run(['ostree', 'show', `--repo=${serverRepo}`, `--gpg-homedir=${check}`, kit.commits.v2])).stdout;
    assert.match(shown, /Good signature/);
    await runUnchecked(['gpgconf', '--homedir', check, '--kill', 'all']);

    const again = await aptOk(undefined, ['compose', 'publish', '--repo', serverRepo, '--sign-key', key.secret]);
    assert.doesNotMatch(again.stdout, /^Signed/m);
    assert.match(again.stdout, /\(kept\)/);
    assert.match(again.stderr, /already signed/);
    assert.equal(await gpgSignatureCount(serverRepo, kit.commits.v2), 1, 'publishing twice signs once');
  });

  test('a client trusting the public key upgrades v1 → v2 through the static delta', async (t) => {
    assert.ok(published, 'needs the published repository of the first test');
    const s = await client(nginx.url, key.public);
    const remotes = await aptJson<RemoteInfo[]>(s, ['remote', 'list']);
    assert.deepEqual(remotes, [{
      name: kit.remoteName, url: nginx.url, verification: 'gpg', summaryVerification: 'gpg', branches: [kit.refs.main],
    }]);
    // --check looks through a scratch repository with the remote's keyring: it verifies too, and sees v2.
    const check = await aptJson<{ changed: boolean; to: { checksum: string } }>(s, ['upgrade', '--check']);
    assert.equal(check.changed, true);
    assert.equal(check.to.checksum, kit.commits.v2);

    const offset = await logSize(nginx.accessLog);
    await aptOk(s, ['upgrade']);
    const requests = await requestsSince(nginx.accessLog, offset);
    const status = await aptJson<StatusJson>(s, ['status']);
    assert.equal(status.deployments[0]!.checksum, kit.commits.v2);
    assert.equal(status.deployments[1]!.checksum, kit.commits.v1);

    const deltaPrefix = `/${deltaDirectory('', kit.commits.v1, kit.commits.v2).replace(/^\//, '')}/`;
    const deltaRequests = requests.filter((q) => q.path.startsWith(deltaPrefix));
    assert.ok(deltaRequests.some((q) => q.path.endsWith('/superblock')), `no delta fetched:\n${requests.map((q) => q.path).join('\n')}`);
    assert.ok(requests.every((q) => q.status === 200 || q.status === 404), 'no request failed');
    const delta = published.deltasGenerated[0]!;
    const loose = requests.filter((q) => q.path.endsWith('.filez'));
    // Once in a CI run (not reproduced since) ostree fetched one small new file loose beside the delta; the delta was
    // still used and the byte total below still holds, so a stray object or two is reported, not failed.
    if (loose.length > delta.fallbackObjects) t.diagnostic(`fetched loose beside the delta: ${loose.map((q) => q.path).join(' ')}`);
    assert.ok(loose.length <= delta.fallbackObjects + 2, `content objects fetched one by one beyond the delta's fallbacks:\n${loose.map((q) => q.path).join('\n')}`);
    const total = requests.reduce((n, q) => n + q.bytes, 0);
    const deltaBytes = delta.size + delta.fallbackSize;
    const summaryBytes = (await stat(join(serverRepo, 'summary'))).size + (await stat(join(serverRepo, 'summary.sig'))).size;

    // The same update without the delta, object by object, for comparison.
    const plain = join(work, 'plain-client');
    await run(['ostree', 'init', `--repo=${plain}`, '--mode=bare-user']);
    await run(['ostree', 'remote', 'add', `--repo=${plain}`, '--no-gpg-verify', 'srv', nginx.url]);
    await run(['ostree', 'pull', `--repo=${plain}`, 'srv', `${kit.refs.main}@${kit.commits.v1}`]);
    const plainOffset = await logSize(nginx.accessLog);
    await run(['ostree', 'pull', `--repo=${plain}`, '--disable-static-deltas', 'srv', kit.refs.main]);
    const objectBytes = (await requestsSince(nginx.accessLog, plainOffset)).reduce((n, q) => n + q.bytes, 0);

    t.diagnostic(`static delta ${delta.size} B (+ ${delta.fallbackSize} B in ${delta.fallbackObjects} fallback objects); upgrade transferred ${total} B in ${requests.length} requests ` +
      `(summary + signature ${summaryBytes} B); the same update object by object: ${objectBytes} B`);
    // Headers (~250 B a response), config, delta index and the commit's detached metadata are the small overhead.
    assert.ok(total <= deltaBytes + summaryBytes + 6000, `upgrade transferred ${total} B for a ${deltaBytes} B delta`);
    assert.ok(total >= deltaBytes, 'the delta itself was transferred');
  });

  test('an unsigned commit is refused by upgrade, --check, --preview, deploy and rebase; nothing changes', async () => {
    const s = await client(nginx.url, key.public);
    // v3: v2's tree, committed straight into the server repository without a signature; the summary stays signed.
    const v3 = (await run(['ostree', 'commit', `--repo=${serverRepo}`, `--branch=${kit.refs.main}`, `--tree=ref=${kit.commits.v2}`,
      '--add-metadata-string=version=13.3', '--subject=unsigned'])).stdout.trim();
    await run(['ostree', 'summary', '-u', `--repo=${serverRepo}`, `--gpg-sign=${key.fingerprint}`, `--gpg-homedir=${key.home}`]);
    const before = await snapshot(s);
    const refsBefore = (await run(['ostree', 'refs', `--repo=${join(s, 'ostree/repo')}`])).stdout;
    for (const args of [['upgrade'], ['upgrade', '--check'], ['upgrade', '--preview'], ['deploy', v3], ['deploy', '13.3'],
      ['rebase', `${kit.remoteName}:${kit.refs.main}`]]) {
      const line = await aptFails(s, args, 'unsigned-commit');
      assert.match(line, new RegExp(`commit ${v3.slice(0, 12)} from remote kit is not signed`));
    }
    assert.equal(await snapshot(s), before);
    assert.equal((await run(['ostree', 'refs', `--repo=${join(s, 'ostree/repo')}`])).stdout, refsBefore);
    assert.equal(await pathExists(join(s, 'ostree/repo/state', `${v3}.commitpartial`)), false, 'no partial-commit marker left behind');
    assert.equal(await pathExists(join(s, 'ostree/repo/objects', v3.slice(0, 2), `${v3.slice(2)}.commit`)), false);
  });

  test('a commit signed by an untrusted key, a tampered signature and an untrusted summary are refused; nothing changes', async () => {
    const s = await client(nginx.url, key.public);
    const v3 = (await run(['ostree', 'rev-parse', `--repo=${serverRepo}`, kit.refs.main])).stdout.trim();
    assert.notEqual(v3, kit.commits.v2, 'needs the unsigned v3 of the previous test');
    const before = await snapshot(s);

    await run(['ostree', 'gpg-sign', `--repo=${serverRepo}`, `--gpg-homedir=${otherKey.home}`, v3, otherKey.fingerprint]);
    for (const args of [['upgrade'], ['upgrade', '--check'], ['deploy', v3]]) {
      const line = await aptFails(s, args, 'signature-invalid');
      assert.match(line, /public key not found/);
    }
    assert.equal(await snapshot(s), before);

    // A signature by the trusted key, but over another commit (v2's): ostree reports a BAD signature.
    const meta = (c: string): string => join(serverRepo, 'objects', c.slice(0, 2), `${c.slice(2)}.commitmeta`);
    await copyFile(meta(kit.commits.v2), meta(v3));
    assert.match(await aptFails(s, ['upgrade'], 'signature-invalid'), /BAD signature/);
    assert.equal(await snapshot(s), before);

    // The summary is what names the refs: one signed by the wrong key, or not at all, is refused as well.
    await run(['ostree', 'summary', '-u', `--repo=${serverRepo}`, `--gpg-sign=${otherKey.fingerprint}`, `--gpg-homedir=${otherKey.home}`]);
    assert.match(await aptFails(s, ['upgrade'], 'signature-invalid'), /the summary of remote kit/);
    await run(['ostree', 'summary', '-u', `--repo=${serverRepo}`]);
    await rm(join(serverRepo, 'summary.sig'), { force: true });
    assert.match(await aptFails(s, ['upgrade'], 'unsigned-commit'), /the summary of remote kit is not signed/);
    assert.equal(await snapshot(s), before);
    assert.equal(await pathExists(join(s, 'ostree/repo/state', `${v3}.commitpartial`)), false);
  });
});

describe('remote add, list, remove', () => {
  test('names, URLs, keys and duplicates are checked; keys go with their remote', async () => {
    const served = await archiveRepo('remotes');
    await aptOk(undefined, ['compose', 'publish', '--repo', served, '--sign-key', key.secret]);
    const s = await client(`file://${served}`, key.public);
    const repo = join(s, 'ostree/repo');
    const before = await snapshot(s);
    await aptFails(s, ['remote', 'add', kit.remoteName, 'https://example.invalid/repo'], 'remote-exists');
    await aptFails(s, ['remote', 'add', 'a/b', 'https://example.invalid/repo'], 'invalid-argument');
    await aptFails(s, ['remote', 'add', 'other', 'ftp://example.invalid/repo'], 'invalid-argument');
    await aptFails(s, ['remote', 'add', 'other', 'https://example.invalid/re po'], 'invalid-argument');
    await aptFails(s, ['remote', 'add', 'other', 'https://example.invalid/repo', '--sign-key', key.secret], 'sign-key-invalid');
    await aptFails(s, ['remote', 'add', 'other', 'https://example.invalid/repo', '--sign-key', '/etc/hostname'], 'sign-key-invalid');
    await aptFails(s, ['remote', 'add', 'other', 'https://example.invalid/repo', '--sign-key', key.public, '--no-sign-verify'], 'usage');
    await aptFails(s, ['remote', 'remove', 'nope'], 'no-remote');

    const plain = await aptOk(s, ['remote', 'add', 'plain', 'https://example.invalid/plain']);
    assert.match(plain.stderr, /^warning: remote plain has no signing key: commits pulled from it will not be verified/m);
    const quiet = await aptOk(s, ['remote', 'add', 'quiet', 'https://example.invalid/quiet', '--no-sign-verify']);
    assert.doesNotMatch(quiet.stderr, /warning/);
    await aptOk(s, ['remote', 'add', 'signed', 'http://example.invalid/signed', '--sign-key', otherKey.public, '--branch', 'a/b', '--branch', 'c']);
    assert.ok(await pathExists(join(repo, 'signed.trustedkeys.gpg')));

    const list = await aptJson<RemoteInfo[]>(s, ['remote', 'list']);
    const byName = new Map(list.map((r) => [r.name, r]));
    assert.deepEqual([...byName.keys()].sort(), [kit.remoteName, 'plain', 'quiet', 'signed'].sort());
    assert.equal(byName.get('plain')?.verification, 'none');
    assert.equal(byName.get('quiet')?.verification, 'none');
    assert.deepEqual(byName.get('signed'), {
      name: 'signed', url: 'http://example.invalid/signed', verification: 'gpg', summaryVerification: 'gpg', branches: ['a/b', 'c'],
    });
    assert.match((await aptOk(s, ['remote', 'list'])).stdout, /^signed\thttp:\/\/example\.invalid\/signed\t\(commits: GPG signatures/m);

    for (const name of ['plain', 'quiet', 'signed']) await aptOk(s, ['remote', 'remove', name]);
    assert.equal(await pathExists(join(repo, 'signed.trustedkeys.gpg')), false);
    const removed = await aptOk(s, ['remote', 'remove', kit.remoteName]);
    assert.match(removed.stderr, /follows kit: its upgrades fail until the remote is added again/);
    await aptFails(s, ['upgrade'], 'no-remote');
    assert.deepEqual(await aptJson<RemoteInfo[]>(s, ['remote', 'list']), []);
    assert.equal(await snapshot(s), before, 'remote commands leave the deployments alone');
  });
});

describe('publish: key handling', () => {
  test('an existing keyring by key id, no deltas; refused keys and arguments change nothing', async () => {
    const repo = await archiveRepo('keyring');
    await composeV2(repo);
    const r = await aptJson<PublishReport>(undefined, ['compose', 'publish', '--repo', repo, '--gpg-homedir', key.home,
      '--sign-key', key.fingerprint, '--static-deltas', '0', '--ref', kit.refs.main]);
    assert.deepEqual(r.commitsSigned, [{ ref: kit.refs.main, commit: kit.commits.v2 }]);
    assert.deepEqual(r.deltasGenerated, []);
    assert.equal(r.summary.signed, true);

    const fresh = await archiveRepo('refused');
    await composeV2(fresh);
    const locked = await makeGpgKey(work, 'locked', 'a passphrase');
    await runUnchecked(['gpgconf', '--homedir', locked.home, '--kill', 'all']);
    assert.match(await aptFails(undefined, ['compose', 'publish', '--repo', fresh, '--sign-key', locked.secret], 'sign-key-invalid'),
      /passphrase/);
    await aptFails(undefined, ['compose', 'publish', '--repo', fresh, '--sign-key', key.public], 'sign-key-invalid');
    await aptFails(undefined, ['compose', 'publish', '--repo', fresh, '--gpg-homedir', otherKey.home, '--sign-key', key.fingerprint], 'sign-key-invalid');
    await aptFails(undefined, ['compose', 'publish', '--repo', fresh, '--ref', 'no/such/ref'], 'unknown-revision');
    await aptFails(undefined, ['compose', 'publish', '--repo', fresh, '--static-deltas', 'many'], 'usage');
    await aptFails(undefined, ['compose', 'publish', '--repo', work], 'invalid-argument');
    assert.equal(await pathExists(join(fresh, 'summary')), false, 'a refused publish writes nothing');
    assert.equal(await gpgSignatureCount(fresh, kit.commits.v2), 0);
    assert.equal(await gpgSignatureCount(fresh, kit.commits.v1), 0);
  });

  test('ed25519: signed and verified when this ostree has it, signing-unsupported otherwise', async () => {
    const ed = await makeEd25519Key(work);
    const build = await ostreeBuild();
    const repo = await archiveRepo('ed25519');
    if (!build.features.includes('sign-ed25519')) {
      const line = await aptFails(undefined, ['compose', 'publish', '--repo', repo, '--sign-key', ed.secret], 'signing-unsupported');
      assert.match(line, new RegExp(`this ostree \\(${build.version.replace(/\./g, '\\.')}\\) was built without ed25519 signing`));
      assert.equal(await pathExists(join(repo, 'summary')), false);
      const s = (await newSysroot(kit, { remoteUrl: `file://${repo}` })).path;
      sysroots.push(s);
      usedByThisTest.push(s);
      await aptFails(s, ['remote', 'add', 'ed', `file://${repo}`, '--sign-key', ed.public], 'signing-unsupported');
      assert.equal((await aptJson<RemoteInfo[]>(s, ['remote', 'list'])).some((r) => r.name === 'ed'), false);
      return;
    }
    await aptOk(undefined, ['compose', 'publish', '--repo', repo, '--sign-key', ed.secret]);
    await composeV2(repo);
    const r = await aptJson<PublishReport>(undefined, ['compose', 'publish', '--repo', repo, '--sign-key', ed.secret]);
    assert.equal(r.signing?.type, 'ed25519');
    assert.deepEqual(r.commitsSigned, [{ ref: kit.refs.main, commit: kit.commits.v2 }]);
    const s = await client(`file://${repo}`, ed.public);
    assert.equal((await aptJson<RemoteInfo[]>(s, ['remote', 'list']))[0]?.verification, 'ed25519');
    await aptOk(s, ['upgrade']);
    assert.equal((await aptJson<StatusJson>(s, ['status'])).deployments[0]!.checksum, kit.commits.v2);
    const v3 = (await run(['ostree', 'commit', `--repo=${repo}`, `--branch=${kit.refs.main}`, `--tree=ref=${kit.commits.v2}`,
      '--subject=unsigned'])).stdout.trim();
    await run(['ostree', 'summary', '-u', `--repo=${repo}`, '--sign-type=ed25519', `--sign=${(await readFile(ed.secret, 'utf8')).trim()}`]);
    const before = await snapshot(s);
    await aptFails(s, ['upgrade'], 'unsigned-commit');
    assert.equal(await snapshot(s), before);
    assert.ok(v3);
  });
});
