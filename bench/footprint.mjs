// kubesonic's own footprint on a switch, side by side in one run (issue: one lean agent per node):
// resident memory of every process kubesonic adds (summed from /proc) and API requests, with 1 and
// 5 migrated features, in the default shape (one node agent) and the seed's (a sidecar per feature).
// Runs inside the test netns with the testbed cluster up (scripts/bench.sh). Writes
// bench/footprint.md.
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { build } from 'esbuild';

const REPO = new URL('..', import.meta.url).pathname;
const K8S = '/var/lib/kubesonic-test/k8s';
const HOST = '/var/lib/kubesonic-test/bench-host';
const FEATURES = ['bmp', 'telemetry', 'gnmi', 'snmp', 'radv'];
const STEADY_S = Number(process.env.BENCH_STEADY_S ?? 20);
const NODE_NAME = /^NODE_NAME=(.*)$/m.exec(spawnSync('bash', [join(REPO, 'testbed/cluster.sh'), 'env'], { encoding: 'utf8' }).stdout)?.[1];
const kubectl = (args, input) => spawnSync('kubectl', ['--kubeconfig', `${K8S}/admin.kubeconfig`, ...args], { encoding: 'utf8', input });
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const lines = [];
const say = (s = '') => {
  lines.push(s);
  process.stdout.write(`${s}\n`);
};

// The unit's ExecStart script, from the product's source (the bench has no TS runtime: bundle it).
await build({
  entryPoints: [join(REPO, 'src/systemd/unit.ts')],
  bundle: true,
  platform: 'node',
  format: 'esm',
  outfile: '/tmp/kubesonic-bench-unit.mjs',
  logLevel: 'warning',
});
const { unitWaitScript } = await import('/tmp/kubesonic-bench-unit.mjs');

rmSync(HOST, { recursive: true, force: true });
for (const d of ['etc/systemd/system', 'etc/sonic/kubesonic/migrated', 'run/kubesonic/units', 'redis', 'specs'])
  mkdirSync(join(HOST, d), { recursive: true });
writeFileSync(join(HOST, 'etc/sonic/kubesonic/unit-wait.sh'), unitWaitScript());
const redis = spawn(
  'redis-server',
  ['--port', '0', '--unixsocket', join(HOST, 'redis/redis.sock'), '--unixsocketperm', '777', '--save', ''],
  { stdio: 'ignore' },
);
await sleep(500);
const redisCli = (args) => spawnSync('redis-cli', ['-s', join(HOST, 'redis/redis.sock'), ...args], { encoding: 'utf8' }).stdout.trim();

const template = readFileSync(join(REPO, 'testbed/features/bmp-sync.yaml'), 'utf8');
function specFile(feature, shape) {
  const text = template
    .replace(/^feature: bmp$/m, `feature: ${feature}`)
    .replaceAll('/feature-control/bmp', `/feature-control/${feature}`)
    .replace(/^redisSocketDir: .*$/m, `redisSocketDir: ${HOST}/redis`)
    .replaceAll('/var/lib/kubesonic-test/host/', `${HOST}/`);
  const file = join(HOST, 'specs', `${feature}.yaml`);
  writeFileSync(file, `${text}\nsync: ${shape}\n`);
  return file;
}
const render = (args) => spawnSync(process.execPath, [join(REPO, 'dist/kubesonic.mjs'), ...args], { encoding: 'utf8' }).stdout;

function processes() {
  const out = [];
  for (const pid of readdirSync('/proc').filter((p) => /^\d+$/.test(p))) {
    let cmd;
    try {
      cmd = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').filter(Boolean);
    } catch {
      continue;
    }
    const status = (() => {
      try {
        return readFileSync(`/proc/${pid}/status`, 'utf8');
      } catch {
        return '';
      }
    })();
    const rssKiB = Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? 0);
    out.push({ pid: Number(pid), cmd, rssKiB });
  }
  return out;
}
const isKubesonic = (p) => p.cmd.some((a) => a.endsWith('kubesonic-agent.mjs'));

async function waitFor(what, probe, timeoutMs = 240_000) {
  const until = Date.now() + timeoutMs;
  while (Date.now() < until) {
    if (await probe()) return;
    await sleep(1000);
  }
  throw new Error(`bench: timed out waiting for ${what}`);
}

function readyPods(selector) {
  const r = kubectl([
    'get',
    'pods',
    '-n',
    'sonic',
    '-l',
    selector,
    '-o',
    'jsonpath={range .items[*]}{.metadata.name} {.status.containerStatuses[*].ready}{"\\n"}{end}',
  ]);
  return r.stdout
    .trim()
    .split('\n')
    .filter((l) => l && !l.split(' ').slice(1).includes('false') && l.split(' ').length > 1);
}

