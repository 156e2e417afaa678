#!/usr/bin/env bash
# Builds and runs zoo's CUDA code on a machine with an NVIDIA GPU, in one short pass, and
# writes a log (to $OUT if set, else build/gpu_check/):
#   1. the AKConv gather (tests/cuda/akconv_cuda.cu: the ZOO_HD functors launched by Thrust,
#      cuBLAS for the (N, 1) conv, checked against the CPU backend, then timed);
#   2. the NCCL process group (tests/cuda/nccl_allreduce.cu);
#   3. the CUDA backend's tests (tests/cuda/cuda_backend.cu: every device layer, loss,
#      optimizer and model against the CPU backend on the same weights and batch), with the
#      im2col convolutions and, where the toolkit has cuDNN, again with ZOO_CUDA_CONV=cudnn, and
#      with ZOO_CUDA_LT=0 (Linear's GEMM path instead of cuBLASLt);
#   4. the backend's training steps (bench/cuda/train_steps.cu; both engines likewise, and with
#      ZOO_CUDA_LT=0: the Linear layers without cuBLASLt's epilogues) and,
#      where PyTorch with CUDA is installed, the same steps in PyTorch eager
#      (bench/pytorch/cuda_steps.py);
#   5. the examples with --device cuda (gan, autoencoders, diffusion, classifier, yolo) on the 96 images of
#      tests/fixtures/tiny_mnist, and the diffusion example's --time at n_feat 64, batch 100.
# 3–5 include Eigen, xsimd, doctest (and CLI11, zlib's headers): run scripts/gpu_deps.sh here
# first and carry .gpu_deps (the GPU machine has the CUDA toolkit, not this machine's Debian
# packages); `scripts/gpu_deps.sh --build` also builds the programs here, which saves the GPU
# machine minutes of nvcc.
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
# The CUDA backend: its tests, then its training steps (and PyTorch's).
deps=(-isystem /usr/include/eigen3)
[[ -d .gpu_deps/include ]] && deps=(-isystem .gpu_deps/include)
# cuDNN where the toolkit has it: the convolutions' second engine (cuda/cudnn.hpp), run below
# with ZOO_CUDA_CONV=cudnn beside the default im2col path.
dnn_lib=()
cuda_dir=$(dirname "$(dirname "$NVCC")")
backend_flags=(-std=c++20 -O2 -arch="sm_${arch}" -Iinclude -Itests "${deps[@]}" -Xcompiler=-fopenmp)
if [[ -f $cuda_dir/include/cudnn.h ]] && compgen -G "$cuda_dir/lib64/libcudnn.so*" >/dev/null; then
  backend_flags+=(-DZOO_CUDNN) dnn_lib=(-lcudnn)
  echo "== cuDNN: $(grep -E '#define CUDNN_(MAJOR|MINOR|PATCHLEVEL) ' "$cuda_dir/include/cudnn_version.h" | awk '{print $3}' | paste -sd.)"
else
  echo "== no cuDNN in $cuda_dir: the im2col engine only"
fi
# Programs built here beforehand (scripts/gpu_deps.sh --build; nvcc's front end takes many
# minutes on them) are used when they run on this machine; otherwise they are built now.
backend_program() {  # name, source
  local pre=.gpu_deps/bin/$1
  if [[ -x $pre && $arch == 90 ]] && "$pre" --help >/dev/null 2>&1; then
    echo "== $1: prebuilt for sm_90 at $(cat .gpu_deps/bin/COMMIT 2>/dev/null || echo '?')"
    cp "$pre" "$work/$1"
    return 0
  fi
  local t0=$SECONDS
  if "$NVCC" "${backend_flags[@]}" "$2" -lcublas -lcublasLt "${dnn_lib[@]}" -o "$work/$1"; then
    echo "== built $1 in $((SECONDS - t0)) s"
  else
    echo "== $1 did not build"; return 1
  fi
}
if backend_program cuda_backend tests/cuda/cuda_backend.cu; then
  "$work/cuda_backend" || { echo "== cuda_backend exit $?"; status=1; }
  echo "== cuda_backend with ZOO_CUDA_LT=0 (every Linear on the GEMM path)"
  ZOO_CUDA_LT=0 "$work/cuda_backend" || { echo "== cuda_backend (no cuBLASLt) exit $?"; status=1; }
  if grep -qa cudnnConvolutionForward "$work/cuda_backend"; then  # built with cuDNN (here or prebuilt)
    echo "== cuda_backend with ZOO_CUDA_CONV=cudnn"
    ZOO_CUDA_CONV=cudnn "$work/cuda_backend" || { echo "== cuda_backend (cudnn) exit $?"; status=1; }
  fi
