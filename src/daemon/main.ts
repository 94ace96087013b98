import { parseArgs } from 'node:util';
import { toAptOstreeError } from '../lib/errors.js';
import { VERSION } from '../version.js';
import { Daemon } from './daemon.js';
import { log } from './log.js';

const USAGE = 'usage: apt-ostreed [--sysroot PATH] [--bus system|session|ADDRESS] [--idle-exit SECONDS] [--version]\n';

async function main(): Promise<number> {
  let values;
  try {
    ({ values } = parseArgs({
      options: {
        sysroot: { type: 'string', default: '/' },
        bus: { type: 'string', default: 'system' },
        'idle-exit': { type: 'string' },
        version: { type: 'boolean', default: false },
        help: { type: 'boolean', default: false },
      },
      strict: true,
    }));
  } catch (err) {
    process.stderr.write(`error[usage]: ${(err as Error).message}\n${USAGE}`);
    return 2;
  }
  if (values.version) {
    process.stdout.write(`apt-ostreed ${VERSION}\n`);
    return 0;
  }
  if (values.help) {
    process.stdout.write(USAGE);
    return 0;
  }
  let idleExit: number | undefined;
  if (values['idle-exit'] !== undefined) {
    idleExit = Number(values['idle-exit']);
    if (!Number.isFinite(idleExit) || idleExit < 0) {
      process.stderr.write(`error[usage]: --idle-exit takes a number of seconds\n${USAGE}`);
      return 2;
    }
  }
  let daemon: Daemon;
  try {
    daemon = await Daemon.start({ sysroot: values.sysroot, bus: values.bus, idleExit });
  } catch (err) {
    process.stderr.write(`${toAptOstreeError(err).format()}\n`);
    return 1;
  }
  const stopped = daemon.stopped();
  for (const sig of ['SIGTERM', 'SIGINT'] as const) {
    process.once(sig, () => {
      log('signal', `${sig}: stopping`);
      void daemon.stop();
    });
  }
  await stopped;
  return 0;
}

main().then((code) => { process.exit(code); }, (err: unknown) => {
  process.stderr.write(`${toAptOstreeError(err).format()}\n`);
  process.exit(1);
});
