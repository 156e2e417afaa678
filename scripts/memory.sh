#!/usr/bin/env bash
# scripts/memory.sh — peak resident memory of zoo and PyTorch 1.13, side by side (issue 22).
#   scripts/memory.sh              # every case of bench/memory_peak.cpp
#   scripts/memory.sh 'train$'     # the cases whose name matches an (extended) regex
# Builds build/mem's memory_peak (ZOO_MEM_BUILD to change it; ZOO_MEM_JOBS ninja jobs, 1),
# then runs each case in a fresh process on each side, zoo then PyTorch, case by case, and
# prints a Markdown table, also written to bench/results/<date>_memory.md (unfiltered runs only).
# Peak = ru_maxrss of that one process; baseline = its VmRSS before the model is built
# (PyTorch's: after importing torch and the twin modules). ratio = PyTorch peak / zoo peak
# (> 1: zoo needs less). Both sides: 2 threads, OpenBLAS's OpenMP build (PyTorch's libblas.so.3
# chosen by LD_LIBRARY_PATH, as bench/run.py's worker), OPENBLAS_CORETYPE and OMP_NUM_THREADS
# unset, glibc malloc as the environment has it (GLIBC_TUNABLES, printed).
set -euo pipefail
cd "$(dirname "$0")/.."
FILTER=${1:-.}
BUILD=${ZOO_MEM_BUILD:-build/mem}
TORCH_PY=${ZOO_TORCH_PY:-/usr/bin/python3}
TORCH_BLAS=/usr/lib/x86_64-linux-gnu/openblas-openmp

if [[ ! -f "$BUILD/CMakeCache.txt" ]]; then
  cmake -S . -B "$BUILD" -G Ninja -DCMAKE_BUILD_TYPE=Release -DZOO_BUILD_TESTS=OFF \
    -DZOO_BUILD_EXAMPLES=OFF -DZOO_BUILD_BENCH=ON >/dev/null
fi
nice -n 10 cmake --build "$BUILD" --target memory_peak -j"${ZOO_MEM_JOBS:-1}" >&2
ZOO="$BUILD/bench/memory_peak"

unset OPENBLAS_CORETYPE OMP_NUM_THREADS
field() { sed -n "s/.*$1=\([0-9.]*\).*/\1/p" <<<"$2"; }

date_tag=$(date +%F)
out=bench/results/${date_tag}_memory.md
mkdir -p bench/results
table=$(mktemp)
trap 'rm -f "$table"' EXIT
{
  rev=$(git rev-parse --short HEAD 2>/dev/null || echo '?')
  [[ -z $(git status --porcelain -- include 2>/dev/null) ]] || rev+=" + uncommitted include/ changes"
  echo "Peak resident memory (MB), one process per case and side: zoo \`$rev\`"
  echo "against PyTorch $("$TORCH_PY" -c 'import torch; print(torch.__version__)' 2>/dev/null), $(date -u '+%F %H:%M UTC'),"
  echo "$(nproc) cores, $(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -1); 2 threads each;"
  echo "glibc malloc: ${GLIBC_TUNABLES:-defaults}. ratio = PyTorch / zoo (> 1: zoo needs less)."
  echo
  echo "| case | zoo peak MB | PyTorch peak MB | ratio | zoo baseline | torch baseline |"
  echo "|---|---:|---:|---:|---:|---:|"
} >"$table"
cat "$table"

for c in $("$ZOO" --list | grep -E -- "$FILTER"); do
  z=$("$ZOO" "$c" | grep "^case=") || z=""
  t=$(LD_LIBRARY_PATH=$TORCH_BLAS${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH} "$TORCH_PY" bench/pytorch/memory_peak.py "$c" |
      grep "^case=") || t=""
  zp=$(field peak_rss_mb "$z"); zb=$(field baseline_rss_mb "$z")
  tp=$(field peak_rss_mb "$t"); tb=$(field baseline_rss_mb "$t")
  ratio=$(awk -v z="${zp:-0}" -v t="${tp:-0}" 'BEGIN { if (z > 0 && t > 0) printf "%.2f", t / z; else print "—" }')
  row="| $c | ${zp:-failed} | ${tp:-failed} | $ratio | ${zb:-—} | ${tb:-—} |"
  echo "$row" | tee -a "$table"
done
if [[ "$FILTER" == . ]]; then  # a filtered run leaves the day's full table alone
  cat "$table" >"$out"
  echo "written: $out" >&2
fi
