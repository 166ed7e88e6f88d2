// The FEATURE table in SONiC's Redis, CONFIG_DB (4) and STATE_DB (6), key FEATURE|<name>, behind
// the `FeatureDb` port, and the one rule for writing it (writeFeatureState). Two real ones:
// feature/redis-db.ts (ioredis: migrate, rollback, the exporter) and feature/lean-db.ts (the node
// agent's small RESP client); test/fakes/feature-db.ts keeps the table in memory and records every write.
import { mayMirrorConfigState, OOM_FIELDS, oomKillChanges, sonicTimestamp, stateDbChanges, type Desired, type OomKill } from './state.js';

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

export interface WriteResult {
  stateDb: Record<string, string>;
  configState: string | undefined;
  /** An OOM kill this write counted (once: STATE_DB had not recorded it), with the new count. */
  oomKill?: { kill: OomKill; count: number } | undefined;
}

/**
 * Apply the desired state. STATE_DB gets only the owned fields that changed; CONFIG_DB `state` is
 * replaced under WATCH, so a concurrent write by an operator (or golden config) is never overwritten.
 */
export async function writeFeatureState(db: FeatureDb, feature: string, desired: Desired, now = new Date()): Promise<WriteResult> {
  const current = await db.read('state', feature);
  const oom = oomKillChanges(current, desired.oomKill, now);
  const changes = { ...stateDbChanges(current, desired.stateDb), ...oom };
  // One HSET: a reader (ctrmgrd's subscriber) never sees current_owner and remote_state half-written.
  if (Object.keys(changes).length) await db.set('state', feature, { ...changes, update_time: sonicTimestamp(now) });
  let configState: string | undefined;
  const next = desired.configState;
  if (next) {
    // 'conflict': someone wrote `state` between our read and our write. Theirs stands: featured acts
    // on it, and the systemctl call it makes moves the taint, which brings us back with fresh facts.
    if ((await db.setConfigStateIf(feature, (cur) => mayMirrorConfigState(cur, next), next)) === 'written') configState = next;
  }
  const oomKill = oom && desired.oomKill ? { kill: desired.oomKill, count: Number(oom[OOM_FIELDS.count]) } : undefined;
  return { stateDb: changes, configState, oomKill };
}
