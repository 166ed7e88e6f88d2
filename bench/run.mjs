// Side-by-side benchmarks, one run, ratios. Runs inside the test netns with the testbed cluster up
// (scripts/bench.sh does that). Results: stdout and bench/results.md.
import { spawnSync, spawn } from 'node:child_process';
import { readFileSync, writeFileSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';

const REPO = new URL('..', import.meta.url).pathname;
const K8S = '/var/lib/kubesonic-test/k8s';
const RUNS = Number(process.env.BENCH_RUNS ?? 25);
const NODE = process.execPath;
// The form the .deb installs as /usr/bin/memory_checker: the launcher (CommonJS: no ESM loader at
// start) that runs dist/memory_checker.main.cjs with V8's code cache (src/util/code-cache.ts).
const CHECKER = `${REPO}/dist/memory_checker.cjs`;
const CHECKER_MAIN = `${REPO}/dist/memory_checker.main.cjs`;
const envEnv = Object.fromEntries(
  spawnSync('bash', [join(REPO, 'testbed/cluster.sh'), 'env'], { encoding: 'utf8' })
    .stdout.trim()
    .split('\n')
    .map((l) => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1)]),
);
const baseEnv = {
  PATH: process.env.PATH,
  NODE_NAME: envEnv.NODE_NAME,
  KUBESONIC_CONTAINERD_STATE: envEnv.KUBESONIC_CONTAINERD_STATE,
  DOCKER_HOST: 'unix:///nonexistent.sock',
};
const sh = (cmd, env = process.env) => spawnSync('bash', ['-c', cmd], { encoding: 'utf8', env });

/** One command to time: measured by measureAll, not here. */
const measure = (label, argv, env) => ({ label, argv, env });

/**
 * Every command RUNS times, interleaved: round i runs each command once (in a rotated order), so a
 * busy moment of this shared machine falls on all of them alike, not on one command's 25 runs.
 */
function measureAll(commands) {
  const walls = commands.map(() => []);
  const rss = commands.map(() => []);
  const codes = commands.map(() => undefined);
  for (let i = 0; i < RUNS; i++)
    for (let j = 0; j < commands.length; j++) {
      const k = (i + j) % commands.length;
      const { argv, env } = commands[k];
      const t0 = process.hrtime.bigint();
      const r = spawnSync('/usr/bin/time', ['-f', '%M', ...argv], { encoding: 'utf8', env });
      walls[k].push(Number(process.hrtime.bigint() - t0) / 1e6);
      rss[k].push(Number(r.stderr.trim().split('\n').pop()));
      codes[k] = r.status;
    }
  const sorted = (a) => [...a].sort((x, y) => x - y);
  const q = (a, p) => sorted(a)[Math.min(a.length - 1, Math.floor(p * a.length))];
  return commands.map((c, k) => ({
    label: c.label,
    median: q(walls[k], 0.5),
    p90: q(walls[k], 0.9),
    rssMiB: q(rss[k], 0.5) / 1024,
    code: codes[k],
  }));
}

const lines = [];
const say = (s = '') => {
  lines.push(s);
  process.stdout.write(`${s}\n`);
};

// --- the feature under test: bmp on the real kubelet
sh(
  `node ${REPO}/dist/kubesonic.mjs render bmp --spec ${REPO}/testbed/features/bmp.yaml | kubectl --kubeconfig ${K8S}/admin.kubeconfig apply -f - >/dev/null`,
);
// The node opted in, as its switch's migrate does: the DaemonSet selects only such nodes.
sh(
  `kubectl --kubeconfig ${K8S}/admin.kubeconfig label node --overwrite ${envEnv.NODE_NAME} kubesonic.sonic-net.github.io/bmp=enabled >/dev/null`,
);
for (let i = 0; i < 120; i++) {
  const r = sh(`kubectl --kubeconfig ${K8S}/admin.kubeconfig top pod -n sonic -l app=bmp --containers --no-headers`);
  if (r.status === 0 && /bmp/.test(r.stdout)) break;
  await new Promise((r2) => setTimeout(r2, 1000));
}
// Nothing is timed while the pod is still starting (its daemon allocating, the kubelet's and
// metrics-server's first rounds): on 2 cores that made every row of a run 10–20 % slower.
await new Promise((r) => setTimeout(r, 30_000));

