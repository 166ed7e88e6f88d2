// The FEATURE table in SONiC's Redis, CONFIG_DB (4) and STATE_DB (6), key FEATURE|<name>, behind
// the `FeatureDb` port. redisFeatureDb() is the real one (ioredis); test/fakes/feature-db.ts keeps
// the table in memory and records every write.
import { Redis, type RedisOptions } from 'ioredis';
import { CONFIG_DB, STATE_DB, featureKey } from '../sonic/paths.js';
import type { RedisTarget } from '../settings.js';
import { mayMirrorConfigState, sonicTimestamp, stateDbChanges, type Desired } from './state.js';

export type DbName = 'config' | 'state';

/** Outcome of a guarded CONFIG_DB `state` write. */
export type GuardedWrite = 'written' | 'declined' | 'conflict';

export interface FeatureDb {
  read(db: DbName, feature: string): Promise<Record<string, string>>;
  /** HSETNX per field: never overwrite what golden config or an operator set. */
  setMissing(db: DbName, feature: string, fields: Readonly<Record<string, string>>): Promise<void>;
  set(db: DbName, feature: string, fields: Readonly<Record<string, string>>): Promise<void>;
  remove(db: DbName, feature: string, fields: readonly string[]): Promise<void>;
  /**
   * Write CONFIG_DB `state` = next only if allowed(current) and nobody writes `state` between the
   * read and the write (Redis WATCH): 'declined' when not allowed, 'conflict' when someone did.
   */
  setConfigStateIf(
    feature: string,
    allowed: (current: string | undefined) => boolean | Promise<boolean>,
    next: string,
  ): Promise<GuardedWrite>;
  close(): void;
}

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

export interface WriteResult {
  stateDb: Record<string, string>;
  configState: string | undefined;
}

/**
 * Apply the desired state. STATE_DB gets only the owned fields that changed; CONFIG_DB `state` is
 * replaced under WATCH, so a concurrent write by an operator (or golden config) is never overwritten.
 */
export async function writeFeatureState(db: FeatureDb, feature: string, desired: Desired, now = new Date()): Promise<WriteResult> {
  const changes = stateDbChanges(await db.read('state', feature), desired.stateDb);
  if (Object.keys(changes).length) await db.set('state', feature, { ...changes, update_time: sonicTimestamp(now) });
  let configState: string | undefined;
  const next = desired.configState;
  if (next) {
    // 'conflict': someone wrote `state` between our read and our write. Theirs stands: featured acts
    // on it, and the systemctl call it makes moves the taint, which brings us back with fresh facts.
    if ((await db.setConfigStateIf(feature, (cur) => mayMirrorConfigState(cur, next), next)) === 'written') configState = next;
  }
  return { stateDb: changes, configState };
}
