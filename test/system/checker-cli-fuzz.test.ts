// The shipped bundle under random command lines: never a stack trace, never a 3 without a measured
// value above the threshold (here nothing can be measured: no Docker, no credentials).
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { runChecker } from '../helpers/procs.js';

const token = fc.oneof(
  fc.string({ maxLength: 12 }),
  fc.constantFrom(
    'bmp',
    'bmp_watchdog',
    '838860800',
    '1',
    '0',
    '-1',
    '1e9',
    '0x10',
    '--json',
    '--source',
    'kube',
    'cgroup',
    'docker',
    'ssh',
    '--timeout',
    '50',
    '--node',
    '--namespace',
    '--kubeconfig',
    '/nonexistent',
    '--',
    '-h',
    '-V',
    '--bogus',
  ),
);

describe('memory_checker bundle, fuzzed command lines', () => {
  it('exits 0, 1 or 2 with at most one-line errors', () => {
    fc.assert(
      fc.property(fc.array(token, { maxLength: 6 }), (argv) => {
        const r = runChecker(argv, {
          DOCKER_HOST: 'unix:///nonexistent.sock',
          KUBECONFIG: '/nonexistent',
          KUBESONIC_CONTAINERD_STATE: '/nonexistent',
        });
        expect([0, 1, 2]).toContain(r.code);
        expect(r.stderr).not.toMatch(/\n\s+at /);
        expect(r.stderr).not.toMatch(/node:internal|Error: /);
      }),
      { numRuns: 60 },
    );
  });
});
