#!/usr/bin/env bash
# Prepares .gpu_deps (ignored by git) for scripts/gpu_check.sh on the GPU machine, which has
# the CUDA toolkit but none of this machine's Debian packages:
#   include/  the header-only libraries the CUDA tests, benchmarks and examples include (Eigen,
#             xsimd, doctest, CLI11) and zlib's two headers, copied from the Debian packages;
#   bin/      with --build: the backend's test and benchmark programs and the examples with a
#             device path (gan, autoencoders, diffusion, classifier, yolo; --device cuda) built here by nvcc for
#             sm_90 (libstdc++ and zlib linked statically; cuBLAS and the driver from the GPU
#             machine).
#             nvcc's front end needs well over half an hour for the two on this 2-core
#             machine (each ran over 13 minutes without finishing on 2026-12-05: start it
#             early) — GPU time is scarcer: gpu_check.sh runs these when they are there.
# Carry .gpu_deps with the working tree.
#   scripts/gpu_deps.sh [--build]   # here, before sending a GPU check
set -euo pipefail
cd "$(dirname "$0")/.."
dst=.gpu_deps/include
rm -rf .gpu_deps
mkdir -p "$dst"
cp -r /usr/include/eigen3/Eigen "$dst/"           # Eigen's unsupported/ is not used
cp -r /usr/include/xsimd /usr/include/doctest /usr/include/CLI "$dst/"
cp /usr/include/zlib.h /usr/include/zconf.h "$dst/"
if [[ "${1:-}" == "--build" ]]; then
  NVCC=${NVCC:-/usr/local/cuda/bin/nvcc}
  mkdir -p .gpu_deps/bin
  flags=(-std=c++20 -O2 -arch=sm_90 -Iinclude -Itests -isystem "$dst" -Xcompiler=-fopenmp
         -Xcompiler=-static-libstdc++ -Xcompiler=-static-libgcc)
  # cuDNN where this toolkit has it (cuda/cudnn.hpp); a GPU machine without libcudnn then
  # fails the programs' --help probe in gpu_check.sh, which builds them there instead.
  dnn_def=() dnn_lib=()
  cuda_dir=$(dirname "$(dirname "$NVCC")")
  if [[ -f $cuda_dir/include/cudnn.h ]] && compgen -G "$cuda_dir/lib64/libcudnn.so*" >/dev/null; then
    dnn_def=(-DZOO_CUDNN) dnn_lib=(-lcudnn)
  fi
  "$NVCC" "${flags[@]}" "${dnn_def[@]}" tests/cuda/cuda_backend.cu -lcublas -lcublasLt "${dnn_lib[@]}" -o .gpu_deps/bin/cuda_backend
  "$NVCC" "${flags[@]}" "${dnn_def[@]}" bench/cuda/train_steps.cu -lcublas -lcublasLt "${dnn_lib[@]}" -o .gpu_deps/bin/train_steps
  for ex in gan autoencoders diffusion classifier yolo; do
    "$NVCC" "${flags[@]}" "${dnn_def[@]}" -x cu -DZOO_EXAMPLE_CUDA=1 "examples/$ex.cpp" -lcublas -lcublasLt "${dnn_lib[@]}" \
      -L/usr/lib/x86_64-linux-gnu -l:libz.a -o ".gpu_deps/bin/$ex"  # -x cu: no file paths
  done
  git rev-parse HEAD > .gpu_deps/bin/COMMIT
fi
du -sh .gpu_deps
