#!/usr/bin/env bash
# Runs shellcheck on every shell script git knows of (tracked, or new and not ignored), so a script added
# later is checked without editing this list. Exits non-zero on any finding, notes included.
set -euo pipefail
cd "$(dirname "$0")/.."
command -v shellcheck >/dev/null || { echo "lint-sh: shellcheck is not installed (scripts/setup.sh installs it)" >&2; exit 1; }
# NUL-separated so a path with a space stays one argument.
mapfile -d '' scripts < <(git ls-files -z --cached --others --exclude-standard -- '*.sh')
[ ${#scripts[@]} -gt 0 ] || exit 0
shellcheck --severity=style -- "${scripts[@]}"
