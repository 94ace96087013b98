import { AptOstreeError } from '../../lib/errors.js';
import { originRefspec } from '../origin.js';
import { parseRefspec, type Refspec } from '../refspec.js';
import type { Deployment } from '../sysroot/deployment.js';

/** The refspec a deployment follows; every update starts from it. */
export function followedRefspec(d: Deployment): Refspec {
  const text = originRefspec(d.origin);
  if (text === undefined) {
    throw new AptOstreeError('no-remote', `deployment ${d.checksum.slice(0, 12)} has no origin refspec`,
      'set one with `apt-ostree rebase REMOTE:REF`');
  }
  return parseRefspec(text);
}

/** The base commit of a deployment: the layered commit's parent base when layered, else the commit itself. */
export function baseChecksumOf(d: Deployment, layeredBase: string | undefined): string {
  return layeredBase ?? d.checksum;
}
