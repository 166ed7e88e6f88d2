// kubesonic-exporter's hand-written command line: the same options and defaults as `kubesonic
// exporter` (yargs), every mistake a one-line usage error before anything is connected.
import { describe, expect, it } from 'vitest';
import { DEFAULT_FEATURES, DEFAULT_LISTEN, parseExporterArgs } from '../../src/exporter/args.js';
import { DEFAULT_CACHE_MS } from '../../src/exporter/exporter.js';
import { DEFAULT_TIMEOUT_MS } from '../../src/memory/args.js';
import { MONIT_THRESHOLDS } from '../../src/sonic/paths.js';

const run = (argv: string[]) => {
  const p = parseExporterArgs(argv);
  if (p.kind !== 'run') throw new Error(`expected run, got ${JSON.stringify(p)}`);
  return p.args;
};

describe('parseExporterArgs', () => {
  it('defaults: the monit features with their monit thresholds, loopback, STATE_DB read', () => {
    expect(run([])).toEqual({
      features: DEFAULT_FEATURES.map((feature) => ({ feature, threshold: MONIT_THRESHOLDS[feature] })),
      listen: DEFAULT_LISTEN,
      timeoutMs: DEFAULT_TIMEOUT_MS,
      cacheMs: DEFAULT_CACHE_MS,
      stateDb: true,
      namespace: 'sonic',
      node: undefined,
      kubeconfig: undefined,
    });
    expect(DEFAULT_LISTEN).toMatch(/^127\.0\.0\.1:/);
  });

  it('the unit file’s command line, both value forms, repeated features replace the defaults', () => {
    const args = run([
      '--listen',
      '127.0.0.1:19732',
      '--feature',
      'bmp=1048576',
      '--feature=feat01=2048',
      '--cache-ms=0',
      '--timeout',
      '900',
      '--no-state-db',
      '--node',
      'Switch1',
      '--namespace=other',
      '--kubeconfig',
      '/k',
    ]);
    expect(args.features).toEqual([
      { feature: 'bmp', threshold: 1048576 },
      { feature: 'feat01', threshold: 2048 },
    ]);
    expect(args).toMatchObject({
      listen: '127.0.0.1:19732',
      cacheMs: 0,
      timeoutMs: 900,
      stateDb: false,
      node: 'Switch1',
      namespace: 'other',
      kubeconfig: '/k',
    });
  });

  it('--help', () => expect(parseExporterArgs(['--feature', 'bmp', '-h'])).toEqual({ kind: 'help' }));

  it.each([
    [['--bogus'], /unknown argument "--bogus"/],
    [['bmp'], /unknown argument "bmp"/],
    [['--listen'], /--listen needs a value/],
    [['--listen', '9732'], /--listen must be host:port/],
    [['--cache-ms', '-1'], /--cache-ms must be a whole number/],
    [['--cache-ms', '1.5'], /--cache-ms must be a whole number/],
    [['--timeout', '0'], /--timeout must be a whole number/],
    [['--feature', 'Bad'], /invalid feature "Bad"/],
    [['--feature', 'nomonit'], /give a threshold in bytes/],
    [['--feature', 'bmp=12x'], /give a threshold in bytes/],
  ])('%j is a one-line usage error', (argv, message) => {
    const p = parseExporterArgs(argv);
    expect(p.kind).toBe('usage-error');
    if (p.kind === 'usage-error') {
      expect(p.message).toMatch(message);
      expect(p.message).not.toContain('\n');
    }
  });
});