else
  status=1
fi
if backend_program train_steps bench/cuda/train_steps.cu; then
  "$work/train_steps" 50 || { echo "== train_steps exit $?"; status=1; }
  echo "== train_steps with ZOO_CUDA_LT=0 (Linear by bias rows + GEMM + activation pass, no cuBLASLt epilogue)"
  ZOO_CUDA_LT=0 "$work/train_steps" 50 || { echo "== train_steps (no cuBLASLt) exit $?"; status=1; }
  if grep -qa cudnnConvolutionForward "$work/train_steps"; then  # built with cuDNN (here or prebuilt)
    echo "== train_steps with ZOO_CUDA_CONV=cudnn (fp32), then with TF32 as PyTorch's cuDNN convolutions"
    ZOO_CUDA_CONV=cudnn "$work/train_steps" 50 || { echo "== train_steps (cudnn) exit $?"; status=1; }
    ZOO_CUDA_CONV=cudnn ZOO_CUDA_CONV_TF32=1 "$work/train_steps" 50 || { echo "== train_steps (cudnn, tf32) exit $?"; status=1; }
  fi
else
  status=1
fi
if python3 -c "import torch; assert torch.cuda.is_available()" 2>/dev/null; then
  python3 bench/pytorch/cuda_steps.py 50 || echo "== pytorch cuda_steps failed (exit $?)"
fi
# The examples on the device: the same programs users run (prebuilt by gpu_deps.sh --build;
# building them here needs zlib's library, which the GPU machine's system has as libz.so.1).
example_program() {  # name
  local pre=.gpu_deps/bin/$1
  if [[ -x $pre && $arch == 90 ]] && "$pre" --help >/dev/null 2>&1; then
    cp "$pre" "$work/$1"
    return 0
  fi
  local t0=$SECONDS
  if "$NVCC" "${backend_flags[@]}" -x cu -DZOO_EXAMPLE_CUDA=1 "examples/$1.cpp" -lcublas -lcublasLt "${dnn_lib[@]}" -l:libz.so.1 \
       -o "$work/$1"; then
    echo "== built $1 in $((SECONDS - t0)) s"
  else
    echo "== $1 did not build"; return 1
  fi
}
tiny=tests/fixtures/tiny_mnist
ex_runs=$work/examples
for ex in gan autoencoders diffusion classifier yolo; do
  example_program "$ex" || { status=1; continue; }
  case $ex in
    gan) args=(--variant dc --iters 60 --batch 16 --samples 64 --classifier "$ex_runs/lenet.safetensors") ;;
    autoencoders) args=(--model vae_bce --epochs 3 --batch 16) ;;
    diffusion) args=(--n-feat 64 --epochs 2 --batch 16) ;;
    classifier) args=(--epochs 3 --retrain) ;;
    yolo) args=(--set "$ex_runs/digits" --train-images 256 --val-images 64 --epochs 3 --batch 16) ;;
  esac
  t0=$SECONDS
  if "$work/$ex" --device cuda --data "$tiny" --out "$ex_runs/$ex" "${args[@]}" > "$out/$ex.log" 2>&1; then
    echo "== $ex --device cuda: $((SECONDS - t0)) s; last lines:"; tail -3 "$out/$ex.log"
  else
    echo "== $ex --device cuda exit $?"; tail -5 "$out/$ex.log"; status=1
  fi
done
if [[ -x $work/diffusion ]]; then
  "$work/diffusion" --time --device cuda --n-feat 64 --batch 100 --reps 20 || status=1
fi
exit $status
