// SONiC's signals on real parts: the test switch's own syslog (journald forwarding to Debian's
// rsyslog, inside the switch's systemd), the real kubelet OOM-killing the feature container at its
// memory limit, real Redis. memory_checker over the threshold leaves SONiC's line in rsyslog's
// output; each OOM kill gives one syslog line from the node agent (through its /dev/log hostPath),
// STATE_DB FEATURE|bmp oom_kill_count, and the exporter's counter — once, also across a restart of
// the agent.
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { V1Pod } from '@kubernetes/client-node';
import type { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MemoryExporter } from '../../src/exporter/exporter.js';
import { redisFeatureDb } from '../../src/feature/redis-db.js';
import { podContainerRunning } from '../../src/kube/cluster.js';
import {
  clusterEnv,
  clusterSide,
  removeClusterSide,
  installSwitchKubeconfig,
  kube,
  kubeconfigFor,
  podsOf,
  removeFeature,
  setFeatureMiB,
  testbedSpec,
} from '../helpers/cluster.js';
import { startRedis, SONIC_BMP_FEATURE, REDIS_SOCKET, type TestRedis } from '../helpers/redis.js';
import { onSwitch, onSwitchAsync, systemctl, systemdDown, systemdRoot, systemdUp } from '../helpers/systemd.js';
import { sleep } from '../../src/util/wait.js';
import { REPO, waitFor } from '../helpers/procs.js';

const k = kube();
const SPEC = join(REPO, 'testbed', 'features', 'bmp-signals.yaml');
const LOG = '/var/log/kubesonic-test.log';
let redis: TestRedis;
let state: Redis;
let root: string;
let env: Record<string, string>;

/** rsyslog's output in the switch, one line per message: "<facility>.<SEVERITY> <program>: <message>". */
const syslogLines = (): string[] => (existsSync(join(root, LOG)) ? readFileSync(join(root, LOG), 'utf8').split('\n').filter(Boolean) : []);
const agentLines = () => syslogLines().filter((l) => l.startsWith('user.ERR kubesonic-agent: '));
const bmpPod = async (): Promise<V1Pod | undefined> => (await podsOf(k, 'bmp', clusterEnv().NODE_NAME))[0];
const bmpStatus = async () => (await bmpPod())?.status?.containerStatuses?.find((c) => c.name === 'bmp');

