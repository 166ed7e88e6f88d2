// The HTTP failure shapes a real API server will not produce on demand: timeouts, 5xx, auth
// errors, garbage. The real-cluster behaviour is covered in test/system/kube-*.test.ts.
import nock from 'nock';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { checkMemory, type CheckerSettings } from '../../src/memory/checker.js';
import { parseCheckerArgs, type CheckerOptions } from '../../src/memory/args.js';
import { CheckError } from '../../src/memory/errors.js';
import { fixture, fixtureCheckerSettings, privateFixture, readJson } from '../helpers/fixtures.js';

const API = 'http://apiserver.test:6443';
const KUBECONFIG = privateFixture('kube', 'kubeconfig-test.yaml');
const PODS = '/api/v1/namespaces/sonic/pods';
const METRICS = '/apis/metrics.k8s.io/v1beta1/namespaces/sonic/pods/bmp-q8z4d';
const CGROUP_WORKING_SET = 524288000 - 104857600; // fixtures/cgroup/v2-systemd, the bmp container

const paths: CheckerSettings = fixtureCheckerSettings();

function options(extra: string[] = [], name = 'bmp'): CheckerOptions {
  const parsed = parseCheckerArgs([name, '838860799', '--node', 'vm', '--kubeconfig', KUBECONFIG, ...extra]);
  if (parsed.kind !== 'run') throw new Error('bad test args');
  return parsed.options;
}

const podList = () => nock(API).get(PODS).query({ fieldSelector: 'spec.nodeName=vm' });

beforeAll(() => {
  nock.disableNetConnect();
  nock.enableNetConnect('localhost'); // the docker unix socket (absent here)
});
afterEach(() => {
  expect(nock.pendingMocks()).toEqual([]);
  nock.cleanAll();
});

describe('memory_checker against an API server', () => {
  it('reads the working set from metrics.k8s.io for the pod on this node, sending the token', async () => {
    podList().matchHeader('authorization', 'Bearer fixture-token').reply(200, readJson('kube', 'podlist-node-vm.json'));
    nock(API).get(METRICS).reply(200, readJson('kube', 'podmetrics-bmp.json'));
    const out = await checkMemory(options(), paths);
    expect(out).toMatchObject({ status: 'measured', usage: 838860800, source: 'metrics.k8s.io', pod: 'bmp-q8z4d' });
  });

  it.each([
    ['503', (s: nock.Interceptor) => s.reply(503, { message: 'service unavailable' })],
    ['401', (s: nock.Interceptor) => s.reply(401, { message: 'Unauthorized' })],
    ['403', (s: nock.Interceptor) => s.reply(403, { message: 'forbidden: User "system:node:vm" cannot get resource "pods"' })],
    ['404', (s: nock.Interceptor) => s.reply(404, {})],
    ['garbage', (s: nock.Interceptor) => s.reply(200, '<html>oops</html>')],
    ['wrong shape', (s: nock.Interceptor) => s.reply(200, { containers: [{ name: 'bmp', usage: { memory: 'NaN' } }] })],
    ['reset', (s: nock.Interceptor) => s.replyWithError({ code: 'ECONNRESET', message: 'socket hang up' })],
    ['no entry yet', (s: nock.Interceptor) => s.reply(200, { containers: [] })],
  ])('metrics %s → the pod cgroup, same container', async (_label, reply) => {
    podList().reply(200, readJson('kube', 'podlist-node-vm.json'));
    reply(nock(API).get(METRICS));
    const out = await checkMemory(options(), paths);
    expect(out).toMatchObject({ status: 'measured', usage: CGROUP_WORKING_SET, source: 'cgroup', via: 'kube', pod: 'bmp-q8z4d' });
  });

  it('a hanging metrics API costs no more than the time budget', async () => {
    podList().reply(200, readJson('kube', 'podlist-node-vm.json'));
    nock(API).get(METRICS).delay(5000).reply(200, readJson('kube', 'podmetrics-bmp.json'));
    const started = Date.now();
    const out = await checkMemory(options(['--timeout', '300']), paths);
    expect(Date.now() - started).toBeLessThan(1500);
    expect(out).toMatchObject({ source: 'cgroup', usage: CGROUP_WORKING_SET });
    expect(out.notes.join(' ')).toMatch(/timed out/);
  });

  it.each([
    ['503', (s: nock.Interceptor) => s.reply(503, 'x')],
    ['timeout', (s: nock.Interceptor) => s.delay(5000).reply(200, {})],
    ['garbage', (s: nock.Interceptor) => s.reply(200, '{"items": 42}')],
    ['refused', (s: nock.Interceptor) => s.replyWithError({ code: 'ECONNREFUSED', message: 'connect ECONNREFUSED' })],
  ])('pod list %s → container found in containerd state, read from its cgroup', async (_label, reply) => {
    reply(podList());
    const out = await checkMemory(options(['--timeout', '300']), paths);
    expect(out).toMatchObject({ status: 'measured', usage: CGROUP_WORKING_SET, via: 'containerd', pod: 'bmp-q8z4d' });
  });

  it('a feature with no pod on this node and no docker is not running (exit 0 path)', async () => {
    podList().reply(200, { items: [] });
    const out = await checkMemory(options(), paths);
    expect(out.status).toBe('not-running');
  });

  it('a pod whose container has not started is not running', async () => {
    podList().reply(200, readJson('kube', 'podlist-node-vm.json'));
    const out = await checkMemory(options([], 'telemetry'), paths);
    expect(out.status).toBe('not-running');
  });

  it('--source kube does not fall back', async () => {
    podList().reply(200, readJson('kube', 'podlist-node-vm.json'));
    nock(API).get(METRICS).reply(503, 'x');
    const run = checkMemory(options(['--source', 'kube']), paths);
    await expect(run).rejects.toBeInstanceOf(CheckError);
    await expect(run).rejects.toMatchObject({ exitCode: 1 });
  });

  it('--source cgroup asks the API only where the container is', async () => {
    podList().reply(200, readJson('kube', 'podlist-node-vm.json'));
    const out = await checkMemory(options(['--source', 'cgroup']), paths);
    expect(out).toMatchObject({ source: 'cgroup', usage: CGROUP_WORKING_SET });
  });

  it('a cgroup that vanishes while being read (container restarted meanwhile) is "not running", as in SONiC', async () => {
    podList().reply(200, readJson('kube', 'podlist-node-vm.json'));
    nock(API).get(METRICS).reply(503, 'x');
    const out = await checkMemory(options(), { ...paths, cgroupRoot: fixture('cgroup', 'v2-vanished') });
    expect(out.status).toBe('not-running');
    expect(out.notes.join(' ')).toMatch(/went away while being read/);
  });

  it('a cgroup that cannot be found is an internal error, not a 3', async () => {
    podList().reply(200, readJson('kube', 'podlist-node-vm.json'));
    nock(API).get(METRICS).reply(503, 'x');
    const run = checkMemory(options(), { ...paths, cgroupRoot: fixture('cgroup', 'v2-clamp') });
    await expect(run).rejects.toMatchObject({ exitCode: 1 });
  });
});
