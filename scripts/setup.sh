#!/usr/bin/env bash
# Installs everything zoo's build, tests and demo need, from Debian's packages.
# Idempotent and quick when all is present: the README's commands and .ci/run call it.
set -euo pipefail
PKGS=(build-essential cmake ninja-build libeigen3-dev xtensor-dev libxsimd-dev xtl-dev
      doctest-dev libstb-dev zlib1g-dev libbenchmark-dev libopenblas-dev libopenblas0-openmp
      libcli11-dev nodejs npm dataset-fashion-mnist libopenmpi-dev openmpi-bin
      clang libomp-14-dev libclang-rt-14-dev clang-19)
# clang 14 builds the sanitizer preset (its OpenMP and ASan/UBSan runtimes above); clang 19
# only syntax-checks (tests/portability: Debian's libomp-19-dev conflicts with libomp-14-dev).
# PyTorch is only for golden-value regeneration and benchmarks; opt in with ZOO_WITH_TORCH=1.
if [[ "${ZOO_WITH_TORCH:-0}" == 1 ]]; then PKGS+=(python3-torch libopenblas0-openmp); fi
missing=()
for p in "${PKGS[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
# node/npm may come from elsewhere than Debian: accept any that work.
if command -v node >/dev/null && command -v npm >/dev/null; then
  missing=("${missing[@]/nodejs}"); missing=("${missing[@]/npm}")
fi
read -r -a missing <<<"${missing[*]}"
if ((${#missing[@]})); then
  echo "setup: installing ${missing[*]}"
  SUDO=""; [[ $(id -u) -ne 0 ]] && SUDO=sudo
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi
