#!/usr/bin/env bash
# scripts/bench.sh — build zoo's benchmarks and run them next to PyTorch's, in one run.
#   scripts/bench.sh                      # threads 1 and 2, every benchmark, table + JSON
#   scripts/bench.sh --filter '^(ae|gan)_train$' --threads 2
# Arguments go to bench/run.py (see its --help). Results: bench/results/<date>.json.
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD=${ZOO_BENCH_BUILD:-build/bench}
cmake -S . -B "$BUILD" -G Ninja -DCMAKE_BUILD_TYPE=Release -DZOO_BUILD_TESTS=OFF \
  -DZOO_BUILD_EXAMPLES=OFF -DZOO_BUILD_BENCH=ON >/dev/null
cmake --build "$BUILD" --target zoo_bench -j"${ZOO_BENCH_JOBS:-2}"
exec python3 bench/run.py --build "$BUILD" "$@"
