// What ctrmgrd (sonic-buildimage src/sonic-ctrmgrd/ctrmgr/ctrmgrd.py, KubeSonic v1's daemon on images
// built with Kubernetes) does on FEATURE changes, as a small model of its FeatureTransitionHandler,
// read at sonic-net/sonic-buildimage 086b03bd70f9e211aaaf5f6aefe0790b508d2a94. Every rule cites the
// lines it encodes. The first table pins the model to ctrmgrd's behaviour (each row would fail if the
// model lost the rule); the second runs every STATE_DB/CONFIG_DB write kubesonic makes through it:
// ctrmgrd must have nothing to do on a migrated feature (no unit restart, no image tagging).
import { describe, expect, it } from 'vitest';
import { desiredFeatureState, type Observation, type StateDbFields } from '../../src/feature/state.js';
import { migrateSteps } from '../../src/migrate/migrate.js';
import { runSteps } from '../../src/migrate/steps.js';
import { ctrmgrdConflict, DEFAULT_FEATURE_ENTRY } from '../../src/sonic/feature-entry.js';
import { nativeSwitch } from '../fakes/switch.js';

type Fields = Readonly<Record<string, string>>;
/** restart: `systemctl reset-failed <f>; systemctl restart <f>` (ctrmgrd.py:151-166). tag-latest: kube_commands.tag_latest (docker tag <pod image> <repo>:latest, then `docker rm <f>`, kube_commands.py:445-531). */
type Action = 'restart' | 'tag-latest';

// ctrmgrd.py:86-101 defaults; :310-316 lower-cases every key and value it reads.
const CFG_DEFAULTS = { set_owner: 'local', no_fallback_to_local: 'false', remote_fail_detection: '300' };
const ST_DEFAULTS = { current_owner: 'none', remote_state: 'none', container_id: '', container_version: '' };
const lower = (defaults: Fields, data: Fields): Record<string, string> => {
  const out: Record<string, string> = { ...defaults };
  for (const [k, v] of Object.entries(data)) out[k.toLowerCase()] = v.toLowerCase();
  return out;
};

/** One ctrmgrd process's FeatureTransitionHandler for one feature: its caches and decisions. */
class CtrmgrdModel {
  private cfg: Record<string, string> | undefined;
  private st: Record<string, string> | undefined;
  readonly actions: Action[] = [];

  constructor(private unitActive: boolean) {}

  setUnitActive(active: boolean): void {
    this.unitActive = active;
  }

  // ctrmgrd.py:478-511 handle_update.
  private handleUpdate(setOwner: string, ctOwner: string, remoteState: string): void {
    if (!this.unitActive) {
      // :482-486: an inactive unit is restarted only for kube-owned, stopped remote containers.
      if (setOwner === 'kube' && ctOwner === 'none' && remoteState === 'stopped') this.actions.push('restart');
      return;
    }
    // :491-495 local owner: restart unless the current owner is local or none.
    if (setOwner === 'local') {
      if (ctOwner !== 'local' && ctOwner !== 'none') this.actions.push('restart');
      // :496-498 otherwise: restart when something runs and remote_state is pending.
    } else if (ctOwner !== 'none' && remoteState === 'pending') this.actions.push('restart');
    // :505-506 also writes KUBE_LABELS|SET <f>_enabled (true only for set_owner=kube): a label, no action on the unit.
  }

  // ctrmgrd.py:515-543 on_config_update (CONFIG_DB FEATURE|<f>).
  config(data: Fields): void {
    const init = this.cfg === undefined;
    const oldOwner = this.cfg?.set_owner ?? '';
    this.cfg = lower(CFG_DEFAULTS, data);
    // :527-531 nothing unless first seen or set_owner changed.
    if (!init && oldOwner === this.cfg.set_owner) return;
    // :533-537 acts only once STATE_DB was seen; :539-543 else waits for it.
    if (this.st) this.handleUpdate(this.cfg.set_owner!, this.st.current_owner!, this.st.remote_state!);
  }

  // ctrmgrd.py:546-591 on_state_update (STATE_DB FEATURE|<f>).
  state(data: Fields): void {
    const init = this.st === undefined;
    const oldRemote = this.st?.remote_state ?? '';
    this.st = lower(ST_DEFAULTS, data);
    const remote = this.st.remote_state!;
    const owner = this.st.current_owner!;
    // :559-569 remote_state becoming running schedules tag-latest of the running container's image.
    if (remote === 'running' && oldRemote !== remote) this.actions.push('tag-latest');
    // :574-576 remote_state stopped → none with a current owner other than local: restart.
    if (owner !== 'local' && remote === 'none' && oldRemote === 'stopped') {
      this.actions.push('restart');
      return;
    }
    // :578-584 after the first sight, only a remote_state change into pending or stopped goes on.
    if (!init && (oldRemote === remote || (remote !== 'pending' && remote !== 'stopped'))) return;
    // :586-590 handle_update with the CONFIG_DB owner, once CONFIG_DB was seen.
    if (this.cfg) this.handleUpdate(this.cfg.set_owner!, owner, remote);
  }
}

