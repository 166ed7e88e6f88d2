// Where a feature's spec file is found: /etc/sonic/kubesonic/features on a switch, deploy/features
// in this repository, or the file given with --spec.
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { SPEC_DIR } from '../sonic/paths.js';
import { parseFeatureSpec, type FeatureSpec } from './spec.js';

export const SPEC_DIRS = [SPEC_DIR, join(process.cwd(), 'deploy', 'features')];

export function resolveSpecPath(feature: string, explicit?: string): string {
  if (explicit) {
    if (!existsSync(explicit)) throw new Error(`spec file ${explicit} does not exist`);
    return explicit;
  }
  for (const dir of SPEC_DIRS) {
    const p = join(dir, `${feature}.yaml`);
    if (existsSync(p)) return p;
  }
  throw new Error(`no spec for ${feature}: pass --spec or add ${SPEC_DIRS[0]}/${feature}.yaml`);
}

/** A spec file, parsed (whichever feature it describes). */
export function loadSpecFile(file: string): FeatureSpec {
  return parseFeatureSpec(readFileSync(resolveSpecPath('', file), 'utf8'), file);
}

/** The spec of `feature`, parsed and checked to describe that feature. */
export function loadSpec(feature: string, explicit?: string): FeatureSpec {
  const file = resolveSpecPath(feature, explicit);
  const spec = parseFeatureSpec(readFileSync(file, 'utf8'), file);
  if (spec.feature !== feature) throw new Error(`${file} describes ${spec.feature}, not ${feature}`);
  return spec;
}
