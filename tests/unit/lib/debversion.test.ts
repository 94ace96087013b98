import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { parseDeb822, type VersionRelation } from '../../../src/lib/deb822.js';
import {
  compareVersions,
  formatVersion,
  isValidVersion,
  parseVersion,
  satisfies,
} from '../../../src/lib/debversion.js';
import { AptOstreeError } from '../../../src/lib/errors.js';
import { run } from '../../../src/lib/exec.js';

void test('parseVersion splits at the first colon and the last hyphen', () => {
  assert.deepEqual(parseVersion('1:2.36-9+deb12u4'), { epoch: 1, upstream: '2.36', revision: '9+deb12u4' });
  assert.deepEqual(parseVersion('2.0-rc1-3'), { epoch: 0, upstream: '2.0-rc1', revision: '3' });
  assert.deepEqual(parseVersion('3:1:2-1'), { epoch: 3, upstream: '1:2', revision: '1' });
  assert.deepEqual(parseVersion('  1.0  '), { epoch: 0, upstream: '1.0', revision: '' });
  assert.deepEqual(parseVersion('0:007'), { epoch: 0, upstream: '007', revision: '' });
});

void test('parseVersion rejects what dpkg rejects', () => {
  for (const bad of ['', '   ', '1 0', ':1.0', 'a:1.0', '-1:1.0', '1:', '1.0-', '-1', '99999999999:1']) {
    assert.throws(() => parseVersion(bad), (e: unknown) => e instanceof AptOstreeError && e.code === 'parse-error', bad);
  }
});

void test('isValidVersion also enforces what dpkg only warns about', () => {
  for (const good of ['1.0', '1:2.36-9+deb12u4', '2.0~rc1', '1.2.3+dfsg-0.1~bpo12+1', '0', '1:1:1-1', '1.0-a~b.c+d']) {
    assert.equal(isValidVersion(good), true, good);
  }
  for (const bad of ['a1.0', '1.0_1', '1.0-1_1', '1.0-1:1', '', '1.0-', 'x:1', '1.0 1', '1.0-1-']) {
    assert.equal(isValidVersion(bad), false, bad);
  }
  // dpkg compares these (with a warning), so parseVersion accepts them.
  assert.doesNotThrow(() => parseVersion('a1.0'));
});

void test('formatVersion inverts parseVersion', () => {
  for (const v of ['1:2.36-9+deb12u4', '2.0-rc1-3', '1.0', '0.1~rc-0']) assert.equal(formatVersion(parseVersion(v)), v);
  assert.equal(formatVersion(parseVersion('0:1.0')), '1.0');
});

const TRICKY: readonly (readonly [string, string, -1 | 0 | 1])[] = [
  ['1.0', '1.0', 0],
  ['1.0', '1.0-0', 0],
  ['0:1.0', '1.0', 0],
  ['1.0-0', '1.0-00', 0],
  ['1.00', '1.0', 0],
  ['007', '7', 0],
  ['1.0~rc1', '1.0', -1],
  ['1.0~rc1', '1.0~rc2', -1],
  ['1.0~~', '1.0~', -1],
  ['1.0~', '1.0', -1],
  ['1.0~~a', '1.0~', -1],
  ['1.0', '1.0a', -1],
  ['1.0a', '1.0.', -1],
  ['1.0+', '1.0.', -1],
  ['1.0a', '1.0+', -1],
  ['1.0-1', '1.0-1a', -1],
  ['1.0-1~bpo1', '1.0-1', -1],
  ['1.0-1', '1.0-1+deb12u1', -1],
  ['1.0-1+b1', '1.0-1.1', -1],
  ['1.2', '1.10', -1],
  ['1.9', '1.10', -1],
  ['2.0', '10.0', -1],
  ['9:1.0', '10:0.1', -1],
  ['1:0.1', '2.0', 1],
  ['1.0.0', '1.0', 1],
  ['1.0', '1.0.0', -1],
  ['a', 'b', -1],
  ['1Z', '1a', -1],
  ['1.0-A', '1.0-a', -1],
  ['2.36-9+deb12u4', '2.36-9+deb12u10', -1],
  ['5.2.15-2+b7', '5.2.15-2+b10', -1],
  ['1.2.3+dfsg-1', '1.2.3-1', 1],
  ['1.2.3~dfsg-1', '1.2.3-1', -1],
  ['3.0.11-1~deb12u2', '3.0.11-1', -1],
  ['252.39-1~deb12u1', '252.38-1~deb12u1', 1],
  ['0.0.0', '0', 1],
  ['1.0-0.1', '1.0-0', 1],
  ['1:1.0-1', '1:1.0-1', 0],
];

