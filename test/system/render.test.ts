// `kubesonic render` output against the real apiserver: server-side dry run validates and
// defaults every object (admission included) without storing anything.
import { describe, expect, it } from 'vitest';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseManifests } from '../../src/kube/client.js';
import { asCluster, kube } from '../helpers/cluster.js';
import { KUBESONIC, REPO, run } from '../helpers/procs.js';

const k = kube();

describe('kubesonic render → apiserver', () => {
  it.each(['bmp', 'telemetry'])('deploy/features/%s.yaml applies cleanly (server-side dry run)', async (feature) => {
    const r = run(process.execPath, [KUBESONIC, 'render', feature, '--spec', join(REPO, 'deploy', 'features', `${feature}.yaml`)]);
    expect(r.stderr).toBe('');
    const objs = parseManifests(r.stdout);
    const applied = await asCluster(k).apply(objs, true);
    expect(applied.map((o) => o.kind)).toEqual(objs.map((o) => o.kind));
    const ds = applied.find((o) => o.kind === 'DaemonSet') as unknown as {
      spec: { template: { spec: { containers: { name: string; resources: unknown }[] } } };
    };
    expect(ds.spec.template.spec.containers[0]).toMatchObject({ name: feature });
    // A dry run stores nothing.
    await expect(k.apps.readNamespacedDaemonSet({ name: feature, namespace: 'sonic' })).rejects.toMatchObject({ code: 404 });
  });

  it('the apiserver would also refuse what render refuses: requests above limits', async () => {
    const objs = parseManifests(
      run(process.execPath, [KUBESONIC, 'render', 'bmp', '--spec', join(REPO, 'testbed', 'features', 'bmp.yaml')]).stdout,
    );
    const ds = objs.find((o) => o.kind === 'DaemonSet') as unknown as {
      spec: { template: { spec: { containers: { resources: { requests: { memory: string } } }[] } } };
    };
    ds.spec.template.spec.containers[0]!.resources.requests.memory = '900Mi';
    await expect(asCluster(k).apply([ds as never], true)).rejects.toMatchObject({ code: 422 });
  });

  it.each([
    [
      'requests above limits',
      'feature: bmp\nimage: x\ncommand: [/x]\nresources: { requests: { memory: 1Gi }, limits: { memory: 800Mi } }\n',
      /requests.memory 1Gi is above limits.memory 800Mi/,
    ],
    ['unknown field', 'feature: bmp\nimage: x\ncommand: [/x]\nreplicas: 3\n', /replicas: unknown field/],
    ['no command (the hold wraps it)', 'feature: bmp\nimage: x\n', /command: required/],
  ])('render refuses %s with one line and exit 1', (_label, text, message) => {
    const file = join('/tmp', `kubesonic-bad-${process.pid}.yaml`);
    writeFileSync(file, text);
    const r = run(process.execPath, [KUBESONIC, 'render', 'bmp', '--spec', file]);
    expect(r.code).toBe(1);
    expect(r.stdout).toBe('');
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(r.stderr).toMatch(message);
  });
});
