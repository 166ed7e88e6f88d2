import { describe, expect, it } from 'vitest';
import { desiredFeatureState, mayMirrorConfigState, sonicTimestamp, stateDbChanges, type Observation } from '../../src/feature/state.js';
import { imageVersion, observe } from '../../src/feature/view.js';
import { shortContainerId } from '../../src/kube/ids.js';
import { unitStateOf } from '../../src/feature/unit-state.js';

const obs = (o: Partial<Observation>): Observation => ({
  running: false,
  containerId: undefined,
  podPresent: false,
  disabledByTaint: false,
  ...o,
});

describe('FEATURE state from what Kubernetes shows', () => {
  it.each([
    [
      'running',
      obs({ running: true, podPresent: true, containerId: 'abcdef012345' }),
      { state: 'enabled', container_id: 'abcdef012345', current_owner: 'local', remote_state: 'none' },
      undefined,
    ],
    [
      'running after an operator took the disable taint off: the enable reaches CONFIG_DB',
      obs({ running: true, podPresent: true, containerId: 'abc', enabledByOperator: true }),
      { state: 'enabled', container_id: 'abc' },
      'enabled',
    ],
    [
      'stopped by its unit (restart, config reload, hand stop): no CONFIG_DB write, state left alone',
      obs({ stoppedByUnit: true }),
      { container_id: '', current_owner: 'none', remote_state: 'stopped' },
      undefined,
    ],
    [
      'running on a tainted node (NoSchedule keeps it)',
      obs({ running: true, podPresent: true, containerId: 'abc', disabledByTaint: true }),
      { state: 'enabled', container_id: 'abc' },
      undefined,
    ],
    [
      'disabled by taint, pod gone',
      obs({ disabledByTaint: true }),
      { state: 'disabled', container_id: '', current_owner: 'none', remote_state: 'stopped' },
      'disabled',
    ],
    ['pod starting or crash-looping', obs({ podPresent: true }), { container_id: '', remote_state: 'pending' }, undefined],
    ['no pod, no taint (DaemonSet catching up)', obs({}), { container_id: '', remote_state: 'stopped' }, undefined],
  ] as const)('%s', (_label, o, stateDb, configState) => {
    const d = desiredFeatureState(o);
    expect(d.stateDb).toMatchObject(stateDb);
    expect(d.configState).toBe(configState);
  });

  it('never says "disabled" unless the node is tainted', () => {
    for (const running of [true, false])
      for (const podPresent of [true, false]) {
        const d = desiredFeatureState(obs({ running, podPresent, disabledByTaint: false }));
        expect(d.stateDb.state).not.toBe('disabled');
        expect(d.configState).not.toBe('disabled');
      }
  });

  it.each([
    ['enabled', 'disabled', true],
    ['disabled', 'enabled', true],
    ['enabled', 'enabled', false],
    ['always_enabled', 'disabled', false],
    ['always_disabled', 'enabled', false],
    ["{% if 'x' %}enabled{% endif %}", 'disabled', false],
    [undefined, 'enabled', false],
  ] as const)('CONFIG_DB state %j may become %s: %s', (current, next, allowed) => {
    expect(mayMirrorConfigState(current, next)).toBe(allowed);
  });

  it('writes only changed fields', () => {
    expect(
      stateDbChanges(
        { state: 'enabled', container_id: 'a', up_status: 'true' },
        { state: 'enabled', container_id: 'b', current_owner: 'local', remote_state: 'none' },
      ),
    ).toEqual({ container_id: 'b', current_owner: 'local', remote_state: 'none' });
  });

  it('formats ids and times as SONiC does', () => {
    expect(shortContainerId('containerd://4e3b1f0a9c8d7e6f5a4b')).toBe('4e3b1f0a9c8d');
    expect(sonicTimestamp(new Date(2026, 10, 27, 9, 5, 3))).toBe('2026-11-27 09:05:03');
  });

  it('observes pods: deleting pods and unready containers are not running', () => {
    const pod = (name: string, extra: object, app = 'bmp') => ({
      metadata: { name, uid: name, labels: { app } },
      status: {
        containerStatuses: [
          {
            name: 'bmp',
            ready: true,
            restartCount: 0,
            image: '',
            imageID: '',
            containerID: 'containerd://0123456789abcdef',
            state: { running: {} },
            ...extra,
          },
        ],
      },
    });
    expect(observe('bmp', [pod('a', {})], undefined)).toMatchObject({ running: true, containerId: '0123456789ab', podPresent: true });
    expect(observe('bmp', [pod('a', { ready: false })], undefined).running).toBe(false);
    expect(
      observe('bmp', [{ ...pod('a', {}), metadata: { name: 'a', labels: { app: 'bmp' }, deletionTimestamp: new Date() } }], undefined)
        .running,
    ).toBe(false);
    // The agent's view holds every feature's pods on the node: another feature's pod is not bmp's.
    expect(observe('bmp', [pod('t', {}, 'telemetry')], undefined)).toMatchObject({ running: false, podPresent: false });
    expect(observe('bmp', [], { spec: { taints: [{ key: 'bmp', value: 'disabled', effect: 'NoSchedule' }] } }).disabledByTaint).toBe(true);
    expect(observe('bmp', [], { spec: { taints: [{ key: 'bmp', value: 'disabled', effect: 'NoExecute' }] } }).disabledByTaint).toBe(false);
  });
});

