import { resolve } from 'node:path';
import type { Command } from 'commander';
import { publish, type PublishedDelta, type PublishReport } from '../../core/compose/publish.js';
import { AptOstreeError } from '../../lib/errors.js';
import type { Cli } from '../context.js';
import { formatBytes } from '../render/units.js';

interface PublishCliOptions {
  repo: string;
  signKey?: string;
  gpgHomedir?: string;
  staticDeltas: string;
  ref?: string[];
  json?: boolean;
}

function report(cli: Cli, r: PublishReport): void {
  const short = (c: string): string => c.slice(0, 12);
  for (const c of r.commitsSigned) cli.print(`Signed ${c.ref} ${short(c.commit)}`);
  const delta = (d: PublishedDelta): string => `${d.ref ?? ''} ${d.from === null ? 'scratch' : short(d.from)} → ${short(d.to)}: ${formatBytes(d.size)}` +
    (d.fallbackObjects > 0 ? ` + ${d.fallbackObjects} large objects fetched separately (${formatBytes(d.fallbackSize)})` : '');
  for (const d of r.deltasGenerated) cli.print(`Static delta ${delta(d)}`);
  for (const d of r.deltasExisting) cli.print(`Static delta ${delta(d)} (kept)`);
  const signing = r.signing ? `signed (${r.signing.type} ${r.signing.key})` : 'unsigned';
  cli.print(`Summary of ${r.repo} updated, ${signing}: ${r.refs.map((x) => `${x.ref} ${short(x.commit)}`).join(', ')}`);
}

export function registerPublish(compose: Command, cli: Cli): void {
  compose.command('publish')
    .description('prepare a repository for serving: sign the tips, generate static deltas, update the (signed) summary')
    .requiredOption('--repo <repo>', 'the OSTree repository the server publishes')
    .option('--sign-key <key>', 'secret key file (OpenPGP, armored or binary, or ed25519 in ostree\'s base64 format); with --gpg-homedir, a key id')
    .option('--gpg-homedir <dir>', 'sign with a key of this GnuPG home directory instead of a key file')
    .option('--static-deltas <n>', 'static deltas from each of the last N ancestors to each tip', '1')
    .option('--ref <ref...>', 'publish these refs (default: every ref of the repository)')
    .option('--json', 'output JSON')
    .action(async (o: PublishCliOptions) => {
      if (!/^\d+$/.test(o.staticDeltas)) {
        throw new AptOstreeError('usage', `--static-deltas must be a non-negative number, not '${o.staticDeltas}'`,
          'e.g. --static-deltas 1 (0: no deltas)');
      }
      const quiet = (cli.globals().quiet ?? false) || (o.json ?? false);
      const r = await cli.interruptible((signal) => publish({
        repo: resolve(o.repo),
        signKey: o.signKey === undefined || o.gpgHomedir !== undefined ? o.signKey : resolve(o.signKey),
        gpgHomedir: o.gpgHomedir === undefined ? undefined : resolve(o.gpgHomedir),
        staticDeltas: Number(o.staticDeltas),
        refs: o.ref,
        signal,
        onProgress: quiet ? undefined : (line) => { process.stderr.write(`${line}\n`); },
      }));
      if (o.json === true) cli.printJson(r);
      else report(cli, r);
    });
}
