// The HTTP failure shapes a real API server will not produce on demand: timeouts, 5xx, auth
// errors, garbage. The real-cluster behaviour is covered in test/system/kube-*.test.ts.
import nock from 'nock';
import { cpSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { checkMemory, type CheckerSettings } from '../../src/memory/checker.js';
import { parseCheckerArgs, type CheckerOptions } from '../../src/memory/args.js';
import { CheckError } from '../../src/memory/errors.js';
import { KUBE_ID, fixture, fixtureCheckerSettings, privateFixture, readJson } from '../helpers/fixtures.js';

const API = 'http://apiserver.test:6443';
const KUBECONFIG = privateFixture('kube', 'kubeconfig-test.yaml');
const PODS = '/api/v1/namespaces/sonic/pods';
const METRICS = '/apis/metrics.k8s.io/v1beta1/namespaces/sonic/pods/bmp-q8z4d';
const CGROUP_WORKING_SET = 524288000 - 104857600; // fixtures/cgroup/v2-systemd, the bmp container

// The pod-list path: this node is "elsewhere" and the checks name --node vm, so containerd's state
// here says nothing of vm's pods (the one-request path is the last describe's). The containerd
// source still reads the fixture's state when the API server fails.
const paths: CheckerSettings = { ...fixtureCheckerSettings(), nodeName: 'elsewhere' };

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
  const pending = nock.pendingMocks();
  nock.cleanAll();
  expect(pending).toEqual([]);
});

