import { Command, CommanderError } from 'commander';
import { AptOstreeError, toAptOstreeError } from '../lib/errors.js';
import { VERSION } from '../version.js';
import { register as cleanup } from './commands/cleanup.js';
import { register as db } from './commands/db.js';
import { register as deploy } from './commands/deploy.js';
import { register as kargs } from './commands/kargs.js';
import { register as pin } from './commands/pin.js';
import { register as rebase } from './commands/rebase.js';
import { register as rollback } from './commands/rollback.js';
import { register as status } from './commands/status.js';
import { register as upgrade } from './commands/upgrade.js';
import { register as install } from './commands/install.js';
import { register as override } from './commands/override.js';
import { register as packages } from './commands/packages.js';
import { register as reset } from './commands/reset.js';
import { register as daemon } from './commands/daemon.js';
import { register as compose } from './commands/compose.js';
import { register as remote } from './commands/remote.js';
import { register as initramfs } from './commands/initramfs.js';
import { register as live } from './commands/live.js';
import { Cli } from './context.js';

function buildProgram(): Command {
  const program = new Command('apt-ostree')
    .description('Atomic, image-based Debian updates on OSTree, with apt package layering')
    .version(VERSION, '--version')
    .option('--sysroot <path>', 'the OSTree sysroot to work on (default: /, or $APT_OSTREE_SYSROOT)')
    .option('--os <name>', 'the stateroot, when the sysroot has several')
    .option('-q, --quiet', 'no progress output')
    .option('--no-daemon', 'run in this process instead of through apt-ostreed (root only for changes; also APT_OSTREE_NO_DAEMON=1)')
    .showHelpAfterError(false)
    .exitOverride()
    .configureOutput({ writeErr: () => undefined });
  const cli = new Cli(program);
  for (const register of [status, upgrade, deploy, rebase, rollback, install, override, reset, packages, kargs, initramfs,
    live, cleanup, pin, db, daemon, compose, remote]) register(program, cli);
  for (const sub of program.commands) sub.exitOverride().configureOutput({ writeErr: () => undefined });
  for (const sub of program.commands.flatMap((c) => c.commands)) sub.exitOverride().configureOutput({ writeErr: () => undefined });
  return program;
}

async function main(argv: string[]): Promise<number> {
  const program = buildProgram();
  try {
    await program.parseAsync(argv);
    return typeof process.exitCode === 'number' ? process.exitCode : 0;
  } catch (err) {
    if (err instanceof CommanderError) {
      if (err.code === 'commander.helpDisplayed' || err.code === 'commander.version' || err.code === 'commander.help') return 0;
      const usage = new AptOstreeError('usage', err.message.replace(/^error:\s*/, ''), 'see `apt-ostree --help`');
      process.stderr.write(`${usage.format()}\n`);
      return 2;
    }
    const e = toAptOstreeError(err);
    process.stderr.write(`${e.format()}\n`);
    if (process.env.APT_OSTREE_DEBUG && err instanceof Error) process.stderr.write(`${err.stack ?? ''}\n`);
    return e.code === 'cancelled' ? 130 : 1;
  }
}

process.exitCode = await main(process.argv);
