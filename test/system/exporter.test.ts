// kubesonic exporter scraped by a real Prometheus, on the real cluster; the alert rule checked and
// unit-tested by the real promtool.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  applyFeature,
  clusterEnv,
  kube,
  kubeconfigFor,
  removeFeature,
  setFeatureMiB,
  testbedSpec,
  waitFeatureRunning,
} from '../helpers/cluster.js';
import { startRedis, REDIS_SOCKET, type TestRedis } from '../helpers/redis.js';
import { KUBESONIC, REPO, TEST_ROOT, run, runChecker, startDaemon, waitFor, type Daemon } from '../helpers/procs.js';

const spec = testbedSpec('bmp');
const k = kube();
const DIR = join(TEST_ROOT, 'prometheus');
const EXPORTER = '127.0.0.1:19732';
const PROM = '127.0.0.1:19090';
let redis: TestRedis;
let exporter: Daemon;
let prometheus: Daemon;

async function promQuery(q: string): Promise<{ metric: Record<string, string>; value: [number, string] }[]> {
  const res = await fetch(`http://${PROM}/api/v1/query?query=${encodeURIComponent(q)}`);
  const body = (await res.json()) as { data: { result: { metric: Record<string, string>; value: [number, string] }[] } };
  return body.data.result;
}

beforeAll(async () => {
  rmSync(DIR, { recursive: true, force: true });
  mkdirSync(DIR, { recursive: true });
  redis = await startRedis();
  await redis.db(6).del('FEATURE|bmp');
  setFeatureMiB('bmp', 64);
  await applyFeature(k, spec);
  await waitFeatureRunning(k, spec);
  const env = {
    ...process.env,
    ...clusterEnv(),
    KUBECONFIG: kubeconfigFor('checker'),
    KUBESONIC_REDIS_SOCKET: REDIS_SOCKET,
    DOCKER_HOST: 'unix:///nonexistent.sock',
  };
  exporter = startDaemon(
    'exporter',
    process.execPath,
    [KUBESONIC, 'exporter', '--listen', EXPORTER, '--feature', 'bmp=1048576', '--feature', 'telemetry'],
    { logDir: DIR, env },
  );
  await waitFor('exporter', async () => (await fetch(`http://${EXPORTER}/healthz`)).ok, 20_000);
  writeFileSync(
    join(DIR, 'prometheus.yml'),
    `global: { scrape_interval: 1s, evaluation_interval: 1s }\nrule_files: [${join(REPO, 'deploy', 'prometheus', 'kubesonic-rules.yml')}]\nscrape_configs:\n  - job_name: kubesonic\n    static_configs: [{ targets: ['${EXPORTER}'] }]\n`,
  );
  prometheus = startDaemon(
    'prometheus',
    'prometheus',
    [`--config.file=${join(DIR, 'prometheus.yml')}`, `--storage.tsdb.path=${join(DIR, 'data')}`, `--web.listen-address=${PROM}`],
    { logDir: DIR },
  );
});

afterAll(async () => {
  await prometheus?.stop();
  await exporter?.stop();
  await redis?.stop();
  await removeFeature(k, spec);
});

describe('kubesonic exporter', () => {
  it('Prometheus scrapes the same working set memory_checker reports', async () => {
    const series = await waitFor(
      'bmp series in Prometheus',
      async () => {
        const r = await promQuery('kubesonic_feature_memory_working_set_bytes{feature="bmp"}');
        return r.length ? r : undefined;
      },
      60_000,
      1000,
    );
    const scraped = Number(series[0]!.value[1]);
    const checked = JSON.parse(
      runChecker(['--json', 'bmp', '1'], { ...clusterEnv(), KUBECONFIG: kubeconfigFor('checker'), DOCKER_HOST: 'unix:///nonexistent.sock' })
        .stdout,
    ) as { usage: number };
    expect(scraped).toBeGreaterThan(50 * 1024 * 1024);
    expect(Math.abs(scraped - checked.usage) / checked.usage).toBeLessThan(0.1);
  });

  it('exports the over-threshold flag monit acts on, and who runs', async () => {
    await waitFor(
      'over-threshold',
      async () => (await promQuery('kubesonic_feature_memory_over_threshold{feature="bmp"} == 1')).length === 1,
      30_000,
      1000,
    );
    expect(await promQuery('kubesonic_feature_running{feature="telemetry"} == 0')).toHaveLength(1);
    expect(await promQuery('kubesonic_feature_memory_threshold_bytes{feature="telemetry"} == 419430400')).toHaveLength(1);
  });

  it('flags sync health: a running bmp with no STATE_DB container_id is inconsistent', async () => {
    await waitFor(
      'sync consistency series',
      async () => (await promQuery('kubesonic_feature_sync_consistent{feature="bmp"} == 0')).length === 1,
      30_000,
      1000,
    );
    await redis.db(6).hset('FEATURE|bmp', 'container_id', 'abcdef012345');
    await waitFor(
      'consistent after the write',
      async () => (await promQuery('kubesonic_feature_sync_consistent{feature="bmp"} == 1')).length === 1,
      30_000,
      1000,
    );
  });

  it('the alert rule passes promtool check and its unit test', () => {
    const check = run('promtool', ['check', 'rules', join(REPO, 'deploy', 'prometheus', 'kubesonic-rules.yml')]);
    expect(check.stdout + check.stderr).toMatch(/SUCCESS: 4 rules found/);
    const t = run('sh', ['-c', `cd ${join(REPO, 'deploy', 'prometheus')} && promtool test rules kubesonic-rules.test.yml`]);
    expect(t.code).toBe(0);
    expect(t.stdout + t.stderr).toMatch(/SUCCESS/);
  });
});
