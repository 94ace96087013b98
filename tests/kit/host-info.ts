/** What the kit takes from the host: its dpkg architecture and multiarch triplet. */
import { run } from '../../src/lib/exec.js';

export interface HostInfo {
  /** dpkg architecture, e.g. amd64. */
  arch: string;
  /** Multiarch triplet, e.g. x86_64-linux-gnu. */
  triplet: string;
}

export async function readHostInfo(): Promise<HostInfo> {
  const arch = (await run(['dpkg', '--print-architecture'])).stdout.trim();
  const triplet = (await run(['dpkg-architecture', '-qDEB_HOST_MULTIARCH'])).stdout.trim();
  return { arch, triplet };
}
