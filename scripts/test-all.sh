#!/usr/bin/env bash
# The one test command (README): unit tests, then the system tests against real services and a
# real single-node Kubernetes, all inside a network namespace of the project's own.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
# Style and structure first (seconds): formatter, linter, shellcheck. The build in setup.sh type-checks.
npm run --silent lint
npx vitest run --project unit
# The Debian package: built and lintian-checked, then installed into bookworm and trixie roots.
npm run --silent package >/dev/null
npx vitest run --project package
bash testbed/netns.sh up
cluster_down() { bash testbed/netns.sh exec bash testbed/cluster.sh down >/dev/null 2>&1 || true; }
trap cluster_down EXIT
bash testbed/netns.sh exec npx vitest run --project system "$@"
# The cluster is idle from here on: stop it so the emulated guest has the cores.
cluster_down
npx vitest run --project v2 --reporter=verbose  # memory_checker on a cgroup v2 kernel, in qemu (docs/cgroup-v2-lane.md)
