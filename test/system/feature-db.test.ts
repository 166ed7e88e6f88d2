// The FEATURE writer against a real redis-server: what it writes, and that it never overwrites a
// CONFIG_DB `state` someone else wrote while it was deciding.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Redis } from 'ioredis';
import { startRedis, SONIC_BMP_FEATURE, type TestRedis } from '../helpers/redis.js';
import { writeFeatureState } from '../../src/feature/db.js';
import { desiredFeatureState } from '../../src/feature/state.js';

let redis: TestRedis;
let config: Redis;
let state: Redis;
let other: Redis;
const disabledByTaint = desiredFeatureState({ running: false, containerId: undefined, podPresent: false, disabledByTaint: true });

beforeAll(async () => {
  redis = await startRedis();
  config = redis.db(4);
  state = redis.db(6);
  other = redis.db(4);
});
afterAll(async () => {
  await redis?.stop();
});

describe('writeFeatureState on a real Redis', () => {
  it('mirrors a disable into CONFIG_DB state and touches no other field', async () => {
    await config.del('FEATURE|bmp');
    await state.del('FEATURE|bmp');
    await config.hset('FEATURE|bmp', SONIC_BMP_FEATURE);
    await state.hset('FEATURE|bmp', { up_status: 'true' });
    const r = await writeFeatureState(config, state, 'bmp', disabledByTaint, new Date(2026, 10, 27, 10, 0, 0));
    expect(r.configState).toBe('disabled');
    expect(await config.hgetall('FEATURE|bmp')).toEqual({ ...SONIC_BMP_FEATURE, state: 'disabled' });
    expect(await state.hgetall('FEATURE|bmp')).toEqual({ up_status: 'true', state: 'disabled', container_id: '', current_owner: 'none', remote_state: 'stopped', update_time: '2026-11-27 10:00:00' });
  });

  it.each(['always_enabled', "{% if 'x' %}enabled{% endif %}"])('leaves CONFIG_DB state %j alone', async (value) => {
    await config.hset('FEATURE|bmp', { ...SONIC_BMP_FEATURE, state: value });
    const r = await writeFeatureState(config, state, 'bmp', disabledByTaint);
    expect(r.configState).toBeUndefined();
    expect(await config.hget('FEATURE|bmp', 'state')).toBe(value);
  });

  it('an operator write between our read and our write stands', async () => {
    await config.hset('FEATURE|bmp', { ...SONIC_BMP_FEATURE, state: 'enabled' });
    // Interpose on the read: right after it, somebody else writes the key.
    const racing = new Proxy(config, {
      get(target, prop, receiver) {
        if (prop === 'hget') {
          return async (...args: [string, string]) => {
            const v = await target.hget(...args);
            await other.hset('FEATURE|bmp', 'state', 'enabled', 'auto_restart', 'disabled');
            return v;
          };
        }
        const v = Reflect.get(target, prop, receiver) as unknown;
        return typeof v === 'function' ? (v as (...a: unknown[]) => unknown).bind(target) : v;
      },
    });
    const r = await writeFeatureState(racing, state, 'bmp', disabledByTaint);
    expect(r.configState).toBeUndefined();
    expect(await config.hgetall('FEATURE|bmp')).toEqual({ ...SONIC_BMP_FEATURE, state: 'enabled', auto_restart: 'disabled' });
  });
});
