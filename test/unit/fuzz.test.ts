// Property tests: no input makes the parsers throw anything but their documented errors, and no
// input yields an over-threshold verdict unless a measured value really exceeds the threshold.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { parseCheckerArgs } from '../../src/memory/args.js';
import { memoryCgroupFromProc, statField, workingSetFrom, expandSystemdCgroupsPath } from '../../src/memory/cgroup.js';
import { ValueError } from '../../src/memory/errors.js';
import { exitCodeFor } from '../../src/memory/exit-codes.js';
import { parseBytes } from '../../src/kube/quantity.js';
import { containerWorkingSet, featurePodsFromList } from '../../src/memory/sources/kube.js';
import { matchTaskSpec } from '../../src/memory/sources/containerd.js';
import { ApiError } from '../../src/kube/http.js';

const argLike = fc.oneof(
  fc.string(),
  fc.constantFrom('bmp', '838860800', '--json', '--source', 'kube', '--timeout', '--node', '-h', '--', '0', '-1', '1e9', '--namespace'),
  fc.bigInt({ min: -(2n ** 70n), max: 2n ** 70n }).map(String),
);

describe('fuzz', () => {
  it('parseCheckerArgs never throws and only runs with a positive safe threshold', () => {
    fc.assert(
      fc.property(fc.array(argLike, { maxLength: 8 }), (argv) => {
        const parsed = parseCheckerArgs(argv);
        if (parsed.kind === 'run') {
          expect(Number.isSafeInteger(parsed.options.threshold)).toBe(true);
          expect(parsed.options.threshold).toBeGreaterThan(0);
        }
      }),
      { numRuns: 3000 },
    );
  });

  it('cgroup file parsers return a non-negative integer or a ValueError', () => {
    fc.assert(
      fc.property(fc.constantFrom('v1', 'v2') as fc.Arbitrary<'v1' | 'v2'>, fc.string(), fc.string(), (version, usage, stat) => {
        try {
          const ws = workingSetFrom(version, usage, stat, 'fuzz');
          expect(Number.isSafeInteger(ws) && ws >= 0).toBe(true);
        } catch (e) {
          expect(e).toBeInstanceOf(ValueError);
        }
      }),
      { numRuns: 3000 },
    );
  });

  it('memory.stat with well-formed numbers always parses', () => {
    fc.assert(
      fc.property(fc.nat(), fc.nat(), fc.array(fc.tuple(fc.stringMatching(/^[a-z_]{1,12}$/), fc.nat())), (usage, inactive, noise) => {
        const stat = [...noise.filter(([k]) => k !== 'inactive_file').map(([k, v]) => `${k} ${v}`), `inactive_file ${inactive}`].join('\n');
        expect(workingSetFrom('v2', String(usage), stat, 'f')).toBe(Math.max(0, usage - inactive));
        expect(statField(stat, 'inactive_file', 'f')).toBe(inactive);
      }),
    );
  });

  it('a 3 only when usage > threshold', () => {
    fc.assert(
      fc.property(fc.nat(), fc.integer({ min: 1 }), (usage, threshold) => {
        expect(exitCodeFor(usage, threshold) === 3).toBe(usage > threshold);
      }),
    );
  });

  it('quantities, /proc cgroup lines, OCI specs and API bodies never throw unexpectedly', () => {
    fc.assert(
      fc.property(fc.string(), fc.jsonValue(), (text, json) => {
        const b = parseBytes(text);
        expect(b === undefined || (Number.isSafeInteger(b) && b >= 0)).toBe(true);
        memoryCgroupFromProc(text, 'v1');
        memoryCgroupFromProc(text, 'v2');
        expandSystemdCgroupsPath(text);
        matchTaskSpec('id', text, 'bmp', 'sonic');
        matchTaskSpec('id', JSON.stringify(json), 'bmp', 'sonic');
        for (const parse of [() => featurePodsFromList(json, 'bmp'), () => containerWorkingSet(json, 'bmp')]) {
          try {
            parse();
          } catch (e) {
            expect(e).toBeInstanceOf(ApiError);
          }
        }
      }),
      { numRuns: 3000 },
    );
  });
});
