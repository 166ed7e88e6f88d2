// A whole fake switch for the flow tests: cluster, FEATURE table, Docker and systemd wired the way
// they are on a real one. The image's <f>.service runs the native Docker container <f>; once
// kubesonic's drop-in is installed the unit is the pod's proxy instead. An invariant monitor
// records every moment the native container and the pod run together.
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { KubernetesObject } from '@kubernetes/client-node';
import { CLUSTER_RECORD } from '../../src/kube/ids.js';
import { renderAgent, renderFeature } from '../../src/manifest/render.js';
import { parseFeatureSpec, type FeatureSpec } from '../../src/manifest/spec.js';
import { recordEntry } from '../../src/migrate/cluster-side.js';
import type { FlowContext } from '../../src/migrate/context.js';
import { isHeld, isNativeMarked } from '../../src/host/hold.js';
import { HOLD_DIR, UNIT_DIR } from '../../src/sonic/paths.js';
import { dropInPath, stubDropIn } from '../../src/systemd/unit.js';
import { FakeCluster } from './cluster.js';
import { FakeDocker } from './docker.js';
import { FakeFeatureDb } from './feature-db.js';
import { FakeSystemctl } from './systemctl.js';

export const NODE = 'leaf1';

export const BMP_SPEC = `feature: bmp
image: docker-sonic-bmp:latest
command: ["/usr/local/bin/supervisord"]
mainProcess: openbmpd
resources: { requests: { memory: 200Mi, cpu: 100m }, limits: { memory: 800Mi, cpu: 500m } }
sidecar: { image: kubesonic:test }
`;

export interface FakeSwitch {
  cluster: FakeCluster;
  db: FakeFeatureDb;
  docker: FakeDocker;
  systemctl: FakeSystemctl;
  root: string;
  spec: FeatureSpec;
  lines: string[];
  /** Moments the native container and the pod ran together. */
  violations: string[];
  ctx: FlowContext;
  stubInstalled(): boolean;
}

/** What a cluster admin's `kubesonic cluster apply <f>` leaves in the cluster. */
export function clusterSideObjects(spec: FeatureSpec): KubernetesObject[] {
  return [
    ...renderFeature(spec),
    ...(spec.sync === 'agent' && spec.sidecar ? renderAgent(spec, [spec.feature]) : []),
    {
      apiVersion: 'v1',
      kind: 'ConfigMap',
      metadata: { name: CLUSTER_RECORD, namespace: spec.namespace },
      data: { [spec.feature]: recordEntry(spec) },
    } as KubernetesObject,
  ];
}

/** A switch in a cluster; the feature's cluster side applied unless `clusterSide` is false. */
export function fakeSwitch(specText = BMP_SPEC, opts: { clusterSide?: boolean } = {}): FakeSwitch {
  const spec = parseFeatureSpec(specText, 'test-spec');
  const f = spec.feature;
  const root = mkdtempSync(join(tmpdir(), 'kubesonic-switch-'));
  const cluster = new FakeCluster();
  const db = new FakeFeatureDb();
  const docker = new FakeDocker();
  const systemctl = new FakeSystemctl();
  const lines: string[] = [];
  const violations: string[] = [];
  const stubInstalled = () => {
    try {
      return readFileSync(join(root, dropInPath(f)), 'utf8') === stubDropIn(f);
    } catch {
      return false;
    }
  };
  cluster.addNode(NODE);
  if (opts.clusterSide !== false) cluster.seed(clusterSideObjects(spec));
  cluster.controllers = true;
  // The fake kubelet runs the feature's daemon only once its wrapper lets it: neither the hold nor
  // the native marker in the switch's hold directory (render.ts holdWrapped). Docker is not asked.
  cluster.gateOpen = (feature) => !isHeld(join(root, HOLD_DIR), feature) && !isNativeMarked(join(root, HOLD_DIR), feature);
  const check = () => {
    if (docker.isRunning(f) && cluster.runningPodsOf(f, NODE).length > 0)
      violations.push(`native ${f} and its pod running together (calls: ${cluster.calls.at(-1)})`);
  };
  cluster.onChange = check;
  docker.onChange = () => {
    cluster.reconcile();
    check();
  };
  // The image's unit: start/stop run the native container, unless kubesonic's stub is installed.
  systemctl.onStart = (unit) => {
    if (unit === `${f}.service` && !stubInstalled()) docker.run(f);
  };
  systemctl.onStop = (unit) => {
    if (unit === `${f}.service` && !stubInstalled()) docker.halt(f);
  };
  const ctx: FlowContext = {
    spec,
    node: NODE,
    cluster,
    db,
    docker,
    systemctl,
    root,
    unitDir: UNIT_DIR,
    timeoutMs: 2000,
    pollMs: 5,
    out: (l) => lines.push(l),
  };
  return { cluster, db, docker, systemctl, root, spec, lines, violations, ctx, stubInstalled };
}

/** A switch running its feature natively, as before any migration. */
export function nativeSwitch(specText = BMP_SPEC, opts: { clusterSide?: boolean } = {}): FakeSwitch {
  const sw = fakeSwitch(specText, opts);
  sw.systemctl.run(['start', `${sw.spec.feature}.service`]);
  return sw;
}
