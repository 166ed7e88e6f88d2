// A real redis-server on a unix socket only (as SONiC's /var/run/redis/redis.sock), with the
// FEATURE entries SONiC would hold.
import { mkdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { TEST_ROOT, startDaemon, waitFor, type Daemon } from './procs.js';

export const REDIS_DIR = join(TEST_ROOT, 'redis');
export const REDIS_SOCKET = join(REDIS_DIR, 'redis.sock');

export interface TestRedis {
  daemon: Daemon;
  db(n: number): Redis;
  stop(): Promise<void>;
  restart(): Promise<void>;
}

export async function startRedis(): Promise<TestRedis> {
  mkdirSync(REDIS_DIR, { recursive: true });
  const start = async () => {
    rmSync(REDIS_SOCKET, { force: true });
    const d = startDaemon(
      'redis-server',
      'redis-server',
      ['--port', '0', '--unixsocket', REDIS_SOCKET, '--unixsocketperm', '777', '--save', '', '--appendonly', 'yes', '--dir', REDIS_DIR],
      { logDir: REDIS_DIR },
    );
    await waitFor(
      'redis socket',
      async () => {
        const c = new Redis({ path: REDIS_SOCKET, lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null });
        c.on('error', () => undefined);
        try {
          await c.connect();
          return (await c.ping()) === 'PONG';
        } finally {
          c.disconnect();
        }
      },
      20_000,
      100,
    );
    return d;
  };
  const clients: Redis[] = [];
  const t: TestRedis = {
    daemon: await start(),
    db(n: number) {
      const c = new Redis({ path: REDIS_SOCKET, db: n, maxRetriesPerRequest: 1, retryStrategy: (i) => Math.min(i * 100, 1000) });
      c.on('error', () => undefined);
      clients.push(c);
      return c;
    },
    async stop() {
      for (const c of clients) c.disconnect();
      await t.daemon.stop();
    },
    async restart() {
      await t.daemon.stop();
      t.daemon = await start();
    },
  };
  return t;
}

/**
 * FEATURE|bmp as SONiC's config_db test fixture has it (sonic-utilities tests/mock_tables). Written
 * out here, not imported from the product, so a change to what migrate seeds is caught.
 */
export const SONIC_BMP_FEATURE: Readonly<Record<string, string>> = {
  auto_restart: 'enabled',
  check_up_status: 'false',
  delayed: 'False',
  has_global_scope: 'True',
  has_per_asic_scope: 'False',
  high_mem_alert: 'disabled',
  set_owner: 'local',
  state: 'enabled',
  support_syslog_rate_limit: 'false',
};
