// Runs inside the cgroup v2 guest (bundled to guest-checks.mjs, started by guest.sh with the
// host's node binary): drives the real dockerd, systemd and kernel, runs memory_checker against
// them and writes every observation to <results>/results.json. It asserts nothing itself: the
// host's test/v2 file does, one `it` per check.
//   node guest-checks.mjs <payload dir> <results dir>
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, rmdirSync, writeFileSync } from 'node:fs';
import { request } from 'node:http';
import { randomBytes, randomUUID } from 'node:crypto';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { FEATURE_REF } from '../image.js';
import type { CheckerRun, KernelRead, RaceRound, V2Results } from './results.js';

const [payload = '/payload', resultsDir = '/results'] = process.argv.slice(2);
const NODE = join(payload, 'node');
const CHECKER = join(payload, 'memory_checker.mjs');
const MEMHOG = join(payload, 'memhog');
const CGROUP = '/sys/fs/cgroup';
const TASKS = '/run/containerd/io.containerd.runtime.v2.task/k8s.io';
const MiB = 1024 * 1024;
const CHECKER_ENV = { PATH: process.env.PATH ?? '/usr/sbin:/usr/bin:/sbin:/bin', NODE_NAME: 'v2guest' };

const results: V2Results = { errors: [], timings: {} };
const save = () => writeFileSync(join(resultsDir, 'results.json'), `${JSON.stringify(results, null, 2)}\n`);

function sh(cmd: string, args: string[], env?: NodeJS.ProcessEnv): string {
  const r = spawnSync(cmd, args, { encoding: 'utf8', timeout: 120_000, env: env ?? process.env });
  if (r.status !== 0)
    throw new Error(`${cmd} ${args.join(' ')}: exit ${r.status}: ${(r.stderr || r.stdout || String(r.error)).trim().slice(0, 400)}`);
  return r.stdout;
}

const docker = (...args: string[]) => sh('docker', args).trim();

function checker(args: string[]): CheckerRun {
  const started = Date.now();
  const r = spawnSync(NODE, [CHECKER, ...args], { encoding: 'utf8', timeout: 60_000, env: CHECKER_ENV });
  return { args, code: r.status, stdout: r.stdout, stderr: r.stderr, ms: Date.now() - started };
}

