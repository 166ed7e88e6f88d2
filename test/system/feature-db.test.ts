// The FEATURE writer against a real redis-server: what it writes, and that it never overwrites a
// CONFIG_DB `state` someone else wrote while it was deciding.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Redis } from 'ioredis';
import { startRedis, SONIC_BMP_FEATURE, REDIS_SOCKET, type TestRedis } from '../helpers/redis.js';
import { redisFeatureDb, writeFeatureState, type FeatureDb } from '../../src/feature/db.js';
import { desiredFeatureState } from '../../src/feature/state.js';

let redis: TestRedis;
let config: Redis;
let state: Redis;
let other: Redis;
let db: FeatureDb;
const disabledByTaint = desiredFeatureState({ running: false, containerId: undefined, podPresent: false, disabledByTaint: true });

beforeAll(async () => {
  redis = await startRedis();
  config = redis.db(4);
  state = redis.db(6);
  other = redis.db(4);
  db = redisFeatureDb({ path: REDIS_SOCKET }, { queueWhileOffline: true });
});
afterAll(async () => {
  db?.close();
  await redis?.stop();
});

describe('writeFeatureState on a real Redis', () => {
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
