/**
 * A private, system-like dbus-daemon for tests: the default policy of Debian's system.conf, our bus policy
 * (data/dbus/org.aptostree.AptOstree1.conf) pulled in with <include>, a service directory for activation files, and
 * a socket in a temporary directory. Clients find it through DBUS_SYSTEM_BUS_ADDRESS (see `env`). Started with
 * `--fork --print-address=1 --print-pid=1` (plain --print-address fails with "Invalid file descriptor" here) and
 * stopped by its pid.
 */
import { readFileSync } from 'node:fs';
import { chmod, mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { run } from '../../src/lib/exec.js';

export const REPO = resolve(import.meta.dirname, '../..');
export const DATA = join(REPO, 'data');
export const POLICY_FILE = join(DATA, 'dbus/org.aptostree.AptOstree1.conf');

export interface PrivateBusOptions {
  /** Activation files to put in the bus's service directory, by file name. */
  services?: Record<string, string>;
  /** Include data/'s bus policy (default true). */
  includePolicy?: boolean;
  /** Include this policy file instead of data/'s. */
  policyFile?: string;
  /** More <policy> or other elements for the configuration. */
  extraConfig?: string;
}

export interface PrivateBus {
  dir: string;
  address: string;
  socket: string;
  pid: number;
  configFile: string;
  servicesDir: string;
  /** process.env with DBUS_SYSTEM_BUS_ADDRESS pointing at this bus. */
  env: NodeJS.ProcessEnv;
  stop(): Promise<void>;
}

const escapeXml = (s: string): string => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/"/g, '&quot;');

export function busConfig(socket: string, servicesDir: string, opts: PrivateBusOptions = {}): string {
  return `<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig>
  <type>system</type>
  <listen>unix:path=${escapeXml(socket)}</listen>
  <auth>EXTERNAL</auth>
  <servicedir>${escapeXml(servicesDir)}</servicedir>
  <policy context="default">
    <allow user="*"/>
    <deny own="*"/>
    <deny send_type="method_call"/>
    <allow send_type="signal"/>
    <allow send_requested_reply="true" send_type="method_return"/>
    <allow send_requested_reply="true" send_type="error"/>
    <allow receive_type="method_call"/>
    <allow receive_type="method_return"/>
    <allow receive_type="error"/>
    <allow receive_type="signal"/>
    <allow send_destination="org.freedesktop.DBus" send_interface="org.freedesktop.DBus"/>
    <allow send_destination="org.freedesktop.DBus" send_interface="org.freedesktop.DBus.Introspectable"/>
    <allow send_destination="org.freedesktop.DBus" send_interface="org.freedesktop.DBus.Properties"/>
    <deny send_destination="org.freedesktop.DBus" send_interface="org.freedesktop.DBus"
          send_member="UpdateActivationEnvironment"/>
    <!-- polkitd, when a test runs it on this bus -->
    <allow send_destination="org.freedesktop.PolicyKit1"/>
  </policy>
  <policy user="polkitd">
    <allow own="org.freedesktop.PolicyKit1"/>
  </policy>
  ${opts.includePolicy === false ? '' : `<include>${escapeXml(opts.policyFile ?? POLICY_FILE)}</include>`}
  ${opts.extraConfig ?? ''}
</busconfig>
`;
}

export async function startPrivateBus(opts: PrivateBusOptions = {}): Promise<PrivateBus> {
  const dir = await mkdtemp(join(tmpdir(), 'apt-ostree-bus-'));
  // Clients run as other users too (setpriv): they must reach the socket.
  await chmod(dir, 0o755);
  const socket = join(dir, 'system_bus_socket');
  const servicesDir = join(dir, 'services');
  await mkdir(servicesDir);
  for (const [name, text] of Object.entries(opts.services ?? {})) await writeFile(join(servicesDir, name), text);
  const configFile = join(dir, 'bus.conf');
  await writeFile(configFile, busConfig(socket, servicesDir, opts));
  let stdout: string;
  try {
    ({ stdout } = await run(['dbus-daemon', `--config-file=${configFile}`, '--fork', '--print-address=1',
      '--print-pid=1', '--nopidfile']));
  } catch (err) {
    await rm(dir, { recursive: true, force: true });
    throw err;
  }
  const [address, pidText] = stdout.trim().split('\n');
  const pid = Number(pidText);
  if (!address || !Number.isInteger(pid)) throw new Error(`dbus-daemon printed ${JSON.stringify(stdout)}`);
  let stopped = false;
  // Should the test process die first, the forked daemon must not outlive it.
  const onExit = (): void => {
    try {
      process.kill(pid, 'SIGTERM');
    } catch { /* already gone */ }
  };
  process.once('exit', onExit);
  return {
    dir, address, socket, pid, configFile, servicesDir,
    env: { ...process.env, DBUS_SYSTEM_BUS_ADDRESS: address },
    stop: async () => {
      if (stopped) return;
      stopped = true;
      process.off('exit', onExit);
      try {
        process.kill(pid, 'SIGTERM');
      } catch { /* already gone */ }
      for (let i = 0; i < 50 && alive(pid); i++) await new Promise((r) => setTimeout(r, 20));
      await rm(dir, { recursive: true, force: true });
    },
  };
}

/** Running (a zombie waiting for a reaper that may never come does not count). */
function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch {
    return false;
  }
  try {
    return !/^\d+ \(.*\) Z/.test(readFileSync(`/proc/${pid}/stat`, 'utf8'));
  } catch {
    return false;
  }
}

