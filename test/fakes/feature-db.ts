// An in-memory FEATURE table (src/feature/db.ts) that records every write, for table tests of the
// sync loop and the migrate/rollback steps.
import type { DbName, FeatureDb, GuardedWrite } from '../../src/feature/db.js';

export interface DbWrite {
  db: DbName;
  feature: string;
  op: 'set' | 'setMissing' | 'remove' | 'setConfigState';
  fields: Record<string, string> | string[];
}

export class FakeFeatureDb implements FeatureDb {
  readonly tables: Record<DbName, Map<string, Record<string, string>>> = { config: new Map(), state: new Map() };
  readonly writes: DbWrite[] = [];
  /** Redis is unreachable: every command rejects. */
  down = false;
  /** Runs once, between the guarded read and the write of setConfigStateIf: a concurrent writer of the key. */
  interleave: (() => void) | undefined;

  seed(db: DbName, feature: string, fields: Record<string, string>): void {
    this.tables[db].set(feature, { ...fields });
  }

  get(db: DbName, feature: string): Record<string, string> {
    return { ...(this.tables[db].get(feature) ?? {}) };
  }

  private async reachable(): Promise<void> {
    await Promise.resolve();
    if (this.down) throw new Error('Connection is closed.');
  }

  private entry(db: DbName, feature: string): Record<string, string> {
    const e = this.tables[db].get(feature) ?? {};
    this.tables[db].set(feature, e);
    return e;
  }

  async read(db: DbName, feature: string): Promise<Record<string, string>> {
    await this.reachable();
    return this.get(db, feature);
  }

  async setMissing(db: DbName, feature: string, fields: Readonly<Record<string, string>>): Promise<void> {
    await this.reachable();
    const e = this.entry(db, feature);
    const added: Record<string, string> = {};
    for (const [k, v] of Object.entries(fields)) if (!(k in e)) e[k] = added[k] = v;
    if (Object.keys(added).length) this.writes.push({ db, feature, op: 'setMissing', fields: added });
  }

  async set(db: DbName, feature: string, fields: Readonly<Record<string, string>>): Promise<void> {
    await this.reachable();
    Object.assign(this.entry(db, feature), fields);
    this.writes.push({ db, feature, op: 'set', fields: { ...fields } });
  }

  async remove(db: DbName, feature: string, fields: readonly string[]): Promise<void> {
    await this.reachable();
    const e = this.entry(db, feature);
    for (const f of fields) delete e[f];
    this.writes.push({ db, feature, op: 'remove', fields: [...fields] });
  }

  async setConfigStateIf(
    feature: string,
    allowed: (current: string | undefined) => boolean | Promise<boolean>,
    next: string,
  ): Promise<GuardedWrite> {
    await this.reachable();
    const before = this.tables.config.get(feature)?.state;
    if (!(await allowed(before))) return 'declined';
    // Redis aborts EXEC when anyone wrote the watched key meanwhile, whatever field.
    const concurrent = this.interleave;
    this.interleave = undefined;
    if (concurrent) {
      concurrent();
      return 'conflict';
    }
    this.entry('config', feature).state = next;
    this.writes.push({ db: 'config', feature, op: 'setConfigState', fields: { state: next } });
    return 'written';
  }

  close(): void {}
}
