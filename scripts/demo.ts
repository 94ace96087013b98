// The README's main job: the test kit's Debian system (v1 and v2 of a base image, served over HTTP), deployed into
// a local directory sysroot, then apt-ostree status / upgrade / kargs / rollback on it, with the real tools.
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { getKit } from '../tests/kit/index.js';
import { serveDirectory } from '../tests/kit/http.js';
import { newSysroot } from '../tests/kit/sysroot.js';

const cliPath = fileURLToPath(new URL('../dist/apt-ostree.mjs', import.meta.url));

function step(sysroot: string, args: string[]): Promise<void> {
  process.stdout.write(`\n$ apt-ostree ${args.join(' ')}\n`);
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [cliPath, '--sysroot', sysroot, ...args], { stdio: 'inherit' });
    child.on('error', reject);
    child.on('close', (code) => { if (code === 0) resolve(); else reject(new Error(`apt-ostree ${args.join(' ')} exited ${code}`)); });
  });
}

const started = Date.now();
const kit = await getKit();
const server = await serveDirectory(kit.dir);
try {
  const { path: sysroot } = await newSysroot(kit, { remoteUrl: `${server.url}/ostree-archive` });
  process.stdout.write(`Sysroot: ${sysroot}\nRemote: ${server.url} (${kit.refs.main})\n`);
  await step(sysroot, ['status']);
  await step(sysroot, ['upgrade', '--preview']);
  await step(sysroot, ['upgrade']);
  await step(sysroot, ['db', 'diff']);
  await step(sysroot, ['kargs', '--append=quiet']);
  await step(sysroot, ['kargs']);
  await step(sysroot, ['status']);
  await step(sysroot, ['rollback']);
  await step(sysroot, ['status', '--json']);
  process.stdout.write(`\nDone in ${((Date.now() - started) / 1000).toFixed(1)} s. The sysroot stays at ${sysroot}.\n`);
} finally {
  await server.close();
}
