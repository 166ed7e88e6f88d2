// A real monit runs the shipped stanza — its check program line unchanged — every second against
// a real Docker container; after 10 breaches within 20 cycles it runs the action.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { chmodSync, existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { startDockerd, runFeatureContainer, setFeatureMemory, type Dockerd } from '../helpers/docker.js';
import { CHECKER, REPO, TEST_ROOT, run, startDaemon, testbedBin, waitFor, type Daemon } from '../helpers/procs.js';

const DIR = join(TEST_ROOT, 'monit');
const MARKER = join(DIR, 'action-ran');
let d: Dockerd;
let monit: Daemon;

function stanzaWithMarkerAction(): string {
  const shipped = readFileSync(join(REPO, 'monit', 'monit_bmp'), 'utf8');
  const check = shipped.split('\n').find((l) => l.startsWith('check program'))!;
  expect(check).toBe('check program container_memory_bmp with path "/usr/bin/memory_checker bmp 838860800"');
  // Only the action is swapped for a marker, so the test observes when monit decides to act.
  return shipped.replace(/then exec ".*"$/m, `then exec "${join(DIR, 'action.sh')}"`);
}

beforeAll(async () => {
  rmSync(DIR, { recursive: true, force: true });
  mkdirSync(join(DIR, 'conf.d'), { recursive: true });
  mkdirSync(join(DIR, 'bin'), { recursive: true });
  d = await startDockerd(testbedBin());
  runFeatureContainer(d, 'bmp', 'openbmpd', 32);
  // /usr/bin/memory_checker inside monit's private mount namespace is the bundled drop-in.
  // monit runs programs with a bare environment, so the wrapper names the test dockerd's socket.
  writeFileSync(
    join(DIR, 'bin', 'memory_checker'),
    `#!/bin/sh\nDOCKER_HOST=${d.host} KUBECONFIG=/nonexistent exec ${process.execPath} ${CHECKER} "$@"\n`,
  );
  chmodSync(join(DIR, 'bin', 'memory_checker'), 0o755);
  writeFileSync(join(DIR, 'action.sh'), `#!/bin/sh\ndate +%s >> ${MARKER}\n`);
  chmodSync(join(DIR, 'action.sh'), 0o755);
  writeFileSync(join(DIR, 'conf.d', 'monit_bmp'), stanzaWithMarkerAction());
  const rc = join(DIR, 'monitrc');
  writeFileSync(
    rc,
    [
      'set daemon 1',
      `set logfile ${join(DIR, 'monit.log')}`,
      `set pidfile ${join(DIR, 'monit.pid')}`,
      `set idfile ${join(DIR, 'monit.id')}`,
      `set statefile ${join(DIR, 'monit.state')}`,
      `include ${join(DIR, 'conf.d')}/*`,
      '',
    ].join('\n'),
  );
  chmodSync(rc, 0o600);
  const inNamespace = (cmd: string) => [
    '--mount',
    '--propagation',
    'private',
    'sh',
    '-c',
    `mount -t overlay overlay -o lowerdir=${join(DIR, 'bin')}:/usr/bin /usr/bin && ${cmd}`,
  ];
  const syntax = run('unshare', inNamespace(`monit -t -c ${rc}`));
  expect(syntax.stdout + syntax.stderr).toMatch(/Control file syntax OK/);
  monit = startDaemon('monit', 'unshare', inNamespace(`exec monit -I -c ${rc}`), { logDir: DIR });
});

afterAll(async () => {
  await monit?.stop();
  await d?.stop();
});

describe('monit runs the unchanged check program line', () => {
  it('does nothing while bmp stays under 800 MiB', async () => {
    await waitFor(
      'monit started',
      () => existsSync(join(DIR, 'monit.log')) && /Monit .* started/.test(readFileSync(join(DIR, 'monit.log'), 'utf8')),
      30_000,
    );
    // 12 cycles of 1 s: more than the 10 breaches the stanza needs, had the checker said 3.
    await new Promise((r) => setTimeout(r, 12_000));
    expect(existsSync(MARKER)).toBe(false);
  });

  it('runs the action after 10 breaches once bmp holds more than 800 MiB', async () => {
    setFeatureMemory(d, 'bmp', 850);
    const started = Date.now();
    await waitFor('monit action', () => existsSync(MARKER), 90_000, 500);
    const log = readFileSync(join(DIR, 'monit.log'), 'utf8');
    expect(log).toMatch(/\[bmp\]: Memory usage \(\d+ Bytes\) is larger than the threshold \(838860800 Bytes\)!/);
    // 10 failing cycles of 1 s are needed before monit acts.
    expect(Date.now() - started).toBeGreaterThan(9_000);
  });
});
