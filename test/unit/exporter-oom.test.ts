// kubesonic_feature_oom_kills_total: STATE_DB's oom_kill_count (written by the node agent) as a
// Prometheus counter — there at 0 before the first kill (so increase() sees the first one), up by
// each new count, kept through a Redis that cannot be read, reset when STATE_DB was emptied.
import { describe, expect, it } from 'vitest';
import { MemoryExporter } from '../../src/exporter/exporter.js';
import { FakeFeatureDb } from '../fakes/feature-db.js';
import { fixtureCheckerSettings } from '../helpers/fixtures.js';

const settings = fixtureCheckerSettings();

async function oomKills(e: MemoryExporter): Promise<number | undefined> {
  await e.collect();
  const text = await e.registry.getSingleMetricAsString('kubesonic_feature_oom_kills_total');
  const m = /^kubesonic_feature_oom_kills_total\{feature="bmp"\} (\d+)$/m.exec(text);
  return m ? Number(m[1]) : undefined;
}

describe('the OOM kill counter', () => {
  it('follows STATE_DB oom_kill_count', async () => {
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
    expect(await e.registry.getSingleMetricAsString('kubesonic_feature_oom_kills_total')).toContain(
      '# TYPE kubesonic_feature_oom_kills_total counter',
    );
    db.seed('state', 'bmp', { container_id: 'abc' });
    expect(await oomKills(e)).toBe(0);
    db.seed('state', 'bmp', { container_id: 'abc', oom_kill_count: '1' });
    expect(await oomKills(e)).toBe(1);
    db.seed('state', 'bmp', { container_id: 'abc', oom_kill_count: '3' });
    expect(await oomKills(e)).toBe(3);
    db.down = true;
    expect(await oomKills(e)).toBe(3);
    db.down = false;
    db.seed('state', 'bmp', { container_id: 'abc', oom_kill_count: '1' });
    expect(await oomKills(e)).toBe(1);
  });
});
