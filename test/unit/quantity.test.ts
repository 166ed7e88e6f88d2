import { describe, expect, it } from 'vitest';
import { parseBytes, parseMillicores, parseQuantity } from '../../src/kube/quantity.js';

describe('quantities', () => {
  it.each([
    ['819200Ki', 838860800],
    ['800Mi', 838860800],
    ['1Gi', 1073741824],
    ['100M', 100000000],
    ['1.5Gi', 1610612736],
    ['123456', 123456],
    ['1e3', 1000],
    ['2P', 2e15],
    ['12E', undefined],
    ['500m', 1],
    ['0', 0],
  ] as const)('bytes(%s) = %s', (raw, bytes) => {
    expect(parseBytes(raw)).toBe(bytes);
  });

  it.each([
    ['100m', 100],
    ['0.5', 500],
    ['2', 2000],
    ['250000u', 250],
  ])('millicores(%s) = %d', (raw, m) => {
    expect(parseMillicores(raw)).toBe(m);
  });

  it.each(['', 'Mi', '12XB', '1..2', 'abc', '-5Mi', '1 Gi'])('rejects %j as bytes', (raw) => {
    expect(parseBytes(raw)).toBeUndefined();
  });

  it('keeps the sign for quantities', () => {
    expect(parseQuantity('-5Mi')).toBe(-5 * 2 ** 20);
  });
});
