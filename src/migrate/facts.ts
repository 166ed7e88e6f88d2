// The questions every migrate and rollback step asks of the switch and the cluster before it acts,
// so a rerun after a crash at any point can tell what is already done.
import { join } from 'node:path';
import { DockerAbsent, type DockerContainer } from '../host/docker.js';
import { readOrUndefined } from '../host/files.js';
import { isHeld, isNativeMarked } from '../host/hold.js';
import { readRecord as readHostRecord, type MigrationRecord } from '../host/records.js';
import { mustSystemctl, unitActive } from '../host/systemctl.js';
import { featureHeld, featureHeldOff, runningPod } from '../kube/cluster.js';
import { HOLD_DIR } from '../sonic/paths.js';
import { dropInPath, stubDropIn } from '../systemd/unit.js';
import { targetOf, type FlowContext } from './context.js';

/** migrate's record of the feature on this node (host/records.ts), active or retired. */
export const readRecord = (ctx: FlowContext): MigrationRecord | undefined => readHostRecord(ctx.root, ctx.spec.feature);

/** The node carries kubesonic's hold (the stop taint): no pod may start here. */
export const held = (ctx: FlowContext): Promise<boolean> => featureHeld(ctx.cluster, targetOf(ctx));

/** The node carries either taint of the feature (kubesonic's hold or an operator's disable). */
export const heldOff = (ctx: FlowContext): Promise<boolean> => featureHeldOff(ctx.cluster, targetOf(ctx));

/** The unit's drop-in is exactly kubesonic's stub. */
export function stubInstalled(ctx: FlowContext): boolean {
  try {
    return readOrUndefined(join(ctx.root, dropInPath(ctx.spec.feature, ctx.unitDir))) === stubDropIn(ctx.spec.feature);
  } catch {
    return false;
  }
}

export const unitName = (ctx: FlowContext): string => `${ctx.spec.feature}.service`;

export const featureUnitActive = (ctx: FlowContext): boolean => unitActive(ctx.systemctl, unitName(ctx));

export const podRunning = async (ctx: FlowContext): Promise<boolean> => (await runningPod(ctx.cluster, targetOf(ctx))) !== undefined;

/**
 * The native container named like the feature, if it runs. Only a provably absent Docker means
 * "none"; any other Docker failure throws (DockerFault): a step must not count "could not see" as
 * "not running", or the pod could start next to the native container.
 */
export async function nativeContainer(ctx: FlowContext, timeoutMs = 30_000): Promise<DockerContainer | undefined> {
  try {
    return await ctx.docker.nativeRunning(ctx.spec.feature, Date.now() + timeoutMs);
  } catch (e) {
    if (e instanceof DockerAbsent) return undefined;
    throw e;
  }
}

export const nativeRunning = async (ctx: FlowContext, timeoutMs = 30_000): Promise<boolean> =>
  (await nativeContainer(ctx, timeoutMs)) !== undefined;

export const daemonReload = (ctx: FlowContext): void => mustSystemctl(ctx.systemctl, ['daemon-reload']);

/** The switch's host-side hold directory (host/hold.ts). */
export const holdDir = (ctx: FlowContext): string => join(ctx.root, HOLD_DIR);

/** The feature's host-side hold is on (its unit stopped it). */
export const hostHeld = (ctx: FlowContext): boolean => isHeld(holdDir(ctx), ctx.spec.feature);

/** The feature's native marker is on (host/hold.ts): the pod's container waits, a native one may run. */
export const nativeMarked = (ctx: FlowContext): boolean => isNativeMarked(holdDir(ctx), ctx.spec.feature);

/** The image's own unit file (SONiC's generator installs it in /usr/lib, older images in /lib). */
export function imageUnitFile(ctx: FlowContext): string | undefined {
  for (const dir of ['/usr/lib/systemd/system', '/lib/systemd/system']) {
    const text = readOrUndefined(join(ctx.root, dir, `${ctx.spec.feature}.service`));
    if (text !== undefined) return text;
  }
  return undefined;
}
