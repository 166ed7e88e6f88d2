// The fleet figure (issue 9), from simulation: N switches joined to the testbed's real API server as
// kwok nodes (sigs.k8s.io/kwok fakes their kubelets: heartbeats, leases, pods Running), every one
// opted in to a feature whose DaemonSet therefore has a pod on each. Side by side in one run:
//   kubesonic  one node view per switch, the agent's own code (src/feature/view.ts over the lean
//              client): list+watch of its pods (fieldSelector spec.nodeName) and of its Node
//   seed       the seed's feature_sync.sh, kindly narrowed to the switch's own pod: every 60 s per
//              switch the one request `kubectl get pod -l app=<f> -n sonic --field-selector
//              spec.nodeName=<node>` makes, on a fresh TLS connection as each kubectl process opens
//              (the seed's literal command lists the whole fleet's pods each time: N times larger)
// Measured for each: API requests per switch per hour (client-counted, over the window), the API
// server's CPU (its process, above an idle baseline with kwok alone) and memory, and how long a
// change on one switch's node takes to reach that switch (the taint for kubesonic, which watches
// the node; for the seed, which never reads the node, the taint plus the pod's deletion that the
// seed's disable procedure prescribes, seen at its next poll). Writes bench/fleet.md.
import { spawn, spawnSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { Agent, request } from 'node:https';
import { join } from 'node:path';
import { build } from 'esbuild';

const REPO = new URL('..', import.meta.url).pathname;
const K8S = '/var/lib/kubesonic-test/k8s';
const ADMIN = `${K8S}/admin.kubeconfig`;
const N = Number(process.env.BENCH_FLEET_NODES ?? 1000);
const WINDOW_S = Number(process.env.BENCH_FLEET_WINDOW_S ?? 330);
const SEED_WINDOW_S = Number(process.env.BENCH_FLEET_SEED_WINDOW_S ?? 130);
const IDLE_S = Number(process.env.BENCH_FLEET_IDLE_S ?? 60);
const TRIALS = 5;
const F = 'fleetbmp';
const OPT_IN = `kubesonic.sonic-net.github.io/${F}`;
const FAKE = 'kubesonic.test/fleet';
const nodeName = (i) => `fleet-${String(i).padStart(4, '0')}`;
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const kubectl = (args, input) => spawnSync('kubectl', ['--kubeconfig', ADMIN, ...args], { encoding: 'utf8', input, maxBuffer: 1 << 28 });
const must = (r, what) => {
  if (r.status !== 0) throw new Error(`bench fleet: ${what}: ${r.stderr.trim()}`);
  return r.stdout;
};
const lines = [];
const say = (s = '') => {
  lines.push(s);
  process.stdout.write(`${s}\n`);
};

// --- the product's own node view and lean client, bundled from source (the bench has no TS runtime)
await build({
  stdin: {
    contents:
      "export { NodeView } from './src/feature/view.ts';\nexport { leanClusterReader } from './src/kube/lean.ts';\nexport { loadCredentials } from './src/kube/kubeconfig.ts';\n",
    resolveDir: REPO,
    loader: 'ts',
  },
  bundle: true,
  platform: 'node',
  format: 'esm',
  outfile: '/tmp/kubesonic-bench-fleet.mjs',
  logLevel: 'warning',
  external: ['@kubernetes/client-node'],
});
const { NodeView, leanClusterReader, loadCredentials } = await import('/tmp/kubesonic-bench-fleet.mjs');
const creds = await loadCredentials(ADMIN, { inCluster: undefined, kubeconfigs: [] });

// --- the API server process: CPU seconds (utime + stime) and memory
const apiPid = Number(readFileSync('/run/kubesonic-k8s/kube-apiserver.pid', 'utf8'));
const HZ = Number(spawnSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).stdout.trim()) || 100;
const cpuSeconds = () => {
  const f = readFileSync(`/proc/${apiPid}/stat`, 'utf8').split(') ')[1].split(' ');
  return (Number(f[11]) + Number(f[12])) / HZ;
};
const rssMiB = () => Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${apiPid}/status`, 'utf8'))[1]) / 1024;

// --- the fleet: N kwok nodes opted in, kwok faking them, the feature's DaemonSet on all of them
const kwokBin = must(spawnSync('bash', [join(REPO, 'testbed/build-kwok.sh')], { encoding: 'utf8' }), 'build kwok').trim();
const kwok = spawn(
  kwokBin,
  [
    '--kubeconfig',
    ADMIN,
    '--config',
    join(kwokBin, '..', 'stages.yaml'),
    '--manage-all-nodes=false',
    `--manage-nodes-with-label-selector=${FAKE}=true`,
    '--cidr=10.200.0.0/16',
  ],
  {
    stdio: ['ignore', 'ignore', 'pipe'],
  },
);
let kwokErr = '';
kwok.stderr.on('data', (c) => {
  kwokErr = (kwokErr + c).slice(-4000);
});
const cleanups = [];
async function cleanup() {
  for (const c of cleanups.reverse()) await c();
}
process.on('exit', () => kwok.kill('SIGTERM'));
let kwokExited = false;
kwok.on('exit', () => {
  kwokExited = true;
});

try {
  const t0 = performance.now();
  const nodes = Array.from({ length: N }, (_, i) => ({
    apiVersion: 'v1',
    kind: 'Node',
    metadata: {
      name: nodeName(i),
      labels: { [FAKE]: 'true', [OPT_IN]: 'enabled', 'kubernetes.io/hostname': nodeName(i) },
      annotations: { 'kwok.x-k8s.io/node': 'fake' },
    },
    status: { allocatable: { cpu: '4', memory: '8Gi', pods: '110' }, capacity: { cpu: '4', memory: '8Gi', pods: '110' } },
  }));
  cleanups.push(async () => {
    kubectl(['delete', 'daemonset', '-n', 'sonic', F, '--ignore-not-found', '--wait=false']);
    kubectl(['delete', 'pods', '-n', 'sonic', '-l', `app=${F}`, '--force', '--grace-period=0', '--wait=false']);
    kubectl(['delete', 'nodes', '-l', `${FAKE}=true`, '--wait=false']);
  });
  must(kubectl(['apply', '-f', '-'], JSON.stringify({ apiVersion: 'v1', kind: 'List', items: nodes })), 'create nodes');
  const spec = `/tmp/kubesonic-bench-${F}.yaml`;
  writeFileSync(spec, `feature: ${F}\nimage: localhost/kubesonic/pause:1\nimagePullPolicy: Never\ncommand: [/pause]\n`);
  must(
    kubectl(
      ['apply', '-f', '-'],
      must(spawnSync(process.execPath, [join(REPO, 'dist/kubesonic.mjs'), 'render', F, '--spec', spec], { encoding: 'utf8' }), 'render'),
    ),
    'apply DaemonSet',
  );
  for (let i = 0; ; i++) {
    const out = kubectl(['get', 'pods', '-n', 'sonic', '-l', `app=${F}`, '--field-selector=status.phase=Running', '-o', 'name']).stdout;
    const running = out.split('\n').filter(Boolean).length;
    if (running >= N) break;
    if (kwokExited) throw new Error(`bench fleet: kwok exited: ${kwokErr}`);
    if (i > 600) throw new Error(`bench fleet: ${running}/${N} pods running after 10 min; kwok said: ${kwokErr}`);
    await sleep(1000);
  }
  const setupS = (performance.now() - t0) / 1000;

  // --- idle baseline: kwok keeps N nodes alive (leases, status), nobody watches
  const idleCpu0 = cpuSeconds();
  await sleep(IDLE_S * 1000);
  const idleCores = (cpuSeconds() - idleCpu0) / IDLE_S;
  const idleRss = rssMiB();

  // The bench's own requests (taints, deletes): straight to the API server over one kept-alive
  // connection, without blocking the event loop the views run on (a kubectl spawned synchronously
  // would hold every view's events back and count its own start-up as latency).
  const url = new URL(creds.server);
  const auth = creds.token ? { Authorization: `Bearer ${creds.token}` } : {};
  const kept = new Agent({ keepAlive: true, ca: creds.ca, cert: creds.cert, key: creds.key });
  const api = (method, path, body, contentType = 'application/json') =>
    new Promise((resolve, reject) => {
      const req = request(
        { host: url.hostname, port: url.port || 443, path, method, agent: kept, headers: { ...auth, 'Content-Type': contentType } },
        (res) => {
          res.resume();
          res.on('end', () => (res.statusCode < 300 ? resolve() : reject(new Error(`${method} ${path}: HTTP ${res.statusCode}`))));
        },
      );
      req.on('error', reject);
      req.end(body === undefined ? undefined : JSON.stringify(body));
    });
  // The bench's nodes carry no other taint: the list is replaced whole.
  const taint = (node, on) =>
    api(
      'PATCH',
      `/api/v1/nodes/${node}`,
      { spec: { taints: on ? [{ key: F, value: 'disabled', effect: 'NoSchedule' }] : null } },
      'application/merge-patch+json',
    );
  const deletePodsOn = (node) =>
    api(
      'DELETE',
      `/api/v1/namespaces/sonic/pods?labelSelector=${encodeURIComponent(`app=${F}`)}&fieldSelector=${encodeURIComponent(`spec.nodeName=${node}`)}`,
      { kind: 'DeleteOptions', apiVersion: 'v1', gracePeriodSeconds: 0 },
    );
  const trialNodes = Array.from({ length: TRIALS }, (_, k) => nodeName(Math.floor(((k + 0.5) * N) / TRIALS)));

  // --- kubesonic: one node view per switch
  const cluster = leanClusterReader(creds);
  const changedAt = new Map();
  const seenAt = new Map();
  const views = Array.from({ length: N }, (_, i) => {
    const node = nodeName(i);
    return new NodeView(cluster, { namespace: 'sonic', node, labelSelector: `app=${F}` }, (s) => {
      if (changedAt.has(node) && !seenAt.has(node) && (s.node?.spec?.taints ?? []).some((t) => t.key === F))
        seenAt.set(node, performance.now());
    });
  });
  const startedAt = performance.now();
  for (let i = 0; i < N; i += 50) await Promise.all(views.slice(i, i + 50).map((v) => v.start()));
  const startS = (performance.now() - startedAt) / 1000;
  await sleep(5000);
  const req0 = views.reduce((n, v) => n + v.apiRequests, 0);
  const cpu0 = cpuSeconds();
  const winStart = performance.now();
  await sleep(60_000);
  await Promise.all(
    trialNodes.map((node) => {
      changedAt.set(node, performance.now());
      return taint(node, true);
    }),
  );
  await sleep(Math.max(0, WINDOW_S * 1000 - (performance.now() - winStart)));
  const winS = (performance.now() - winStart) / 1000;
  const kubesonicCores = (cpuSeconds() - cpu0) / winS;
  const kubesonicRss = rssMiB();
  const kubesonicRequests = views.reduce((n, v) => n + v.apiRequests, 0) - req0;
  const kubesonicLatency = trialNodes.map((n) => (seenAt.has(n) ? seenAt.get(n) - changedAt.get(n) : Number.NaN));
  const stale = views.filter((v) => !v.fresh).length;
  for (const v of views) v.stop();
  await Promise.all(trialNodes.map((node) => taint(node, false)));
  await sleep(5000);

  // --- seed: a poll per switch every 60 s, a fresh connection each, staggered over the minute
  const fresh = new Agent({ keepAlive: false, ca: creds.ca, cert: creds.cert, key: creds.key });
  let seedRequests = 0;
  let seedErrors = 0;
  const goneAt = new Map();
  const seedSeen = new Map();
  const poll = (node) =>
    new Promise((resolve) => {
      seedRequests++;
      const path = `/api/v1/namespaces/sonic/pods?labelSelector=${encodeURIComponent(`app=${F}`)}&fieldSelector=${encodeURIComponent(`spec.nodeName=${node}`)}`;
      const req = request({ host: url.hostname, port: url.port || 443, path, agent: fresh, headers: auth }, (res) => {
        let body = '';
        res.on('data', (c) => {
          body += c;
        });
        res.on('end', () => {
          if (res.statusCode !== 200) seedErrors++;
          else if (goneAt.has(node) && !seedSeen.has(node)) {
            const running = JSON.parse(body).items.some((p) => p.status?.phase === 'Running' && !p.metadata?.deletionTimestamp);
            if (!running) seedSeen.set(node, performance.now());
          }
          resolve();
        });
      });
      req.on('error', () => {
        seedErrors++;
        resolve();
      });
      req.end();
    });
  const timers = [];
  const seedStart = performance.now();
  const seedCpu0 = cpuSeconds();
  for (let i = 0; i < N; i++) {
    const node = nodeName(i);
    timers.push(
      setTimeout(
        () => {
          void poll(node);
          timers.push(setInterval(() => void poll(node), 60_000));
        },
        (i * 60_000) / N,
      ),
    );
  }
  await sleep(60_000);
  // The seed's disable: taint the node, delete its pod (the seed's script never reads the node).
  await Promise.all(
    trialNodes.map(async (node) => {
      goneAt.set(node, performance.now());
      await taint(node, true);
      await deletePodsOn(node);
    }),
  );
  await sleep(Math.max(0, SEED_WINDOW_S * 1000 - (performance.now() - seedStart)));
  const seedS = (performance.now() - seedStart) / 1000;
  for (const t of timers) clearInterval(t);
  const seedCores = (cpuSeconds() - seedCpu0) / seedS;
  const seedRss = rssMiB();
  const seedLatency = trialNodes.map((n) => (seedSeen.has(n) ? seedSeen.get(n) - goneAt.get(n) : Number.NaN));
  await Promise.all(trialNodes.map((node) => taint(node, false)));

  // --- report
  const perHour = (requests, seconds) => (requests / N) * (3600 / seconds);
  const med = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
  const fmt = (ms) => (Number.isNaN(ms) ? 'not seen' : ms >= 1000 ? `${(ms / 1000).toFixed(1)} s` : `${ms.toFixed(0)} ms`);
  const kPerHour = perHour(kubesonicRequests, winS);
  const sPerHour = perHour(seedRequests, seedS);
  say(`## Fleet: ${N} simulated switches on one API server (kwok), side by side`);
  say('');
  say(
    `Kubernetes ${
      must(kubectl(['version', '-o', 'json']), 'version')
        .match(/"gitVersion":\s*"([^"]+)"/g)
        ?.at(-1)
        ?.split('"')[3]
    }, 2 shared cores; ${N} kwok nodes opted in to \`${F}\`, ${N} pods Running (set up in ${setupS.toFixed(0)} s). Idle baseline (kwok alone, nobody watching, ${IDLE_S} s): API server ${idleCores.toFixed(3)} cores, ${idleRss.toFixed(0)} MiB.`,
  );
  say('');
  say('| | seed (kubectl every 60 s per switch, own pod only) | kubesonic (one node view per switch: watches) | ratio |');
  say('|---|---:|---:|---:|');
  say(
    `| API requests per switch per hour | ${sPerHour.toFixed(1)} (${seedRequests} in ${seedS.toFixed(0)} s, ${seedErrors} errors) | ${kPerHour.toFixed(1)} (${kubesonicRequests} in ${winS.toFixed(0)} s, after the start's ${req0} = ${(req0 / N).toFixed(0)} per switch) | ${(sPerHour / Math.max(kPerHour, 0.001)).toFixed(1)}× fewer |`,
  );
  say(`| API server CPU above idle | ${(seedCores - idleCores).toFixed(3)} cores | ${(kubesonicCores - idleCores).toFixed(3)} cores | |`);
  say(`| API server RSS at the window's end | ${seedRss.toFixed(0)} MiB | ${kubesonicRss.toFixed(0)} MiB (${N * 2} open watches) | |`);
  say(
    `| a change on one switch's node reaches that switch (${TRIALS} switches, median; all) | ${fmt(med(seedLatency))}; ${seedLatency.map(fmt).join(', ')} | ${fmt(med(kubesonicLatency))}; ${kubesonicLatency.map(fmt).join(', ')} | |`,
  );
  say('');
  say(
    `kubesonic's ${N} views started in ${startS.toFixed(1)} s (50 at a time); ${stale} not fresh at the window's end. Its requests in the window are the watches' resumes: the client asks timeoutSeconds=300 and, when the API server ends a watch, starts the next one from the last resourceVersion it saw (no list); the window is ${winS.toFixed(0)} s so each of the ${N * 2} watches ends about once in it. The seed's figure is fixed by its design: 60 per switch per hour whatever happens; the literal seed command (\`kubectl get pod -l app=bmp -n sonic\`, no field selector) returns every switch's pod to every switch.`,
  );
  say('');
  say(`Measured ${new Date().toISOString()} by \`npm run bench\` (bench/fleet.mjs; BENCH_FLEET_NODES=${N}).`);
  writeFileSync(join(REPO, 'bench/fleet.md'), `${lines.join('\n')}\n`);
} finally {
  await cleanup();
  kwok.kill('SIGTERM');
}
