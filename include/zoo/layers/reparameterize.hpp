// zoo/layers/reparameterize.hpp — the VAE's reparameterization trick.
//
//   z = μ + exp(½·lv)·ε,  ε ~ N(0, I)        inputs μ, lv: (N, D); z: (N, D)
//   dμ += dz,   dlv += dz·½·exp(½·lv)·ε
//
// ε is drawn on every forward (as the PyTorch originals do, in training and
// evaluation alike) from the model's noise stream (Model::noise_rng(), saved in
// checkpoints), and cached for backward. `sample = false` makes z = μ.
#pragma once
#include <algorithm>
#include <array>
#include <cmath>

#include "../core/vendor.hpp"  // Eigen, xsimd, intrinsics

#include "../core/layer.hpp"
#include "../core/tensor.hpp"

namespace zoo {

template <class T, class Mu, class LogVar>
struct ReparameterizeLayer {
  static constexpr bool bind_ok = Mu::size == LogVar::size && Mu::rank == LogVar::rank;
  // The layer's rules on its input, checked by bind_t (core/layer.hpp) rather than in the
  // class body: a failed static_assert there makes clang drop the rest of the class, and
  // every use of it then prints an error of its own.
  static constexpr bool check() {
    static_assert(Mu::size == LogVar::size && Mu::rank == LogVar::rank,
                  "zoo::Reparameterize: mu and logvar must have the same shape");
    return bind_ok;
  }
  static constexpr std::size_t arity = 2;
  using input_shapes = type_list<Mu, LogVar>;
  using output_shape = Mu;
  static constexpr std::size_t D = Mu::size;
  static constexpr double flops = 3.0 * D;
  static constexpr const char* name() { return "Reparameterize"; }
  static constexpr bool backward_reads_x = false, backward_reads_y = false;  // its cached ε and σ

  Rng own{0x5eed};     // used until a model binds its stream
  Rng* rng = &own;
  bool sample = true;
  Buffer<T> eps;  // (N, D)
  Buffer<T> sd;   // (N, D): exp(½·lv)

  void bind_rng(Rng* r) { rng = r ? r : &own; }
  void resize(std::size_t n) {
    eps.resize(n * D);
    sd.resize(n * D);
  }
  void forward(const std::array<const T*, 2>& x, T* z, std::size_t n) {
    const T* mu = x[0];
    const T* lv = x[1];
    if (sample) rng->fill_normal(eps.data(), n * D);
    else std::fill(eps.data(), eps.data() + n * D, T(0));
    using B = xsimd::batch<T>;
    std::size_t i = 0;
    for (; i + B::size <= n * D; i += B::size) {
      const B s = xsimd::exp(B(T(0.5)) * B::load_unaligned(lv + i));
      s.store_unaligned(sd.data() + i);
      (B::load_unaligned(mu + i) + s * B::load_unaligned(eps.data() + i)).store_unaligned(z + i);
    }
    for (; i < n * D; ++i) {
      sd[i] = std::exp(T(0.5) * lv[i]);
      z[i] = mu[i] + sd[i] * eps[i];
    }
  }
  void backward(const std::array<const T*, 2>&, const T*, const T* dz,
                const std::array<T*, 2>& dx, std::size_t n) {
    if (T* dmu = dx[0])
      for (std::size_t i = 0; i < n * D; ++i) dmu[i] += dz[i];
    if (T* dlv = dx[1])
      for (std::size_t i = 0; i < n * D; ++i) dlv[i] += dz[i] * T(0.5) * sd[i] * eps[i];
  }
};

struct Reparameterize {
  static constexpr std::size_t arity = 2;
  template <class T, class Mu, class LogVar>
  using bind = ReparameterizeLayer<T, Mu, LogVar>;
};

}  // namespace zoo
