import type { CallContext, ExportedInterface } from '../dbus/bus.js';
import { CACHED_UPDATE_DICT, contractInterface, encodeDeployment, encodeDict, implementInterface,
  type MethodHandler } from '../dbus/contract.js';
import { OS_INTERFACE, osPath } from '../dbus/names.js';
import { callToRequest, encodeReply, startsTransaction } from '../dbus/request-mapping.js';
import type { DeploymentStatus } from '../core/ops/status.js';
import { execute } from '../core/engine.js';
import { silentProgress } from '../core/progress.js';
import type { Request } from '../core/requests.js';
import { AptOstreeError } from '../lib/errors.js';
import type { DaemonContext } from './context.js';

const LAYERING_KINDS = new Set<Request['kind']>(['pkg-change', 'override', 'reset']);

/** org.aptostree.AptOstree1.OS for one stateroot: transaction methods queue a Transaction, the others answer. */
export class OsObject {
  readonly path: string;
  private exported: ExportedInterface | undefined;

  constructor(private readonly ctx: DaemonContext, readonly osname: string) {
    this.path = osPath(osname);
  }

  private deployments(): DeploymentStatus[] {
    return this.ctx.state.deployments.filter((d) => d.osname === this.osname);
  }

  /** The booted deployment of this OS, or offline the first one not staged (the engine's "current"). */
  private current(): DeploymentStatus | undefined {
    const ds = this.deployments();
    return ds.find((d) => d.booted) ?? ds.find((d) => !d.staged);
  }

  export(): void {
    const methods: Record<string, MethodHandler> = {};
    for (const m of contractInterface(OS_INTERFACE).methods) {
      methods[m.name] = (args, call) => this.handle(m.name, args, call);
    }
    const dict = (d: DeploymentStatus | undefined): unknown => (d ? encodeDeployment(d) : {});
    this.exported = this.ctx.bus.exportInterface(this.path, implementInterface(OS_INTERFACE, {
      methods,
      properties: {
        Name: () => this.osname,
        BootedDeployment: () => dict(this.deployments().find((d) => d.booted)),
        DefaultDeployment: () => dict(this.deployments()[0]),
        RollbackDeployment: () => {
          const ds = this.deployments();
          const cur = this.current();
          return dict(cur ? ds[ds.indexOf(cur) + 1] : undefined);
        },
        CachedUpdate: () => {
          const cached = this.ctx.state.cachedUpdates[this.osname];
          return cached ? encodeDict(CACHED_UPDATE_DICT, { result_json: JSON.stringify(cached), 'checked-at': cached['checked-at'] }) : {};
        },
      },
    }));
  }

  unexport(): void {
    this.exported?.unexport();
    this.exported = undefined;
  }

  /** After a reload: the deployment properties may have changed. */
  changed(): void {
    this.exported?.propertiesChanged(['BootedDeployment', 'DefaultDeployment', 'RollbackDeployment', 'CachedUpdate']);
  }

  private async handle(member: string, args: unknown[], call: CallContext): Promise<unknown> {
    let req = callToRequest(OS_INTERFACE, member, args);
    // The policy is the daemon's (the one AutomaticUpdatePolicy shows) unless the caller names a mode.
    if (req.kind === 'automatic-update' && req.policy === undefined) req = { ...req, policy: this.ctx.config.automaticUpdatePolicy };
    await this.ctx.authorizer.authorize(call, args);
    if (!startsTransaction(member)) {
      const result = await execute({ sysroot: this.ctx.sysroot, osname: this.osname, progress: silentProgress }, req);
      return encodeReply(req, result);
    }
    if (this.ctx.config.lockLayering && LAYERING_KINDS.has(req.kind) && !('dryRun' in req && req.dryRun === true)) {
      throw new AptOstreeError('access-denied', 'package layering is locked on this system (LockLayering=true)',
        'an administrator can allow it in /etc/apt-ostreed.conf, then `apt-ostree reload`');
    }
    return this.ctx.queue.submit(req, this.osname, call, this.ctx.describeCaller(call));
  }
}
