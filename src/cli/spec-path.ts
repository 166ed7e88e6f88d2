import { existsSync } from 'node:fs';
import { join } from 'node:path';

/** Spec files live in /etc/sonic/kubesonic/features on a switch, deploy/features in this repo. */
export const SPEC_DIRS = ['/etc/sonic/kubesonic/features', join(process.cwd(), 'deploy', 'features')];

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