async function scenario(shape, n) {
  const features = FEATURES.slice(0, n);
  rmSync(join(HOST, 'etc/sonic/kubesonic/migrated'), { recursive: true, force: true });
  mkdirSync(join(HOST, 'etc/sonic/kubesonic/migrated'), { recursive: true });
  redisCli(['FLUSHALL']);
  const files = features.map((f) => specFile(f, shape));
  for (const f of features) {
    writeFileSync(
      join(HOST, 'etc/sonic/kubesonic/migrated', `${f}.json`),
      JSON.stringify({ feature: f, migratedAt: new Date().toISOString(), configStateBefore: 'enabled' }),
    );
    redisCli(['-n', '4', 'HSET', `FEATURE|${f}`, 'state', 'enabled']);
  }
  let manifests = features.map((f, i) => render(['render', f, '--spec', files[i]])).join('');
  if (shape === 'agent') manifests += render(['render-agent', ...features, '--spec', files[0]]);
  const applied = kubectl(['apply', '-f', '-'], manifests);
  if (applied.status !== 0) throw new Error(`bench: kubectl apply: ${applied.stderr}`);
  // The node opted in to each feature, as its switch's migrate does (the DaemonSets select only such nodes).
  const labelled = kubectl([
    'label',
    'node',
    '--overwrite',
    NODE_NAME,
    ...features.map((f) => `kubesonic.sonic-net.github.io/${f}=enabled`),
  ]);
  if (labelled.status !== 0) throw new Error(`bench: kubectl label: ${labelled.stderr}`);
  await waitFor(`${n} feature pods ready`, () => readyPods('kubesonic.sonic-net.github.io/role=feature').length === n);
  if (shape === 'agent') await waitFor('the agent ready', () => readyPods('app=kubesonic-agent').length === 1);
  await waitFor('FEATURE written for every feature', () =>
    // A running feature is what SONiC's local start writes (ctrmgrd leaves it alone): a container id, owner local.
    features.every((f) => /^[0-9a-f]{12}$/.test(redisCli(['-n', '6', 'HGET', `FEATURE|${f}`, 'container_id']))),
  );
  // The units' ExecStart, one per feature, as systemd would run them.
  const waiters = features.map((f) =>
    spawn('/bin/sh', [join(HOST, 'etc/sonic/kubesonic/unit-wait.sh'), f], {
      stdio: 'ignore',
      env: { PATH: process.env.PATH, KUBESONIC_UNIT_STATE_DIR: join(HOST, 'run/kubesonic/units') },
    }),
  );
  await sleep(STEADY_S * 1000);
  const procs = processes();
  const syncers = procs.filter(isKubesonic);
  const shells = procs.filter((p) => waiters.some((w) => w.pid === p.pid));
  // Each syncer prints its counters on SIGUSR2 (API requests since start).
  for (const p of syncers) process.kill(p.pid, 'SIGUSR2');
  await sleep(500);
  const logs = kubectl([
    'logs',
    '-n',
    'sonic',
    '-l',
    shape === 'agent' ? 'app=kubesonic-agent' : 'kubesonic.sonic-net.github.io/role=feature',
    '--all-containers',
    '--tail=-1',
    '--prefix',
  ]).stdout;
  const requests = [...logs.matchAll(/\[agent\] stats (\{.*\})/g)].map((m) => JSON.parse(m[1]).apiRequests);
  const lastPerProcess = requests.slice(-syncers.length);
  for (const w of waiters) w.kill('SIGTERM');
  kubectl(['delete', '-f', '-', '--wait=true', '--timeout=180s'], manifests);
  await waitFor('pods gone', () => kubectl(['get', 'pods', '-n', 'sonic', '-o', 'name']).stdout.trim() === '');
  const sum = (a) => a.reduce((x, y) => x + y, 0);
  return {
    shape,
    n,
    syncers: syncers.length,
    syncerMiB: sum(syncers.map((p) => p.rssKiB)) / 1024,
    shells: shells.length,
    shellMiB: sum(shells.map((p) => p.rssKiB)) / 1024,
    totalMiB: (sum(syncers.map((p) => p.rssKiB)) + sum(shells.map((p) => p.rssKiB))) / 1024,
    startRequests: sum(lastPerProcess),
  };
}

const results = [];
try {
  for (const shape of ['agent', 'sidecar']) for (const n of [1, 5]) results.push(await scenario(shape, n));
} finally {
  redis.kill();
  if (existsSync(HOST)) rmSync(join(HOST, 'redis'), { recursive: true, force: true });
}

// A watch ends after WATCH_SECONDS (src/kube/lean.ts: 300 s) and is re-listed and re-watched: two
// loops (pods, node) × 2 requests × 12 per hour, per syncer process, plus the start.
const perHour = (procs) => procs * (4 + 2 * 2 * (3600 / 300));
say(`## kubesonic's footprint on the switch (every process it adds, RSS from /proc after ${STEADY_S} s steady)`);
say('');
say(
  '| shape | features | kubesonic Node.js processes | their RSS MiB | unit ExecStart shells | their RSS MiB | total MiB | API requests at start | API requests per node per hour |',
);
say('|---|---:|---:|---:|---:|---:|---:|---:|---:|');
for (const r of results) {
  say(
    `| ${r.shape === 'agent' ? 'node agent (default)' : 'per-feature sidecar (seed)'} | ${r.n} | ${r.syncers} | ${r.syncerMiB.toFixed(1)} | ${r.shells} | ${r.shellMiB.toFixed(1)} | **${r.totalMiB.toFixed(1)}** | ${r.startRequests} | ${perHour(r.syncers)} |`,
  );
}
const a5 = results.find((r) => r.shape === 'agent' && r.n === 5);
const s5 = results.find((r) => r.shape === 'sidecar' && r.n === 5);
say('');
say(
  `With 5 features the node agent costs ${(s5.totalMiB / a5.totalMiB).toFixed(1)}× less memory than a sidecar per feature, and its API requests do not grow with the number of features. kubesonic 0.1 measured ≈ 145 MB per feature (a 76 MB client-node sidecar + a 69 MB Node.js ExecStart).`,
);
say('');
say(
  `Measured ${new Date().toISOString()} on ${readFileSync('/proc/cpuinfo', 'utf8').match(/^processor/gm).length} cores; NODE_EXTRA_CA_CERTS ${process.env.NODE_EXTRA_CA_CERTS ? 'set in this shell, not in the pods' : 'unset'}.`,
);
writeFileSync(join(REPO, 'bench/footprint.md'), `${lines.join('\n')}\n`);
