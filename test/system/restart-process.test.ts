// monit's restart action on a migrated feature whose image runs supervisord first, as SONiC's do:
// `kubesonic restart bmp --process openbmpd` runs the same `supervisorctl restart openbmpd` SONiC's
// action runs, inside the running container through the switch's container runtime (crictl exec on
// the real containerd): the process is replaced, the container and the pod are not.
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  applyFeature,
  clusterEnv,
  kube,
  podsOf,
  removeFeature,
  setFeatureMiB,
  testbedSpec,
  waitFeatureRunning,
} from '../helpers/cluster.js';
import { KUBESONIC, pidsNamed, run, testbedBin, waitFor } from '../helpers/procs.js';

const k = kube();
const spec = testbedSpec('bmp-supervisord');
const node = () => clusterEnv().NODE_NAME;

/** The switch's side: crictl on containerd's socket, no native Docker, this node. */
const kubesonic = (...args: string[]) =>
  run(process.execPath, [KUBESONIC, ...args], {
    PATH: process.env.PATH,
    NODE_NAME: node(),
    KUBESONIC_CRICTL: join(testbedBin(), 'crictl'),
    CONTAINER_RUNTIME_ENDPOINT: 'unix:///run/kubesonic-containerd/containerd.sock',
    DOCKER_HOST: 'unix:///nonexistent/docker.sock',
  });

async function container(): Promise<{ id: string; restarts: number; uid: string }> {
  const [p] = await podsOf(k, 'bmp', node());
  const cs = p?.status?.containerStatuses?.find((c) => c.name === 'bmp');
  return { id: cs?.containerID ?? '', restarts: cs?.restartCount ?? -1, uid: p?.metadata?.uid ?? '' };
}

beforeAll(async () => {
  setFeatureMiB('bmp', 16);
  await applyFeature(k, spec);
  await waitFeatureRunning(k, spec);
  await waitFor('openbmpd under supervisord', async () => pidsNamed('openbmpd').length === 1, 60_000);
}, 180_000);

afterAll(async () => {
  await removeFeature(k, spec);
}, 120_000);

describe('kubesonic restart <f> --process (monit action) on a supervisord image', () => {
  it('restarts the process inside the running container: new pid, same container, same restartCount', async () => {
    const [pid] = pidsNamed('openbmpd');
    const before = await container();
    const r = kubesonic('restart', 'bmp', '--process', 'openbmpd');
    expect(r.code, r.stdout + r.stderr).toBe(0);
    expect(r.stdout).toMatch(/^bmp: supervisorctl restart openbmpd in container [0-9a-f]{12} of pod bmp-/m);
    await waitFor('a new openbmpd', async () => pidsNamed('openbmpd').some((p) => p !== pid), 30_000);
    expect(pidsNamed('openbmpd')).toHaveLength(1);
    expect(await container()).toEqual(before);
  });

  it('a program supervisord does not know: exit 1 with one line, the container untouched', async () => {
    const before = await container();
    const r = kubesonic('restart', 'bmp', '--process', 'no-such-program');
    expect(r.code).toBe(1);
    expect(r.stderr.trim().split('\n').at(-1)).toMatch(
      /^kubesonic: supervisorctl restart no-such-program in container [0-9a-f]{12} exited \d+$/,
    );
    expect(await container()).toEqual(before);
  });
});
