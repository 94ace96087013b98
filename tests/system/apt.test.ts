/**
 * The apt side of package layering against the kit's real apt repository (served on 127.0.0.1) and the dpkg
 * database of a checkout of the kit's base commit v1. Run as root:
 *   cd /work/main && node --import tsx --test tests/system/apt.test.ts
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { cp, mkdir, mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { createAptEnvironment, type AptEnvironment } from '../../src/core/apt/apt-env.js';
import { BaseSkewError, ConflictsWithBaseError } from '../../src/core/apt/base-changes.js';
import { downloadPlan } from '../../src/core/apt/download.js';
import { parseNameRequest, parsePackageRequest, type PackageRequest } from '../../src/core/apt/package-request.js';
import type { LayeringPlan } from '../../src/core/apt/plan.js';
import { resolvePlan, type ResolveRequest } from '../../src/core/apt/resolve.js';
import { searchPackages, showCandidates } from '../../src/core/apt/search.js';
import { refreshMetadata } from '../../src/core/apt/update.js';
import { APT_EXTENDED_STATES, DPKG_DATABASE } from '../../src/core/compose/contract-paths.js';
import { readTreePackages, type InstalledPackage } from '../../src/core/packages.js';
import type { DownloadState, ProgressSink } from '../../src/core/progress.js';
import { AptOstreeError } from '../../src/lib/errors.js';
import { run } from '../../src/lib/exec.js';
import { checkoutCommit, removeCheckout } from '../kit/checkout.js';
import { buildDeb } from '../kit/deb.js';
import { serveDirectory, type ServedDirectory } from '../kit/http.js';
import { getKit, type Kit } from '../kit/index.js';

function names(...texts: string[]): PackageRequest[] {
  return texts.map((t) => parseNameRequest(t));
}

function hasCode(code: string, ...shows: string[]): (err: unknown) => boolean {
  return (err) => {
    assert.ok(err instanceof AptOstreeError, String(err));
    assert.equal(err.code, code, err.format());
    for (const text of shows) assert.ok(err.format().includes(text), `${err.format()}\nshould mention ${text}`);
    return true;
  };
}

async function sha256(file: string): Promise<string> {
  return createHash('sha256').update(await readFile(file)).digest('hex');
}

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  await new Promise<void>((resolve) => server.close(() => { resolve(); }));
  assert.ok(address !== null && typeof address === 'object');
  return address.port;
}

class RecordingProgress implements ProgressSink {
  readonly downloads: DownloadState[] = [];
  readonly messages: string[] = [];
  readonly percents: number[] = [];
  message(text: string): void { this.messages.push(text); }
  taskBegin(): void { /* not needed */ }
  taskEnd(): void { /* not needed */ }
  percent(_title: string, percent: number): void { this.percents.push(percent); }
  download(state: DownloadState): void { this.downloads.push(state); }
}

function plannedSummary(plan: LayeringPlan): string[] {
  return plan.install.map((p) => `${p.name} ${p.version}${p.requested ? ' requested' : ''}`);
}

