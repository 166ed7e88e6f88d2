import { describe, expect, it } from 'vitest';
import { parseCheckerArgs, parseThreshold } from '../../src/memory/args.js';

describe('parseCheckerArgs', () => {
  it.each([
    [['bmp', '838860800'], { container: 'bmp', threshold: 838860800, source: 'auto', namespace: 'sonic', json: false, timeoutMs: 1800 }],
    [['--json', 'telemetry', '419430400'], { container: 'telemetry', threshold: 419430400, json: true }],
    [['gnmi', '1', '--source', 'cgroup', '--timeout=500'], { container: 'gnmi', threshold: 1, source: 'cgroup', timeoutMs: 500 }],
    [['--namespace', 'kube-sonic', '--node', 'sw1', 'snmp', '4294967296'], { namespace: 'kube-sonic', node: 'sw1', threshold: 4294967296 }],
    [['--', 'bmp', '10'], { container: 'bmp', threshold: 10 }],
  ])('runs %j', (argv, expected) => {
    const parsed = parseCheckerArgs(argv);
    expect(parsed.kind).toBe('run');
    if (parsed.kind === 'run') expect(parsed.options).toMatchObject(expected);
  });

  it('leaves the node to the settings ($NODE_NAME) unless --node is given', () => {
    const fromSettings = parseCheckerArgs(['bmp', '5']);
    const fromFlag = parseCheckerArgs(['--node', 'leaf2', 'bmp', '5']);
    expect(fromSettings.kind === 'run' && fromSettings.options.node).toBeUndefined();
    expect(fromFlag.kind === 'run' && fromFlag.options.node).toBe('leaf2');
  });

  it.each([
    [['bmp', '0'], 'invalid-threshold'],
    [['bmp', '-5'], 'invalid-threshold'],
    [['bmp', '12.5'], 'invalid-threshold'],
    [['bmp', '0x10'], 'invalid-threshold'],
    [['bmp', '99999999999999999999'], 'invalid-threshold'],
    [['bmp', ''], 'invalid-threshold'],
    [['bmp'], 'usage-error'],
    [[], 'usage-error'],
    [['bmp', '5', 'extra'], 'usage-error'],
    [['bmp', '5', '--source', 'ssh'], 'usage-error'],
    [['bmp', '5', '--timeout', '0'], 'usage-error'],
    [['bmp', '5', '--timeout'], 'usage-error'],
    [['bmp', '5', '--frobnicate'], 'usage-error'],
    [['../etc', '5'], 'usage-error'],
    [['bmp', '5', '--namespace', 'Bad_NS'], 'usage-error'],
    [['--help'], 'help'],
    [['bmp', '5', '-V'], 'version'],
  ])('%j → %s', (argv, kind) => {
    expect(parseCheckerArgs(argv).kind).toBe(kind);
  });

  it.each([
    ['1', 1],
    ['838860800', 838860800],
    ['9007199254740991', 9007199254740991],
    ['9007199254740992', undefined],
    [' 5', undefined],
    ['1e9', undefined],
  ])('threshold %j → %s', (raw, expected) => {
    expect(parseThreshold(raw)).toBe(expected);
  });
});
