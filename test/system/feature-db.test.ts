// The FEATURE writer against a real redis-server: what it writes, and that it never overwrites a
// CONFIG_DB `state` someone else wrote while it was deciding.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Redis } from 'ioredis';
import { startRedis, SONIC_BMP_FEATURE, REDIS_SOCKET, type TestRedis } from '../helpers/redis.js';
import { writeFeatureState, type FeatureDb } from '../../src/feature/db.js';
import { leanFeatureDb } from '../../src/feature/lean-db.js';
import { redisFeatureDb } from '../../src/feature/redis-db.js';
import { desiredFeatureState } from '../../src/feature/state.js';
import { waitUntil } from '../../src/util/wait.js';

let redis: TestRedis;
let config: Redis;
let state: Redis;
let other: Redis;
let ioredisDb: FeatureDb;
let lean: FeatureDb;
const disabledByTaint = desiredFeatureState({ running: false, containerId: undefined, podPresent: false, disabledByTaint: true });

beforeAll(async () => {
  redis = await startRedis();
  config = redis.db(4);
  state = redis.db(6);
  other = redis.db(4);
  ioredisDb = redisFeatureDb({ path: REDIS_SOCKET }, { queueWhileOffline: true });
  lean = leanFeatureDb({ path: REDIS_SOCKET });
  await waitUntil('lean client connected', 10_000, async () => ((await lean.read('state', 'none')) ? true : undefined), 50);
});
afterAll(async () => {
  ioredisDb?.close();
  lean?.close();
  await redis?.stop();
});

describe.each([
  ['ioredis (migrate, rollback, exporter)', () => ioredisDb],
  ["the agent's RESP client", () => lean],
])('writeFeatureState on a real Redis, %s', (_name, dbOf) => {
  let db: FeatureDb;
  beforeAll(() => {
    db = dbOf();
  });

  it('mirrors a disable into CONFIG_DB state and touches no other field', async () => {
    await config.del('FEATURE|bmp');
    await state.del('FEATURE|bmp');
    await config.hset('FEATURE|bmp', SONIC_BMP_FEATURE);
    await state.hset('FEATURE|bmp', { up_status: 'true' });
    const r = await writeFeatureState(db, 'bmp', disabledByTaint, new Date(2026, 10, 27, 10, 0, 0));
    expect(r.configState).toBe('disabled');
    expect(await config.hgetall('FEATURE|bmp')).toEqual({ ...SONIC_BMP_FEATURE, state: 'disabled' });
    expect(await state.hgetall('FEATURE|bmp')).toEqual({
      up_status: 'true',
      state: 'disabled',
      container_id: '',
      current_owner: 'none',
      remote_state: 'stopped',
      update_time: '2026-11-27 10:00:00',
    });
  });

  it.each(['always_enabled', "{% if 'x' %}enabled{% endif %}"])('leaves CONFIG_DB state %j alone', async (value) => {
    await config.hset('FEATURE|bmp', { ...SONIC_BMP_FEATURE, state: value });
    const r = await writeFeatureState(db, 'bmp', disabledByTaint);
    expect(r.configState).toBeUndefined();
    expect(await config.hget('FEATURE|bmp', 'state')).toBe(value);
  });

  it('an operator write between our read and our write stands', async () => {
    await config.hset('FEATURE|bmp', { ...SONIC_BMP_FEATURE, state: 'enabled' });
    // Interpose between the guarded read and the write: somebody else writes the key meanwhile.
    const racing: FeatureDb = {
      ...db,
      setConfigStateIf: (feature, allowed, next) =>
        db.setConfigStateIf(
          feature,
          async (current) => {
            await other.hset('FEATURE|bmp', 'state', 'enabled', 'auto_restart', 'disabled');
            return allowed(current);
          },
          next,
        ),
    };
    const r = await writeFeatureState(racing, 'bmp', disabledByTaint);
    expect(r.configState).toBeUndefined();
    expect(await config.hgetall('FEATURE|bmp')).toEqual({ ...SONIC_BMP_FEATURE, state: 'enabled', auto_restart: 'disabled' });
  });
});

describe("the agent's RESP client on a real Redis", () => {
  it('serializes concurrent guarded writes of several features on one connection (no WATCH/EXEC interleaving)', async () => {
    const features = ['f1', 'f2', 'f3', 'f4', 'f5'];
    for (const f of features) await config.hset(`FEATURE|${f}`, 'state', 'enabled');
    const results = await Promise.all(features.map((f) => lean.setConfigStateIf(f, (cur) => cur === 'enabled', 'disabled')));
    expect(results).toEqual(features.map(() => 'written'));
    for (const f of features) expect(await config.hget(`FEATURE|${f}`, 'state')).toBe('disabled');
  });

  it('fails commands at once while Redis is away and reconnects by itself when it is back', async () => {
    await redis.daemon.stop();
    await expect(lean.read('state', 'bmp')).rejects.toThrow('Connection is closed.');
    await redis.restart();
    await waitUntil('reconnected', 15_000, async () => ((await lean.read('state', 'bmp').catch(() => undefined)) ? true : undefined), 100);
    await lean.set('state', 'bmp', { a: '1', b: 'two words' });
    expect(await state.hgetall('FEATURE|bmp')).toMatchObject({ a: '1', b: 'two words' });
  });
});
