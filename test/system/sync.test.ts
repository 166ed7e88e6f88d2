// FEATURE sync on the real cluster, writing a real Redis, in both shapes: the per-node agent (the
// default) and the seed's per-feature sidecar. FEATURE mirrors the pod, only owned fields change,
// state changes arrive in under a second, Redis and apiserver outages lose nothing and never produce
// a false "disabled", the unit state file follows the pod, and the host's unit follows v1/v0.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { existsSync, mkdirSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Redis } from 'ioredis';
import {
  applyFeature,
  clusterEnv,
  kube,
  podsOf,
  removeFeature,
  startComponent,
  stopComponent,
  taintDisabled,
  testbedSpec,
  waitFeatureRunning,
} from '../helpers/cluster.js';
import { startRedis, SONIC_BMP_FEATURE, type TestRedis } from '../helpers/redis.js';
import { sleep, waitUntil } from '../../src/util/wait.js';
import { findLocalKubeContainers } from '../../src/memory/sources/containerd.js';
import { stubDropIn } from '../../src/systemd/unit.js';
import { writeRecord } from '../../src/host/records.js';
import { syncServiceAccountName } from '../../src/manifest/render.js';

/** The testbed kubelet's --root-dir (testbed/cluster.sh). */
const KUBELET_ROOT = '/var/lib/kubesonic-test/k8s/kubelet';

const k = kube();
const HOST = '/var/lib/kubesonic-test/host';
const OPERATOR_DROPIN = '[Service]\nEnvironment=OPERATOR=was-here\n';
const CONFIG_SEED = { ...SONIC_BMP_FEATURE, custom_field: 'keep-me' };
let redis: TestRedis;
let config: Redis;
let state: Redis;

async function runningContainerId(): Promise<string | undefined> {
  const [pod] = await podsOf(k, 'bmp', clusterEnv().NODE_NAME);
  const cs = pod?.status?.containerStatuses?.find((c) => c.name === 'bmp');
  return cs?.state?.running && !pod?.metadata?.deletionTimestamp ? cs.containerID?.replace('containerd://', '').slice(0, 12) : undefined;
}

/** Kill the feature's main process: kubelet restarts the container under a new id. */
async function crashFeatureContainer(): Promise<string> {
  const [c] = await findLocalKubeContainers(clusterEnv().KUBESONIC_CONTAINERD_STATE, '/proc', 'bmp', 'sonic');
  if (!c?.pid) throw new Error('bmp container not found in containerd state');
  process.kill(c.pid, 'SIGKILL');
  return c.id.slice(0, 12);
}

const stateField = async (f: string) => (await state.hget('FEATURE|bmp', f)) ?? undefined;

