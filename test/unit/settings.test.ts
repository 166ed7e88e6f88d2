// The one reader of the environment (src/settings.ts): defaults and every variable it reads.
import { hostname } from 'node:os';
import { describe, expect, it } from 'vitest';
import { migrationVersion, readSettings } from '../../src/settings.js';

describe('readSettings', () => {
  it("defaults to SONiC's places on a switch", () => {
    expect(readSettings({})).toEqual({
      nodeName: hostname().toLowerCase(),
      api: { inCluster: undefined, kubeconfigs: [] },
      redis: { path: '/var/run/redis/redis.sock' },
      dockerSocket: '/var/run/docker.sock',
      cgroupRoot: '/sys/fs/cgroup',
      procRoot: '/proc',
      containerdState: '/run/containerd',
      hostRoot: '',
      migrationVersionRaw: undefined,
      podNamespace: undefined,
      faultAfterStep: undefined,
      cri: { crictl: 'crictl', endpoint: 'unix:///run/containerd/containerd.sock' },
      memoryCheckerSyslog: 'rare',
      tlsSessionDir: '/run/kubesonic/tls-sessions',
    });
  });

  it.each([
    [{ NODE_NAME: 'Leaf1' }, { nodeName: 'leaf1' }],
    [{ KUBECONFIG: '/a:/b::' }, { api: { inCluster: undefined, kubeconfigs: ['/a', '/b'] } }],
    [{ KUBERNETES_SERVICE_HOST: '10.0.0.1' }, { api: { inCluster: { host: '10.0.0.1', port: '443' }, kubeconfigs: [] } }],
    [{ KUBESONIC_REDIS_HOST: '127.0.0.1', KUBESONIC_REDIS_PORT: '6380' }, { redis: { host: '127.0.0.1', port: 6380 } }],
    [{ KUBESONIC_REDIS_SOCKET: '/tmp/r.sock' }, { redis: { path: '/tmp/r.sock' } }],
    [{ DOCKER_HOST: 'unix:///run/d.sock' }, { dockerSocket: '/run/d.sock' }],
    [{ DOCKER_HOST: 'tcp://1.2.3.4:2375' }, { dockerSocket: '/var/run/docker.sock' }],
    [{ KUBESONIC_TLS_SESSION_DIR: '/run/t' }, { tlsSessionDir: '/run/t' }],
    [{ KUBESONIC_TLS_SESSION_DIR: '' }, { tlsSessionDir: undefined }],
    [
      { KUBESONIC_CGROUP_ROOT: '/f/cg', KUBESONIC_PROC_ROOT: '/f/proc', KUBESONIC_CONTAINERD_STATE: '/f/ctr' },
      { cgroupRoot: '/f/cg', procRoot: '/f/proc', containerdState: '/f/ctr' },
    ],
    [
      { KUBESONIC_HOST_ROOT: '/host', POD_NAMESPACE: 'sonic', KUBESONIC_FAULT_AFTER_STEP: 'stub' },
      { hostRoot: '/host', podNamespace: 'sonic', faultAfterStep: 'stub' },
    ],
    [{ KUBESONIC_MEMORY_CHECKER_SYSLOG: 'all' }, { memoryCheckerSyslog: 'all' }],
    [{ KUBESONIC_MEMORY_CHECKER_SYSLOG: 'off' }, { memoryCheckerSyslog: 'off' }],
    [{ KUBESONIC_MEMORY_CHECKER_SYSLOG: 'loud' }, { memoryCheckerSyslog: 'rare' }],
  ])('%j', (env, expected) => {
    expect(readSettings(env)).toMatchObject(expected);
  });

  it('checks the migration version where it is used, with exit 2 and one line', () => {
    expect(migrationVersion(readSettings({}))).toBe('v1');
    expect(migrationVersion(readSettings({ KUBESONIC_MIGRATION_VERSION: 'v2' }))).toBe('v2');
    expect(() => migrationVersion(readSettings({ KUBESONIC_MIGRATION_VERSION: 'v9' }))).toThrow(
      expect.objectContaining({ exitCode: 2, message: 'KUBESONIC_MIGRATION_VERSION must be one of v0, v1, v2, got "v9"' }),
    );
  });
});
