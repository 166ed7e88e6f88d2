import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { parseFeatureSpec, SpecError } from '../../src/manifest/spec.js';
import { agentFeatures, renderAgent, renderFeature } from '../../src/manifest/render.js';

const bmp = readFileSync(new URL('../../deploy/features/bmp.yaml', import.meta.url), 'utf8');
const minimal = 'feature: bmp\nimage: docker-sonic-bmp:latest\ncommand: [/usr/local/bin/supervisord]\n';

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
    ['feature: bmp\nimage: x\n', /command: required \(the image's entrypoint/],
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

describe('render, per-node agent shape (the default)', () => {
  const objs = renderFeature(parseFeatureSpec(bmp)) as Obj[];
  const ds = objs.find((o) => o.kind === 'DaemonSet')!;
  const pod = ds.spec.template.spec;

  it('emits the DaemonSet only: no sidecar, no RBAC, no token in the feature pod', () => {
    expect(objs.map((o) => o.kind)).toEqual(['DaemonSet']);
    expect(objs.every((o) => o.metadata.labels['app.kubernetes.io/managed-by'] === 'kubesonic')).toBe(true);
    expect(pod.containers.map((c: Obj) => c.name)).toEqual(['bmp']);
    expect(pod.automountServiceAccountToken).toBe(false);
    expect(pod.serviceAccountName).toBeUndefined();
  });

  it('labels the pod for the agent and says which version the host side follows', () => {
    expect(ds.spec.template.metadata.labels).toMatchObject({ app: 'bmp', 'kubesonic.sonic-net.github.io/role': 'feature' });
    expect(ds.spec.template.metadata.annotations).toEqual({ 'kubesonic.sonic-net.github.io/migration-version': 'v1' });
  });

  it('runs the feature container named exactly like the feature, with requests/limits and probes', () => {
    const c = pod.containers[0];
    expect(c.name).toBe('bmp');
    expect(c.resources).toEqual({ requests: { memory: '100Mi', cpu: '100m' }, limits: { memory: '800Mi', cpu: '500m' } });
    // A held (or natively marked) feature is stopped, not broken: the liveness probe passes while
    // its hold file or its native marker exists.
    expect(c.livenessProbe).toMatchObject({
      exec: {
        command: [
          '/bin/sh',
          '-c',
          '[ -e "$0" ] || [ -e "$0.native" ] || exec "$@"',
          '/run/kubesonic-hold/bmp',
          '/usr/bin/pgrep',
          'openbmpd',
        ],
      },
      initialDelaySeconds: 60,
      periodSeconds: 30,
    });
    expect(c.readinessProbe.exec.command).toEqual(['/usr/bin/pgrep', 'openbmpd']);
    expect(c.ports).toEqual([{ containerPort: 5000, name: 'bmp', protocol: 'TCP' }]);
    expect(ds.spec.selector.matchLabels).toEqual({ app: 'bmp' });
    expect(pod.hostNetwork).toBe(true);
  });

  it("wraps the feature's command in the host-side hold, mounted read-only", () => {
    const c = pod.containers[0];
    expect(c.command.slice(0, 2)).toEqual(['/bin/sh', '-c']);
    expect(c.command.slice(3)).toEqual(['bmp', '/usr/local/bin/supervisord']);
    expect(c.volumeMounts).toContainEqual({ name: 'kubesonic-hold', mountPath: '/run/kubesonic-hold', readOnly: true });
    expect(pod.volumes).toContainEqual({
      name: 'kubesonic-hold',
      hostPath: { path: '/etc/sonic/kubesonic/hold', type: 'DirectoryOrCreate' },
    });
  });

  it('no init container: the wrapper waits on the native marker (host-side file); tolerates no disable taint', () => {
    expect(pod.initContainers).toBeUndefined();
    expect(pod.containers[0].command[2]).toContain('n=$h.native');
    expect(pod.tolerations).toBeUndefined();
    expect(pod.hostPID).toBeUndefined();
  });

  // Issue #9: the Docker socket is root on the host; no container of the feature pod may reach it
  // (nor containerd's), whatever the spec's host block says.
  it.each([
    ['the default host block', bmp],
    ['an explicit Docker socket', `${bmp}host: { dockerSocket: /run/docker.sock }\n`],
    ['no sidecar block', `${minimal}sidecar: false\n`],
    ["the seed's sidecar shape", `${bmp}sync: sidecar\n`],
    ["the seed's sidecar shape, an explicit Docker socket", `${bmp}sync: sidecar\nhost: { dockerSocket: /run/docker.sock }\n`],
  ])(
    "no container or init container mounts a Docker/containerd socket; the only Socket hostPath is the syncer's syslog (%s)",
    (_, text) => {
      const ds = (renderFeature(parseFeatureSpec(text)) as Obj[]).find((o) => o.kind === 'DaemonSet')!;
      const spec = ds.spec.template.spec;
      const sockets = new Set(
        (spec.volumes as Obj[])
          .filter(
            (v) =>
              v.hostPath &&
              (/(docker|containerd)\.sock$/.test(v.hostPath.path) || (v.hostPath.type === 'Socket' && v.hostPath.path !== '/dev/log')),
          )
          .map((v) => v.name),
      );
      const mounted = [...(spec.containers as Obj[]), ...((spec.initContainers as Obj[] | undefined) ?? [])].flatMap((c) =>
        ((c.volumeMounts as Obj[] | undefined) ?? []).filter((m) => sockets.has(m.name)).map((m) => `${c.name}: ${m.mountPath}`),
      );
      expect(mounted).toEqual([]);
      expect([...sockets]).toEqual([]);
    },
  );

  it('without a sidecar block renders the plain DaemonSet', () => {
    const plain = renderFeature(parseFeatureSpec(`${minimal}sidecar: false\n`)) as Obj[];
    expect(plain.map((o) => o.kind)).toEqual(['DaemonSet']);
    expect(plain[0]!.spec.template.spec.automountServiceAccountToken).toBe(false);
    expect(plain[0]!.spec.template.spec.initContainers).toBeUndefined();
  });
});

describe('render, the node agent', () => {
  const spec = parseFeatureSpec(bmp);
  const objs = renderAgent(spec, ['telemetry', 'bmp', 'bmp']) as Obj[];
  const ds = objs.find((o) => o.kind === 'DaemonSet')!;
  const pod = ds.spec.template.spec;
  const agent = pod.containers[0];

  it('one DaemonSet with read-only RBAC: pods in the namespace, nodes', () => {
    expect(objs.map((o) => `${o.kind}/${o.metadata.name}`)).toEqual([
      'ServiceAccount/kubesonic-agent',
      'Role/kubesonic-agent',
      'RoleBinding/kubesonic-agent',
      'ClusterRole/kubesonic:sonic:kubesonic-agent',
      'ClusterRoleBinding/kubesonic:sonic:kubesonic-agent',
      'DaemonSet/kubesonic-agent',
    ]);
    const verbs = objs.filter((o) => o.kind === 'Role' || o.kind === 'ClusterRole').flatMap((o) => o.rules.flatMap((r: Obj) => r.verbs));
    expect(new Set(verbs)).toEqual(new Set(['get', 'list', 'watch']));
  });

  it('runs the lean agent bundle for the features, sorted and once each', () => {
    expect(agent.command).toEqual([
      'node',
      '/opt/kubesonic/kubesonic-agent.mjs',
      '--feature',
      'bmp',
      '--feature',
      'telemetry',
      '--unit-state-dir',
      '/run/kubesonic/units',
    ]);
    expect(agentFeatures(ds)).toEqual(['bmp', 'telemetry']);
  });

  it('tolerates every taint (it must see a disabled feature to say so) and mounts only the served drop-in directories', () => {
    expect(pod.tolerations).toEqual([{ operator: 'Exists' }]);
    const units = pod.volumes.filter((v: Obj) => v.name.startsWith('kubesonic-units-')).map((v: Obj) => v.hostPath.path);
    expect(units).toEqual(['/etc/systemd/system/bmp.service.d', '/etc/systemd/system/telemetry.service.d']);
    expect(pod.volumes.some((v: Obj) => v.hostPath?.path === '/var/run/docker.sock')).toBe(false);
    expect(agent.securityContext).toMatchObject({
      allowPrivilegeEscalation: false,
      readOnlyRootFilesystem: true,
      capabilities: { drop: ['ALL'] },
    });
  });

  it('needs the sidecar block for its image', () => {
    expect(() => renderAgent(parseFeatureSpec(`${minimal}sidecar: false\n`), ['bmp'])).toThrow(/needs the spec's sidecar block/);
  });

  it("mounts the switch's syslog socket at /dev/log (OOM-kill lines), another path, or none", () => {
    const syslogOf = (text: string) => {
      const p = (renderAgent(parseFeatureSpec(text), ['bmp']) as Obj[]).find((o) => o.kind === 'DaemonSet')!.spec.template.spec;
      return {
        volume: p.volumes.find((v: Obj) => v.name === 'kubesonic-syslog')?.hostPath,
        mount: p.containers[0].volumeMounts.find((m: Obj) => m.name === 'kubesonic-syslog')?.mountPath,
      };
    };
    expect(syslogOf(bmp)).toEqual({ volume: { path: '/dev/log', type: 'Socket' }, mount: '/dev/log' });
    expect(syslogOf(`${bmp}host: { syslogSocket: /run/x/dev-log }\n`)).toEqual({
      volume: { path: '/run/x/dev-log', type: 'Socket' },
      mount: '/dev/log',
    });
    expect(syslogOf(`${bmp}host: { syslogSocket: false }\n`)).toEqual({ volume: undefined, mount: undefined });
  });
});

describe("render, the seed's per-feature sidecar shape", () => {
  const objs = renderFeature(parseFeatureSpec(`${bmp}sync: sidecar\n`)) as Obj[];
  const ds = objs.find((o) => o.kind === 'DaemonSet')!;
  const pod = ds.spec.template.spec;

  it('emits ServiceAccount, RBAC and the DaemonSet with the sync sidecar', () => {
    expect(objs.map((o) => o.kind)).toEqual(['ServiceAccount', 'Role', 'RoleBinding', 'ClusterRole', 'ClusterRoleBinding', 'DaemonSet']);
    const sidecar = pod.containers[1];
    expect(sidecar.name).toBe('bmp-sync');
    expect(sidecar.command).toEqual([
      'node',
      '/opt/kubesonic/kubesonic-agent.mjs',
      '--only',
      'bmp',
      '--unit-state-dir',
      '/run/kubesonic/units',
    ]);
    expect(sidecar.env).toContainEqual({ name: 'KUBESONIC_MIGRATION_VERSION', value: 'v1' });
    const units = pod.volumes.find((v: Obj) => v.name === 'kubesonic-units-0');
    expect(units.hostPath).toEqual({ path: '/etc/systemd/system/bmp.service.d', type: 'DirectoryOrCreate' });
    expect(sidecar.securityContext).toMatchObject({
      allowPrivilegeEscalation: false,
      readOnlyRootFilesystem: true,
      capabilities: { drop: ['ALL'] },
    });
    // The token is the sync container's alone: no automount (it would reach the feature container).
    expect(pod.automountServiceAccountToken).toBe(false);
    const token = pod.volumes.find((v: Obj) => v.name === 'kubesonic-sync-token');
    expect(token.projected.sources[0]).toEqual({ serviceAccountToken: { path: 'token', expirationSeconds: 3600 } });
    expect(sidecar.volumeMounts).toContainEqual({
      name: 'kubesonic-sync-token',
      mountPath: '/var/run/secrets/kubernetes.io/serviceaccount',
      readOnly: true,
    });
    expect(pod.containers[0].volumeMounts.map((m: Obj) => m.name)).not.toContain('kubesonic-sync-token');
  });

  it('no container of the pod mounts Docker or has DOCKER_HOST, and the pod has no init container (the host side does the Docker work)', () => {
    expect(pod.initContainers).toBeUndefined();
    expect(JSON.stringify(pod.volumes)).not.toMatch(/docker/);
    for (const c of pod.containers) {
      expect((c.env ?? []).map((e: Obj) => e.name)).not.toContain('DOCKER_HOST');
      expect(JSON.stringify(c.volumeMounts)).not.toMatch(/docker/);
    }
  });
});