beforeAll(async () => {
  // A bmp DaemonSet an earlier file left behind (another spec, another memory limit) would be the pod
  // this file measures: start from none.
  await removeFeature(k, testbedSpec('bmp-signals'));
  redis = await startRedis();
  state = redis.db(6);
  await redis.db(4).flushall();
  await redis.db(4).hset('FEATURE|bmp', SONIC_BMP_FEATURE);
  systemdUp();
  root = systemdRoot();
  // The switch's syslog as on a Debian-based SONiC: /dev/log is journald's, journald forwards to
  // rsyslog (Debian's package, installed on the host by scripts/setup.sh, so in the switch's root).
  // A file of our own with the facility, severity and program of each message.
  mkdirSync(join(root, 'etc/systemd/journald.conf.d'), { recursive: true });
  writeFileSync(join(root, 'etc/systemd/journald.conf.d/kubesonic-test.conf'), '[Journal]\nForwardToSyslog=yes\nStorage=volatile\n');
  mkdirSync(join(root, 'etc/rsyslog.d'), { recursive: true });
  writeFileSync(
    join(root, 'etc/rsyslog.d/10-kubesonic-test.conf'),
    'template(name="KubesonicTest" type="string" string="%syslogfacility-text%.%syslogseverity-text:::uppercase% %programname%:%msg:::sp-if-no-1st-sp%%msg:::drop-last-lf%\\n")\n' +
      `*.* action(type="omfile" file="${LOG}" template="KubesonicTest")\n`,
  );
  const started = systemctl('start', 'systemd-journald.socket', 'systemd-journald-dev-log.socket', 'rsyslog.service');
  expect(started.code, started.stderr).toBe(0);
  await installSwitchKubeconfig(root);
  clusterSide('apply', 'bmp', SPEC);
  env = { KUBECONFIG: '/etc/sonic/kubesonic/kubeconfig', KUBESONIC_REDIS_SOCKET: REDIS_SOCKET, NODE_NAME: clusterEnv().NODE_NAME };
  setFeatureMiB('bmp', 8);
  const migrated = await onSwitchAsync(['kubesonic', 'migrate', 'bmp', '--spec', SPEC], env);
  expect(migrated.code, migrated.stderr).toBe(0);
  // The node agent's pod may have to wait for the previous file's agent to finish terminating
  // (30 s grace) before it starts: give it that, and say what was there if it still fails.
  try {
    await waitFor('STATE_DB mirrors the pod', async () => (await state.hget('FEATURE|bmp', 'current_owner')) === 'local', 150_000);
  } catch (e) {
    const pods = (await k.core.listNamespacedPod({ namespace: 'sonic' })).items.map((p) => {
      const owner = p.metadata?.ownerReferences?.find((o) => o.controller);
      const ready = p.status?.conditions?.find((c) => c.type === 'Ready')?.status;
      return `${p.metadata?.name} ${p.status?.phase} ready=${ready} owner=${owner ? `${owner.name}/${owner.uid}` : 'none'}${p.metadata?.deletionTimestamp ? ' (terminating)' : ''}`;
    });
    const sets = (await k.apps.listNamespacedDaemonSet({ namespace: 'sonic' })).items.map((d) => `${d.metadata?.name}/${d.metadata?.uid}`);
    pods.push(`daemonsets: ${sets.join(', ')}`);
    throw new Error(
      `${(e as Error).message}; pods in sonic: ${pods.join(', ')}; STATE_DB: ${JSON.stringify(await state.hgetall('FEATURE|bmp'))}; unit state: ${onSwitch(['cat', '/run/kubesonic/units/bmp']).stdout.trim()}`,
    );
  }
}, 300_000);

afterAll(async () => {
  // The native unit cannot come back without Docker: rollback ends at its `native` step, after the
  // DaemonSet, the agent and the drop-in are gone, which is all this test needs undone.
  if (env) await onSwitchAsync(['kubesonic', 'rollback', 'bmp', '--spec', SPEC], env);
  removeClusterSide('bmp', SPEC);
  try {
    systemdDown();
  } finally {
    await redis?.stop();
  }
}, 180_000);