/** argv prefix that runs a command as another user (nobody by default) with no supplementary groups. */
export function asUser(uid = 65534, gid = uid): string[] {
  return ['setpriv', `--reuid=${uid}`, `--regid=${gid}`, '--clear-groups'];
}

export const POLKITD = '/usr/lib/polkit-1/polkitd';

export interface RunningPolkitd {
  stop(): Promise<void>;
}

/**
 * Runs polkitd on a private bus inside bubblewrap, with the host's actions plus data/'s and the given rules files
 * (by name) as the only rules, so nothing of the host's /usr/share/polkit-1 or /etc/polkit-1 is touched.
 */
export async function startPolkitd(pb: PrivateBus, rules: Record<string, string>): Promise<RunningPolkitd> {
  const { spawn } = await import('node:child_process');
  const { copyFile, readdir } = await import('node:fs/promises');
  const dir = await mkdtemp(join(tmpdir(), 'apt-ostree-polkit-'));
  const actions = join(dir, 'actions');
  const rulesDir = join(dir, 'rules.d');
  await mkdir(actions);
  await mkdir(rulesDir);
  for (const f of await readdir('/usr/share/polkit-1/actions')) await copyFile(join('/usr/share/polkit-1/actions', f), join(actions, f));
  await copyFile(join(DATA, 'polkit/org.aptostree.AptOstree1.policy'), join(actions, 'org.aptostree.AptOstree1.policy'));
  for (const [name, text] of Object.entries(rules)) await writeFile(join(rulesDir, name), text);
  for (const p of [dir, actions, rulesDir]) await chmod(p, 0o755);
  for (const f of await readdir(actions)) await chmod(join(actions, f), 0o644);
  for (const f of await readdir(rulesDir)) await chmod(join(rulesDir, f), 0o644);
  const child = spawn('bwrap', ['--dev-bind', '/', '/', '--ro-bind', actions, '/usr/share/polkit-1/actions',
    '--ro-bind', rulesDir, '/etc/polkit-1/rules.d', '--setenv', 'DBUS_SYSTEM_BUS_ADDRESS', pb.address, POLKITD],
  { detached: true, stdio: ['ignore', 'ignore', 'pipe'] });
  let log = '';
  child.stderr.on('data', (b: Buffer) => { log += b.toString(); });
  const kill = (): void => {
    if (child.pid !== undefined && child.exitCode === null && child.signalCode === null) {
      try {
        process.kill(-child.pid, 'SIGTERM');
      } catch { /* already gone */ }
    }
  };
  process.once('exit', kill);
  for (let i = 0; ; i++) {
    const r = await run(['busctl', '--system', 'status', 'org.freedesktop.PolicyKit1'], { env: pb.env }).then(() => true, () => false);
    if (r) break;
    if (i > 200 || child.exitCode !== null) throw new Error(`polkitd did not start: ${log}`);
    await new Promise((res) => setTimeout(res, 25));
  }
  return {
    stop: async () => {
      process.off('exit', kill);
      if (child.exitCode === null && child.signalCode === null) {
        const exited = new Promise((r) => child.once('exit', r));
        kill();
        await exited;
      }
      await rm(dir, { recursive: true, force: true });
    },
  };
}