describe('apt: resolve and download against the base commit', () => {
  let kit: Kit;
  let server: ServedDirectory;
  let tree: string;
  let work: string;
  let etcApt: string;
  let env: AptEnvironment;
  let base: InstalledPackage[];
  let baseFilesHash: string;
  let hostStatusHash: string;

  const baseFiles = (): string[] => [join(tree, DPKG_DATABASE, 'status'), join(tree, APT_EXTENDED_STATES)];
  const hashBaseFiles = async (): Promise<string> => (await Promise.all(baseFiles().map(sha256))).join(' ');
  const resolve = (request: Partial<ResolveRequest>): Promise<LayeringPlan> =>
    resolvePlan(env, { install: [], remove: [], replace: [], basePackages: base, ...request });

  before(async () => {
    kit = await getKit();
    server = await serveDirectory(kit.dir);
    tree = await checkoutCommit(kit.bareRepo, kit.commits.v1);
    work = await mkdtemp(join(tmpdir(), 'apt-ostree-test-apt-'));
    // The deployment's etc/apt: the image's own apt.conf.d (which points Dir::State::status into the image) and
    // a sources.list for the kit's repository.
    etcApt = join(work, 'etc/apt');
    await cp(join(tree, 'usr/etc/apt'), etcApt, { recursive: true });
    await writeFile(join(etcApt, 'sources.list'), `${kit.aptSourcesLine(`${server.url}/apt`)}\n`);
    // A hook meant for the system the configuration belongs to; it must not run on the host for a tree.
    await writeFile(join(etcApt, 'apt.conf.d/60hook'), `APT::Update::Post-Invoke-Success { "touch ${join(work, 'hook-ran')}"; };\n`);
    base = await readTreePackages(tree);
    baseFilesHash = await hashBaseFiles();
    hostStatusHash = await sha256('/var/lib/dpkg/status');
    env = await createAptEnvironment({
      etcAptDir: etcApt,
      statusFile: join(tree, DPKG_DATABASE, 'status'),
      extendedStatesFile: join(tree, APT_EXTENDED_STATES),
      cacheDir: join(work, 'cache'),
    });
  });

  after(async () => {
    await server.close();
    await removeCheckout(tree);
    await rm(work, { recursive: true, force: true });
  });

  test('apt reads our state, never the image paths, and can not run dpkg', async () => {
    const { stdout } = await run(['apt-config', 'dump'], { env: env.env });
    assert.match(stdout, new RegExp(`^Dir::State::status "${env.statusFile}";$`, 'm'));
    assert.match(stdout, /^Dir::Bin::dpkg "\/bin\/false";$/m);
    assert.doesNotMatch(stdout, /Post-Invoke-Success::/);
    assert.notEqual(env.statusFile, join(tree, DPKG_DATABASE, 'status'));
  });

  test('refresh: updates, then skips fresh lists unless forced', async () => {
    const progress = new RecordingProgress();
    assert.deepEqual(await refreshMetadata(env, { progress }), { updated: true, ageSeconds: 0 });
    assert.ok(progress.messages.some((m) => m.includes(`${server.url}/apt`)), progress.messages.join('\n'));
    assert.ok((await readdir(env.listsDir)).some((f) => f.endsWith('_Packages')));
    assert.equal((await refreshMetadata(env)).updated, false);
    assert.equal((await refreshMetadata(env, { force: true })).updated, true);
    await assert.rejects(stat(join(work, 'hook-ran')), { code: 'ENOENT' });
  });

  test('a dependency chain resolves in apt order, dependencies marked automatic', async () => {
    const plan = await resolve({ install: names('kit-app') });
    assert.deepEqual(plannedSummary(plan), ['kit-libbaz1 1.0-1', 'kit-libbar1 1.0-1', 'kit-app 1.0-1 requested']);
    const a = kit.arch;
    assert.deepEqual(plan.steps, [
      { kind: 'unpack', packages: [`kit-libbaz1:${a}`, `kit-libbar1:${a}`, `kit-app:${a}`] },
      { kind: 'configure', packages: [`kit-libbaz1:${a}`, `kit-libbar1:${a}`, `kit-app:${a}`] },
    ]);
    assert.deepEqual(plan.remove, []);
    for (const p of plan.install) {
      assert.equal(p.arch, a);
      assert.equal(p.baseVersion, undefined);
      assert.equal(p.uri, `${server.url}/apt/pool/main/${p.name}_${p.version}_${a}.deb`);
      assert.equal(p.size, (await stat(kit.debs[p.name]!)).size);
    }
    assert.equal(plan.downloadBytes, plan.install.reduce((s, p) => s + (p.size ?? 0), 0));
  });

  test('a virtual package: the provider is pulled in, or is what was asked for', async () => {
    const viaDependency = await resolve({ install: names('kit-mailer') });
    assert.deepEqual(plannedSummary(viaDependency), ['kit-mta 1.0-1', 'kit-mailer 1.0-1 requested']);
    assert.equal(viaDependency.install[0]!.arch, 'all');
    const named = await resolve({ install: names('kit-virtual-mta') });
    assert.deepEqual(plannedSummary(named), ['kit-mta 1.0-1 requested']);
  });

  test('Pre-Depends: the dependency is configured before the package is unpacked', async () => {
    const plan = await resolve({ install: names('kit-predep') });
    assert.deepEqual(plan.steps, [
      { kind: 'unpack', packages: [`kit-libbaz1:${kit.arch}`] },
      { kind: 'configure', packages: [`kit-libbaz1:${kit.arch}`] },
      { kind: 'unpack', packages: ['kit-predep:all'] },
      { kind: 'configure', packages: ['kit-predep:all'] },
    ]);
  });

  test('a local .deb: its dependencies come from the repository, the file itself is used in place', async () => {
    const built = await buildDeb({
      name: 'kit-local-test', version: '1:2.0-1', architecture: 'all', description: 'a local package',
      depends: 'kit-libbaz1', files: [{ path: '/usr/share/kit-local-test/README', content: 'local\n' }],
    }, join(work, 'deb-build'), join(work, 'debs'), kit.arch);
    const request = await parsePackageRequest(built.path);
    assert.deepEqual(request, { kind: 'file', path: built.path, name: 'kit-local-test', version: '1:2.0-1', arch: 'all' });
    const plan = await resolve({ install: [request] });
    assert.deepEqual(plannedSummary(plan), ['kit-libbaz1 1.0-1', 'kit-local-test 1:2.0-1 requested']);
    const local = plan.install[1]!;
    assert.equal(local.debPath, built.path);
    assert.equal(local.uri, '');
    assert.equal(plan.downloadBytes, plan.install[0]!.size);
    const downloaded = await downloadPlan(env, plan);
    assert.equal(downloaded.install[1]!.debPath, built.path);
    assert.equal(downloaded.install[0]!.debPath, join(env.archivesDir, `kit-libbaz1_1.0-1_${kit.arch}.deb`));
  });

  test('unsatisfiable dependencies are reported with apt\'s reasons', async () => {
    const built = await buildDeb({
      name: 'kit-orphan', version: '1.0-1', architecture: 'all', description: 'depends on a package nobody has',
      depends: 'kit-does-not-exist (>= 2)',
    }, join(work, 'deb-build'), join(work, 'debs'), kit.arch);
    await assert.rejects(resolve({ install: [await parsePackageRequest(built.path)] }),
      hasCode('unsatisfiable', 'kit-orphan: Depends: kit-does-not-exist (>= 2) but it is not installable'));
  });

  test('base/archive skew: kit-skew needs a newer kit-libfoo1 than base v1 has', async () => {
    assert.equal(kit.basePackages.v1['kit-libfoo1'], '1.0-1');
    await assert.rejects(resolve({ install: names('kit-skew') }), (err) => {
      hasCode('base-skew', 'kit-libfoo1 1.0-1 → 1.1-1', 'apt-ostree override replace kit-libfoo1=1.1-1', 'apt-ostree upgrade')(err);
      assert.ok(err instanceof BaseSkewError);
      assert.deepEqual(err.changes, [{ name: 'kit-libfoo1', arch: kit.arch, baseVersion: '1.0-1', wantedVersion: '1.1-1' }]);
      return true;
    });
  });

  test('with override replace kit-libfoo1=1.1-1, kit-skew resolves', async () => {
    const plan = await resolve({ install: names('kit-skew'), replace: names('kit-libfoo1=1.1-1') });
    assert.deepEqual(plannedSummary(plan), ['kit-libfoo1 1.1-1 requested', 'kit-skew 1.0-1 requested']);
    assert.equal(plan.install[0]!.baseVersion, '1.0-1');
    const allowed = await resolve({ install: names('kit-skew'), allowBaseChanges: ['kit-libfoo1'] });
    assert.deepEqual(plannedSummary(allowed), ['kit-libfoo1 1.1-1', 'kit-skew 1.0-1 requested']);
  });

  test('a package that conflicts with a base package', async () => {
    await assert.rejects(resolve({ install: names('kit-conflicts') }), (err) => {
      hasCode('conflicts-with-base', 'kit-conflicts', 'kit-filler-b 2.0-1', 'apt-ostree override remove kit-filler-b')(err);
      assert.ok(err instanceof ConflictsWithBaseError);
      return true;
    });
    // removing the base package deliberately makes it possible
    const plan = await resolve({ install: names('kit-conflicts'), remove: ['kit-filler-b'] });
    assert.deepEqual(plan.remove, [{ name: 'kit-filler-b', arch: 'all', version: '2.0-1' }]);
    assert.deepEqual(plannedSummary(plan), ['kit-conflicts 1.0-1 requested']);
    assert.deepEqual(plan.steps.map((s) => s.kind), ['remove', 'unpack', 'configure']);
  });

  test('override remove alone', async () => {
    const plan = await resolve({ remove: ['kit-filler-b'] });
    assert.deepEqual(plan, {
      install: [], remove: [{ name: 'kit-filler-b', arch: 'all', version: '2.0-1' }],
      steps: [{ kind: 'remove', packages: ['kit-filler-b:all'], purge: false }], downloadBytes: 0,
    });
  });

  test('unknown packages and versions, and names apt would take as patterns', async () => {
    await assert.rejects(resolve({ install: names('kit-nope') }), hasCode('unknown-package', 'kit-nope'));
    await assert.rejects(resolve({ install: names('kit-app=9.9-1') }), hasCode('unknown-package', 'kit-app=9.9-1'));
    // "kit.app" is a regular expression matching kit-app for a plain apt-get
    await assert.rejects(resolve({ install: names('kit.app') }), hasCode('unknown-package', 'kit.app'));
  });

  test('requests the base already answers, or that are not about the base', async () => {
    await assert.rejects(resolve({ install: names('kit-libfoo1') }), hasCode('already-installed', 'kit-libfoo1 1.0-1'));
    await assert.rejects(resolve({ replace: names('kit-app=1.0-1') }), hasCode('not-in-base', 'kit-app'));
    await assert.rejects(resolve({ remove: ['kit-app'] }), hasCode('not-in-base', 'kit-app'));
    await assert.rejects(resolve({ remove: ['kit-app;rm -rf /'] }), hasCode('invalid-package-name', '"kit-app;rm -rf /"'));
    await assert.rejects(parsePackageRequest('$(id)'), hasCode('invalid-package-name', '"$(id)"'));
  });

  test('download: progress with totals, files that match the repository, cached the second time', async () => {
    const plan = await resolve({ install: names('kit-app', 'kit-mailer') });
    assert.ok(plan.downloadBytes > 0);
    const progress = new RecordingProgress();
    const downloaded = await downloadPlan(env, plan, { progress });
    assert.ok(progress.downloads.length >= 2, JSON.stringify(progress.downloads));
    for (const d of progress.downloads) {
      assert.equal(d.bytesTotal, plan.downloadBytes);
      assert.ok(d.bytesDone >= 0 && d.bytesDone <= d.bytesTotal);
    }
    assert.equal(progress.downloads.at(-1)!.bytesDone, plan.downloadBytes);
    // apt's own status lines in between, not just our start and end
    assert.ok(progress.downloads.some((d) => d.bytesDone > 0 && d.bytesDone < d.bytesTotal), JSON.stringify(progress.downloads));
    for (const p of downloaded.install) {
      assert.ok(p.debPath?.startsWith(`${env.archivesDir}/`), p.debPath);
      const original = kit.allDebs.find((d) => d.name === p.name && d.version === p.version)!;
      assert.equal(await sha256(p.debPath!), await sha256(original.path), p.name);
    }
    assert.equal(plan.install[0]!.debPath, undefined, 'the input plan is not modified');

    const again = await resolve({ install: names('kit-app', 'kit-mailer') });
    assert.equal(again.downloadBytes, 0);
    const before = await Promise.all(downloaded.install.map(async (p) => (await stat(p.debPath!)).mtimeMs));
    const quiet = new RecordingProgress();
    const second = await downloadPlan(env, again, { progress: quiet });
    assert.deepEqual(quiet.downloads, []);
    assert.deepEqual(second.install.map((p) => p.debPath), downloaded.install.map((p) => p.debPath));
    assert.deepEqual(await Promise.all(second.install.map(async (p) => (await stat(p.debPath!)).mtimeMs)), before);

    // apt would reuse a damaged file of the right size; the download step checks the hash and fetches it again
    const victim = second.install.find((p) => p.name === 'kit-app')!;
    assert.match(victim.sha256 ?? '', /^[0-9a-f]{64}$/);
    const bytes = await readFile(victim.debPath!);
    bytes[bytes.length - 5] = (bytes[bytes.length - 5] ?? 0) ^ 0xff;
    await writeFile(victim.debPath!, bytes);
    const repaired = new RecordingProgress();
    await downloadPlan(env, again, { progress: repaired });
    assert.equal(await sha256(victim.debPath!), victim.sha256);
    assert.equal(repaired.downloads.at(-1)?.bytesTotal, victim.size);
  });

  test('a cancelled download stops with "cancelled"', async () => {
    const plan = await resolve({ install: names('kit-opt') });
    const controller = new AbortController();
    controller.abort();
    await assert.rejects(downloadPlan(env, plan, { signal: controller.signal }), hasCode('cancelled'));
  });

  test('search and candidates', async () => {
    const found = await searchPackages(env, ['dependency', 'chain']);
    assert.deepEqual(found.map((f) => `${f.name} ${f.version}`), ['kit-app 1.0-1', 'kit-libbar1 1.0-1', 'kit-libbaz1 1.0-1']);
    assert.equal(found[0]!.summary, 'an application with a dependency chain');
    assert.deepEqual(await searchPackages(env, ['c++']), []);
    const candidates = await showCandidates(env, ['kit-libfoo1', 'kit-nope']);
    assert.equal(candidates.get('kit-libfoo1')?.version, '1.1-1');
    assert.equal(candidates.get('kit-nope'), null);
  });

  test('an unreachable repository fails the refresh and keeps the old lists', async () => {
    const lists = async (): Promise<string[]> => (await readdir(env.listsDir)).sort();
    const good = await lists();
    const port = await freePort();
    const badList = join(etcApt, 'sources.list.d/unreachable.list');
    await mkdir(join(etcApt, 'sources.list.d'), { recursive: true });
    await writeFile(badList, `${kit.aptSourcesLine(`http://127.0.0.1:${port}/apt`)}\n`);
    // the same environment without apt's retries (1 s, 2 s, 4 s of back-off)
    const options = {
      etcAptDir: etcApt, statusFile: env.baseStatusFile, extendedStatesFile: env.baseExtendedStatesFile, cacheDir: env.cacheDir,
    };
    const impatient = await createAptEnvironment({ ...options, retries: 0 });
    try {
      await assert.rejects(refreshMetadata(impatient, { force: true }),
        hasCode('repository-unreachable', `http://127.0.0.1:${port}/apt/dists/kit/InRelease`, 'Connection refused'));
      assert.deepEqual(await lists(), good);
      assert.deepEqual((await readdir(work)).filter((n) => n.includes('.new')), []);
    } finally {
      await rm(badList);
      env = await createAptEnvironment(options);
    }
    // the old lists still serve
    assert.equal((await resolve({ install: names('kit-app') })).install.length, 3);
  });

  test('the base commit\'s files and the host\'s dpkg database were never touched', async () => {
    assert.equal(await hashBaseFiles(), baseFilesHash);
    assert.equal(await sha256('/var/lib/dpkg/status'), hostStatusHash);
  });
});
