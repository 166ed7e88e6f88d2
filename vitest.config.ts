import { defineConfig } from 'vitest/config';

// Three projects: "unit" needs nothing but Node; "system" drives real services (redis, dockerd,
// monit, prometheus, a real kubelet) that scripts/test-all.sh installs and the tests start themselves;
// "v2" boots a cgroup v2 guest under qemu and checks memory_checker there (docs/cgroup-v2-lane.md).
export default defineConfig({
  test: {
    reporters: ['default'],
    projects: [
      { test: { name: 'unit', include: ['test/unit/**/*.test.ts'], testTimeout: 20_000 } },
      // The .deb installed into Debian roots (bookworm, trixie) with Debian's nodejs; needs root and `npm run package`.
      { test: { name: 'package', include: ['test/package/**/*.test.ts'], testTimeout: 120_000, hookTimeout: 600_000 } },
      {
        test: {
          name: 'system',
          include: ['test/system/**/*.test.ts'],
          testTimeout: 240_000,
          hookTimeout: 600_000,
          pool: 'forks',
          poolOptions: { forks: { singleFork: true } },
          globalSetup: ['test/system/global-setup.ts'],
          setupFiles: ['test/system/each-file.ts'],
        },
      },
      {
        // One qemu boot of a cgroup v2 guest (testbed/v2/); the tests assert on what it reported.
        test: {
          name: 'v2',
          include: ['test/v2/**/*.test.ts'],
          testTimeout: 20_000,
          hookTimeout: 1_200_000,
          globalSetup: ['test/v2/global-setup.ts'],
        },
      },
    ],
  },
});