void test('compareVersions on tricky pairs, in both directions', () => {
  for (const [a, b, expected] of TRICKY) {
    assert.equal(compareVersions(a, b), expected, `${a} vs ${b}`);
    assert.equal(compareVersions(b, a), -expected || 0, `${b} vs ${a}`);
  }
});

void test('satisfies implements the five relations', () => {
  const cases: readonly (readonly [string, VersionRelation, string, boolean])[] = [
    ['1.0', '<<', '1.1', true], ['1.1', '<<', '1.1', false],
    ['1.1', '<=', '1.1', true], ['1.2', '<=', '1.1', false],
    ['1.0-0', '=', '0:1.0', true], ['1.0-1', '=', '1.0', false],
    ['1.1', '>=', '1.1', true], ['1.1~rc1', '>=', '1.1', false],
    ['1:0.1', '>>', '9.9', true], ['1.1', '>>', '1.1', false],
  ];
  for (const [version, relation, target, expected] of cases) {
    assert.equal(satisfies(version, relation, target), expected, `${version} ${relation} ${target}`);
  }
});

/** mulberry32: a small seeded generator so the oracle test checks the same pairs on every run. */
function seededRandom(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Short versions from a small alphabet so that near-ties (the interesting cases) are frequent. */
function randomVersion(random: () => number): string {
  const pick = (chars: string): string => chars[Math.floor(random() * chars.length)] ?? '';
  const part = (first: string, length: number): string => {
    let s = pick(first);
    for (let i = 1; i < length; i++) s += pick('0012399.~+aAbz');
    return s;
  };
  const epoch = random() < 0.15 ? `${pick('0012')}:` : '';
  const upstream = part('0123456789', 1 + Math.floor(random() * 6));
  const revision = random() < 0.6 ? `-${part('0129a~+', 1 + Math.floor(random() * 4))}` : '';
  return `${epoch}${upstream}${revision}`;
}

function statusVersions(): string[] {
  const text = readFileSync('/var/lib/dpkg/status', 'utf8');
  return [...new Set(parseDeb822(text).map((p) => p.get('Version') ?? '').filter((v) => v !== ''))].sort();
}

async function dpkgSays(a: string, op: string, b: string): Promise<boolean> {
  const { code } = await run(['dpkg', '--compare-versions', a, op, b], { okCodes: [0, 1] });
  return code === 0;
}

void test('compareVersions and satisfies agree with dpkg --compare-versions on a few hundred pairs', async () => {
  const random = seededRandom(20240611);
  const real = statusVersions();
  const pairs: [string, string][] = [];
  for (let i = 0; i < 160; i++) pairs.push([randomVersion(random), randomVersion(random)]);
  for (let i = 0; i < 80 && real.length > 1; i++) {
    const k = Math.floor(random() * (real.length - 1));
    // Neighbours in sorted order share prefixes, which is where comparisons get subtle.
    pairs.push(i % 2 === 0 ? [real[k]!, real[k + 1]!] : [real[k]!, real[Math.floor(random() * real.length)]!]);
  }
  for (let i = 0; i < 20; i++) {
    const v = real.length > 0 ? real[Math.floor(random() * real.length)]! : randomVersion(random);
    pairs.push([v, `${v}~1`], [`${v}+b1`, v], [v, v]);
  }
  const relations: readonly VersionRelation[] = ['<<', '<=', '=', '>=', '>>'];
  const ordering = { '-1': 'lt', '0': 'eq', '1': 'gt' } as const;

  // One dpkg run per pair proves our ordering: dpkg must confirm exactly the relation we computed (lt, eq or gt).
  // Every eighth pair also checks satisfies() with a dpkg relation operator. The spawn itself (fork of this process,
  // ~10 ms) is synchronous in libuv, so the number of runs is what costs; small chunks overlap the children's own
  // run time and stay under the 10 process 'exit' listeners that run() adds per child.
  const mismatches: string[] = [];
  const chunkSize = 8;
  for (let start = 0; start < pairs.length; start += chunkSize) {
    await Promise.all(pairs.slice(start, start + chunkSize).map(async ([a, b], offset) => {
      const index = start + offset;
      const ours = compareVersions(a, b);
      if (!(await dpkgSays(a, ordering[ours], b))) mismatches.push(`dpkg denies ${a} ${ordering[ours]} ${b}`);
      if (index % 8 === 0) {
        const relation = relations[(index / 8) % relations.length]!;
        const dpkg = await dpkgSays(a, relation, b);
        if (satisfies(a, relation, b) !== dpkg) mismatches.push(`${a} ${relation} ${b}: dpkg says ${dpkg}`);
      }
    }));
  }
  assert.ok(pairs.length >= 300, `only ${pairs.length} pairs`);
  assert.deepEqual(mismatches, []);
});