describe("SONiC's signals on the switch's syslog", () => {
  it("memory_checker over the threshold: SONiC's usage line, INFO, tag memory_checker, in rsyslog; below it nothing", async () => {
    const over = onSwitch(['memory_checker', 'bmp', '1'], env);
    expect(over.code, over.stderr).toBe(3);
    const usage = /^\[bmp\]: Memory usage \((\d+) Bytes\) is larger than the threshold \(1 Bytes\)!$/.exec(over.stdout.trim())?.[1];
    expect(usage).toBeDefined();
    const line = `user.INFO memory_checker: [memory_checker] Total memory usage of container 'bmp' is '${usage}' Bytes!`;
    await waitFor("SONiC's line in rsyslog's file", async () => syslogLines().includes(line), 15_000);

    const under = onSwitch(['memory_checker', 'bmp', String(1 << 30)], env);
    expect(under.code, under.stderr).toBe(0);
    await sleep(1500);
    expect(syslogLines().filter((l) => l.includes('memory_checker:'))).toEqual([line]);
  });

  it('an OOM kill by the kubelet: one syslog line, STATE_DB oom_kill_count, the exporter counter; once, also after the agent restarts', async () => {
    expect((await bmpStatus())?.restartCount).toBe(0);
    expect(await state.hget('FEATURE|bmp', 'oom_kill_count')).toBeNull();
    setFeatureMiB('bmp', 200); // past the 48Mi limit: the kernel kills memhog, the kubelet restarts it
    await waitFor('OOMKilled in the pod status', async () => (await bmpStatus())?.lastState?.terminated?.reason === 'OOMKilled', 60_000);
    setFeatureMiB('bmp', 8);
    // A container the kubelet restarted before the control file said 8 may be killed again: wait
    // until bmp has run with the same restart count for 5 s, past any such kill.
    let seen = { restarts: -1, since: 0 };
    const status = await waitFor(
      'bmp running, no more kills',
      async () => {
        const pod = await bmpPod();
        const cs = await bmpStatus();
        if (!pod || !cs || !podContainerRunning(pod, 'bmp')) return undefined;
        if (cs.restartCount !== seen.restarts) seen = { restarts: cs.restartCount, since: Date.now() };
        return Date.now() - seen.since >= 5000 ? cs : undefined;
      },
      180_000,
      500,
    );
    // Every restart here is an OOM kill (the control file asked for more than the limit until then).
    const kills = status.restartCount;
    expect(kills).toBeGreaterThanOrEqual(1);
    const killedId = status.lastState?.terminated?.containerID?.replace(/^[a-z]+:\/\//, '').slice(0, 12);
    await waitFor('STATE_DB counted every kill', async () => (await state.hget('FEATURE|bmp', 'oom_kill_count')) === String(kills), 30_000);
    expect(await state.hgetall('FEATURE|bmp')).toMatchObject({ last_oom_kill_id: killedId, current_owner: 'local' });
    expect((await state.hget('FEATURE|bmp', 'last_oom_kill_time')) ?? '').toMatch(/^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d$/);
    await waitFor('one syslog line per kill', async () => agentLines().length === kills, 15_000);
    expect(agentLines().at(-1)).toBe(
      `user.ERR kubesonic-agent: Container 'bmp' was OOM-killed (pod ${(await bmpPod())!.metadata!.name}, container ${killedId}, memory limit 48Mi); ${kills} OOM kill(s) of bmp on this node`,
    );

    const db = redisFeatureDb({ path: REDIS_SOCKET }, { queueWhileOffline: true, maxRetriesPerRequest: 1 });
    try {
      const exporter = new MemoryExporter({
        features: [{ feature: 'bmp', threshold: 1 }],
        namespace: 'sonic',
        node: clusterEnv().NODE_NAME,
        kubeconfig: kubeconfigFor('checker'),
        timeoutMs: 5000,
        cacheMs: 0,
        settings: {
          cgroupRoot: '/sys/fs/cgroup',
          procRoot: '/proc',
          containerdState: '/run/containerd',
          dockerSocket: '/nonexistent',
          api: { inCluster: undefined, kubeconfigs: [] },
          nodeName: clusterEnv().NODE_NAME,
        },
        db,
      });
      await exporter.collect();
      expect(await exporter.registry.getSingleMetricAsString('kubesonic_feature_oom_kills_total')).toContain(
        `kubesonic_feature_oom_kills_total{feature="bmp"} ${kills}`,
      );
    } finally {
      db.close();
    }

    // The agent restarts (its pod replaced): the same kill, seen again in the pod status, is not counted again.
    const agents = await k.core.listNamespacedPod({ namespace: 'sonic', labelSelector: 'app=kubesonic-agent' });
    const old = agents.items[0]!.metadata!.name!;
    await k.core.deleteNamespacedPod({ name: old, namespace: 'sonic' });
    await waitFor(
      'a new agent, ready',
      async () => {
        const now = await k.core.listNamespacedPod({ namespace: 'sonic', labelSelector: 'app=kubesonic-agent' });
        return now.items.some((p) => p.metadata?.name !== old && p.status?.containerStatuses?.[0]?.ready);
      },
      120_000,
    );
    await sleep(3000);
    expect(await state.hget('FEATURE|bmp', 'oom_kill_count')).toBe(String(kills));
    expect(agentLines()).toHaveLength(kills);
  });
});
