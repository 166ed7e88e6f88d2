// What `migrate` remembers on the switch, one file per feature under /etc/sonic/kubesonic/features
// (persistent across reboots). A feature with an active record is migrated on this node: the node
// agent serves exactly those. Rollback first retires the record (the agent stops at once), keeps it
// for the CONFIG_DB state it restores, and removes it last.
import { existsSync, readdirSync, renameSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { MIGRATED_DIR, SPEC_DIR } from '../sonic/paths.js';
import { atomicWrite, readOrUndefined } from './files.js';

export interface MigrationRecord {
  feature: string;
  migratedAt: string;
  /** CONFIG_DB FEATURE|<f> state before the migration, restored by rollback. */
  configStateBefore: string | undefined;
}

const activePath = (root: string, feature: string) => join(root, MIGRATED_DIR, `${feature}.json`);
const retiredPath = (root: string, feature: string) => join(root, MIGRATED_DIR, `${feature}.rolled-back.json`);

function parse(text: string | undefined): MigrationRecord | undefined {
  try {
    return text === undefined ? undefined : (JSON.parse(text) as MigrationRecord);
  } catch {
    return undefined;
  }
}

/** kubesonic 0.1 kept the record next to the specs; still read, so its rollback restores CONFIG_DB. */
const legacyPath = (root: string, feature: string) => join(root, SPEC_DIR, `${feature}.json`);

/** The feature's record, active or retired by a rollback in progress. */
export function readRecord(root: string, feature: string): MigrationRecord | undefined {
  for (const path of [activePath(root, feature), retiredPath(root, feature), legacyPath(root, feature)]) {
    const rec = parse(readOrUndefined(path));
    if (rec) return rec;
  }
  return undefined;
}

export function writeRecord(root: string, rec: MigrationRecord): void {
  atomicWrite(activePath(root, rec.feature), `${JSON.stringify(rec, null, 2)}\n`, 0o644);
  rmSync(retiredPath(root, rec.feature), { force: true });
}

export const isMigrated = (root: string, feature: string): boolean => existsSync(activePath(root, feature));

/** Rollback's first word to the agent: this node no longer runs the feature under Kubernetes. */
export function retireRecord(root: string, feature: string): void {
  if (existsSync(activePath(root, feature))) renameSync(activePath(root, feature), retiredPath(root, feature));
}

export function forgetRecord(root: string, feature: string): void {
  rmSync(activePath(root, feature), { force: true });
  rmSync(retiredPath(root, feature), { force: true });
}

/** Features migrated on this node (active records). */
export function migratedFeatures(root: string): string[] {
  try {
    return readdirSync(join(root, MIGRATED_DIR))
      .filter((n) => n.endsWith('.json') && !n.endsWith('.rolled-back.json'))
      .map((n) => n.slice(0, -'.json'.length));
  } catch {
    return [];
  }
}
