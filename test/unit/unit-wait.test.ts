// The unit's ExecStart once migrated (systemd/unit.ts unitWaitScript), run by the real /bin/sh over
// a unit state directory: it lasts while the pod runs, ends 0 on a disable, 1 when the pod stays
// gone, 0 on SIGTERM, and decides nothing while the state is unknown. The switch's tools are small
// scripts on a PATH of their own (switchPath), so the host's docker never takes part.
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { appendFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { unitWaitScript } from '../../src/systemd/unit.js';
import { sleep, waitUntil } from '../../src/util/wait.js';

/** The host programs the script and the stand-ins run; docker, crictl, redis-cli and logger are never among them. */
const HOST_TOOLS = ['cat', 'date', 'grep', 'mkdir', 'mkfifo', 'mktemp', 'mv', 'rm', 'sed', 'sleep', 'timeout', 'touch', 'wc'];

/** A PATH of only `bin`, holding links to HOST_TOOLS: no tool of the host's (its docker above all) leaks in. */
function switchPath(bin: string): string {
  mkdirSync(bin, { recursive: true });
  for (const t of HOST_TOOLS) {
    const at = spawnSync('/bin/sh', ['-c', `command -v ${t}`], { encoding: 'utf8' }).stdout.trim();
    if (!at) throw new Error(`${t} is not on this host's PATH`);
    symlinkSync(at, join(bin, t));
  }
  return bin;
}

function waiter(grace = 4) {
  const dir = mkdtempSync(join(tmpdir(), 'kubesonic-units-'));
  const script = join(dir, 'unit-wait.sh');
  writeFileSync(script, unitWaitScript());
  const child = spawn('/bin/sh', [script, 'bmp', String(grace)], {
    env: { PATH: switchPath(join(dir, 'bin')), KUBESONIC_UNIT_STATE_DIR: dir, KUBESONIC_HOLD_DIR: join(dir, 'hold') },
  });
  let output = '';
  child.stdout.on('data', (c: Buffer) => (output += c.toString()));
  let code: number | null | undefined;
  const exited = new Promise<number | null>((resolve) =>
    child.on('exit', (c, signal) => {
      code = c ?? (signal ? 128 : null);
      resolve(code);
    }),
  );
  return {
    state: (s: string) => writeFileSync(join(dir, 'bmp'), `${s} 1764410000\n`),
    child,
    exited,
    running: () => code === undefined,
    output: () => output,
  };
}

const shellcheck = spawnSync('/bin/sh', ['-c', 'command -v shellcheck'], { encoding: 'utf8' }).stdout.trim();

describe('unit-wait.sh (ExecStart of a migrated unit)', () => {
  // npm run lint checks the scripts git knows; this one exists only as rendered text.
  it.skipIf(!shellcheck)('is POSIX sh that shellcheck passes (dash runs it on Debian)', () => {
    const r = spawnSync(shellcheck, ['--shell=sh', '--severity=style', '-'], { input: unitWaitScript(), encoding: 'utf8' });
    expect(r.stdout).toBe('');
    expect(r.status).toBe(0);
  });

  it.concurrent('exits 0 with one line once the feature is disabled', async () => {
    const w = waiter();
    w.state('running');
    await sleep(300);
    expect(w.running()).toBe(true);
    w.state('disabled');
    expect(await w.exited).toBe(0);
    expect(w.output()).toBe('bmp: pod gone and bmp disabled on this node\n');
  });

  it.concurrent('exits 1 once the pod has stayed gone without a disable for the grace time', async () => {
    const w = waiter(4);
    w.state('stopped');
    const started = Date.now();
    expect(await w.exited).toBe(1);
    expect(Date.now() - started).toBeGreaterThanOrEqual(3000);
    expect(w.output()).toBe('bmp: no pod on this node for 4 s and no disable taint\n');
  });

  it.concurrent('a pod back within the grace time resets it', async () => {
    const w = waiter(4);
    w.state('stopped');
    await sleep(2500);
    w.state('pending');
    await sleep(3000);
    expect(w.running()).toBe(true);
    w.child.kill('SIGTERM');
    expect(await w.exited).toBe(0);
  });

  it.concurrent('no state file (after a reboot, or the agent not there yet): keeps waiting; SIGTERM ends it with 0', async () => {
    const w = waiter(2);
    await sleep(4500);
    expect(w.running()).toBe(true);
    w.child.kill('SIGTERM');
    expect(await w.exited).toBe(0);
  });
});

/**
 * The fallback, with the switch's tools as small scripts on PATH: crictl (what the runtime runs),
 * redis-cli (CONFIG_DB's no_fallback_to_local, and the STATE_DB write), and the image's launcher,
 * which notes whether the native marker was on when it started. With `docker`, a stand-in docker
 * whose `ps` lists bmp while the launcher's container runs and fails while `dockerDown()` holds.
 */
function fallbackWaiter(
  opts: { fallback?: number; noFallback?: string; runtime?: 'clear' | 'running' | 'error'; docker?: boolean; markedBefore?: boolean } = {},
) {
  const dir = mkdtempSync(join(tmpdir(), 'kubesonic-fallback-'));
  const hold = join(dir, 'hold');
  const mark = join(hold, 'bmp.native');
  const sock = join(dir, 'docker.sock');
  writeFileSync(sock, '');
  const bin = switchPath(join(dir, 'bin'));
  const tool = (name: string, body: string) => writeFileSync(join(bin, name), `#!/bin/sh\n${body}\n`, { mode: 0o755 });
  const runtime = opts.runtime ?? 'clear';
  tool('crictl', runtime === 'error' ? 'exit 1' : runtime === 'running' ? 'echo 4e3b0c4d5e6f' : 'exit 0');
  tool(
    'redis-cli',
    `echo "$*" >> ${dir}/redis.log\ncase "$*" in *hget*) ${opts.noFallback === undefined ? ':' : `echo '${opts.noFallback}'`} ;; esac`,
  );
  tool(
    'native.sh',
    `echo "$1" >> ${dir}/native.log
case $1 in
  start) if [ -e ${mark} ]; then echo marked >> ${dir}/native.log; fi; touch ${dir}/running ;;
  stop) rm -f ${dir}/running ;;
  wait) while [ -e ${dir}/running ]; do sleep 0.2; done ;;
esac`,
  );
  if (opts.docker)
    tool(
      'docker',
      `echo "$*" >> ${dir}/docker.log
if [ -e ${dir}/docker-down ]; then echo 'Cannot connect to the Docker daemon' >&2; exit 1; fi
# A stopped dockerd: the socket accepts, nothing answers, the CLI waits without end.
if [ -e ${dir}/docker-hung ] && [ "$1" != events ]; then exec sleep 3600; fi
case $1 in
  ps) echo bmp2; if [ -e ${dir}/running ]; then echo bmp; fi ;;
  stop) rm -f ${dir}/running ;;
  events) exec sleep 3600 ;;
esac`,
    );
  if (opts.markedBefore) {
    mkdirSync(hold, { recursive: true });
    writeFileSync(mark, 'native fallback of the unit 1764410000\n');
  }
  const script = join(dir, 'unit-wait.sh');
  writeFileSync(script, unitWaitScript());
  const child = spawn('/bin/sh', [script, 'bmp', '60'], {
    env: {
      PATH: bin,
      KUBESONIC_UNIT_STATE_DIR: dir,
      KUBESONIC_HOLD_DIR: hold,
      KUBESONIC_FALLBACK_SECONDS: String(opts.fallback ?? 4),
      KUBESONIC_NATIVE: join(bin, 'native.sh'),
      // Where the stand-in's dockerd "listens": the shell takes a missing socket for no dockerd.
      DOCKER_HOST: `unix://${sock}`,
    },
  });
  fallbackShells.push(child);
  let output = '';
  child.stdout.on('data', (c: Buffer) => (output += c.toString()));
  let code: number | null | undefined;
  const exited = new Promise<number | null>((resolve) =>
    child.on('exit', (c) => {
      code = c;
      resolve(c);
    }),
  );
  const read = (f: string) => (existsSync(join(dir, f)) ? readFileSync(join(dir, f), 'utf8') : '');
  return {
    state: (s: string) => writeFileSync(join(dir, 'bmp'), `${s} 1764410000\n`),
    stopNative: () => rmSync(join(dir, 'running'), { force: true }),
    /** The native container runs (as `docker start` by hand would leave it). */
    startNative: () => writeFileSync(join(dir, 'running'), ''),
    dockerDown: (down: boolean) => (down ? writeFileSync(join(dir, 'docker-down'), '') : rmSync(join(dir, 'docker-down'), { force: true })),
    /** dockerd stopped cleanly: its socket is gone (the CLI then fails as it does when refused). */
    dockerGone: () => {
      rmSync(sock);
      writeFileSync(join(dir, 'docker-down'), '');
    },
    dockerHung: (hung: boolean) => (hung ? writeFileSync(join(dir, 'docker-hung'), '') : rmSync(join(dir, 'docker-hung'), { force: true })),
    marked: () => existsSync(mark),
    docker: () => read('docker.log').split('\n').filter(Boolean),
    native: () => read('native.log').trim().split('\n').filter(Boolean),
    redis: () => read('redis.log'),
    unitState: () => read('bmp'),
    child,
    exited,
    running: () => code === undefined,
    output: () => output,
  };
}

/** Every fallback shell: a failed assertion leaves none running. */
const fallbackShells: ChildProcess[] = [];
afterAll(() => {
  for (const c of fallbackShells) if (c.exitCode === null && c.signalCode === null) c.kill('SIGTERM');
});

describe('unit-wait.sh: local fallback and hand-back', () => {
  it.concurrent('no pod for the fallback delay: runs the native launcher, says so; a pod back: stops it (hand-back)', async () => {
    const w = fallbackWaiter();
    await waitUntil('native start', 9000, async () => (w.native().includes('start') ? true : undefined), 100);
    expect(w.output()).toMatch(/^bmp: no pod from Kubernetes for 4 s: falling back to the native container \(\S+\/native\.sh start\)\n$/);
    await waitUntil('unit state local', 3000, async () => (w.unitState().startsWith('local ') ? true : undefined), 100);
    expect(w.unitState()).toMatch(/^local \d+\n$/);
    expect(w.redis()).toMatch(/-n 6 hset FEATURE\|bmp current_owner local remote_state none/);
    // The native marker went on before the launcher started anything.
    expect(w.marked()).toBe(true);
    // The agent is back and sees the pod waiting in its wrapper (the marker): pending.
    w.state('pending');
    await waitUntil('native stop', 5000, async () => (w.native().includes('stop') ? true : undefined), 100);
    expect(w.native()).toEqual(['start', 'marked', 'wait', 'stop']);
    expect(w.output()).toMatch(/Kubernetes has a pod for bmp on this node again: stopping the native container/);
    // No docker CLI on this switch: nothing native can run, the marker goes with the hand-back.
    await waitUntil('marker removed', 3000, async () => (w.marked() ? undefined : true), 100);
    w.state('running');
    await sleep(2500);
    expect(w.running()).toBe(true);
    w.child.kill('SIGTERM');
    expect(await w.exited).toBe(0);
  });

  it.concurrent('CONFIG_DB no_fallback_to_local exactly "true": stays down, says why once', async () => {
    const w = fallbackWaiter({ noFallback: 'true' });
    await sleep(9000);
    expect(w.native()).toEqual([]);
    expect(w.marked()).toBe(false);
    expect(w.output()).toBe("bmp: no pod from Kubernetes for 4 s; CONFIG_DB no_fallback_to_local is 'true': staying down\n");
    w.child.kill('SIGTERM');
    expect(await w.exited).toBe(0);
  });

  it.concurrent.each(['yes', 'True', '1', 'false'])('no_fallback_to_local %j is not "true": falls back', async (value) => {
    const w = fallbackWaiter({ noFallback: value });
    await waitUntil('native start', 9000, async () => (w.native().includes('start') ? true : undefined), 100);
    w.child.kill('SIGTERM');
    await w.exited;
    // The stand-in launcher's `wait` outlives a plain sh (systemd would kill the cgroup): ended here.
    w.stopNative();
  });

  it.concurrent.each([
    ['a feature container running', 'running' as const],
    ['the runtime not answering', 'error' as const],
  ])('%s: no fallback', async (_label, runtime) => {
    const w = fallbackWaiter({ runtime });
    await sleep(8000);
    expect(w.native()).toEqual([]);
    expect(w.output()).toMatch(/container runtime shows a bmp container running \(or does not answer\): no fallback\n$/);
    w.child.kill('SIGTERM');
    await w.exited;
  });

  it.concurrent('a pod that is only slow (pending: a long image pull) is never fallen back from', async () => {
    const w = fallbackWaiter();
    w.state('pending');
    await sleep(8000);
    expect(w.native()).toEqual([]);
    expect(w.running()).toBe(true);
    w.child.kill('SIGTERM');
    await w.exited;
  });

  it.concurrent('with Docker: hand-back removes the marker only once docker ps shows no container named exactly bmp', async () => {
    const w = fallbackWaiter({ docker: true });
    await waitUntil('native start', 9000, async () => (w.native().includes('start') ? true : undefined), 100);
    expect(w.native()).toEqual(['start', 'marked', 'wait']);
    // Docker stops answering before the pod comes back: the launcher's stop runs, the marker stays.
    w.dockerDown(true);
    w.state('pending');
    await waitUntil('native stop', 5000, async () => (w.native().includes('stop') ? true : undefined), 100);
    await sleep(4500);
    expect(w.marked()).toBe(true);
    // Said once, not every loop.
    expect(w.output().match(/bmp\.native stays: a native bmp container runs, or Docker does not answer/g)).toHaveLength(1);
    // Docker answers again (bmp2 runs, bmp does not): the marker goes, said once.
    w.dockerDown(false);
    await waitUntil('marker removed', 5000, async () => (w.marked() ? undefined : true), 100);
    expect(w.output()).toMatch(
      /bmp: no native bmp container runs \(docker ps\): removed the native marker \S+bmp\.native; the pod's bmp may start\n$/,
    );
    w.child.kill('SIGTERM');
    expect(await w.exited).toBe(0);
  });

  // No unit state yet (the agent not back after the reboot): the watcher leaves a native bmp alone.
  it.concurrent.each([
    ['Docker lists none (bmp2 only): removed at once', 'none' as const, false],
    ['Docker does not answer: it stays', 'down' as const, true],
    ['a native bmp runs: it stays', 'running' as const, true],
  ])('a marker left from before (reboot during a fallback), %s', async (_label, docker, stays) => {
    const w = fallbackWaiter({ docker: true, markedBefore: true, fallback: 0 });
    if (docker === 'down') w.dockerDown(true);
    if (docker === 'running') w.startNative();
    await sleep(3000);
    expect(w.marked()).toBe(stays);
    if (stays) {
      expect(w.output()).toMatch(/^bmp: the native marker \S+bmp\.native stays: a native bmp container runs, or Docker does not answer\n$/);
      // Docker answers and nothing runs any more: gone within one loop.
      w.dockerDown(false);
      w.stopNative();
      await waitUntil('marker removed', 5000, async () => (w.marked() ? undefined : true), 100);
    }
    // The shell removes the file, then says so: the line may reach us a moment after.
    await waitUntil('the removal said', 2000, async () => (/removed the native marker/.test(w.output()) ? true : undefined), 50);
    expect(w.output()).toMatch(/removed the native marker \S+bmp\.native/);
    w.child.kill('SIGTERM');
    expect(await w.exited).toBe(0);
  });

  it.concurrent('dockerd stopped cleanly (its socket gone): no dockerd, so none runs: the marker goes', async () => {
    const w = fallbackWaiter({ docker: true, markedBefore: true, fallback: 0 });
    w.startNative();
    await sleep(3000);
    expect(w.marked()).toBe(true);
    w.dockerGone();
    await waitUntil('marker removed', 5000, async () => (w.marked() ? undefined : true), 100);
    w.child.kill('SIGTERM');
    expect(await w.exited).toBe(0);
  });

  it.concurrent('Docker hung (the CLI would wait for ever): the marker stays, said once, and a disable still ends the unit within seconds', async () => {
    const w = fallbackWaiter({ docker: true, markedBefore: true, fallback: 0 });
    w.dockerHung(true);
    await sleep(7000);
    expect(w.marked()).toBe(true);
    expect(w.output()).toMatch(/^bmp: the native marker \S+bmp\.native stays: a native bmp container runs, or Docker does not answer\n$/);
    w.state('disabled');
    const asked = Date.now();
    expect(await w.exited).toBe(0);
    // One question of at most 5 s in flight, then the loop's next look.
    expect(Date.now() - asked).toBeLessThan(8000);
    expect(w.output()).toMatch(/bmp: pod gone and bmp disabled on this node\n$/);
    expect(w.marked()).toBe(true);
  });

  it.concurrent('a marker left from before and a native bmp running while the pod owns bmp (pending): the watcher stops it, then the marker goes', async () => {
    const w = fallbackWaiter({ docker: true, markedBefore: true, fallback: 0 });
    w.startNative();
    w.state('pending');
    await waitUntil('marker removed', 6000, async () => (w.marked() ? undefined : true), 100);
    expect(w.docker()).toContain('stop -t 2 bmp');
    w.child.kill('SIGTERM');
    expect(await w.exited).toBe(0);
  });

  it.concurrent('the native container ending on its own in local mode: exit 1', async () => {
    const w = fallbackWaiter();
    await waitUntil('native start', 9000, async () => (w.native().includes('start') ? true : undefined), 100);
    w.stopNative();
    expect(await w.exited).toBe(1);
    expect(w.output()).toMatch(/bmp: the native container ended\n$/);
  });
});

/** Whether `pid` is a live process (a zombie counts as gone). */
function alive(pid: number): boolean {
  try {
    return !/^\d+ \(.*\) Z /.test(readFileSync(`/proc/${pid}/stat`, 'utf8'));
  } catch {
    return false;
  }
}

const childrenOf = (pid: number): number[] =>
  existsSync(`/proc/${pid}/task/${pid}/children`)
    ? readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim().split(/\s+/).filter(Boolean).map(Number)
    : [];

/**
 * The native-container watcher, with a stand-in docker: `events` follows a file the test appends
 * container names to (as dockerd's start events), `ps` lists the names in another, `stop` takes a
 * name out of it; every call is logged. redis-cli and logger record theirs.
 */
function intruderWaiter(opts: { docker?: boolean; runningAtStart?: string[] } = {}) {
  const dir = mkdtempSync(join(tmpdir(), 'kubesonic-intruder-'));
  const bin = switchPath(join(dir, 'bin'));
  const tool = (name: string, body: string) => writeFileSync(join(bin, name), `#!/bin/sh\n${body}\n`, { mode: 0o755 });
  writeFileSync(join(dir, 'running'), (opts.runningAtStart ?? []).map((n) => `${n}\n`).join(''));
  writeFileSync(join(dir, 'events'), '');
  if (opts.docker !== false)
    tool(
      'docker',
      `echo "$*" >> ${dir}/docker.log
case $1 in
  ps) cat ${dir}/running ;;
  stop) for name; do :; done; grep -vxF -- "$name" ${dir}/running > ${dir}/running.tmp; mv ${dir}/running.tmp ${dir}/running ;;
  events) echo $$ > ${dir}/events.pid; n=0
    # As docker events: blocked between lines, and blind to its reader going (no tail -f, which notices).
    while :; do
      while [ "$n" -lt "$(wc -l < ${dir}/events)" ]; do n=$((n + 1)); sed -n "\${n}p" ${dir}/events; done
      sleep 0.1
    done ;;
esac`,
    );
  tool('redis-cli', `echo "$*" >> ${dir}/redis.log`);
  tool('logger', `echo "$*" >> ${dir}/logger.log`);
  const script = join(dir, 'unit-wait.sh');
  writeFileSync(script, unitWaitScript());
  const child = spawn('/bin/sh', [script, 'bmp', '60'], {
    env: { PATH: bin, KUBESONIC_UNIT_STATE_DIR: dir, KUBESONIC_HOLD_DIR: join(dir, 'hold'), TMPDIR: dir },
  });
  intruderShells.push(child);
  let output = '';
  child.stdout.on('data', (c: Buffer) => (output += c.toString()));
  let code: number | null | undefined;
  const exited = new Promise<number | null>((resolve) =>
    child.on('exit', (c, signal) => {
      code = c ?? (signal ? 128 : null);
      resolve(code);
    }),
  );
  const read = (f: string) => (existsSync(join(dir, f)) ? readFileSync(join(dir, f), 'utf8') : '');
  const lines = (f: string) => read(f).split('\n').filter(Boolean);
  return {
    state: (s: string) => writeFileSync(join(dir, 'bmp'), `${s} 1764410000\n`),
    /** `docker start <name>` as dockerd reports it: the container runs, then its start event. */
    start: (name: string) => {
      appendFileSync(join(dir, 'running'), `${name}\n`);
      appendFileSync(join(dir, 'events'), `${name}\n`);
    },
    running: () => lines('running'),
    stops: () => lines('docker.log').filter((l) => l.startsWith('stop ')),
    docker: () => lines('docker.log'),
    redis: () => lines('redis.log'),
    logger: () => lines('logger.log'),
    eventsPid: () => Number(read('events.pid').trim()) || undefined,
    child,
    exited,
    done: () => code !== undefined,
    output: () => output,
  };
}

type IntruderWaiter = ReturnType<typeof intruderWaiter>;
/** Every shell these tests started: a failed assertion leaves none running (its TERM trap ends its watcher). */
const intruderShells: ChildProcess[] = [];
afterAll(() => {
  for (const c of intruderShells) if (c.exitCode === null && c.signalCode === null) c.kill('SIGTERM');
});
/** The watcher follows dockerd's events (the stand-in's events process runs). */
const following = (w: IntruderWaiter) => waitUntil('docker events', 5000, async () => w.eventsPid(), 50);

describe("unit-wait.sh: a native container started behind the pod's back", () => {
  it.concurrent.each(['running', 'pending'])(
    'unit state %s (the pod owns bmp): stopped within 5 s, said, logged, counted',
    async (state) => {
      const w = intruderWaiter();
      w.state(state);
      await following(w);
      w.start('bmp');
      const started = Date.now();
      await waitUntil('bmp stopped', 5000, async () => (w.stops().length && !w.running().includes('bmp') ? true : undefined), 50);
      expect(Date.now() - started).toBeLessThan(5000);
      expect(w.stops()).toEqual(['stop -t 2 bmp']);
      expect(w.running()).toEqual([]);
      await waitUntil('counted and said', 2000, async () => (w.redis().length && w.output() ? true : undefined), 50);
      const why = `a native bmp container was started behind the pod's back while the pod owns bmp (unit state ${state}): stopped it (docker stop -t 2), so the two never run together`;
      expect(w.output()).toBe(`bmp: ${why}\n`);
      expect(w.logger()).toEqual([`-t kubesonic -p daemon.warning bmp: ${why}`]);
      expect(w.redis()).toEqual([`-s /var/run/redis/redis.sock -n 6 hincrby FEATURE|bmp native_stopped_count 1`]);
      // A second start behind its back: counted again (hincrby 1 each time).
      w.start('bmp');
      await waitUntil('second stop', 5000, async () => (w.stops().length === 2 && !w.running().includes('bmp') ? true : undefined), 50);
      await waitUntil('counted again', 2000, async () => (w.redis().length === 2 ? true : undefined), 50);
      expect(w.redis()[1]).toBe(w.redis()[0]);
      w.child.kill('SIGTERM');
      expect(await w.exited).toBe(0);
    },
  );

  it.concurrent.each([
    ["local (the fallback's own container)", 'local'],
    ['stopped (SONiC may start it)', 'stopped'],
    ['unknown', 'unknown'],
    ['no state file (after a reboot)', undefined],
  ])('unit state %s: the native container is left alone', async (_label, state) => {
    const w = intruderWaiter();
    if (state) w.state(state);
    await following(w);
    w.start('bmp');
    await sleep(2500);
    expect(w.stops()).toEqual([]);
    expect(w.running()).toEqual(['bmp']);
    expect(w.redis()).toEqual([]);
    expect(w.output()).toBe('');
    w.child.kill('SIGTERM');
    expect(await w.exited).toBe(0);
  });

  it.concurrent('disabled: the shell ends with 0 and its watcher with it; the native container is left alone', async () => {
    const w = intruderWaiter();
    w.state('running');
    const events = await following(w);
    w.state('disabled');
    expect(await w.exited).toBe(0);
    w.start('bmp');
    await waitUntil('docker events gone', 3000, async () => (alive(events) ? undefined : true), 50);
    expect(w.stops()).toEqual([]);
    expect(w.running()).toEqual(['bmp']);
  });

  it.concurrent("a container named bmp2 (Docker's name filter matches substrings): left alone", async () => {
    const w = intruderWaiter();
    w.state('running');
    await following(w);
    w.start('bmp2');
    await sleep(2500);
    expect(w.stops()).toEqual([]);
    expect(w.running()).toEqual(['bmp2']);
    // bmp itself, afterwards, is still caught: the bmp2 line did not end the watcher.
    w.start('bmp');
    await waitUntil('bmp stopped', 5000, async () => (w.stops().length && !w.running().includes('bmp') ? true : undefined), 50);
    expect(w.stops()).toEqual(['stop -t 2 bmp']);
    expect(w.running()).toEqual(['bmp2']);
    w.child.kill('SIGTERM');
    await w.exited;
  });

  it.concurrent('already running when the watcher starts (no event to see): found by docker ps and stopped', async () => {
    const w = intruderWaiter({ runningAtStart: ['bmp2', 'bmp'] });
    w.state('running');
    // Written before the shell reads it (it starts the watcher at once): no race with the first look.
    await waitUntil('bmp stopped', 5000, async () => (w.stops().length && !w.running().includes('bmp') ? true : undefined), 50);
    expect(w.stops()).toEqual(['stop -t 2 bmp']);
    expect(w.running()).toEqual(['bmp2']);
    await waitUntil('said', 2000, async () => (w.output() ? true : undefined), 50);
    expect(w.output()).toMatch(/^bmp: a native bmp container was found running while the pod owns bmp \(unit state running\): stopped it/);
    w.child.kill('SIGTERM');
    await w.exited;
  });

  it.concurrent('no docker on PATH: no watcher (the shell has no child but its sleep), the rest as before', async () => {
    const w = intruderWaiter({ docker: false });
    w.state('running');
    await sleep(2500);
    w.start('bmp');
    await sleep(2500);
    expect(w.done()).toBe(false);
    const pid = w.child.pid ?? 0;
    const comms = childrenOf(pid).map((c) => readFileSync(`/proc/${c}/comm`, 'utf8').trim());
    expect(comms.every((c) => c === 'sleep')).toBe(true);
    expect(w.running()).toEqual(['bmp']);
    expect(w.output()).toBe('');
    w.state('disabled');
    expect(await w.exited).toBe(0);
    expect(w.output()).toBe('bmp: pod gone and bmp disabled on this node\n');
  });

  it.concurrent('SIGTERM (systemctl stop, or a plain sh): the watcher and its docker events end with the shell', async () => {
    const w = intruderWaiter();
    w.state('running');
    const events = await following(w);
    const watchers = childrenOf(w.child.pid ?? 0).filter((c) => readFileSync(`/proc/${c}/comm`, 'utf8').trim() === 'sh');
    expect(watchers).toHaveLength(1);
    expect(alive(events)).toBe(true);
    w.child.kill('SIGTERM');
    expect(await w.exited).toBe(0);
    await waitUntil('watcher and docker events gone', 3000, async () => (alive(events) || watchers.some(alive) ? undefined : true), 50);
  });
});
