#!/usr/bin/env bash
# Whole-command timings (hyperfine) of commands a user waits on; see bench/README.md.
# Installs nothing: says so and exits 2 when hyperfine is missing.
set -euo pipefail
cd "$(dirname "$0")/.."
if ! command -v hyperfine >/dev/null 2>&1; then
  echo "hyperfine is not installed, so nothing was timed." >&2
  echo "Install it (Debian/Ubuntu: apt-get update && apt-get install -y hyperfine) and re-run bench/hyperfine.sh." >&2
  exit 2
fi
exec deno run -A bench/hyperfine.ts "$@"
