// Source 3, Docker: the natively run container named exactly like the feature (every container on
// a switch that is not migrated), or — without an API server — a Kubernetes container that
// cri-dockerd runs, by its CRI labels. Its cgroup comes from /proc/<pid>/cgroup.
import { readFile } from '../files.js';
import { join } from 'node:path';
import { DockerAbsent, findByExactName, findKubeContainer, isKubeContainer, type DockerContainer } from '../../host/docker.js';
import { errorLine } from '../../util/errors.js';
import { cgroupDir, dockerCgroupCandidates, findCgroupDir, memoryCgroupFromProc } from '../cgroup.js';
import { CheckError } from '../errors.js';
import type { CheckOutcome, MemorySource, SourceContext } from '../source.js';

/**
 * The running containers; undefined only when Docker is provably absent (its socket does not
 * exist), as SONiC's checker exits 0 when Docker is not active. Any other failure — a hung or
 * refusing daemon, or no budget left — is exit 1: a native container may be running unchecked.
 */
async function running(ctx: SourceContext): Promise<DockerContainer[] | undefined> {
  try {
    return await ctx.docker.listRunning(ctx.deadline);
  } catch (e) {
    if (e instanceof DockerAbsent) {
      ctx.notes.push(`docker: ${e.message}`);
      return undefined;
    }
    throw new CheckError(1, `docker: ${errorLine(e)}`);
  }
}

async function measure(ctx: SourceContext, c: DockerContainer): Promise<CheckOutcome> {
  const fs = await ctx.fs();
  let pid: number | undefined;
  try {
    pid = await ctx.docker.inspectPid(c.id, ctx.deadline);
  } catch (e) {
    throw new CheckError(1, `docker: ${errorLine(e)}`);
  }
  if (pid === undefined) {
    ctx.notes.push(`docker: ${ctx.opts.container} stopped while being checked`);
    return ctx.notRunning();
  }
  let dir: string | undefined;
  try {
    const rel = memoryCgroupFromProc(await readFile(join(ctx.settings.procRoot, String(pid), 'cgroup'), 'utf8'), fs.version);
    if (rel !== undefined) dir = cgroupDir(fs, rel);
  } catch {
    dir = undefined;
  }
  dir ??= await findCgroupDir(fs, dockerCgroupCandidates(c.id), c.id);
  if (!dir && !(await ctx.stillInContainer(pid, c.id))) {
    ctx.notes.push(`docker: ${ctx.opts.container} stopped while being checked`);
    return ctx.notRunning();
  }
  if (!dir) throw new CheckError(1, `cgroup of docker container ${c.id.slice(0, 12)} not found under ${fs.root}`);
  // A container that went away between inspect and read is "not running", as in SONiC's checker.
  const usage = await ctx.readOrGone(dir);
  if (usage === undefined) return ctx.notRunning();
  return ctx.measured(usage, 'cgroup', 'docker', { cgroup: dir, pod: isKubeContainer(c) ? c.labels['io.kubernetes.pod.name'] : undefined });
}

export const dockerSource: MemorySource = {
  name: 'docker',
  applies: () => true,
  async find(ctx) {
    const containers = await running(ctx);
    // No Docker on the node (SONiC's checker: docker not active) means nothing native to check.
    if (!containers) return ctx.notRunning();
    const viaLabels = ctx.localKube ? findKubeContainer(containers, ctx.opts.container, ctx.opts.namespace) : undefined;
    if (viaLabels) return measure(ctx, viaLabels);
    const native = findByExactName(containers, ctx.opts.container);
    if (!native) {
      ctx.notes.push(`docker: no running container named ${ctx.opts.container}`);
      return ctx.notRunning();
    }
    return measure(ctx, native);
  },
};