describe('memory_checker against an API server', () => {
  it('reads the working set from metrics.k8s.io for the pod on this node, sending the token', async () => {
    podList().matchHeader('authorization', 'Bearer fixture-token').reply(200, readJson('kube', 'podlist-node-vm.json'));
    nock(API).get(METRICS).reply(200, readJson('kube', 'podmetrics-bmp.json'));
    const out = await checkMemory(options(), paths);
    expect(out).toMatchObject({ status: 'measured', usage: 838860800, source: 'metrics.k8s.io', pod: 'bmp-q8z4d', apiRequests: 2 });
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

// The one-request path: containerd's task state on this node (fixtures/containerd: one live task of
// bmp, pod bmp-q8z4d) names the pod, and the check asks metrics.k8s.io for it alone. Each row is a
// decision: what the local state and the API server say → the requests made, in order, and the
// outcome. A request no row expects is caught (nock's "no match"), never taken for a network error.
describe('the one-request path: the pod from containerd state, then metrics.k8s.io', () => {
  const local: CheckerSettings = fixtureCheckerSettings(); // nodeName vm, as --node
  const M = (pod: string) => `/apis/metrics.k8s.io/v1beta1/namespaces/sonic/pods/${pod}`;
  const LIST = `${PODS}?fieldSelector=spec.nodeName%3Dvm`;
  const podListJson = readJson('kube', 'podlist-node-vm.json');
  /** The API server's list after the pod was replaced: bmp runs in bmp-n3w; containerd here still says bmp-q8z4d. */
  const replaced = JSON.parse(JSON.stringify(podListJson).replaceAll('bmp-q8z4d', 'bmp-n3w')) as object;
  const metricsJson = readJson('kube', 'podmetrics-bmp.json');

  /** Every request the API server saw, matched or not, in order (Docker's socket is not the API server). */
  function recorded(): string[] {
    const seen: string[] = [];
    nock.emitter.removeAllListeners('no match');
    nock.emitter.on('no match', (req: { path?: string }) => {
      if (req.path?.startsWith('/api')) seen.push(`UNEXPECTED ${req.path}`);
    });
    return seen;
  }
  function api(seen: string[], path: string): nock.Interceptor {
    const scope = nock(API);
    scope.on('request', (req: { path: string }) => seen.push(req.path));
    return scope.get(path);
  }

  /** A copy of the fixture's containerd state, changed by `edit` (task dirs under k8s.io). */
  function stateWith(edit: (tasks: string) => void): string {
    const root = mkdtempSync(join(tmpdir(), 'kubesonic-ctrd-'));
    cpSync(fixture('containerd'), root, { recursive: true });
    edit(join(root, 'io.containerd.runtime.v2.task', 'k8s.io'));
    return root;
  }

  type Reply = (i: nock.Interceptor) => nock.Scope;
  const ok =
    (body: object): Reply =>
    (i) =>
      i.reply(200, body);
  const status =
    (code: number): Reply =>
    (i) =>
      i.reply(code, { message: `status ${code}` });
  const garbage: Reply = (i) => i.reply(200, '<html>oops</html>');

  it.each<[string, [string, Reply][], Record<string, unknown>]>([
    [
      'metrics answers: one request, nothing else',
      [[M('bmp-q8z4d'), ok(metricsJson)]],
      { source: 'metrics.k8s.io', via: 'kube', pod: 'bmp-q8z4d', usage: 838860800 },
    ],
    [
      'no PodMetrics (404): the pod list, and the same pod is not asked twice',
      [
        [M('bmp-q8z4d'), status(404)],
        [LIST, ok(podListJson)],
      ],
      { source: 'cgroup', via: 'kube', pod: 'bmp-q8z4d', usage: CGROUP_WORKING_SET },
    ],
    [
      'no entry for the container yet: the pod list, then its cgroup',
      [
        [M('bmp-q8z4d'), ok({ containers: [] })],
        [LIST, ok(podListJson)],
      ],
      { source: 'cgroup', via: 'kube', pod: 'bmp-q8z4d', usage: CGROUP_WORKING_SET },
    ],
    [
      'metrics 403: the pod list, then its cgroup',
      [
        [M('bmp-q8z4d'), status(403)],
        [LIST, ok(podListJson)],
      ],
      { source: 'cgroup', via: 'kube', pod: 'bmp-q8z4d', usage: CGROUP_WORKING_SET },
    ],
    [
      'metrics 503: the pod list, then its cgroup',
      [
        [M('bmp-q8z4d'), status(503)],
        [LIST, ok(podListJson)],
      ],
      { source: 'cgroup', via: 'kube', pod: 'bmp-q8z4d', usage: CGROUP_WORKING_SET },
    ],
    [
      'metrics garbage: the pod list, then its cgroup',
      [
        [M('bmp-q8z4d'), garbage],
        [LIST, ok(podListJson)],
      ],
      { source: 'cgroup', via: 'kube', pod: 'bmp-q8z4d', usage: CGROUP_WORKING_SET },
    ],
    [
      '404 and the API names another pod: metrics of that pod',
      [
        [M('bmp-q8z4d'), status(404)],
        [LIST, ok(replaced)],
        [M('bmp-n3w'), ok(metricsJson)],
      ],
      { source: 'metrics.k8s.io', via: 'kube', pod: 'bmp-n3w', usage: 838860800 },
    ],
    [
      'metrics and pod list fail: containerd state and the cgroup',
      [
        [M('bmp-q8z4d'), status(503)],
        [LIST, status(503)],
      ],
      { source: 'cgroup', via: 'containerd', pod: 'bmp-q8z4d', usage: CGROUP_WORKING_SET },
    ],
    [
      '404 and no pod of bmp on vm: the API server has the last word',
      [
        [M('bmp-q8z4d'), status(404)],
        [LIST, ok({ items: [] })],
      ],
      { status: 'not-running' },
    ],
  ])('%s', async (_label, replies, outcome) => {
    const seen = recorded();
    for (const [path, reply] of replies) reply(api(seen, path));
    const out = await checkMemory(options(), local);
    expect(seen).toEqual(replies.map(([path]) => path));
    expect(out).toMatchObject({ ...outcome, apiRequests: replies.length });
  });

  it.each<[string, () => CheckerSettings, string[]]>([
    ['no containerd state', () => ({ ...local, containerdState: '/nonexistent/containerd' }), []],
    [
      'two live tasks of bmp (a rollout)',
      () => ({
        ...local,
        containerdState: stateWith((t) => cpSync(join(t, KUBE_ID), join(t, `${KUBE_ID.slice(0, -4)}beef`), { recursive: true })),
      }),
      [],
    ],
    [
      'a stale task (its process gone)',
      () => ({ ...local, containerdState: stateWith((t) => writeFileSync(join(t, KUBE_ID, 'init.pid'), '999999\n')) }),
      [],
    ],
    ['--node names another node', () => ({ ...local, nodeName: 'elsewhere' }), []],
  ])('%s: not conclusive, the pod list first (two requests)', async (_label, settings, extra) => {
    const seen = recorded();
    api(seen, LIST).reply(200, podListJson);
    api(seen, M('bmp-q8z4d')).reply(200, metricsJson);
    const out = await checkMemory(options(extra), settings());
    expect(seen).toEqual([LIST, M('bmp-q8z4d')]);
    expect(out).toMatchObject({ source: 'metrics.k8s.io', via: 'kube', pod: 'bmp-q8z4d', apiRequests: 2 });
  });

  it("--source cgroup: the pod list alone, never metrics (the container id is the API's)", async () => {
    const seen = recorded();
    api(seen, LIST).reply(200, podListJson);
    const out = await checkMemory(options(['--source', 'cgroup']), local);
    expect(seen).toEqual([LIST]);
    expect(out).toMatchObject({ source: 'cgroup', via: 'kube', usage: CGROUP_WORKING_SET, apiRequests: 1 });
  });

  it('--source kube: one request when metrics answers; a failure is still exit 1 after the pod list', async () => {
    const seen = recorded();
    api(seen, M('bmp-q8z4d')).reply(200, metricsJson);
    expect(await checkMemory(options(['--source', 'kube']), local)).toMatchObject({ source: 'metrics.k8s.io', apiRequests: 1 });
    api(seen, M('bmp-q8z4d')).reply(503, 'x');
    api(seen, LIST).reply(200, podListJson);
    await expect(checkMemory(options(['--source', 'kube']), local)).rejects.toMatchObject({
      exitCode: 1,
      message: /metrics\.k8s\.io: metrics: HTTP 503/,
    });
    expect(seen).toEqual([M('bmp-q8z4d'), M('bmp-q8z4d'), LIST]);
  });

  it("a hanging metrics API: within the budget, measured from containerd state (no pod list after the API's share)", async () => {
    const seen = recorded();
    api(seen, M('bmp-q8z4d')).delay(5000).reply(200, metricsJson);
    const started = Date.now();
    const out = await checkMemory(options(['--timeout', '300']), local);
    expect(Date.now() - started).toBeLessThan(1500);
    expect(out).toMatchObject({ source: 'cgroup', via: 'containerd', usage: CGROUP_WORKING_SET, apiRequests: 1 });
    expect(out.notes.join(' ')).toMatch(/timed out/);
  });
});
