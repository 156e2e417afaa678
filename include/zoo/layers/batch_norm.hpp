// zoo/layers/batch_norm.hpp — batch normalization over features or channels,
// as nn.BatchNorm1d on (N, F) and nn.BatchNorm2d on (N, C, H, W).
//
// Train:  μ_c, σ²_c over N (and H, W);  x̂ = (x − μ)/√(σ² + ε);  y = γ x̂ + β;
//         running = (1 − m)·running + m·stat, with the unbiased variance.
// Eval:   the running statistics replace the batch ones.
// Backward (train), M values per channel:
//   dβ += Σ dy,  dγ += Σ dy·x̂,  dx += γ/(M·√(σ²+ε)) · (M·dy − Σdy − x̂·Σ dy·x̂)
// Caches x̂ (N, C, H, W) and 1/√(σ²+ε) per channel.
#pragma once
#include <cmath>
#include <ratio>
#include <stdexcept>
#include <string>

#include "../core/layer.hpp"
#include "../core/parallel.hpp"
#include "../core/reduce.hpp"
#include "../core/tensor.hpp"

namespace zoo {

struct BatchNormOptions {
  double eps = 1e-5;
  double momentum = 0.1;
};

template <class T, class In>
struct BatchNormLayer {
  using input_shape = In;
  using output_shape = In;
  static constexpr std::size_t C = In::C;
  static constexpr std::size_t HW = In::size / In::C;
  static constexpr std::size_t num_params = 2 * C;
  static constexpr std::size_t num_buffers = 2 * C + 1;  // running_mean, running_var, count
  static constexpr double flops = 4.0 * In::size;
  static constexpr const char* name() { return "BatchNorm"; }

  BatchNormOptions options;
  T *weight = nullptr, *bias = nullptr, *dweight = nullptr, *dbias = nullptr;
  T *running_mean = nullptr, *running_var = nullptr, *num_batches_tracked = nullptr;
  bool training = true;
  bool frozen = false;
  Buffer<T> xhat;     // (N, C, H, W)
  Buffer<T> invstd;   // (C) — of the batch in train mode, of the running var in eval

  void bind_params(T*& p, T*& g) {
    weight = p, dweight = g, bias = p + C, dbias = g + C;
    p += 2 * C, g += 2 * C;
  }
  void bind_buffers(T*& b) {
    running_mean = b, running_var = b + C, num_batches_tracked = b + 2 * C;
    b += 2 * C + 1;
  }
  void init(Rng&) {
    for (std::size_t c = 0; c < C; ++c) weight[c] = 1, bias[c] = 0, running_mean[c] = 0,
                                        running_var[c] = 1;
    *num_batches_tracked = 0;
  }
  void set_training(bool t) { training = t; }
  void set_frozen(bool f) { frozen = f; }
  void resize(std::size_t n) {
    xhat.resize(n * In::size);
    invstd.resize(C);
  }

  // Σ over the batch of channel c's values of t: per sample a run of HW values (one call
  // of `run`, SIMD lanes), or for BatchNorm1d (HW = 1) one value per sample (`one`, in
  // double: the values are In::size apart and lanes would gain nothing).
  template <class One, class Run>
  static double sum_over_batch(const T* t, std::size_t c, std::size_t n, One&& one, Run&& run) {
    double s = 0;
    for (std::size_t i = 0; i < n; ++i) {
      const T* p = t + i * In::size + c * HW;
      if constexpr (HW == 1) s += one(p);
      else s += run(p);
    }
    return s;
  }

  void forward(const T* x, T* y, std::size_t n) {
    const std::size_t M = n * HW;
    if (training && M <= 1)
      throw std::invalid_argument(
          "zoo::BatchNorm: training needs more than one value per channel (batch " +
          std::to_string(n) + " × " + std::to_string(HW) + " positions); use eval() or a larger batch");
    parallel_for(C, 2 * M, [&](std::size_t cb, std::size_t ce) {
      for (std::size_t c = cb; c < ce; ++c) {
        T mean, istd;
        if (training) {
          // Two passes: Σ(x − μ)² does not cancel as Σx² − Mμ² does.
          const double mu = sum_over_batch(x, c, n, [](const T* p) { return double(*p); },
                                           [](const T* p) { return reduce::sum(p, HW); }) / M;
          const T mt = static_cast<T>(mu);
          const double ss = sum_over_batch(
              x, c, n, [mu](const T* p) { return (*p - mu) * (*p - mu); },
              [mt](const T* p) { return reduce::sum_sq_dev(p, HW, mt); });
          const double var = ss / M;
          mean = static_cast<T>(mu);
          istd = static_cast<T>(1.0 / std::sqrt(var + options.eps));
          const double m = options.momentum;
          running_mean[c] = static_cast<T>((1 - m) * running_mean[c] + m * mu);
          running_var[c] = static_cast<T>((1 - m) * running_var[c] + m * ss / (M - 1));
        } else {
          mean = running_mean[c];
          istd = static_cast<T>(1.0 / std::sqrt(static_cast<double>(running_var[c]) + options.eps));
        }
        invstd[c] = istd;
        const T g = weight[c], b = bias[c];
        for (std::size_t i = 0; i < n; ++i) {
          const std::size_t off = i * In::size + c * HW;
          const T* xp = x + off;
          T* hp = xhat.data() + off;
          T* yp = y + off;
          for (std::size_t k = 0; k < HW; ++k) {
            const T h = (xp[k] - mean) * istd;
            hp[k] = h;
            yp[k] = g * h + b;
          }
        }
      }
    });
    if (training) *num_batches_tracked += 1;
  }

