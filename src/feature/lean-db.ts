// The node agent's FeatureDb: the FEATURE table over feature/resp.ts, not ioredis.
import { CONFIG_DB, STATE_DB, featureKey } from '../sonic/paths.js';
import type { RedisTarget } from '../settings.js';
import type { DbName, FeatureDb } from './db.js';
import { asRecord, RespConnection } from './resp.js';

/**
 * The FeatureDb over the agent's small RESP client (feature/resp.ts): same contract, ≈ 11 MiB less.
 * The agent's writers (one per feature) share the two connections, so each operation has its
 * connection to itself: no command of another writer lands between a WATCH and its EXEC.
 */
export function leanFeatureDb(target: RedisTarget): FeatureDb {
  const dbs: Record<DbName, RespConnection> = {
    config: new RespConnection(target, CONFIG_DB),
    state: new RespConnection(target, STATE_DB),
  };
  const queues: Record<DbName, Promise<unknown>> = { config: Promise.resolve(), state: Promise.resolve() };
  const exclusive = <T>(db: DbName, op: (c: RespConnection) => Promise<T>): Promise<T> => {
    const run = queues[db].then(() => op(dbs[db]));
    queues[db] = run.catch(() => undefined);
    return run;
  };
  return {
    read: (db, feature) => exclusive(db, async (c) => asRecord(await c.command('HGETALL', featureKey(feature)))),
    setMissing: (db, feature, fields) =>
      exclusive(db, async (c) => {
        for (const [k, v] of Object.entries(fields)) await c.command('HSETNX', featureKey(feature), k, v);
      }),
    set: (db, feature, fields) =>
      exclusive(db, async (c) => {
        if (Object.keys(fields).length) await c.command('HSET', featureKey(feature), ...Object.entries(fields).flat());
      }),
    remove: (db, feature, fields) =>
      exclusive(db, async (c) => {
        if (fields.length) await c.command('HDEL', featureKey(feature), ...fields);
      }),
    setConfigStateIf: (feature, allowed, next) =>
      exclusive('config', async (c) => {
        const key = featureKey(feature);
        await c.command('WATCH', key);
        const current = await c.command('HGET', key, 'state');
        if (!(await allowed(typeof current === 'string' ? current : undefined))) {
          await c.command('UNWATCH');
          return 'declined';
        }
        await c.command('MULTI');
        await c.command('HSET', key, 'state', next);
        return (await c.command('EXEC')) === null ? 'conflict' : 'written';
      }),
    close() {
      dbs.config.close();
      dbs.state.close();
    },
  };
}
