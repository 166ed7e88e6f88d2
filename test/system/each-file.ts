// Runs before each system test file (vitest setupFiles): the cluster the files share starts clean.
import { beforeAll } from 'vitest';
import { kube, reapPodsWithoutDaemonSet } from '../helpers/cluster.js';

beforeAll(async () => {
  await reapPodsWithoutDaemonSet(kube());
}, 120_000);