say(`## memory_checker cost per call (${RUNS} runs each, interleaved; median / p90 wall ms, median peak RSS)`);
say('');
say('Every command runs with only PATH, NODE_NAME, KUBECONFIG and the test roots in its environment:');
say('NODE_EXTRA_CA_CERTS (set on the build machine, not on a switch) is unset, so Node does not load extra CAs.');
say('');
// A switch runs memory_checker every minute: its code cache (/var/cache/kubesonic/code-cache) and its
// TLS session (/run/kubesonic/tls-sessions) are there from the run before. One run of each path makes
// them, as the first monit cycle after an install or a reboot does.
for (const kubeconfig of [`${K8S}/checker.kubeconfig`, '/nonexistent'])
  spawnSync(NODE, [CHECKER, 'bmp', '838860800'], { env: { ...baseEnv, KUBECONFIG: kubeconfig } });
say('memory_checker runs as the .deb installs it: the launcher with its V8 code cache and the TLS session');
say('of the run before (both root-only files); "without" rows run the bundle itself, compiled every time,');
say('with a full TLS handshake (KUBESONIC_TLS_SESSION_DIR empty).');
say('');
const cases = measureAll([
  measure('node -e 0 (floor: Node.js start)', [NODE, '-e', '0'], baseEnv),
  measure('memory_checker bmp, metrics.k8s.io', [NODE, CHECKER, 'bmp', '838860800'], {
    ...baseEnv,
    KUBECONFIG: `${K8S}/checker.kubeconfig`,
  }),
  measure(
    'memory_checker bmp, metrics.k8s.io — without the code cache and the kept TLS session',
    [NODE, CHECKER_MAIN, 'bmp', '838860800'],
    {
      ...baseEnv,
      KUBECONFIG: `${K8S}/checker.kubeconfig`,
      KUBESONIC_TLS_SESSION_DIR: '',
    },
  ),
  measure('memory_checker bmp, pod cgroup (--source cgroup)', [NODE, CHECKER, 'bmp', '838860800', '--source', 'cgroup'], {
    ...baseEnv,
    KUBECONFIG: `${K8S}/checker.kubeconfig`,
  }),
  measure('memory_checker bmp, no apiserver (containerd state + cgroup)', [NODE, CHECKER, 'bmp', '838860800'], {
    ...baseEnv,
    KUBECONFIG: '/nonexistent',
  }),
  measure(
    'memory_checker bmp, no apiserver — same code as ESM (dist/memory_checker.mjs)',
    [NODE, `${REPO}/dist/memory_checker.mjs`, 'bmp', '838860800'],
    {
      ...baseEnv,
      KUBECONFIG: '/nonexistent',
    },
  ),
  ...(process.env.BENCH_BASELINE_CHECKER
    ? [
        measure(
          'memory_checker bmp, metrics.k8s.io — previous bundle (BENCH_BASELINE_CHECKER)',
          [NODE, process.env.BENCH_BASELINE_CHECKER, 'bmp', '838860800'],
          {
            ...baseEnv,
            KUBECONFIG: `${K8S}/checker.kubeconfig`,
          },
        ),
        measure('memory_checker bmp, no apiserver — previous bundle', [NODE, process.env.BENCH_BASELINE_CHECKER, 'bmp', '838860800'], {
          ...baseEnv,
          KUBECONFIG: '/nonexistent',
        }),
      ]
    : []),
  measure(
    "kubectl top pod (the seed's suggestion)",
    ['kubectl', '--kubeconfig', `${K8S}/admin.kubeconfig`, 'top', 'pod', '-n', 'sonic', '-l', 'app=bmp', '--containers'],
    baseEnv,
  ),
  measure('node: import @kubernetes/client-node only', [NODE, '--input-type=module', '-e', "await import('@kubernetes/client-node')"], {
    ...baseEnv,
    NODE_PATH: join(REPO, 'node_modules'),
  }),
]);
const floor = cases[0].median;
const top = cases.find((c) => c.label.startsWith('kubectl')).median;
say('| command | median ms | p90 ms | peak RSS MiB | × node -e 0 | × kubectl top | exit |');
say('|---|---:|---:|---:|---:|---:|---:|');
for (const c of cases)
  say(
    `| ${c.label} | ${c.median.toFixed(1)} | ${c.p90.toFixed(1)} | ${c.rssMiB.toFixed(1)} | ${(c.median / floor).toFixed(2)} | ${(c.median / top).toFixed(2)} | ${c.code} |`,
  );
