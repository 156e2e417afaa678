#!/usr/bin/env bash
# The main job: on a fresh machine, installs what is missing, gets the default
# data, builds, trains a model for a few minutes and writes its pictures.
#   scripts/demo.sh                 # the BCE VAE on MNIST digits, ~3 minutes
#   scripts/demo.sh dcgan           # any model of the zoo: mlp_ae conv_ae vae_mse vae_bce vanilla_gan ls_gan dcgan cdcgan ddpm yolo yolo_akconv
#   EPOCHS=20 MINUTES=30 scripts/demo.sh yolo   # the detectors take EPOCHS (the LR schedule's length, default 5)
#   MINUTES=10 DATA=fashion scripts/demo.sh vae_mse
#   NP=2 scripts/demo.sh vae_bce    # data-parallel: 2 processes of one thread (docs/distributed.md)
set -euo pipefail
cd "$(dirname "$0")/.."
model=${1:-vae_bce}
minutes=${MINUTES:-3}
data=${DATA:-mnist}
bash scripts/setup.sh
bash scripts/fetch_data.sh
cmake --preset release >/dev/null
case "$model" in
  mlp_ae|conv_ae|vae_mse|vae_bce) program=autoencoders ;;
  dcgan|cdcgan|vanilla_gan|ls_gan) program=gan ;;
  ddpm|diffusion) program=diffusion ;;
  yolo|yolo_akconv) program=yolo ;;
  *) echo "demo: unknown model '$model' (mlp_ae conv_ae vae_mse vae_bce vanilla_gan ls_gan dcgan cdcgan ddpm yolo yolo_akconv)" >&2; exit 2 ;;
esac
cmake --build --preset release --target "$program" -j "$(nproc)"
out=runs/$model
# NP processes under mpirun, one thread each (root needs OpenMPI's consent; more processes
# than cores need --oversubscribe).
launch=()
if [[ ${NP:-1} -gt 1 ]]; then
  launch=(mpirun -np "$NP" --oversubscribe -x OMP_NUM_THREADS=1)
  [[ $(id -u) -eq 0 ]] && launch+=(--allow-run-as-root)
fi
if [[ $program == yolo ]]; then
  # The detection set is made from the digits once (data/digits-det); the epochs fix the
  # LR schedule, the minutes cut it short.
  "${launch[@]}" ./build/release/examples/yolo --model "$model" --akconv-n "${AKCONV_N:-3}" --data "$data" \
    --epochs "${EPOCHS:-5}" --minutes "$minutes" --out "$out"
else
  "${launch[@]}" ./build/release/examples/$program --model "$model" --data "$data" --epochs 1000 \
    --minutes "$minutes" --sample-every 25 --out "$out"
fi
echo
echo "demo: $model trained for up to $minutes minutes; its pictures and logs are in $out/:"
ls -1 "$out" | sed 's/^/  /'