/** Apply a STATE_DB HSET to a hash, as Redis does, and hand ctrmgrd the whole hash (SubscriberStateTable reads it at pop). */
function hset(hash: Record<string, string>, fields: Fields): Record<string, string> {
  return Object.assign(hash, fields);
}

describe("ctrmgrd's decisions, as the model encodes them (ctrmgrd.py @086b03bd70)", () => {
  const cases: [string, boolean, Fields, Fields[], Action[]][] = [
    // [what, unit active, CONFIG_DB, STATE_DB writes in order (the first: what ctrmgrd finds at its start), expected]
    [
      "0.x's fields: set_owner=local, current_owner=kube, remote_state=running — tagged and restarted at ctrmgrd's start (:559, :491-495, :552, :586-590)",
      true,
      { set_owner: 'local' },
      [{ current_owner: 'kube', remote_state: 'running' }],
      ['tag-latest', 'restart'],
    ],
    [
      'remote_state becoming running: tag-latest of the pod image, then docker rm of the native container (:559-569)',
      true,
      { set_owner: 'local' },
      [
        { current_owner: 'none', remote_state: 'pending' },
        { current_owner: 'kube', remote_state: 'running' },
      ],
      ['tag-latest'],
    ],
    [
      'set_owner=kube, something runs, remote_state → pending: restart (:496-498, :582)',
      true,
      { set_owner: 'kube' },
      [
        { current_owner: 'local', remote_state: 'none' },
        { current_owner: 'local', remote_state: 'pending' },
      ],
      ['restart'],
    ],
    [
      'set_owner=kube, unit inactive, nothing runs, remote_state stopped: restart (:482-486)',
      false,
      { set_owner: 'kube' },
      [{ current_owner: 'none', remote_state: 'stopped' }],
      ['restart'],
    ],
    [
      'remote_state stopped → none, current_owner none: restart even with set_owner=local (:574-576)',
      true,
      { set_owner: 'local' },
      [
        { current_owner: 'none', remote_state: 'stopped' },
        { current_owner: 'none', remote_state: 'none' },
      ],
      ['restart'],
    ],
    [
      'the same with current_owner=local in the same HSET: nothing (:574)',
      true,
      { set_owner: 'local' },
      [
        { current_owner: 'none', remote_state: 'stopped' },
        { current_owner: 'local', remote_state: 'none' },
      ],
      [],
    ],
    [
      'values are lower-cased: set_owner=Local, current_owner=KUBE still restarts (:310-316)',
      true,
      { set_owner: 'Local' },
      [{ current_owner: 'KUBE', remote_state: 'none' }],
      ['restart'],
    ],
    [
      'no_fallback_to_local is read (:88) but decides nothing',
      true,
      { set_owner: 'local', no_fallback_to_local: 'true' },
      [{ current_owner: 'local', remote_state: 'none' }],
      [],
    ],
  ];
  it.each(cases)('%s', (_what, active, config, writes, expected) => {
    const m = new CtrmgrdModel(active);
    m.config(config);
    const hash: Record<string, string> = {};
    for (const w of writes) m.state({ ...hset(hash, w) });
    expect(m.actions).toEqual(expected);
  });

  it('CONFIG_DB changes other than set_owner do nothing (:527-531); a set_owner change re-decides (:533-537)', () => {
    const m = new CtrmgrdModel(true);
    m.state({ current_owner: 'kube', remote_state: 'none' });
    m.config({ set_owner: 'kube', state: 'enabled' });
    m.config({ set_owner: 'kube', state: 'disabled' });
    expect(m.actions).toEqual([]);
    m.config({ set_owner: 'local', state: 'disabled' });
    expect(m.actions).toEqual(['restart']);
  });
});

// Every observation the agent can make, and what it writes for it (src/feature/state.ts).
const OBSERVATIONS: [string, Observation][] = [
  ['running', { running: true, podPresent: true, containerId: 'abcdef012345', containerVersion: '1.2', disabledByTaint: false }],
  ['pod starting or crash-looping', { running: false, podPresent: true, containerId: undefined, disabledByTaint: false }],
  ['stopped by its unit', { running: false, podPresent: false, containerId: undefined, disabledByTaint: false, stoppedByUnit: true }],
  ['disabled by the taint', { running: false, podPresent: false, containerId: undefined, disabledByTaint: true }],
  [
    'running after an OOM kill',
    {
      running: true,
      podPresent: true,
      containerId: 'bbbbbb012345',
      disabledByTaint: false,
      lastOomKill: { id: 'abcdef012345', finishedAt: new Date(0), restartCount: 1, pod: 'bmp-x', limit: '64Mi' },
    },
  ],
];
const written = (o: Observation): Record<string, string> =>
  ({ ...desiredFeatureState(o).stateDb }) as StateDbFields & Record<string, string>;

