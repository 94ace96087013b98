/**
 * Which deployment a change starts from (src/core/ops/context.ts): the origin comes from the stateroot's default
 * deployment (rpm-ostree's origin merge deployment, a pending one included, staged or not), while /etc, pending and
 * rollback stay relative to the booted one (libostree's merge deployment).
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { deploymentRoles } from '../../../../src/core/ops/context.js';
import { inheritedKargs } from '../../../../src/core/ops/new-deployment.js';
import type { Deployment } from '../../../../src/core/sysroot/deployment.js';

function deployment(name: string, flags: { booted?: boolean; staged?: boolean } = {}): Deployment {
  return {
    index: 0, osname: 'debian', checksum: name.padEnd(64, '0'), serial: 0, bootcsum: '', bootserial: 0,
    path: `/ostree/deploy/debian/deploy/${name}.0`, originPath: `/ostree/deploy/debian/deploy/${name}.0.origin`,
    origin: undefined, kargs: [`root=/dev/vda`, `mark=${name}`], bootEntryFile: undefined,
    booted: flags.booted ?? false, staged: flags.staged ?? false, pinned: false, rollback: false,
  };
}

/** The roles by name, to compare at a glance. */
function roles(deployments: Deployment[]): Record<string, unknown> {
  const r = deploymentRoles(deployments);
  assert.ok(r !== undefined);
  return {
    originBase: r.originBase.kargs[1], mergeDeployment: r.mergeDeployment.kargs[1], rollback: r.rollback?.kargs[1],
    pending: r.pending.map((d) => d.kargs[1]), inheritedKargs: inheritedKargs(r),
  };
}

test('offline (nothing booted): the default deployment is both the origin base and the merge deployment', () => {
  assert.deepEqual(roles([deployment('a'), deployment('b')]), {
    originBase: 'mark=a', mergeDeployment: 'mark=a', rollback: 'mark=b', pending: [], inheritedKargs: undefined,
  });
});

test('booted only: everything starts from the booted deployment, ostree copies its kernel arguments', () => {
  assert.deepEqual(roles([deployment('b', { booted: true })]), {
    originBase: 'mark=b', mergeDeployment: 'mark=b', rollback: undefined, pending: [], inheritedKargs: undefined,
  });
  assert.deepEqual(roles([deployment('b', { booted: true }), deployment('r')]), {
    originBase: 'mark=b', mergeDeployment: 'mark=b', rollback: 'mark=r', pending: [], inheritedKargs: undefined,
  });
});

test('booted + pending: a change stacks on the pending deployment (origin and kargs), /etc still from the booted', () => {
  assert.deepEqual(roles([deployment('p'), deployment('b', { booted: true }), deployment('r')]), {
    originBase: 'mark=p', mergeDeployment: 'mark=b', rollback: 'mark=r', pending: ['mark=p'],
    inheritedKargs: ['root=/dev/vda', 'mark=p'],
  });
});

test('booted + staged pending: a change stacks on the staged deployment (and replaces it)', () => {
  assert.deepEqual(roles([deployment('s', { staged: true }), deployment('b', { booted: true }), deployment('r')]), {
    originBase: 'mark=s', mergeDeployment: 'mark=b', rollback: 'mark=r', pending: ['mark=s'],
    inheritedKargs: ['root=/dev/vda', 'mark=s'],
  });
  // Staged while an earlier change was pending: the staged one is the default-to-be, so it is the origin base.
  assert.deepEqual(roles([deployment('s', { staged: true }), deployment('p'), deployment('b', { booted: true })]), {
    originBase: 'mark=s', mergeDeployment: 'mark=b', rollback: undefined, pending: ['mark=s', 'mark=p'],
    inheritedKargs: ['root=/dev/vda', 'mark=s'],
  });
});

test('booted not first: after `rollback` the new default is the origin base, rollback stays relative to the booted', () => {
  // `rollback` with nothing pending moved the old rollback r ahead of the booted b: it is what the next boot uses.
  assert.deepEqual(roles([deployment('r'), deployment('b', { booted: true })]), {
    originBase: 'mark=r', mergeDeployment: 'mark=b', rollback: undefined, pending: ['mark=r'],
    inheritedKargs: ['root=/dev/vda', 'mark=r'],
  });
  assert.deepEqual(roles([deployment('p'), deployment('b', { booted: true }), deployment('r'), deployment('o')]), {
    originBase: 'mark=p', mergeDeployment: 'mark=b', rollback: 'mark=r', pending: ['mark=p'],
    inheritedKargs: ['root=/dev/vda', 'mark=p'],
  });
});

test('nothing booted in this stateroot but a staged deployment first: the first non-staged one is the merge deployment', () => {
  assert.deepEqual(roles([deployment('s', { staged: true }), deployment('a')]), {
    originBase: 'mark=s', mergeDeployment: 'mark=a', rollback: undefined, pending: ['mark=s'],
    inheritedKargs: ['root=/dev/vda', 'mark=s'],
  });
});

test('no deployment to start from', () => {
  assert.equal(deploymentRoles([]), undefined);
  assert.equal(deploymentRoles([deployment('s', { staged: true })]), undefined);
});
