#!/usr/bin/env bash
# Quality parity of the four seed autoencoders: zoo and PyTorch train the same
# models with the same hyperparameters for EPOCHS epochs on Fashion-MNIST and
# report the test loss per image. Writes runs/results_autoencoders.txt.
#   THREADS=1 EPOCHS=5 scripts/results_autoencoders.sh
set -euo pipefail
cd "$(dirname "$0")/.."
epochs=${EPOCHS:-5}
threads=${THREADS:-1}
bash scripts/fetch_data.sh >/dev/null
cmake --preset release >/dev/null && cmake --build --preset release --target autoencoders >/dev/null
openblas=/usr/lib/x86_64-linux-gnu/openblas-openmp
out=runs/results_autoencoders.txt
mkdir -p runs
: >"$out"
for m in mlp_ae conv_ae vae_mse vae_bce; do
  zoo=$(OMP_NUM_THREADS=$threads ./build/release/examples/autoencoders --model "$m" --data fashion \
        --epochs "$epochs" --sample-every "$epochs" --threads "$threads" --out "runs/results/$m" |
        awk '/^epoch/ {t=$6} END {print t}')
  ref=$(LD_LIBRARY_PATH=$openblas OMP_NUM_THREADS=$threads /usr/bin/python3 scripts/pytorch/train_autoencoders.py \
        --model "$m" --epochs "$epochs" --threads "$threads" | awk '/test_loss/ {t=$7} END {print t}')
  echo "$m zoo_test_loss $zoo pytorch_test_loss $ref" | tee -a "$out"
done
