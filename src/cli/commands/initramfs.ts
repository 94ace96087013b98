import type { Command } from 'commander';
import type { PkgChangeResult } from '../../core/ops/pkg/deploy-layered.js';
import { AptOstreeError } from '../../lib/errors.js';
import type { Cli } from '../context.js';

const collect = (value: string, previous: string[]): string[] => [...previous, value];

interface InitramfsOptions { enable?: boolean; disable?: boolean; arg: string[]; json?: boolean }

function describeState(regenerate: boolean, args: readonly string[]): string {
  return `Initramfs regeneration: ${regenerate ? 'enabled' : 'disabled'}${regenerate && args.length > 0 ? `\nInitramfs args: ${args.join(' ')}` : ''}`;
}

function renderChange(r: PkgChangeResult): string {
  if (!r.changed) return `${describeState(r.requests.regenerateInitramfs, r.requests.initramfsArgs)} (unchanged)\n`;
  return `${describeState(r.requests.regenerateInitramfs, r.requests.initramfsArgs)}\nRun "systemctl reboot" to start a reboot\n`;
}

export function register(program: Command, cli: Cli): void {
  program.command('initramfs')
    .description('regenerate the initramfs on this machine with dracut (re-done on every upgrade), or show whether it is')
    .option('--enable', 'regenerate the initramfs in the next deployment and every one after it')
    .option('--disable', 'go back to the initramfs of the base image')
    .option('--arg <ARG>', 'an extra dracut argument (repeat for several, e.g. --arg=--add-drivers --arg=nbd)', collect, [])
    .option('--json', 'output JSON')
    .action(async (o: InitramfsOptions) => {
      if (o.enable && o.disable) throw new AptOstreeError('usage', '--enable and --disable exclude each other', 'give one of them');
      if (!o.enable && o.arg.length > 0) {
        throw new AptOstreeError('usage', '--arg only goes with --enable', 'e.g. `apt-ostree initramfs --enable --arg=--add-drivers --arg=nbd`');
      }
      if (!o.enable && !o.disable) {
        const report = await cli.run({ kind: 'status' }, { json: true });
        const d = report.deployments.find((x) => x.booted) ?? report.deployments.find((x) => !x.staged);
        const state = { 'regenerate-initramfs': d?.['regenerate-initramfs'] ?? false, 'initramfs-args': d?.['initramfs-args'] ?? [] };
        if (o.json) cli.printJson(state); else cli.print(describeState(state['regenerate-initramfs'], state['initramfs-args']));
        return;
      }
      const r = await cli.run({ kind: 'initramfs', regenerate: o.enable ?? false, args: o.arg }, o);
      if (o.json) cli.printJson(r); else cli.print(renderChange(r));
    });
}
