// STATE_DB's counts as Prometheus counters — kubesonic_feature_oom_kills_total (oom_kill_count,
// written by the node agent) and kubesonic_feature_native_stopped_total (native_stopped_count,
// written by the unit's shell when it stops a native container started behind the pod's back):
// there at 0 before the first event (so increase() sees the first one), up by each new count, kept
// through a Redis that cannot be read, reset when STATE_DB was emptied; one never moves the other.
import { describe, expect, it } from 'vitest';
import { MemoryExporter } from '../../src/exporter/exporter.js';
import { FakeFeatureDb } from '../fakes/feature-db.js';
import { fixtureCheckerSettings } from '../helpers/fixtures.js';

const settings = fixtureCheckerSettings();

async function exported(e: MemoryExporter, metric: string): Promise<number | undefined> {
  const text = await e.registry.getSingleMetricAsString(metric);
  const m = new RegExp(`^${metric}\\{feature="bmp"\\} (\\d+)$`, 'm').exec(text);
  return m ? Number(m[1]) : undefined;
}

describe.each([
  ['kubesonic_feature_oom_kills_total', 'oom_kill_count', 'kubesonic_feature_native_stopped_total'],
  ['kubesonic_feature_native_stopped_total', 'native_stopped_count', 'kubesonic_feature_oom_kills_total'],
])('%s', (metric, field, other) => {
  it(`follows STATE_DB ${field}; ${other} stays 0`, async () => {
    const db = new FakeFeatureDb();
    const e = new MemoryExporter({
      features: [{ feature: 'bmp', threshold: 1 }],
      namespace: 'sonic',
      node: 'vm',
      kubeconfig: undefined,
      timeoutMs: 2000,
      cacheMs: 0,
      settings,
      db,
    });
    expect(await e.registry.getSingleMetricAsString(metric)).toContain(`# TYPE ${metric} counter`);
    const step = async (count: string | undefined) => {
      db.seed('state', 'bmp', { container_id: 'abc', ...(count === undefined ? {} : { [field]: count }) });
      await e.collect();
      return [await exported(e, metric), await exported(e, other)];
    };
    expect(await step(undefined)).toEqual([0, 0]);
    expect(await step('1')).toEqual([1, 0]);
    expect(await step('3')).toEqual([3, 0]);
    db.down = true;
    await e.collect();
    expect(await exported(e, metric)).toBe(3);
    db.down = false;
    expect(await step('1')).toEqual([1, 0]);
  });
});
