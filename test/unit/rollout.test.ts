// Rollout control from the spec: strategy, maxUnavailable and nodeSelector, parsed strictly (one
// line naming the field) and rendered into the feature's DaemonSet.
import { describe, expect, it } from 'vitest';
import { renderFeature } from '../../src/manifest/render.js';
import { parseFeatureSpec, SpecError } from '../../src/manifest/spec.js';

const minimal = 'feature: bmp\nimage: docker-sonic-bmp:latest\ncommand: [/usr/local/bin/supervisord]\n';

// biome-ignore lint/suspicious/noExplicitAny: rendered manifests are free-form; the tests walk them by path
type Obj = Record<string, any>;
const daemonSet = (extra: string): Obj => renderFeature(parseFeatureSpec(minimal + extra)).find((o) => o.kind === 'DaemonSet') as Obj;

describe('rollout from the spec', () => {
  it.each([
    ['', { type: 'RollingUpdate', rollingUpdate: { maxUnavailable: 1 } }],
    ['rollout: {}\n', { type: 'RollingUpdate', rollingUpdate: { maxUnavailable: 1 } }],
    ['rollout: { strategy: RollingUpdate, maxUnavailable: 5 }\n', { type: 'RollingUpdate', rollingUpdate: { maxUnavailable: 5 } }],
    ['rollout: { maxUnavailable: "10%" }\n', { type: 'RollingUpdate', rollingUpdate: { maxUnavailable: '10%' } }],
    ['rollout: { maxUnavailable: 100% }\n', { type: 'RollingUpdate', rollingUpdate: { maxUnavailable: '100%' } }],
    ['rollout: { strategy: OnDelete }\n', { type: 'OnDelete' }],
  ])('%j renders updateStrategy %j', (yaml, strategy) => {
    expect(daemonSet(yaml).spec.updateStrategy).toEqual(strategy);
  });

  it.each([
    ['rollout: OnDelete\n', 'spec.rollout: must be a mapping'],
    ['rollout: { strategy: Recreate }\n', 'spec.rollout.strategy: OnDelete or RollingUpdate'],
    ['rollout: { strategy: OnDelete, maxUnavailable: 2 }\n', 'spec.rollout.maxUnavailable: only with strategy RollingUpdate'],
    ['rollout: { maxUnavailable: 0 }\n', 'spec.rollout.maxUnavailable: a positive integer or a percent like "10%"'],
    ['rollout: { maxUnavailable: -1 }\n', 'spec.rollout.maxUnavailable: a positive integer or a percent like "10%"'],
    ['rollout: { maxUnavailable: 1.5 }\n', 'spec.rollout.maxUnavailable: a positive integer or a percent like "10%"'],
    ['rollout: { maxUnavailable: "0%" }\n', 'spec.rollout.maxUnavailable: a positive integer or a percent like "10%"'],
    ['rollout: { maxUnavailable: "101%" }\n', 'spec.rollout.maxUnavailable: a positive integer or a percent like "10%"'],
    ['rollout: { maxUnavailable: "5" }\n', 'spec.rollout.maxUnavailable: a positive integer or a percent like "10%"'],
    ['rollout: { maxSurge: 1 }\n', 'spec.rollout.maxSurge: unknown field'],
  ])('%j is refused: %s', (yaml, message) => {
    const e = (() => {
      try {
        parseFeatureSpec(minimal + yaml);
      } catch (x) {
        return x;
      }
    })();
    expect(e).toBeInstanceOf(SpecError);
    expect((e as Error).message).toBe(message);
  });
});

describe('nodeSelector from the spec', () => {
  const OPT_IN = { 'kubesonic.sonic-net.github.io/bmp': 'enabled' };

  it('renders the opt-in label alone by default: the DaemonSet selects the nodes whose switch migrated, no other', () => {
    expect(daemonSet('').spec.template.spec.nodeSelector).toEqual(OPT_IN);
  });

  it.each([
    ['nodeSelector: { kubesonic.sonic-net.github.io/canary: "true" }\n', { 'kubesonic.sonic-net.github.io/canary': 'true' }],
    // YAML reads an unquoted true as a boolean; a label value is a string.
    ['nodeSelector: { canary: true }\n', { canary: 'true' }],
    [
      'nodeSelector: { sonic.hwsku: Mellanox-SN2700, node-role.kubernetes.io/switch: "" }\n',
      { 'sonic.hwsku': 'Mellanox-SN2700', 'node-role.kubernetes.io/switch': '' },
    ],
  ])('%j renders the pod nodeSelector %j next to the opt-in label', (yaml, selector) => {
    expect(daemonSet(yaml).spec.template.spec.nodeSelector).toEqual({ ...OPT_IN, ...selector });
  });

  it.each([
    ['nodeSelector: [canary]\n', 'spec.nodeSelector: must be a mapping of node label to value'],
    ['nodeSelector: { "-bad": x }\n', 'spec.nodeSelector.-bad: not a valid label key'],
    ['nodeSelector: { "Bad.Prefix/x": y }\n', 'spec.nodeSelector.Bad.Prefix/x: not a valid label key'],
    [`nodeSelector: { ${'a'.repeat(64)}: x }\n`, `spec.nodeSelector.${'a'.repeat(64)}: not a valid label key`],
    ['nodeSelector: { canary: "has space" }\n', 'spec.nodeSelector.canary: "has space" is not a valid label value'],
    ['nodeSelector: { canary: { a: b } }\n', 'spec.nodeSelector.canary: must be a string'],
  ])('%j is refused: %s', (yaml, message) => {
    expect(() => parseFeatureSpec(minimal + yaml)).toThrow(new SpecError(message));
  });
});
