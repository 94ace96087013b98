import { typed, type Bus } from './bus.js';
import { isDaemonUnreachable } from './errors.js';
import { BUS_NAME, OS_INTERFACE, POLKIT_INTERFACE, POLKIT_PATH, POLKIT_SERVICE, SYSROOT_INTERFACE,
  TRANSACTION_INTERFACE } from './names.js';

/**
 * apt-ostreed's polkit actions (data/polkit/org.aptostree.AptOstree1.policy declares each one), and which action a
 * method call needs. uid 0 needs none; for other callers the daemon asks polkit's CheckAuthorization about every
 * action returned here, and refuses when polkit is not on the bus. An empty list means the call is open to everybody
 * (reading, registering, pinging).
 */
export const POLKIT_ACTION_FAMILIES = [
  'install-uninstall-packages',
  'override',
  'deploy',
  'upgrade',
  'rebase',
  'rollback',
  'bootconfig',
  'cleanup',
  'cancel',
  'reload-daemon',
  'repo-refresh',
  'live-changes',
] as const;
export type PolkitActionFamily = (typeof POLKIT_ACTION_FAMILIES)[number];

export function polkitAction(family: PolkitActionFamily): string {
  return `${BUS_NAME}.${family}`;
}

/** Every action id the daemon may check, e.g. org.aptostree.AptOstree1.install-uninstall-packages. */
export const POLKIT_ACTIONS: readonly string[] = POLKIT_ACTION_FAMILIES.map(polkitAction);

type Options = Record<string, unknown>;
type Rule = PolkitActionFamily | null | ((args: readonly unknown[]) => (PolkitActionFamily | null)[]);

const isTrue = (v: unknown): boolean => v === true;
function optionsAt(args: readonly unknown[], i: number): Options {
  const o = args[i];
  return typeof o === 'object' && o !== null && !Array.isArray(o) ? (o as Options) : {};
}
function nonEmpty(v: unknown): boolean {
  return Array.isArray(v) ? v.length > 0 : isTrue(v);
}

/**
 * The action of each method, by interface and member. A function looks at the call's arguments: a dry run or a
 * check needs less than the real thing. `null` (alone or in a list) means no action.
 */
const RULES: Record<string, Record<string, Rule>> = {
  [SYSROOT_INTERFACE]: {
    RegisterClient: null,
    UnregisterClient: null,
    Reload: 'reload-daemon',
    ReloadConfig: 'reload-daemon',
    GetOS: null,
    Ping: null,
    GetStatus: null,
  },
  [OS_INTERFACE]: {
    Upgrade: (args) => {
      const o = optionsAt(args, 0);
      return [isTrue(o.check) || isTrue(o.preview) ? 'repo-refresh' : 'upgrade'];
    },
    Deploy: 'deploy',
    Rebase: 'rebase',
    Rollback: 'rollback',
    PkgChange: (args) => [isTrue(optionsAt(args, 2)['dry-run']) ? null : 'install-uninstall-packages'],
    UpdateDeployment: (args) => {
      if (isTrue(optionsAt(args, 1)['dry-run'])) return [];
      const m = optionsAt(args, 0);
      const overrides = ['override-remove', 'override-replace', 'override-reset', 'override-reset-all', 'reset-overrides']
        .some((k) => nonEmpty(m[k]));
      return [
        overrides ? 'override' : null,
        isTrue(m['reset-overlays']) ? 'install-uninstall-packages' : null,
        isTrue(m['reset-initramfs']) ? 'bootconfig' : null,
      ];
    },
    KernelArgs: 'bootconfig',
    SetInitramfsState: 'bootconfig',
    Cleanup: 'cleanup',
    RefreshMd: 'repo-refresh',
    Pin: 'deploy',
    UsrOverlay: 'live-changes',
    ApplyLive: 'live-changes',
    AutomaticUpdateTrigger: 'upgrade',
    Search: null,
    ListPackages: null,
    GetPackages: null,
    GetDeploymentsDiff: null,
    GetDbVersion: null,
    GetDeploymentBootConfig: null,
  },
  [TRANSACTION_INTERFACE]: {
    Start: null,
    // The transaction's initiator may always cancel it; the daemon checks that before asking polkit.
    Cancel: 'cancel',
  },
};

/** The methods the table knows, as `Interface.Member` (a test checks it against the contract XML). */
export function methodsWithRules(): string[] {
  return Object.entries(RULES).flatMap(([iface, members]) => Object.keys(members).map((m) => `${iface}.${m}`));
}

/**
 * The polkit action ids a non-root caller needs for this call ([] = open). Unknown methods throw: a method added to
 * the contract must be given a rule here before the daemon can serve it.
 */
export function actionsFor(iface: string, member: string, args: readonly unknown[] = []): string[] {
  const rule = RULES[iface]?.[member];
  if (rule === undefined) throw new Error(`no polkit rule for ${iface}.${member}`);
  const families = typeof rule === 'function' ? rule(args) : [rule];
  return [...new Set(families.filter((f): f is PolkitActionFamily => f !== null))].map(polkitAction);
}

export type AuthorizationResult = 'authorized' | 'challenge' | 'not-authorized' | 'unavailable';

/**
 * Asks polkit (org.freedesktop.PolicyKit1.Authority.CheckAuthorization) whether the connection `sender` may perform
 * `actionId`, with a system-bus-name subject as rpm-ostreed does. `challenge` means polkit would ask for a password
 * (an agent could answer it with allowInteraction); `unavailable` means polkit is not on the bus (neither running
 * nor activatable) — the daemon then refuses every non-root caller.
 */
export async function checkAuthorization(bus: Bus, sender: string, actionId: string,
  opts: { allowInteraction?: boolean; timeoutMs?: number } = {}): Promise<AuthorizationResult> {
  try {
    const [result] = await bus.call(
      { destination: POLKIT_SERVICE, path: POLKIT_PATH, interface: POLKIT_INTERFACE, member: 'CheckAuthorization' },
      '(sa{sv})sa{ss}us',
      [['system-bus-name', { name: typed('s', sender) }], actionId, {}, opts.allowInteraction ? 1 : 0, ''],
      { timeoutMs: opts.timeoutMs ?? 30_000 });
    const [authorized, challenge] = Array.isArray(result) ? result as unknown[] : [];
    if (authorized === true) return 'authorized';
    return challenge === true ? 'challenge' : 'not-authorized';
  } catch (err) {
    if (isDaemonUnreachable(err)) return 'unavailable';
    throw err;
  }
}
