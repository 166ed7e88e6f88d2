import { describe, expect, it } from 'vitest';
import {
  cgroupDir,
  detectCgroupFs,
  dockerCgroupCandidates,
  expandSystemdCgroupsPath,
  findCgroupDir,
  kubeCgroupCandidates,
  memoryCgroupFromProc,
  readWorkingSet,
  statField,
  workingSetFrom,
} from '../../src/memory/cgroup.js';
import { ValueError } from '../../src/memory/errors.js';
import { DOCKER_ID, KUBE_ID, POD_UID, fixture } from '../helpers/fixtures.js';

describe('working set on fixture trees', () => {
  it.each([
    // tree, how the container is found, expected bytes (usage - inactive file)
    ['v2-systemd', 'kube', 'Burstable', 524288000 - 104857600],
    ['v2-systemd', 'docker', undefined, 900000000 - 10000000],
    ['v2-cgroupfs', 'kube', 'Guaranteed', 209715200 - 4194304],
    ['v2-cgroupfs', 'docker', undefined, 300000000],
    ['v1', 'kube', 'BestEffort', 838860801],
    ['v1', 'docker', undefined, 123456789 - 23456789],
    ['v2-clamp', 'docker', undefined, 0],
  ] as const)('%s %s container', async (tree, kind, qosClass, expected) => {
    const fs = await detectCgroupFs(fixture('cgroup', tree));
    expect(fs).toBeDefined();
    const candidates =
      kind === 'kube' ? kubeCgroupCandidates({ podUid: POD_UID, containerId: KUBE_ID, qosClass }) : dockerCgroupCandidates(DOCKER_ID);
    const dir = await findCgroupDir(fs!, candidates, kind === 'kube' ? KUBE_ID : DOCKER_ID);
    expect(dir).toBeDefined();
    expect(await readWorkingSet(fs!, dir!)).toBe(expected);
  });

  it('finds a kube container without knowing its QoS class', async () => {
    const fs = (await detectCgroupFs(fixture('cgroup', 'v1')))!;
    const dir = await findCgroupDir(fs, kubeCgroupCandidates({ podUid: POD_UID, containerId: KUBE_ID }), KUBE_ID);
    expect(dir).toContain(`besteffort/pod${POD_UID}/${KUBE_ID}`);
  });

  it('falls back to searching the kubepods tree by container id', async () => {
    const fs = (await detectCgroupFs(fixture('cgroup', 'v2-systemd')))!;
    const dir = await findCgroupDir(fs, ['nowhere/at/all'], KUBE_ID);
    expect(dir).toContain(`cri-containerd-${KUBE_ID}.scope`);
  });

  it('detects the version from the tree', async () => {
    expect((await detectCgroupFs(fixture('cgroup', 'v1')))?.version).toBe('v1');
    expect((await detectCgroupFs(fixture('cgroup', 'v2-systemd')))?.version).toBe('v2');
    expect(await detectCgroupFs(fixture('kube'))).toBeUndefined();
  });

  it.each([
    ['v2-garbage', /memory.current is not a non-negative integer/],
    ['v2-nostat', /has no inactive_file line/],
  ])('%s raises a ValueError (exit 2), not a number', async (tree, message) => {
    const fs = (await detectCgroupFs(fixture('cgroup', tree)))!;
    const dir = cgroupDir(fs, `system.slice/docker-${DOCKER_ID}.scope`);
    const read = readWorkingSet(fs, dir);
    await expect(read).rejects.toBeInstanceOf(ValueError);
    await expect(read).rejects.toThrow(message);
  });
});

describe('parsers', () => {
  it.each([
    ['v2', '1000\n', 'inactive_file 100\n', 900],
    ['v1', '1000', 'total_inactive_file 999\ninactive_file 5', 1],
    ['v1', '1000', 'inactive_file 5\ntotal_inactive_file 0', 1000],
    ['v2', '0', 'inactive_file 0', 0],
  ] as const)('%s working set of usage %j', (version, usage, stat, expected) => {
    expect(workingSetFrom(version, usage, stat, 'x')).toBe(expected);
  });

  it('does not take a prefix match for a memory.stat key', () => {
    expect(() => statField('total_inactive_file_x 5\n', 'total_inactive_file', 'x')).toThrow(ValueError);
  });

  it.each([
    ['v1', '12:memory:/docker/abc\n11:cpu,cpuacct:/docker/abc\n0::/', '/docker/abc'],
    ['v1', '9:cpuset:/x\n4:memory,hugetlb:/kubepods/pod1/c1\n', '/kubepods/pod1/c1'],
    ['v2', '0::/system.slice/docker-abc.scope\n', '/system.slice/docker-abc.scope'],
    ['v2', '1:name=systemd:/x\n', undefined],
    ['v1', 'garbage', undefined],
  ] as const)('%s /proc/pid/cgroup %j', (version, text, expected) => {
    expect(memoryCgroupFromProc(text, version)).toBe(expected);
  });

  it.each([
    [
      'kubepods-burstable-podab_cd.slice:cri-containerd:123',
      'kubepods.slice/kubepods-burstable.slice/kubepods-burstable-podab_cd.slice/cri-containerd-123.scope',
    ],
    ['kubepods-podx.slice:crio:9', 'kubepods.slice/kubepods-podx.slice/crio-9.scope'],
    ['system.slice:docker:abc', 'system.slice/docker-abc.scope'],
    ['/kubepods/pod1/abc', undefined],
    ['notaslice:docker:abc', undefined],
  ])('systemd cgroupsPath %s', (spec, expected) => {
    expect(expandSystemdCgroupsPath(spec)).toBe(expected);
  });
});
