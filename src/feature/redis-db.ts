// The FeatureDb over ioredis: what the one-shot commands (migrate, rollback) and the exporter use.
import { Redis, type RedisOptions } from 'ioredis';
import { CONFIG_DB, STATE_DB, featureKey } from '../sonic/paths.js';
import type { RedisTarget } from '../settings.js';
import type { DbName, FeatureDb } from './db.js';

export interface ConnectOptions {
  /** Queue commands while disconnected (one-shot commands) or fail them at once (long-running loops that retry themselves). */
  queueWhileOffline: boolean;
  /** Retries of one command across reconnects; null: forever. */
  maxRetriesPerRequest?: number | null;
}

function connect(target: RedisTarget, db: number, opts: ConnectOptions): Redis {
  const extra: RedisOptions = opts.queueWhileOffline
    ? { enableOfflineQueue: true, maxRetriesPerRequest: opts.maxRetriesPerRequest ?? 3 }
    : { enableOfflineQueue: false, maxRetriesPerRequest: opts.maxRetriesPerRequest ?? null };
  const c = new Redis({
    ...target,
    db,
    lazyConnect: true,
    // Reconnect forever, backing off to 5 s.
    retryStrategy: (times) => Math.min(100 * 2 ** Math.min(times, 6), 5000),
    ...extra,
  });
  c.on('error', () => undefined); // reconnects are ioredis's job; failures surface on the commands
  c.connect().catch(() => undefined);
  return c;
}

export function redisFeatureDb(target: RedisTarget, opts: ConnectOptions): FeatureDb {
  const dbs: Record<DbName, Redis> = { config: connect(target, CONFIG_DB, opts), state: connect(target, STATE_DB, opts) };
  return {
    read: (db, feature) => dbs[db].hgetall(featureKey(feature)),
    async setMissing(db, feature, fields) {
      for (const [k, v] of Object.entries(fields)) await dbs[db].hsetnx(featureKey(feature), k, v);
    },
    async set(db, feature, fields) {
      if (Object.keys(fields).length) await dbs[db].hset(featureKey(feature), fields);
    },
    async remove(db, feature, fields) {
      if (fields.length) await dbs[db].hdel(featureKey(feature), ...fields);
    },
    async setConfigStateIf(feature, allowed, next) {
      const key = featureKey(feature);
      const c = dbs.config;
      await c.watch(key);
      const current = (await c.hget(key, 'state')) ?? undefined;
      if (!(await allowed(current))) {
        await c.unwatch();
        return 'declined';
      }
      return (await c.multi().hset(key, 'state', next).exec()) === null ? 'conflict' : 'written';
    },
    close() {
      dbs.config.disconnect();
      dbs.state.disconnect();
    },
  };
}
