#!/usr/bin/env bash
# Builds and runs zoo's CUDA code on a machine with an NVIDIA GPU, in one short pass, and
# writes a log (to $OUT if set, else build/gpu_check/). Today the CUDA side is the AKConv
# gather (tests/cuda/akconv_cuda.cu: the ZOO_HD functors launched by Thrust, cuBLAS for the
# (N, 1) conv, every result checked against the CPU backend, then timed); the CUDA backend
# (issue 21) adds its tests and benchmarks here. Needs only nvcc and the CUDA toolkit: the
# program includes no Debian headers, so the GPU machine needs none of this machine's packages.
#   scripts/gpu_check.sh            # on the GPU machine, from the repository root
set -euo pipefail
cd "$(dirname "$0")/.."
NVCC=${NVCC:-$(command -v nvcc || echo /usr/local/cuda/bin/nvcc)}
out=${OUT:-build/gpu_check}
mkdir -p "$out"
log=$out/gpu_check.log
exec > >(tee "$log") 2>&1
echo "== zoo gpu_check $(date -u +%FT%TZ)"
nvidia-smi --query-gpu=name,memory.total,driver_version,clocks.max.sm,clocks.max.mem --format=csv
"$NVCC" --version | tail -1
arch=${ARCH:-$(nvidia-smi --query-gpu=compute_cap --format=csv,noheader | head -1 | tr -d .)}
work=$(mktemp -d)
t0=$SECONDS
"$NVCC" -std=c++20 -O2 -arch="sm_${arch}" -Iinclude tests/cuda/akconv_cuda.cu -lcublas \
  -o "$work/akconv_cuda"
echo "== built akconv_cuda for sm_${arch} in $((SECONDS - t0)) s"
status=0
"$work/akconv_cuda" || status=$?
echo "== akconv_cuda exit $status"
# The NCCL process group of data-parallel training (zoo/cuda/nccl.hpp): one rank, one GPU
# (no MPI on the GPU machine; NCCL still runs its all-reduce path).
t0=$SECONDS
if "$NVCC" -std=c++20 -O2 -arch="sm_${arch}" -Iinclude -Xcompiler=-fopenmp tests/cuda/nccl_allreduce.cu -lnccl \
     -o "$work/nccl_allreduce"; then
  echo "== built nccl_allreduce in $((SECONDS - t0)) s"
  "$work/nccl_allreduce" || { echo "== nccl_allreduce exit $?"; status=1; }
else
  echo "== nccl_allreduce did not build"; status=1
fi
# The same layer in PyTorch eager CUDA, where PyTorch is installed (not needed for the check).
if python3 -c "import torch" 2>/dev/null; then
  python3 bench/pytorch/akconv_cuda.py || echo "== pytorch comparison failed (exit $?)"
fi
exit $status
