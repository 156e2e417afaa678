#!/usr/bin/env bash
# Copies the header-only libraries the CUDA tests and benchmarks include (Eigen, xsimd,
# doctest) from this machine's Debian packages into .gpu_deps/include (ignored by git), so
# the GPU machine — which has the CUDA toolkit but none of these packages — can build them:
# carry .gpu_deps with the working tree, and scripts/gpu_check.sh finds it there.
#   scripts/gpu_deps.sh          # here, before sending a GPU check
set -euo pipefail
cd "$(dirname "$0")/.."
dst=.gpu_deps/include
rm -rf .gpu_deps
mkdir -p "$dst"
cp -r /usr/include/eigen3/Eigen "$dst/"           # Eigen's unsupported/ is not used
cp -r /usr/include/xsimd /usr/include/doctest "$dst/"
du -sh .gpu_deps
