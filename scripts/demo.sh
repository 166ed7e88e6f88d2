#!/usr/bin/env bash
# The README demo: the seed's bmp walk-through on an embedded test switch — a real kubelet cluster,
# SONiC's bmp.service under a real systemd, the native container in a real dockerd, a real Redis —
# all started here, inside a network namespace of the project's own, and stopped at the end.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
bash testbed/netns.sh up
exec bash testbed/netns.sh exec bash scripts/demo-walkthrough.sh
