#!/usr/bin/env bash
# Benchmarks, side by side in one run (bench/run.mjs), on the real testbed cluster.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
bash testbed/netns.sh up
trap 'bash testbed/netns.sh exec bash testbed/cluster.sh down >/dev/null 2>&1 || true' EXIT
bash testbed/netns.sh exec bash testbed/cluster.sh up
bash testbed/netns.sh exec node bench/run.mjs
# kubesonic's own footprint on the switch: node agent vs a sidecar per feature, 1 and 5 features.
bash testbed/netns.sh exec node bench/footprint.mjs
# The fleet figure: 1,000 kwok-simulated switches on the real API server, kubesonic's watches vs the
# seed's polling (about 12 min; BENCH_FLEET_NODES to change the size).
bash testbed/netns.sh exec node bench/fleet.mjs
# The reboot figures (boot to a running feature with the API server down, hand-back, the longest
# dual-run window): the real scenario, test/system/reboot.test.ts, measured and asserted (≈ 5 min).
bash testbed/netns.sh exec env KUBESONIC_BENCH_FIGURES=/tmp/kubesonic-reboot-figures.json npx vitest run --project system test/system/reboot.test.ts
node bench/reboot.mjs /tmp/kubesonic-reboot-figures.json
