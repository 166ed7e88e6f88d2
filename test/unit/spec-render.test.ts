import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { parseFeatureSpec, SpecError } from '../../src/manifest/spec.js';
import { renderFeature } from '../../src/manifest/render.js';

const bmp = readFileSync(new URL('../../deploy/features/bmp.yaml', import.meta.url), 'utf8');
const minimal = 'feature: bmp\nimage: docker-sonic-bmp:latest\n';

// biome-ignore lint/suspicious/noExplicitAny: rendered manifests are free-form; the tests walk them by path
type Obj = Record<string, any>;

describe('feature spec', () => {
  it('parses the shipped bmp spec as the seed describes it', () => {
    const s = parseFeatureSpec(bmp);
    expect(s).toMatchObject({
      feature: 'bmp',
      namespace: 'sonic',
      resources: { requests: { memory: '100Mi', cpu: '100m' }, limits: { memory: '800Mi', cpu: '500m' } },
      probes: {
        liveness: { exec: ['/usr/bin/pgrep', 'openbmpd'], initialDelaySeconds: 60, periodSeconds: 30 },
        readiness: { initialDelaySeconds: 30, periodSeconds: 15 },
      },
      hostNetwork: true,
      memoryThreshold: 838860800,
      sidecar: { version: 'v1' },
    });
  });

  it('defaults probes to pgrep of the main process with the seed timings', () => {
    const s = parseFeatureSpec(`${minimal}mainProcess: openbmpd\n`);
    expect(s.probes.liveness).toMatchObject({ exec: ['/usr/bin/pgrep', 'openbmpd'], initialDelaySeconds: 60, periodSeconds: 30 });
    expect(s.probes.readiness).toMatchObject({ initialDelaySeconds: 30, periodSeconds: 15 });
  });

  it.each([
    ['feature: Bmp\nimage: x\n', /feature: "Bmp" must match/],
    ['feature: a_feature_name_that_is_far_too_long_x\nimage: x\n', /must match/],
    ['feature: bmp\n', /image: required/],
    [
      `${minimal}resources: { requests: { memory: 900Mi }, limits: { memory: 800Mi } }\n`,
      /requests.memory 900Mi is above limits.memory 800Mi/,
    ],
    [`${minimal}resources: { requests: { cpu: 2 }, limits: { cpu: 500m } }\n`, /requests.cpu 2 is above limits.cpu 500m/],
    [`${minimal}resources: { limits: { memory: lots } }\n`, /limits.memory: "lots" is not a positive quantity/],
    [`${minimal}resources: { limits: { gpu: 1 } }\n`, /limits.gpu: unknown field/],
    [`${minimal}probes: { liveness: { exec: [x], tcpPort: 5 } }\n`, /exactly one of exec, httpGet, tcpPort/],
    [`${minimal}probes: { liveness: { exec: [x], periodSeconds: 0 } }\n`, /periodSeconds: must be an integer/],
    [`${minimal}mounts: [{ hostPath: etc/sonic }]\n`, /hostPath: must be an absolute path/],
    [`${minimal}mounts: [{ hostPath: /a/../etc }]\n`, /must be an absolute path without/],
    [`${minimal}mounts: [{ hostPath: /a }, { hostPath: /b, mountPath: /a }]\n`, /duplicate/],
    [`${minimal}sidecar: { image: s, version: v3 }\n`, /version: one of v0, v1, v2/],
    [`${minimal}namespace: Sonic\n`, /namespace: "Sonic" is not a DNS-1123 label/],
    [`${minimal}env: { 1BAD: x }\n`, /invalid variable name/],
    [`${minimal}colour: blue\n`, /colour: unknown field/],
    ['feature: [unclosed\n', /not YAML/],
    ['- a list\n', /must be a mapping/],
  ])('rejects %j', (text, message) => {
    expect(() => parseFeatureSpec(text)).toThrow(SpecError);
    expect(() => parseFeatureSpec(text)).toThrow(message);
  });
});

describe('render', () => {
  const objs = renderFeature(parseFeatureSpec(bmp)) as Obj[];
  const ds = objs.find((o) => o.kind === 'DaemonSet')!;
  const pod = ds.spec.template.spec;

  it('emits ServiceAccount, RBAC and the DaemonSet', () => {
    expect(objs.map((o) => o.kind)).toEqual(['ServiceAccount', 'Role', 'RoleBinding', 'ClusterRole', 'ClusterRoleBinding', 'DaemonSet']);
    expect(objs.every((o) => o.metadata.labels['app.kubernetes.io/managed-by'] === 'kubesonic')).toBe(true);
  });

  it('runs the feature container named exactly like the feature, with requests/limits and probes', () => {
    const c = pod.containers[0];
    expect(c.name).toBe('bmp');
    expect(c.resources).toEqual({ requests: { memory: '100Mi', cpu: '100m' }, limits: { memory: '800Mi', cpu: '500m' } });
    expect(c.livenessProbe).toMatchObject({
      exec: { command: ['/usr/bin/pgrep', 'openbmpd'] },
      initialDelaySeconds: 60,
      periodSeconds: 30,
    });
    expect(c.ports).toEqual([{ containerPort: 5000, name: 'bmp', protocol: 'TCP' }]);
    expect(ds.spec.selector.matchLabels).toEqual({ app: 'bmp' });
    expect(pod.hostNetwork).toBe(true);
  });

  it('gates the pod on the native container and adds the sync sidecar, and tolerates no disable taint', () => {
    expect(pod.initContainers.map((c: Obj) => c.command.slice(2, 4))).toEqual([['gate', 'bmp']]);
    const sidecar = pod.containers[1];
    expect(sidecar.name).toBe('bmp-sync');
    expect(sidecar.command.slice(2)).toEqual(['sync', 'bmp']);
    expect(sidecar.env).toContainEqual({ name: 'KUBESONIC_MIGRATION_VERSION', value: 'v1' });
    expect(pod.tolerations).toBeUndefined();
    const units = pod.volumes.find((v: Obj) => v.name === 'kubesonic-units');
    expect(units.hostPath).toEqual({ path: '/etc/systemd/system/bmp.service.d', type: 'DirectoryOrCreate' });
    expect(sidecar.securityContext).toMatchObject({
      allowPrivilegeEscalation: false,
      readOnlyRootFilesystem: true,
      capabilities: { drop: ['ALL'] },
    });
    expect(pod.hostPID).toBeUndefined();
  });

  it('without a sidecar renders no RBAC and mounts no service account token', () => {
    const plain = renderFeature(parseFeatureSpec(`${minimal}sidecar: false\n`)) as Obj[];
    expect(plain.map((o) => o.kind)).toEqual(['DaemonSet']);
    expect(plain[0]!.spec.template.spec.automountServiceAccountToken).toBe(false);
  });
});
