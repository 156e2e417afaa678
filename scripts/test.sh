#!/usr/bin/env bash
# The test command: installs what is missing, builds the release preset and runs
# every test; then the same tests under AddressSanitizer + UndefinedBehaviorSanitizer.
#   scripts/test.sh            release + sanitizer builds
#   scripts/test.sh --quick    release build only
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
JOBS=${JOBS:-$(nproc)}
run_preset() {
  local preset=$1
  local t0=$SECONDS
  cmake --preset "$preset" >/dev/null
  cmake --build --preset "$preset" -j "$JOBS"
  echo "== build ($preset): $((SECONDS - t0)) s"
  ctest --preset "$preset" -j "$JOBS"
}
run_preset release
if [[ "${1:-}" != "--quick" ]]; then
  export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1
  export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
  run_preset asan
fi
