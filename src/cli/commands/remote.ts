import { resolve } from 'node:path';
import type { Command } from 'commander';
import { silentProgress } from '../../core/progress.js';
import { remoteAdd, remoteList, remoteRemove, type RemoteInfo } from '../../core/ops/remote.js';
import type { Cli } from '../context.js';

interface AddOptions { signKey?: string; branch?: string[]; signVerify?: boolean; json?: boolean }

const VERIFICATION: Record<RemoteInfo['verification'], string> = {
  gpg: 'GPG signatures',
  ed25519: 'ed25519 signatures',
  none: 'not verified',
};

function describe(r: RemoteInfo): string {
  const branches = r.branches.length > 0 ? `; branches ${r.branches.join(', ')}` : '';
  return `${r.name}\t${r.url}\t(commits: ${VERIFICATION[r.verification]}; summary: ${VERIFICATION[r.summaryVerification]}${branches})`;
}

/**
 * `remote add|list|remove`: the sysroot repository's remotes. They run in this process (root, under the sysroot
 * lock), never through apt-ostreed: a config edit has no progress to report and nothing to cancel.
 */
export function register(program: Command, cli: Cli): void {
  const remote = program.command('remote').description('the remotes updates come from, and the keys their commits are verified with');

  remote.command('add')
    .description('add a remote; --sign-key PUBLIC-KEY makes every commit and summary pulled from it verified')
    .argument('<name>', 'remote name (letters, digits, _ . -)')
    .argument('<url>', 'http, https or file URL of the repository')
    .option('--sign-key <file>', 'public key file: OpenPGP (armored or binary) or ed25519 (base64, as ostree writes it)')
    .option('--branch <ref...>', 'branches the remote offers (ostree\'s `branches` list)')
    .option('--no-sign-verify', 'add it without verification, on purpose (no warning)')
    .option('--json', 'output JSON')
    .action(async (name: string, url: string, o: AddOptions) => {
      const target = cli.target();
      const r = await remoteAdd({ sysroot: target.sysroot, osname: target.osname, progress: silentProgress }, {
        name, url, signKey: o.signKey === undefined ? undefined : resolve(o.signKey), branches: o.branch ?? [],
        noSignVerify: o.signVerify === false,
      });
      if (r.warning !== null) process.stderr.write(`${r.warning}\n`);
      if (o.json === true) cli.printJson(r);
      else cli.print(`Added remote ${describe(r.remote)}`);
    });

  remote.command('list')
    .description('the remotes, their URLs and how their commits are verified')
    .option('--json', 'output JSON')
    .action(async (o: { json?: boolean }) => {
      const remotes = await remoteList({ sysroot: cli.target().sysroot });
      if (o.json === true) { cli.printJson(remotes); return; }
      if (remotes.length === 0) cli.print('No remotes.');
      for (const r of remotes) cli.print(describe(r));
    });

  remote.command('remove')
    .alias('delete')
    .description('remove a remote and its keys')
    .argument('<name>', 'remote name')
    .option('--json', 'output JSON')
    .action(async (name: string, o: { json?: boolean }) => {
      const target = cli.target();
      const r = await remoteRemove({ sysroot: target.sysroot, osname: target.osname, progress: silentProgress }, name);
      if (o.json === true) { cli.printJson(r); return; }
      cli.print(`Removed remote ${r.name}`);
      for (const d of r.followedBy) {
        process.stderr.write(`note: deployment ${d} follows ${r.name}: its upgrades fail until the remote is added again\n`);
      }
    });
}