describe("the native marker (a native container may run; the pod's container waits in its wrapper)", () => {
  const running = {
    metadata: { name: 'a', labels: { app: 'bmp' } },
    spec: { containers: [{ name: 'bmp', image: 'docker-sonic-bmp:1' }] },
    status: {
      containerStatuses: [
        {
          name: 'bmp',
          ready: true,
          restartCount: 0,
          image: '',
          imageID: '',
          containerID: 'containerd://0123456789abcdef',
          state: { running: {} },
        },
      ],
    },
  };
  const taint = { spec: { taints: [{ key: 'bmp', value: 'disabled', effect: 'NoSchedule' }] } };
  it.each([
    // label, pods, node, held, marked → unit state, STATE_DB remote_state, current_owner
    ['container running, no marker', [running], undefined, false, false, 'running', 'none', 'local'],
    ['container running (the wrapper) under the marker', [running], undefined, false, true, 'pending', 'pending', 'none'],
    ['under the marker and held by its unit', [running], undefined, true, true, 'disabled', 'stopped', 'none'],
    ['marker, no pod', [], undefined, false, true, 'stopped', 'stopped', 'none'],
    ['marker, pod gone, operator disable', [], taint, false, true, 'disabled', 'stopped', 'none'],
  ] as const)('%s → unit %s, remote_state %s', (_label, pods, node, held, marked, unit, remote, owner) => {
    const o = observe('bmp', pods as never, node as never, held, marked);
    expect(unitStateOf(o)).toBe(unit);
    expect(desiredFeatureState(o).stateDb).toMatchObject({ remote_state: remote, current_owner: owner });
    if (marked) expect(o.running).toBe(false);
  });
});

describe('the unit state file from what Kubernetes shows', () => {
  it.each([
    ['running', obs({ running: true, podPresent: true }), 'running'],
    ['running on a tainted node (NoSchedule keeps it)', obs({ running: true, podPresent: true, disabledByTaint: true }), 'running'],
    ['terminating on a tainted node: a disable under way', obs({ podPresent: true, disabledByTaint: true }), 'disabled'],
    ['disabled by taint, pod gone', obs({ disabledByTaint: true }), 'disabled'],
    ['pod starting or crash-looping', obs({ podPresent: true }), 'pending'],
    ['no pod, no taint', obs({}), 'stopped'],
  ] as const)('%s → %s', (_label, o, state) => {
    expect(unitStateOf(o)).toBe(state);
    // The same precedence as FEATURE's own state.
    if (state === 'disabled') expect(desiredFeatureState(o).stateDb.state).toBe('disabled');
  });
});

describe('container_version from the running image', () => {
  it.each([
    ['docker-sonic-bmp:4.1.0', '4.1.0'],
    ['registry.example:5000/sonic/docker-sonic-bmp:master.123', 'master.123'],
    ['localhost/kubesonic/feature:1', '1'],
    ['docker-sonic-bmp', 'latest'],
    ['docker-sonic-bmp@sha256:0123456789abcdef0123', '0123456789ab'],
    [undefined, undefined],
  ])('%s → %s', (image, version) => {
    expect(imageVersion(image)).toBe(version);
  });

  it('is written with the running state, and left alone otherwise', () => {
    expect(
      desiredFeatureState(obs({ running: true, podPresent: true, containerId: 'abc', containerVersion: '4.1.0' })).stateDb
        .container_version,
    ).toBe('4.1.0');
    expect(desiredFeatureState(obs({ podPresent: true })).stateDb).not.toHaveProperty('container_version');
  });
});