say('');

// --- FEATURE sync: seed-style polling vs kubesonic's watch
say('## FEATURE sync: API requests and change-to-Redis latency');
say('');
const kubectlRequests = sh(
  `kubectl --kubeconfig ${K8S}/admin.kubeconfig get pod -l app=bmp -n sonic -v=6 2>&1 >/dev/null | grep -c 'GET https'`,
).stdout.trim();
const perIteration = Number(kubectlRequests);
const redisDir = '/var/lib/kubesonic-test/redis';
mkdirSync(redisDir, { recursive: true });
const redis = spawn('redis-server', ['--port', '0', '--unixsocket', `${redisDir}/bench.sock`, '--save', ''], { stdio: 'ignore' });
await new Promise((r) => setTimeout(r, 500));
const cli = (args) => sh(`redis-cli -s ${redisDir}/bench.sock ${args}`).stdout.trim();
cli('-n 4 HSET "FEATURE|bmp" state enabled');
const syncLog = join(redisDir, 'bench-sync.log');
const sync = spawn(
  'bash',
  ['-c', `exec ${NODE} ${REPO}/dist/kubesonic.mjs sync bmp --kubeconfig ${K8S}/admin.kubeconfig > ${syncLog} 2>&1`],
  {
    env: { ...baseEnv, KUBESONIC_REDIS_SOCKET: `${redisDir}/bench.sock` },
  },
);
const podId = () => {
  // Running and ready: what the sidecar (and container_checker's world) counts as running.
  const r = sh(
    `kubectl --kubeconfig ${K8S}/admin.kubeconfig get pod -n sonic -l app=bmp -o jsonpath='{.items[0].status.containerStatuses[0].containerID} {.items[0].status.containerStatuses[0].ready}'`,
  );
  const [id, ready] = r.stdout.trim().split(' ');
  return ready === 'true' ? (id ?? '').replace('containerd://', '').slice(0, 12) : '';
};
for (let i = 0; i < 100 && cli('-n 6 HGET "FEATURE|bmp" container_id') !== podId(); i++) await new Promise((r) => setTimeout(r, 200));
const latencies = [];
const windowStart = Date.now();
for (let i = 0; i < 3; i++) {
  const before = podId();
  const pid = sh(
    `cat ${envEnv.KUBESONIC_CONTAINERD_STATE}/io.containerd.runtime.v2.task/k8s.io/*/config.json | grep -l '"io.kubernetes.cri.container-name":"bmp"' ${envEnv.KUBESONIC_CONTAINERD_STATE}/io.containerd.runtime.v2.task/k8s.io/*/config.json | head -1`,
  ).stdout.trim();
  const task = pid.replace(/config\.json$/, 'init.pid');
  sh(`kill -9 $(cat ${task})`);
  let apiAt = 0;
  let redisAt = 0;
  let now = '';
  for (let t = 0; t < 3000 && !(apiAt && redisAt); t++) {
    if (!apiAt) {
      now = podId();
      if (now && now !== before) apiAt = Date.now();
    }
    if (apiAt && cli('-n 6 HGET "FEATURE|bmp" container_id') === now) redisAt = Date.now();
    await new Promise((r) => setTimeout(r, 10));
  }
  latencies.push(redisAt - apiAt);
}
const windowSeconds = (Date.now() - windowStart) / 1000;
sync.kill('SIGUSR2');
await new Promise((r) => setTimeout(r, 500));
const stats = JSON.parse(/stats (\{.*\})/.exec(readFileSync(syncLog, 'utf8'))?.[1] ?? '{}');
sync.kill('SIGTERM');
redis.kill('SIGTERM');
const sortedLat = [...latencies].sort((a, b) => a - b);
say('| | seed ConfigMap script (kubectl every 60 s) | kubesonic sync (watch) | ratio |');
say('|---|---:|---:|---:|');
say(
  `| API requests per node per hour | ${perIteration * 60} (measured ${perIteration} per kubectl call × 60) | ${stats.apiRequests} at start, then each of the 2 watches resumed at its 300 s timeout: 24/h (measured at fleet scale: bench/fleet.md) | ${((perIteration * 60) / 24).toFixed(1)}× fewer |`,
);
say(
  `| API requests during this ${windowSeconds.toFixed(0)} s window (3 container restarts) | ${((perIteration * windowSeconds) / 60).toFixed(1)} | ${stats.apiRequests} (all at start) | |`,
);
say(
  `| change → Redis latency | 30 000 ms mean, 60 000 ms worst (half / whole poll period) | ${sortedLat[1]} ms median, ${sortedLat[2]} ms worst (measured: pod status → STATE_DB) | ≈ ${Math.round(30000 / Math.max(1, sortedLat[1]))}× faster |`,
);
say('');

