import { describe, expect, it } from 'vitest';
import { containerWorkingSet, featurePodsFromList } from '../../src/memory/sources/kube.js';
import { matchTaskSpec, findLocalKubeContainers } from '../../src/memory/sources/containerd.js';
import { findByExactName, findKubeContainer, parseContainerList } from '../../src/host/docker.js';
import { ApiError } from '../../src/kube/http.js';
import { KUBE_ID, POD_UID, fixture, readJson } from '../helpers/fixtures.js';

describe('pods of a feature', () => {
  const list = readJson('kube', 'podlist-node-vm.json');

  it.each([
    ['bmp', ['bmp-q8z4d'], [true]],
    ['bmp_watchdog', ['bmp-watchdog-7xk2p'], [true]],
    ['telemetry', ['telemetry-5jd8w'], [false]],
    ['bm', [], []],
    ['bmp-feature', [], []],
  ])('container %s matches pods %j exactly', (name, pods, running) => {
    const found = featurePodsFromList(list, name);
    expect(found.map((p) => p.name)).toEqual(pods);
    expect(found.map((p) => p.running)).toEqual(running);
  });

  it('strips the runtime scheme from the container id', () => {
    const [pod] = featurePodsFromList(list, 'bmp');
    expect(pod).toMatchObject({ uid: POD_UID, containerId: KUBE_ID, qosClass: 'Burstable' });
  });

  it.each([null, {}, { items: 'x' }, { items: [{ spec: {} }] }, 'garbage'])('rejects a malformed list %j', (body) => {
    expect(() => featurePodsFromList(body, 'bmp')).toThrow(ApiError);
  });
});

describe('PodMetrics', () => {
  it('reads the named container only', () => {
    const m = readJson('kube', 'podmetrics-bmp.json');
    expect(containerWorkingSet(m, 'bmp')).toBe(838860800);
    expect(containerWorkingSet(m, 'bmp-feature-sidecar')).toBe(20971520);
    expect(containerWorkingSet(m, 'bm')).toBeUndefined();
  });

  it.each([
    [{ containers: [{ name: 'bmp', usage: { memory: 'lots' } }] }],
    [{ containers: [{ name: 'bmp', usage: {} }] }],
    [{ containers: 'no' }],
    [[]],
  ])('rejects %j', (body) => {
    expect(() => containerWorkingSet(body, 'bmp')).toThrow(ApiError);
  });
});

describe('containerd task state', () => {
  it('finds the container by CRI annotations, not by name prefix', async () => {
    const found = await findLocalKubeContainers(fixture('containerd'), fixture('proc'), 'bmp', 'sonic');
    expect(found).toHaveLength(1);
    expect(found[0]).toMatchObject({ id: KUBE_ID, podName: 'bmp-q8z4d', pid: 1 });
    expect(found[0]!.cgroupPath).toMatch(/^kubepods\.slice\/kubepods-burstable\.slice\/.*cri-containerd-/);
    expect(await findLocalKubeContainers(fixture('containerd'), fixture('proc'), 'bmp', 'default')).toHaveLength(0);
  });

  it('ignores sandboxes and unparseable specs', () => {
    const sandbox = JSON.stringify({
      annotations: {
        'io.kubernetes.cri.container-type': 'sandbox',
        'io.kubernetes.cri.container-name': 'bmp',
        'io.kubernetes.cri.sandbox-namespace': 'sonic',
      },
    });
    expect(matchTaskSpec('x', sandbox, 'bmp', 'sonic')).toBeUndefined();
    expect(matchTaskSpec('x', '{not json', 'bmp', 'sonic')).toBeUndefined();
  });
});

describe('docker containers', () => {
  const list = parseContainerList([
    { Id: 'w', Names: ['/bmp_watchdog'], Labels: {} },
    {
      Id: 'k',
      Names: ['/k8s_bmp_bmp-x_sonic_uid_0'],
      Labels: { 'io.kubernetes.container.name': 'bmp', 'io.kubernetes.pod.namespace': 'sonic', 'io.kubernetes.docker.type': 'container' },
    },
    { Id: 'n', Names: ['/bmp'], Labels: {} },
  ]);
  it('matches the native container by exact name', () => {
    expect(findByExactName(list, 'bmp')?.id).toBe('n');
    expect(findByExactName(list, 'bm')).toBeUndefined();
  });
  it('matches the cri-dockerd container by labels', () => {
    expect(findKubeContainer(list, 'bmp', 'sonic')?.id).toBe('k');
    expect(findKubeContainer(list, 'bmp', 'default')).toBeUndefined();
  });
});