describe.each([
  ['per-node agent', 'agent'],
  ['per-feature sidecar', 'sidecar'],
] as const)('%s', (_shape, sync) => {
  const spec = { ...testbedSpec('bmp-sync'), sync };
  const DROPIN = join(spec.host.unitDir, 'bmp.service.d', '90-kubesonic.conf');
  const UNIT_STATE = join(spec.host.runDir, 'units', 'bmp');
  const unitState = () => (existsSync(UNIT_STATE) ? readFileSync(UNIT_STATE, 'utf8').split(' ')[0] : undefined);

  beforeAll(async () => {
    rmSync(HOST, { recursive: true, force: true });
    mkdirSync(join(spec.host.unitDir, 'bmp.service.d'), { recursive: true });
    mkdirSync(spec.host.stateDir, { recursive: true });
    // What migrate writes on the switch; the agent serves the features migrated on its node.
    writeRecord(HOST, { feature: 'bmp', migratedAt: new Date().toISOString(), configStateBefore: 'enabled' });
    writeFileSync(DROPIN, OPERATOR_DROPIN); // an operator's own file where the stub goes: must be backed up
    redis = await startRedis();
    config = redis.db(4);
    state = redis.db(6);
    await config.flushall();
    await config.hset('FEATURE|bmp', CONFIG_SEED);
    await state.hset('FEATURE|bmp', { state: 'enabled', up_status: 'true' });
    await applyFeature(k, spec);
    await waitFeatureRunning(k, spec, 180_000);
    await waitUntil('FEATURE sync wrote STATE_DB', 60_000, async () =>
      (await stateField('current_owner')) === 'local' ? true : undefined,
    );
  });

  afterAll(async () => {
    await taintDisabled(k, 'bmp', false);
    await removeFeature(k, spec);
    await redis?.stop();
  });

  describe('FEATURE sync (real pod, real Redis)', () => {
    it('mirrors the running container into STATE_DB and touches no field it does not own', async () => {
      const id = await runningContainerId();
      expect(id).toMatch(/^[0-9a-f]{12}$/);
      await waitUntil('container_id', 10_000, async () => ((await stateField('container_id')) === id ? true : undefined));
      const st = await state.hgetall('FEATURE|bmp');
      expect(st).toMatchObject({
        state: 'enabled',
        current_owner: 'local',
        remote_state: 'none',
        up_status: 'true',
        container_version: '1',
      });
      expect(st.update_time).toMatch(/^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d$/);
      expect(await config.hgetall('FEATURE|bmp')).toEqual(CONFIG_SEED);
      expect(unitState()).toBe('running');
    });

    it('the feature pod carries only the feature (agent) or the feature and its sidecar (seed shape)', async () => {
      const [pod] = await podsOf(k, 'bmp', clusterEnv().NODE_NAME);
      expect(pod?.spec?.containers.map((c) => c.name)).toEqual(sync === 'agent' ? ['bmp'] : ['bmp', 'bmp-sync']);
      // No automount in either shape: the feature container gets no token.
      expect(pod?.spec?.automountServiceAccountToken).toBe(false);
      const secrets = (c: string) =>
        (pod?.spec?.containers.find((x) => x.name === c)?.volumeMounts ?? []).filter((m) => m.mountPath.startsWith('/var/run/secrets'));
      expect(secrets('bmp')).toEqual([]);
      if (sync === 'sidecar') {
        // The sync container's own token, as the real kubelet wrote it: an hour long, for the API server.
        expect(secrets('bmp-sync').map((m) => m.name)).toEqual(['kubesonic-sync-token']);
        const dir = join(KUBELET_ROOT, 'pods', pod!.metadata!.uid!, 'volumes', 'kubernetes.io~projected', 'kubesonic-sync-token');
        const claims = JSON.parse(Buffer.from(readFileSync(join(dir, 'token'), 'utf8').split('.')[1]!, 'base64url').toString()) as {
          aud: string[];
          exp: number;
          iat: number;
          sub: string;
        };
        expect(claims.exp - claims.iat).toBe(3600);
        expect(claims.aud).toEqual(['https://kubernetes.default.svc']);
        expect(claims.sub).toBe(`system:serviceaccount:sonic:${syncServiceAccountName(spec)}`);
      }
      // Neither shape reaches Docker from the pod: no init container, no socket, no DOCKER_HOST.
      expect(pod?.spec?.initContainers).toBeUndefined();
      expect(JSON.stringify(pod?.spec?.volumes)).not.toMatch(/docker/);
      expect(pod?.spec?.containers.flatMap((c) => c.env ?? []).map((e) => e.name)).not.toContain('DOCKER_HOST');
    });

    it('v1: installs the unit drop-in on the host, backs up the file it replaced, requests a daemon-reload', () => {
      expect(readFileSync(DROPIN, 'utf8')).toBe(stubDropIn('bmp'));
      const backups = readdirSync(join(spec.host.stateDir, 'backup'));
      expect(backups.some((b) => readFileSync(join(spec.host.stateDir, 'backup', b), 'utf8') === OPERATOR_DROPIN)).toBe(true);
      expect(existsSync(join(spec.host.stateDir, 'reload-request'))).toBe(true);
      // Its pod only mounts bmp.service.d: nothing else in the unit directory is reachable or written.
      expect(readdirSync(spec.host.unitDir)).toEqual(['bmp.service.d']);
    });

    it('a container restart reaches STATE_DB in under a second after the API shows it', async () => {
      const old = await crashFeatureContainer();
      let apiAt = 0;
      let redisAt = 0;
      let newId: string | undefined;
      await waitUntil(
        'new container in API and Redis',
        60_000,
        async () => {
          const now = Date.now();
          if (!apiAt) {
            const id = await runningContainerId();
            if (id && id !== old) {
              apiAt = now;
              newId = id;
            }
          }
          if (newId && !redisAt && (await stateField('container_id')) === newId) redisAt = Date.now();
          return apiAt && redisAt ? true : undefined;
        },
        20,
      );
      expect(redisAt - apiAt).toBeLessThan(1000);
    });

    it('Redis down mid-run: the change made meanwhile is written once Redis is back', async () => {
      await redis.daemon.stop();
      const old = await crashFeatureContainer();
      const newId = await waitUntil('restarted container', 60_000, async () => {
        const id = await runningContainerId();
        return id && id !== old ? id : undefined;
      });
      await sleep(2000);
      await redis.restart();
      await waitUntil('STATE_DB catches up', 30_000, async () =>
        (await stateField('container_id').catch(() => undefined)) === newId ? true : undefined,
      );
      expect(await config.hgetall('FEATURE|bmp')).toEqual(CONFIG_SEED);
      expect(await stateField('up_status')).toBe('true');
    });

    it('Redis restarted empty (no persistence): STATE_DB FEATURE complete again within 5 s, no pod or taint event needed', async () => {
      await waitUntil('settled', 10_000, async () => ((await stateField('current_owner')) === 'local' ? true : undefined));
      const before = await state.hgetall('FEATURE|bmp');
      await state.flushdb();
      const emptiedAt = Date.now();
      await waitUntil(
        'STATE_DB restored',
        10_000,
        async () => ((await stateField('container_id')) === before.container_id ? true : undefined),
        100,
      );
      expect(Date.now() - emptiedAt).toBeLessThan(5_500);
      expect(await state.hgetall('FEATURE|bmp')).toMatchObject({ state: 'enabled', current_owner: 'local', remote_state: 'none' });
      expect(await config.hgetall('FEATURE|bmp')).toEqual(CONFIG_SEED);
      // What kubesonic does not own is not its to restore.
      await state.hset('FEATURE|bmp', 'up_status', 'true');
    });

    it('apiserver down: the last known state stays (no "disabled", no empty id), and catches up after', async () => {
      const before = await stateField('container_id');
      stopComponent('kube-apiserver');
      try {
        await crashFeatureContainer();
        await sleep(6000);
        expect(await stateField('state')).toBe('enabled');
        expect(await stateField('container_id')).toBe(before);
        expect(await config.hget('FEATURE|bmp', 'state')).toBe('enabled');
      } finally {
        startComponent('kube-apiserver');
      }
      const now = await waitUntil('container running after outage', 90_000, async () => {
        const id = await runningContainerId();
        return id && id !== before ? id : undefined;
      });
      await waitUntil('STATE_DB catches up after the outage', 60_000, async () =>
        (await stateField('container_id')) === now ? true : undefined,
      );
    });

    it('disable by taint: FEATURE says disabled in both DBs once the pod is gone; untaint: enabled again', async () => {
      const node = clusterEnv().NODE_NAME;
      await taintDisabled(k, 'bmp', true);
      for (const p of await podsOf(k, 'bmp', node)) await k.core.deleteNamespacedPod({ name: p.metadata!.name!, namespace: 'sonic' });
      await waitUntil('pod gone', 90_000, async () => ((await podsOf(k, 'bmp', node)).length === 0 ? true : undefined));
      expect(await config.hgetall('FEATURE|bmp')).toEqual({ ...CONFIG_SEED, state: 'disabled' });
      await waitUntil('unit state disabled', 10_000, async () => (unitState() === 'disabled' ? true : undefined));
      expect(await state.hgetall('FEATURE|bmp')).toMatchObject({
        state: 'disabled',
        container_id: '',
        current_owner: 'none',
        remote_state: 'stopped',
        up_status: 'true',
      });
      await taintDisabled(k, 'bmp', false);
      await waitFeatureRunning(k, spec, 120_000);
      await waitUntil('CONFIG_DB enabled again', 60_000, async () =>
        (await config.hget('FEATURE|bmp', 'state')) === 'enabled' ? true : undefined,
      );
      expect(await config.hgetall('FEATURE|bmp')).toEqual(CONFIG_SEED);
      expect(await stateField('current_owner')).toBe('local');
    });

    it('v0: the unit is given back (drop-in removed)', async () => {
      await applyFeature(k, { ...spec, sidecar: { ...spec.sidecar!, version: 'v0' } });
      await waitUntil('drop-in removed', 120_000, async () => (!existsSync(DROPIN) ? true : undefined), 1000);
    });
  });
});