function checkerAsync(args: string[]): Promise<CheckerRun> {
  const started = Date.now();
  return new Promise((resolve) => {
    const child = spawn(NODE, [CHECKER, ...args], { env: CHECKER_ENV, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (b: Buffer) => (stdout += b.toString()));
    child.stderr.on('data', (b: Buffer) => (stderr += b.toString()));
    child.on('close', (code) => resolve({ args, code, stdout, stderr, ms: Date.now() - started }));
  });
}

function kernelRead(dir: string): KernelRead {
  const current = Number(readFileSync(join(dir, 'memory.current'), 'utf8').trim());
  const m = /^inactive_file (\d+)$/m.exec(readFileSync(join(dir, 'memory.stat'), 'utf8'));
  if (!m) throw new Error(`${dir}/memory.stat has no inactive_file line`);
  const inactiveFile = Number(m[1]);
  return { current, inactiveFile, workingSet: current - inactiveFile };
}

/** The cgroup v2 line ("0::/path") of a process. */
function procCgroup(pid: number): string {
  const line = readFileSync(`/proc/${pid}/cgroup`, 'utf8')
    .split('\n')
    .find((l) => l.startsWith('0::'));
  if (!line) throw new Error(`/proc/${pid}/cgroup has no v2 line`);
  return line.slice(3);
}

async function waitFor<T>(what: string, probe: () => T | undefined | false, timeoutMs = 60_000): Promise<T> {
  const until = Date.now() + timeoutMs;
  let last: unknown;
  while (Date.now() < until) {
    try {
      const v = probe();
      if (v !== undefined && v !== false) return v;
    } catch (e) {
      last = e;
    }
    await sleep(200);
  }
  throw new Error(`timed out waiting for ${what}${last ? `: ${String(last)}` : ''}`);
}

function dockerApi(path: string): Promise<unknown> {
  return new Promise((resolve, reject) => {
    const req = request({ socketPath: '/var/run/docker.sock', path, method: 'GET', timeout: 30_000 }, (res) => {
      let body = '';
      res.on('data', (b: Buffer) => (body += b.toString()));
      res.on('end', () => {
        try {
          resolve(JSON.parse(body));
        } catch (e) {
          reject(e);
        }
      });
    });
    req.on('error', reject);
    req.end();
  });
}

function runNative(name: string, daemon: string, mib: number): string {
  spawnSync('docker', ['rm', '-f', name]);
  return docker(
    'run',
    '-d',
    '--name',
    name,
    '--network',
    'none',
    '-e',
    `MEMHOG_MIB=${mib}`,
    '--entrypoint',
    `/usr/bin/${daemon}`,
    FEATURE_REF,
  );
}

const dockerPid = (name: string) => Number(docker('inspect', '-f', '{{.State.Pid}}', name));

async function step(name: string, body: () => Promise<void> | void): Promise<void> {
  const started = Date.now();
  try {
    await body();
  } catch (e) {
    results.errors.push(`${name}: ${e instanceof Error ? e.message : String(e)}`);
  }
  results.timings[name] = (Date.now() - started) / 1000;
  save();
}

// --- a systemd-driver pod-shaped container: a scope under kubepods.slice, found through a
// hand-written containerd task state (as kubelet + containerd would leave it).
interface PodTask {
  uid: string;
  id: string;
  cgroupsPath: string;
  dir: string;
  pid: number;
}

async function startPodTask(container: string, mib: number): Promise<PodTask> {
  const uid = randomUUID();
  const id = randomBytes(32).toString('hex');
  const slice = `kubepods-burstable-pod${uid.replace(/-/g, '_')}.slice`;
  const child = spawn(
    'systemd-run',
    ['--scope', '--quiet', `--unit=cri-containerd-${id}`, `--slice=${slice}`, '-p', 'MemoryAccounting=yes', MEMHOG],
    {
      detached: true,
      stdio: 'ignore',
      env: { ...process.env, MEMHOG_MIB: String(mib) },
    },
  );
  child.unref();
  const pid = child.pid!;
  const rel = `/kubepods.slice/kubepods-burstable.slice/${slice}/cri-containerd-${id}.scope`;
  await waitFor(`pid ${pid} in ${rel}`, () => procCgroup(pid) === rel, 30_000);
  const cgroupsPath = `${slice}:cri-containerd:${id}`;
  const spec = {
    ociVersion: '1.1.0',
    process: { args: ['/usr/bin/openbmpd'] },
    annotations: {
      'io.kubernetes.cri.container-type': 'container',
      'io.kubernetes.cri.container-name': container,
      'io.kubernetes.cri.sandbox-namespace': 'sonic',
      'io.kubernetes.cri.sandbox-name': `${container}-v2guest`,
      'io.kubernetes.cri.sandbox-uid': uid,
      'io.kubernetes.cri.sandbox-id': randomBytes(32).toString('hex'),
    },
    linux: { cgroupsPath },
  };
  const task = join(TASKS, id);
  mkdirSync(task, { recursive: true });
  writeFileSync(join(task, 'config.json'), JSON.stringify(spec));
  writeFileSync(join(task, 'init.pid'), String(pid));
  return { uid, id, cgroupsPath, dir: join(CGROUP, rel), pid };
}

function stopPodTask(t: PodTask): void {
  sh('systemctl', ['kill', '--signal=SIGKILL', `cri-containerd-${t.id}.scope`]);
}

/**
 * Checks racing a stop: runs started every `gapMs` (each takes about a second under emulation, so
 * two or three overlap), the stop issued halfway; then one more check once the container is gone.
 * A vanishing cgroup must read as "not running" (exit 0). The Docker API budget is raised from
 * the default 1.8 s: six node processes on one emulated CPU while dockerd kills a container make
 * the API answer late, which is not what this checks (see docs/cgroup-v2-lane.md).
 */
async function raceRound(round: number, name: string, threshold: number, stop: () => void, perRound = 8, gapMs = 500): Promise<RaceRound> {
  const args = ['--json', '--timeout', '60000', '--source', name.startsWith('pod') ? 'cgroup' : 'docker', name, String(threshold)];
  const pending: Array<Promise<CheckerRun & { afterStop: boolean }>> = [];
  let stopped = false;
  for (let i = 0; i < perRound; i++) {
    const afterStop = stopped;
    pending.push(checkerAsync(args).then((r) => ({ ...r, afterStop })));
    await sleep(gapMs);
    if (i === Math.floor(perRound / 2)) {
      stop();
      stopped = true;
    }
  }
  const runs = await Promise.all(pending);
  const afterRemoval = checker(args);
  return { round, runs, afterRemoval };
}

async function main(): Promise<void> {
  mkdirSync(resultsDir, { recursive: true });
  results.cgroupFsType = sh('stat', ['-fc', '%T', CGROUP]).trim();
  results.kernel = sh('uname', ['-r']).trim();
  const info = docker('info', '--format', '{{.CgroupDriver}} {{.CgroupVersion}}').split(' ');
  results.dockerCgroupDriver = info[0];
  results.dockerCgroupVersion = info[1];
  save();

  await step('native', async () => {
    const watchdogId = runNative('bmp_watchdog', 'memhog', 16);
    const bmpId = runNative('bmp', 'openbmpd', 96);
    const pid = dockerPid('bmp');
    const rel = procCgroup(pid);
    const dir = join(CGROUP, rel);
    await waitFor('bmp holding 96 MiB', () => kernelRead(dir).workingSet > 96 * MiB, 60_000);
    await sleep(1000);
    const before = kernelRead(dir);
    const run = checker(['--json', '--source', 'docker', 'bmp', '1']);
    const after = kernelRead(dir);
    const watchdog = checker(['--json', 'bmp_watchdog', '1']);
    const apiBefore = kernelRead(dir);
    const stats = (await dockerApi('/containers/bmp/stats?stream=false')) as {
      memory_stats: { usage: number; stats: { inactive_file: number } };
    };
    const apiAfter = kernelRead(dir);
    const cliBefore = kernelRead(dir);
    const memUsage = docker('stats', '--no-stream', '--format', '{{.MemUsage}}', 'bmp');
    const cliAfter = kernelRead(dir);
    const overThreshold = 64 * MiB;
    const underThreshold = 512 * MiB;
    results.native = {
      bmpId,
      watchdogId,
      procCgroup: rel,
      dir,
      checked: { before, run, after },
      watchdog,
      api: { before: apiBefore, usage: stats.memory_stats.usage, inactiveFile: stats.memory_stats.stats.inactive_file, after: apiAfter },
      cli: { before: cliBefore, memUsage, after: cliAfter },
      over: checker(['bmp', String(overThreshold)]),
      overThreshold,
      under: checker(['bmp', String(underThreshold)]),
      underThreshold,
    };
  });

  await step('pod', async () => {
    const t = await startPodTask('bmp', 48);
    await waitFor('pod scope holding 48 MiB', () => kernelRead(t.dir).workingSet > 48 * MiB, 60_000);
    await sleep(1000);
    const before = kernelRead(t.dir);
    const run = checker(['--json', '--source', 'cgroup', 'bmp', '1']);
    const after = kernelRead(t.dir);
    const overThreshold = 32 * MiB;
    const underThreshold = 512 * MiB;
    results.pod = {
      uid: t.uid,
      id: t.id,
      cgroupsPath: t.cgroupsPath,
      dir: t.dir,
      procCgroup: procCgroup(t.pid),
      checked: { before, run, after },
      auto: checker(['--json', 'bmp', '1']),
      over: checker(['--source', 'cgroup', 'bmp', String(overThreshold)]),
      overThreshold,
      under: checker(['--source', 'cgroup', 'bmp', String(underThreshold)]),
      underThreshold,
    };
    stopPodTask(t);
  });

  // Broken files in a real v2 cgroup (bmp's): bind mounts over the kernel's files, undone after.
  await step('broken', async () => {
    const dir = join(CGROUP, procCgroup(dockerPid('bmp')));
    const scratch = '/tmp/v2-broken';
    mkdirSync(join(scratch, 'fake-scope', 'memory.current'), { recursive: true });
    writeFileSync(join(scratch, 'garbage.stat'), 'anon 1\ninactive_file lots\n');
    writeFileSync(join(scratch, 'garbage.current'), 'many bytes\n');
    writeFileSync(join(scratch, 'fake-scope', 'memory.stat'), readFileSync(join(dir, 'memory.stat')));
    const withMount = (src: string, dst: string, args: string[]): CheckerRun => {
      sh('mount', ['--bind', src, dst]);
      try {
        return checker(args);
      } finally {
        sh('umount', [dst]);
      }
    };
    const args = ['--source', 'docker', 'bmp', '1'];
    results.broken = {
      dir,
      garbageStat: withMount(join(scratch, 'garbage.stat'), join(dir, 'memory.stat'), args),
      garbageCurrent: withMount(join(scratch, 'garbage.current'), join(dir, 'memory.current'), args),
      // memory.current a directory: every read fails with EISDIR (not ENOENT: the cgroup is there).
      unreadableCurrent: withMount(join(scratch, 'fake-scope'), dir, args),
      restored: checker(['--json', ...args]),
    };
  });

  // A live process in an existing cgroup whose parent does not delegate the memory controller:
  // the cgroup has no memory.current at all. That is not a container that went away.
  await step('nomem', async () => {
    const parent = join(CGROUP, 'kubesonic-nomem.slice');
    const dir = join(parent, 'feature.scope');
    mkdirSync(dir, { recursive: true });
    const child = spawn(MEMHOG, [], { detached: true, stdio: 'ignore', env: { ...process.env, MEMHOG_MIB: '8' } });
    child.unref();
    const pid = child.pid!;
    writeFileSync(join(dir, 'cgroup.procs'), String(pid));
    const id = randomBytes(32).toString('hex');
    const task = join(TASKS, id);
    mkdirSync(task, { recursive: true });
    writeFileSync(
      join(task, 'config.json'),
      JSON.stringify({
        annotations: {
          'io.kubernetes.cri.container-type': 'container',
          'io.kubernetes.cri.container-name': 'nomem',
          'io.kubernetes.cri.sandbox-namespace': 'sonic',
          'io.kubernetes.cri.sandbox-name': 'nomem-v2guest',
          'io.kubernetes.cri.sandbox-uid': randomUUID(),
        },
        linux: { cgroupsPath: '/kubesonic-nomem.slice/feature.scope' },
      }),
    );
    writeFileSync(join(task, 'init.pid'), String(pid));
    results.nomem = {
      dir,
      procCgroup: procCgroup(pid),
      hasMemoryCurrent: existsSync(join(dir, 'memory.current')),
      run: checker(['--json', '--source', 'cgroup', 'nomem', '1']),
      processAliveAfter: existsSync(`/proc/${pid}`),
    };
    process.kill(pid, 'SIGKILL');
    await waitFor('nomem process gone', () => readFileSync(join(dir, 'cgroup.procs'), 'utf8').trim() === '', 10_000);
    rmdirSync(dir);
    rmdirSync(parent);
  });

  // The instant a racing check can land on (see 'race'), held still: containerd's task state
  // still names a live pid (here: a reused one, this process's) while the container's scope is
  // already gone.
  await step('stale', async () => {
    const t = await startPodTask('stale', 8);
    stopPodTask(t);
    await waitFor(`${t.dir} removed`, () => !existsSync(t.dir), 30_000);
    writeFileSync(join(TASKS, t.id, 'init.pid'), String(process.pid));
    results.stale = { dir: t.dir, run: checker(['--json', '--source', 'cgroup', 'stale', '1']) };
  });

  await step('race', async () => {
    const threshold = 1024 * MiB;
    const native: RaceRound[] = [];
    const pod: RaceRound[] = [];
    for (let round = 0; round < 3; round++) {
      runNative('vanish', 'memhog', 8);
      await waitFor(
        'vanish measured',
        () => checker(['--json', '--source', 'docker', 'vanish', String(threshold)]).stdout.includes('"measured"'),
        30_000,
      );
      native.push(await raceRound(round, 'vanish', threshold, () => void spawn('docker', ['kill', 'vanish'], { stdio: 'ignore' })));
      spawnSync('docker', ['rm', '-f', 'vanish']);
      const t = await startPodTask('podvanish', 8);
      pod.push(await raceRound(round, 'podvanish', threshold, () => stopPodTask(t)));
      results.race = { threshold, native, pod };
      save();
    }
  });
}

main().then(
  () => save(),
  (e: unknown) => {
    results.errors.push(`main: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}`);
    save();
    process.exitCode = 1;
  },
);
