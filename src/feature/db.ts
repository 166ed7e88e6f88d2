// The FEATURE table in SONiC's Redis: CONFIG_DB (4) and STATE_DB (6), key FEATURE|<name>.
import { Redis, type RedisOptions } from 'ioredis';
import { mayMirrorConfigState, sonicTimestamp, stateDbChanges, type Desired } from './state.js';

export const CONFIG_DB = 4;
export const STATE_DB = 6;
export const DEFAULT_REDIS_SOCKET = '/var/run/redis/redis.sock';
export const featureKey = (feature: string) => `FEATURE|${feature}`;

export interface RedisTarget {
  path?: string;
  host?: string;
  port?: number;
}

export function redisTarget(env: Readonly<Record<string, string | undefined>>): RedisTarget {
  if (env.KUBESONIC_REDIS_HOST) return { host: env.KUBESONIC_REDIS_HOST, port: Number(env.KUBESONIC_REDIS_PORT ?? 6379) };
  return { path: env.KUBESONIC_REDIS_SOCKET || DEFAULT_REDIS_SOCKET };
}

export function connect(target: RedisTarget, db: number, extra: RedisOptions = {}): Redis {
  return new Redis({
    ...target,
    db,
    lazyConnect: true,
    // Keep trying forever, backing off to 5 s; commands wait in the offline queue meanwhile.
    retryStrategy: (times) => Math.min(100 * 2 ** Math.min(times, 6), 5000),
    maxRetriesPerRequest: null,
    enableOfflineQueue: false,
    ...extra,
  });
}

export interface WriteResult {
  stateDb: Record<string, string>;
  configState: string | undefined;
}

/**
 * Apply the desired state. STATE_DB gets only the owned fields that changed; CONFIG_DB `state` is
 * replaced under WATCH, so a concurrent write by an operator (or golden config) is never overwritten.
 */
export async function writeFeatureState(config: Redis, state: Redis, feature: string, desired: Desired, now = new Date()): Promise<WriteResult> {
  const key = featureKey(feature);
  const current = await state.hgetall(key);
  const changes = stateDbChanges(current, desired.stateDb);
  if (Object.keys(changes).length) await state.hset(key, { ...changes, update_time: sonicTimestamp(now) });
  let configState: string | undefined;
  if (desired.configState) {
    await config.watch(key);
    const cur = (await config.hget(key, 'state')) ?? undefined;
    if (!mayMirrorConfigState(cur, desired.configState)) await config.unwatch();
    else if ((await config.multi().hset(key, 'state', desired.configState).exec()) !== null) configState = desired.configState;
    // else: someone wrote `state` between our read and our write. Theirs stands: featured acts on it,
    // and the systemctl call it makes moves the taint, which brings us back here with fresh facts.
  }
  return { stateDb: changes, configState };
}