/** What STATE_DB may hold when the agent takes over: nothing, the native wrapper's start or stop (container:202-300), or 0.x kubesonic's. */
const BEFORE: [string, Fields][] = [
  ['empty (an image without Kubernetes support)', {}],
  ['native wrapper, local start', { current_owner: 'local', remote_state: 'none', container_id: 'bmp', system_state: 'up' }],
  ['native wrapper, stopped by migrate', { current_owner: 'none', remote_state: 'none', container_id: '', system_state: 'down' }],
  ["0.x kubesonic's stopped", { current_owner: 'none', remote_state: 'stopped', container_id: '' }],
  ["0.x kubesonic's pending", { current_owner: 'none', remote_state: 'pending', container_id: '' }],
];

describe("kubesonic's writes leave ctrmgrd nothing to do (set_owner=local, which migrate insists on)", () => {
  const config = DEFAULT_FEATURE_ENTRY;

  it('migrate seeds set_owner=local', () => {
    expect(config.set_owner).toBe('local');
  });

  // Each pair of consecutive observations, from each starting point, unit active or not, with
  // ctrmgrd started before (it sees every write) and ctrmgrd (re)started after each write (init path).
  const rows = BEFORE.flatMap(([before, fields]) =>
    OBSERVATIONS.flatMap(([a, oa]) =>
      OBSERVATIONS.flatMap(([b, ob]) =>
        [true, false].map((active) => [`${before}: ${a} → ${b}, unit ${active ? 'active' : 'inactive'}`, fields, oa, ob, active] as const),
      ),
    ),
  );
  it.each(rows)('%s', (_what, before, a, b, active) => {
    const hash: Record<string, string> = { ...before };
    const live = new CtrmgrdModel(active);
    live.config(config);
    live.state({ ...hash });
    for (const o of [a, b]) {
      // One HSET per write (feature/db.ts writeFeatureState), with update_time.
      live.state({ ...hset(hash, { ...written(o), update_time: '2026-01-01 00:00:00' }) });
      for (const order of ['config first', 'state first']) {
        const restarted = new CtrmgrdModel(active);
        if (order === 'config first') restarted.config(config);
        restarted.state({ ...hash });
        if (order === 'state first') restarted.config(config);
        expect({ order, actions: restarted.actions }).toEqual({ order, actions: [] });
      }
    }
    expect(live.actions).toEqual([]);
  });

  it('never writes the values ctrmgrd acts on: current_owner=kube, remote_state=running', () => {
    for (const [, o] of OBSERVATIONS) {
      expect(written(o).current_owner).not.toBe('kube');
      expect(written(o).remote_state).not.toBe('running');
    }
  });

  it("kubesonic's CONFIG_DB writes (state mirror) do nothing", () => {
    const m = new CtrmgrdModel(true);
    m.config(config);
    m.state(written(OBSERVATIONS[0]![1]));
    for (const state of ['disabled', 'enabled']) m.config({ ...config, state });
    expect(m.actions).toEqual([]);
  });

  it("rollback's hand-back (HSET current_owner=local remote_state=none, then HDEL) does nothing, from every state", () => {
    for (const [, o] of OBSERVATIONS)
      for (const active of [true, false]) {
        const hash: Record<string, string> = { ...written(o) };
        const m = new CtrmgrdModel(active);
        m.config(config);
        m.state({ ...hash });
        m.state({ ...hset(hash, { current_owner: 'local', remote_state: 'none' }) });
        m.state({}); // every field kubesonic owns removed
        expect(m.actions).toEqual([]);
      }
  });

  it('the same fields with set_owner=kube: ctrmgrd labels the node for its own deployment, so migrate refuses', async () => {
    expect(ctrmgrdConflict('bmp', { set_owner: 'local' })).toBeUndefined();
    expect(ctrmgrdConflict('bmp', {})).toBeUndefined();
    expect(ctrmgrdConflict('bmp', { set_owner: 'Kube' })).toMatch(/^FEATURE\|bmp has set_owner=Kube: ctrmgrd would/);
    for (const dryRun of [true, false]) {
      const sw = nativeSwitch();
      sw.db.seed('config', 'bmp', { state: 'enabled', set_owner: 'kube' });
      const err = await runSteps(migrateSteps(sw.ctx), { dryRun, out: () => undefined }).catch((e: Error) => e);
      expect(err).toBeInstanceOf(Error);
      expect((err as Error).message).not.toContain('\n');
      expect((err as Error).message).toContain("set it to local first (redis-cli -n 4 HSET 'FEATURE|bmp' set_owner local)");
      expect(sw.db.writes).toEqual([]);
    }
  });
});
