import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { join } from 'node:path';

export const FIXTURES = fileURLToPath(new URL('../../fixtures/', import.meta.url));
export const fixture = (...parts: string[]): string => join(FIXTURES, ...parts);
const [POD_UID, KUBE_ID, DOCKER_ID] = readFileSync(fixture('cgroup', 'IDS'), 'utf8').trim().split(/\s+/) as [string, string, string];
export { POD_UID, KUBE_ID, DOCKER_ID };
export const readJson = (...parts: string[]): Record<string, unknown> => JSON.parse(readFileSync(fixture(...parts), 'utf8'));
