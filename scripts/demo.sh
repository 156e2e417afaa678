#!/usr/bin/env bash
# The main job: on a fresh machine, installs what is missing, gets the default
# data, builds, trains a model for a few minutes and writes its pictures.
#   scripts/demo.sh                 # the BCE VAE on MNIST digits, ~3 minutes
#   scripts/demo.sh dcgan           # any model of the zoo: mlp_ae conv_ae vae_mse vae_bce vanilla_gan ls_gan dcgan cdcgan ddpm
#   MINUTES=10 DATA=fashion scripts/demo.sh vae_mse
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
  *) echo "demo: unknown model '$model' (mlp_ae conv_ae vae_mse vae_bce vanilla_gan ls_gan dcgan cdcgan ddpm)" >&2; exit 2 ;;
esac
cmake --build --preset release --target "$program" -j "$(nproc)"
out=runs/$model
./build/release/examples/$program --model "$model" --data "$data" --epochs 1000 \
  --minutes "$minutes" --sample-every 25 --out "$out"
echo
echo "demo: $model trained for up to $minutes minutes; its pictures and logs are in $out/:"
ls -1 "$out" | sed 's/^/  /'