  void backward(const T*, const T*, const T* dy, T* dx, std::size_t n) {
    const std::size_t M = n * HW;
    parallel_for(C, 3 * M, [&](std::size_t cb, std::size_t ce) {
      for (std::size_t c = cb; c < ce; ++c) {
        const T* h0 = xhat.data();
        const double sdy = sum_over_batch(dy, c, n, [](const T* d) { return double(*d); },
                                          [](const T* d) { return reduce::sum(d, HW); });
        const double sdyh = sum_over_batch(
            dy, c, n, [&](const T* d) { return double(*d) * h0[d - dy]; },
            [&](const T* d) { return reduce::dot(d, h0 + (d - dy), HW); });
        if (!frozen) dbias[c] += static_cast<T>(sdy), dweight[c] += static_cast<T>(sdyh);
        if (!dx) continue;
        const T g = weight[c] * invstd[c];
        if (training) {
          const T mdy = static_cast<T>(sdy / M), mdyh = static_cast<T>(sdyh / M);
          for (std::size_t i = 0; i < n; ++i) {
            const std::size_t off = i * In::size + c * HW;
            const T* d = dy + off;
            const T* h = xhat.data() + off;
            T* o = dx + off;
            for (std::size_t k = 0; k < HW; ++k) o[k] += g * (d[k] - mdy - h[k] * mdyh);
          }
        } else {
          for (std::size_t i = 0; i < n; ++i) {
            const std::size_t off = i * In::size + c * HW;
            for (std::size_t k = 0; k < HW; ++k) dx[off + k] += g * dy[off + k];
          }
        }
      }
    });
  }

  template <class F>
  void visit_params(const std::string& prefix, F&& f) {
    f(layer_ops::join(prefix, "weight"), std::vector<std::size_t>{C}, weight, dweight, C);
    f(layer_ops::join(prefix, "bias"), std::vector<std::size_t>{C}, bias, dbias, C);
  }
  template <class F>
  void visit_buffers(const std::string& prefix, F&& f) {
    f(layer_ops::join(prefix, "running_mean"), std::vector<std::size_t>{C}, running_mean, C);
    f(layer_ops::join(prefix, "running_var"), std::vector<std::size_t>{C}, running_var, C);
    f(layer_ops::join(prefix, "num_batches_tracked"), std::vector<std::size_t>{},
      num_batches_tracked, std::size_t{1});
  }
};

// BatchNorm over the channel dimension: features of (N, F), channels of (N, C, H, W).
struct BatchNorm {
  template <class T, class In>
  using bind = BatchNormLayer<T, In>;
};

namespace detail {
template <class T, class In, class Eps, class Momentum>
struct BatchNormWithLayer : BatchNormLayer<T, In> {
  BatchNormWithLayer() {
    this->options = {double(Eps::num) / double(Eps::den),
                     double(Momentum::num) / double(Momentum::den)};
  }
};
}  // namespace detail

// BatchNorm whose eps and momentum are part of the network's type (exact ratios, as
// LeakyReLU's slope): YOLOv5 builds every BatchNorm2d with eps 1e-3 and momentum 0.03,
// BatchNormWith<std::ratio<1, 1000>, std::ratio<3, 100>>. The values are set when the
// layer is made and stay run-time members, as BatchNorm's.
template <class Eps, class Momentum>
struct BatchNormWith {
  static_assert(Eps::num > 0 && Momentum::num >= 0 && Momentum::num <= Momentum::den,
                "zoo::BatchNormWith<Eps, Momentum>: eps must be positive and momentum in [0, 1]");
  template <class T, class In>
  using bind = detail::BatchNormWithLayer<T, In, Eps, Momentum>;
};

}  // namespace zoo
