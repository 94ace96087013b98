import type { Command } from 'commander';
import { STATUS_DICT } from '../../dbus/contract.js';
import { fromBusError } from '../../dbus/errors.js';
import { decodeActiveTransaction } from '../backend-dbus.js';
import type { Cli } from '../context.js';
import { formatDuration } from '../render/units.js';

/** GetStatus's dictionary with every key of the contract (missing ones as null), in the contract's order. */
export function daemonStatus(raw: unknown): Record<string, unknown> {
  const d = (typeof raw === 'object' && raw !== null ? raw : {}) as Record<string, unknown>;
  const out: Record<string, unknown> = {};
  for (const key of Object.keys(STATUS_DICT)) {
    const v = d[key];
    if (key === 'active-transaction') {
      const t = decodeActiveTransaction(v);
      out[key] = t ? { title: t.title, initiator: t.initiator, path: t.path } : null;
    } else if (typeof v === 'bigint') {
      out[key] = Number(v);
    } else {
      out[key] = v ?? null;
    }
  }
  return out;
}

export function register(program: Command, cli: Cli): void {
  program.command('daemon-ping')
    .description('check that apt-ostreed answers')
    .action(async () => {
      const version = await cli.withDaemon('daemon-ping', async (c) => {
        const [v] = await c.sysroot.call('Ping', []).catch((err: unknown) => { throw fromBusError(err); });
        return typeof v === 'string' ? v : '';
      });
      cli.print(`apt-ostreed ${version} is running`);
    });

  program.command('daemon-status')
    .description("show apt-ostreed's state: version, uptime, clients, the running transaction")
    .option('--json', 'output JSON')
    .action(async (o: { json?: boolean }) => {
      const s = await cli.withDaemon('daemon-status', async (c) => {
        const [raw] = await c.sysroot.call('GetStatus', []).catch((err: unknown) => { throw fromBusError(err); });
        return daemonStatus(raw);
      });
      if (o.json) { cli.printJson(s); return; }
      const v = (key: string): string => {
        const x = s[key];
        return typeof x === 'string' || typeof x === 'number' ? String(x) : '?';
      };
      const tx = s['active-transaction'] as { title: string; initiator: string; path: string } | null;
      const clients = Array.isArray(s.clients) ? s.clients as string[] : [];
      const lines = [
        `apt-ostreed ${v('version')} (pid ${v('pid')}), up ${formatDuration(Number(s['uptime-seconds'] ?? 0))}`,
        `Sysroot: ${v('sysroot')}`,
        `Transaction: ${tx ? `${tx.title} (started by ${tx.initiator})` : 'none'}`,
        `Clients: ${clients.length === 0 ? 'none' : ''}`,
        ...clients.map((x) => `  ${x}`),
        `AutomaticUpdatePolicy: ${v('automatic-update-policy')}`,
        `IdleExitTimeout: ${v('idle-exit-timeout')}s`,
        `LockLayering: ${s['lock-layering'] === true ? 'yes' : 'no'}`,
        `polkit: ${s.polkit === true ? 'available' : 'not on the bus (only root may change the system)'}`,
      ];
      cli.print(lines.join('\n'));
    });

  program.command('reload')
    .description("make apt-ostreed re-read the sysroot and /etc/apt-ostreed.conf")
    .action(async () => {
      await cli.withDaemon('reload', async (c) => {
        try {
          await c.sysroot.call('Reload', []);
          await c.sysroot.call('ReloadConfig', []);
        } catch (err) {
          throw fromBusError(err);
        }
      });
      cli.print('apt-ostreed reloaded.');
    });

  program.command('cancel')
    .description("cancel apt-ostreed's running transaction")
    .action(async () => {
      const text = await cli.withDaemon('cancel', async (c) => {
        try {
          const tx = await c.activeTransaction();
          if (!tx) return 'No transaction is running.';
          const obj = c.transaction(tx.path);
          let done: (() => void) | undefined;
          const finished = new Promise<void>((res) => { done = res; });
          const sub = await obj.onSignal((member) => { if (member === 'Finished') done?.(); });
          try {
            await obj.call('Cancel', []);
            const state = await obj.get('State').catch(() => 'finished');
            if (state !== 'finished') {
              const timeout = new Promise<'timeout'>((res) => { setTimeout(() => { res('timeout'); }, 60_000).unref(); });
              if (await Promise.race([finished, timeout]) === 'timeout') {
                return `Asked to cancel ${tx.title} (started by ${tx.initiator}); it has not finished yet.`;
              }
            }
          } finally {
            await sub.remove();
          }
          return `Cancelled: ${tx.title} (started by ${tx.initiator})`;
        } catch (err) {
          throw fromBusError(err);
        }
      });
      cli.print(text);
    });
}
