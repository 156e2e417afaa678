// zoo/layers/group_norm.hpp — group normalization, as torch.nn.GroupNorm(G, C, eps, affine=True).
//
// Per sample n and group g of C/G channels, over its M = C/G·H·W values:
//   x̂ = (x − μ_ng) / √(σ²_ng + ε)   (biased variance),   y = γ_c · x̂ + β_c
// Backward, with dx̂ = γ_c · dy:
//   dβ_c += Σ_{n,h,w} dy,  dγ_c += Σ_{n,h,w} dy·x̂,  dx += 1/√(σ²+ε) · (dx̂ − mean(dx̂) − x̂·mean(dx̂·x̂))
// Same in train and eval (no running statistics). Works on (N, C, H, W) and (N, C).
// Caches x̂ (N, C, H, W) and 1/√(σ²+ε) per (n, g).
#pragma once
#include <cmath>
#include <string>
#include <vector>

#include "../core/layer.hpp"
#include "../core/parallel.hpp"
#include "../core/reduce.hpp"
#include "../core/tensor.hpp"

namespace zoo {

struct GroupNormOptions {
  double eps = 1e-5;
};

template <class T, class In, std::size_t G>
struct GroupNormLayer {
  static constexpr bool bind_ok = In::C % G == 0;
  // The layer's rules on its input, checked by bind_t (core/layer.hpp) rather than in the
  // class body: a failed static_assert there makes clang drop the rest of the class, and
  // every use of it then prints an error of its own.
  static constexpr bool check() {
    static_assert(In::C % G == 0,
                  "zoo::GroupNorm: the input's channel count is not divisible by the number of "
                  "groups; choose Groups that divides the channels");
    return bind_ok;
  }
  static constexpr std::size_t C = In::C;
  static constexpr std::size_t HW = In::size / In::C;
  static constexpr std::size_t Cg = C / G;
  static constexpr std::size_t M = Cg * HW;  // values per (sample, group)
  using input_shape = In;
  using output_shape = In;
  static constexpr std::size_t num_params = 2 * C;
  static constexpr double flops = 5.0 * In::size;
  static constexpr const char* name() { return "GroupNorm"; }
  static constexpr bool backward_reads_x = false, backward_reads_y = false;  // its cached x̂ and 1/σ

  GroupNormOptions options;
  T *weight = nullptr, *bias = nullptr, *dweight = nullptr, *dbias = nullptr;
  bool frozen = false;
  Buffer<T> xhat;    // (N, C, H, W)
  Buffer<T> invstd;  // (N, G)

  void bind_params(T*& p, T*& g) {
    weight = p, dweight = g, bias = p + C, dbias = g + C;
    p += 2 * C, g += 2 * C;
  }
  void init(Rng&) {
    for (std::size_t c = 0; c < C; ++c) weight[c] = 1, bias[c] = 0;
  }
  void set_frozen(bool f) { frozen = f; }
  void resize(std::size_t n) {
    xhat.resize(n * In::size);
    invstd.resize(n * G);
  }

  // Backward reads x̂ and 1/σ of every (sample, group): kept for training, per sample.
  static constexpr std::size_t train_values() { return In::size + G; }
  void forward(const T* x, T* y, std::size_t n) {
    if (xhat.size() < n * In::size || invstd.size() < n * G) resize(n);
    forward_impl<true>(x, y, n);
  }
  // Inference keeps neither x̂ nor 1/σ: the same arithmetic, written to y alone.
  void reserve_infer(std::size_t) {}
  void forward_infer(const T* x, T* y, std::size_t n, T*) { forward_impl<false>(x, y, n); }

  template <bool Keep>
  void forward_impl(const T* x, T* y, std::size_t n) {
    parallel_for(n * G, 3 * M, [&](std::size_t b, std::size_t e) {
      for (std::size_t ng = b; ng < e; ++ng) {
        const std::size_t off = ng * M;  // (n, g) block is contiguous in (N, C, H, W)
        const T* xp = x + off;
        const double mu = reduce::sum(xp, M) / M;
        const double ss = reduce::sum_sq_dev(xp, M, static_cast<T>(mu));
        const T mean = static_cast<T>(mu);
        const T istd = static_cast<T>(1.0 / std::sqrt(ss / M + options.eps));
        if constexpr (Keep) invstd[ng] = istd;
        const std::size_t c0 = (ng % G) * Cg;
        T* hp = Keep ? xhat.data() + off : nullptr;
        T* yp = y + off;
        for (std::size_t c = 0; c < Cg; ++c) {
          const T gm = weight[c0 + c], bt = bias[c0 + c];
          for (std::size_t k = c * HW; k < (c + 1) * HW; ++k) {
            const T h = (xp[k] - mean) * istd;
            if constexpr (Keep) hp[k] = h;
            yp[k] = gm * h + bt;
          }
        }
      }
    });
  }

  void backward(const T*, const T*, const T* dy, T* dx, std::size_t n) {
    if (!frozen)  // per channel, summed over the batch: one thread owns each channel
      parallel_for(C, 2 * n * HW, [&](std::size_t cb, std::size_t ce) {
        for (std::size_t c = cb; c < ce; ++c) {
          double sdy = 0, sdyh = 0;
          for (std::size_t i = 0; i < n; ++i) {
            const std::size_t off = i * In::size + c * HW;
            sdy += reduce::sum(dy + off, HW);
            sdyh += reduce::dot(dy + off, xhat.data() + off, HW);
          }
          dbias[c] += static_cast<T>(sdy);
          dweight[c] += static_cast<T>(sdyh);
        }
      });
    if (!dx) return;
    parallel_for(n * G, 4 * M, [&](std::size_t b, std::size_t e) {
      for (std::size_t ng = b; ng < e; ++ng) {
        const std::size_t off = ng * M;
        const std::size_t c0 = (ng % G) * Cg;
        const T* d = dy + off;
        const T* h = xhat.data() + off;
        double s1 = 0, s2 = 0;  // Σ dx̂, Σ dx̂·x̂
        for (std::size_t c = 0; c < Cg; ++c) {
          const double gm = weight[c0 + c];
          s1 += gm * reduce::sum(d + c * HW, HW);
          s2 += gm * reduce::dot(d + c * HW, h + c * HW, HW);
        }
        const T istd = invstd[ng];
        const T m1 = static_cast<T>(s1 / M), m2 = static_cast<T>(s2 / M);
        T* o = dx + off;
        for (std::size_t c = 0; c < Cg; ++c) {
          const T gm = weight[c0 + c];
          for (std::size_t k = c * HW; k < (c + 1) * HW; ++k)
            o[k] += istd * (gm * d[k] - m1 - h[k] * m2);
        }
      }
    });
  }

  template <class F>
  void visit_params(const std::string& prefix, F&& f) {
    f(layer_ops::join(prefix, "weight"), std::vector<std::size_t>{C}, weight, dweight, C);
    f(layer_ops::join(prefix, "bias"), std::vector<std::size_t>{C}, bias, dbias, C);
  }
};

// GroupNorm<Groups>: channels come from the input, as nn.GroupNorm(Groups, C).
template <std::size_t Groups>
struct GroupNorm {
  static_assert(Groups > 0, "zoo::GroupNorm<Groups>: Groups must be positive");
  template <class T, class In>
  using bind = GroupNormLayer<T, In, Groups>;
};

}  // namespace zoo