// --- exporter under load: 20 features, 100 scrapes/s (wrk, paced by bench/wrk-rate.lua)
const EXPORTER_SECONDS = Number(process.env.BENCH_EXPORTER_SECONDS ?? 60);
const exporterFeatures = ['bmp=838860800', ...Array.from({ length: 19 }, (_, i) => `feat${String(i + 1).padStart(2, '0')}=838860800`)];
// What the exporter unit runs (deploy/systemd/kubesonic-exporter.service): the lean bundle.
async function exporterUnderLoad(cacheMs, bundle = `${REPO}/dist/kubesonic-exporter.mjs`) {
  const listen = '127.0.0.1:19732';
  // A baseline kubesonic.mjs runs `kubesonic exporter`; a previous one (cacheMs undefined) has no --cache-ms.
  const command = bundle.endsWith('/kubesonic.mjs') ? [bundle, 'exporter'] : [bundle];
  const args = [...command, '--listen', listen, '--no-state-db', ...(cacheMs === undefined ? [] : ['--cache-ms', String(cacheMs)])];
  for (const f of exporterFeatures) args.push('--feature', f);
  // The lean bundle runs as the unit runs it: through its #! line, node flag included (bundle.mjs).
  const [file, ...rest] = command.length === 1 ? args : [NODE, ...args];
  const child = spawn(file, rest, { env: { ...baseEnv, KUBECONFIG: `${K8S}/checker.kubeconfig` }, stdio: 'ignore' });
  for (let i = 0; i < 100; i++) {
    if (sh(`curl -sf http://${listen}/healthz`).status === 0) break;
    await new Promise((r) => setTimeout(r, 100));
  }
  // A second client records the source label of every feature on each scrape while wrk runs.
  const sources = new Map();
  let sampling = true;
  const sampler = (async () => {
    while (sampling) {
      const text = await fetch(`http://${listen}/metrics`).then(
        (r) => r.text(),
        () => '',
      );
      for (const m of text.matchAll(/^kubesonic_feature_memory_working_set_bytes\{feature="([^"]+)",source="([^"]+)"/gm)) {
        if (!sources.has(m[1])) sources.set(m[1], new Set());
        sources.get(m[1]).add(m[2]);
      }
      await new Promise((r) => setTimeout(r, 250));
    }
  })();
  const wrk = await new Promise((resolve) => {
    const p = spawn('wrk', [
      '-t2',
      '-c10',
      `-d${EXPORTER_SECONDS}s`,
      '--latency',
      '-s',
      `${REPO}/bench/wrk-rate.lua`,
      `http://${listen}/metrics`,
    ]);
    let out = '';
    p.stdout.on('data', (d) => {
      out += d;
    });
    p.on('close', () => resolve(out));
  });
  sampling = false;
  await sampler;
  const hwm = Number(/VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${child.pid}/status`, 'utf8'))?.[1] ?? 0) / 1024;
  child.kill('SIGTERM');
  const ms = (label) => {
    const m = new RegExp(`^\\s*${label}%\\s+([0-9.]+)(us|ms|s)`, 'm').exec(wrk);
    return m ? Number(m[1]) * { us: 0.001, ms: 1, s: 1000 }[m[2]] : NaN;
  };
  const requests = Number(/(\d+) requests in/.exec(wrk)?.[1] ?? 0);
  const non2xx = Number(/Non-2xx or 3xx responses: (\d+)/.exec(wrk)?.[1] ?? 0);
  const socketErrors = (/Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/.exec(wrk) ?? [])
    .slice(1)
    .reduce((a, b) => a + Number(b), 0);
  const flapping = [...sources].filter(([, s]) => s.size > 1).map(([f, s]) => `${f}: ${[...s].join('/')}`);
  return {
    cacheMs,
    rate: requests / EXPORTER_SECONDS,
    p50: ms(50),
    p99: ms(99),
    errors: non2xx + socketErrors,
    rssMiB: hwm,
    flapping,
    measuredFeatures: sources.size,
  };
}
say(`## kubesonic exporter: ${exporterFeatures.length} features, ≈ 100 scrapes/s for ${EXPORTER_SECONDS} s (wrk, 10 paced connections)`);
say('');
say('bmp runs on the testbed node (metrics.k8s.io); the 19 others are not deployed, so each of their checks is a');
say('real pod-list request to the API server followed by the local sources. `kubesonic-exporter` (what the unit');
say('runs: the same code as `kubesonic exporter` without client-node and yargs). `--cache-ms 0` collects on every');
say('scrape (concurrent scrapes share one collection); the default 1000 collects in the background every second and');
say('answers each scrape from the last completed collection.');
say('');
say('| --cache-ms | scrapes/s | p50 ms | p99 ms | errors | peak RSS MiB | source label changes |');
say('|---:|---:|---:|---:|---:|---:|---|');
const exporterRuns = [
  ...(process.env.BENCH_BASELINE_KUBESONIC ? [{ cacheMs: undefined, bundle: process.env.BENCH_BASELINE_KUBESONIC }] : []),
  { cacheMs: 0 },
  { cacheMs: 1000 },
];
for (const { cacheMs, bundle } of exporterRuns) {
  const r = await exporterUnderLoad(cacheMs, bundle);
  say(
    `| ${r.cacheMs ?? 'previous bundle (BENCH_BASELINE_KUBESONIC)'} | ${r.rate.toFixed(1)} | ${r.p50.toFixed(2)} | ${r.p99.toFixed(2)} | ${r.errors} | ${r.rssMiB.toFixed(1)} | ${r.flapping.length ? r.flapping.join('; ') : `none (${r.measuredFeatures} measured feature(s))`} |`,
  );
}
say('');
say(
  `Measured ${new Date().toISOString()} on ${sh('nproc').stdout.trim()} cores, ${sh("free -g | awk '/Mem/{print $2}'").stdout.trim()} GiB, Kubernetes ${JSON.parse(sh(`kubectl --kubeconfig ${K8S}/admin.kubeconfig version -o json`).stdout).serverVersion.gitVersion}.`,
);
mkdirSync(join(REPO, 'bench'), { recursive: true });
writeFileSync(join(REPO, 'bench', 'results.md'), `${lines.join('\n')}\n`);
sh(`kubectl --kubeconfig ${K8S}/admin.kubeconfig delete -n sonic ds/bmp configmap/bmp-kubesonic --wait=false >/dev/null 2>&1`);
