// zoo/layers/batch_norm.hpp — batch normalization over features or channels,
// as nn.BatchNorm1d on (N, F) and nn.BatchNorm2d on (N, C, H, W).
//
// Train:  μ_c, σ²_c over N (and H, W);  x̂ = (x − μ)/√(σ² + ε);  y = γ x̂ + β;
//         running = (1 − m)·running + m·stat, with the unbiased variance.
// Eval:   the running statistics replace the batch ones.
// Backward (train), M values per channel:
//   dβ += Σ dy,  dγ += Σ dy·x̂,  dx += γ/(M·√(σ²+ε)) · (M·dy − Σdy − x̂·Σ dy·x̂)
// Caches μ and 1/√(σ²+ε) per channel; backward recomputes x̂ from x.
// Synchronized (bind_sync with a process group of K > 1 ranks, training only): the
// statistics are over every rank's share of the batch — the per-channel sums go through
// two all-reduces in forward (Σx, then Σ(x − μ)², so the two-pass form survives) and
// one in backward (Σdy, Σdy·x̂) — and the layer computes what one process computes on
// the whole batch. Without it, each rank normalizes by its own share's statistics.
#pragma once
#include <cmath>
#include <ratio>
#include <stdexcept>
#include <string>
#include <type_traits>

#include "../core/collective.hpp"
#include "../core/layer.hpp"
#include "../core/parallel.hpp"
#include "../core/reduce.hpp"
#include "../core/tensor.hpp"
#include "../core/vendor.hpp"  // xsimd
#include "../cpu/batch_parallel.hpp"
#if defined(_OPENMP)
#include <omp.h>
#endif

namespace zoo {

namespace detail {
// The activation of a plain forward: BatchNorm's own output.
struct bn_identity {
  template <class V>
  static V f(V x) { return x; }
};
}  // namespace detail

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
  static constexpr bool backward_reads_x = true, backward_reads_y = false;  // x: to recompute x̂

  BatchNormOptions options;
  T *weight = nullptr, *bias = nullptr, *dweight = nullptr, *dbias = nullptr;
  T *running_mean = nullptr, *running_var = nullptr, *num_batches_tracked = nullptr;
  bool training = true;
  bool frozen = false;
  Collective* sync = nullptr;
  using V = xsimd::batch<T>;
  static constexpr std::size_t L = V::size;
  static constexpr std::size_t HWv = HW / L * L;  // the vector part of a run of HW values

  // x̂ = (x − center)·invstd is not stored: backward recomputes it from x, the layer's
  // input, which the graph keeps anyway (the same float expression, so the same values).
  // Storing it cost a write per activation in forward and yolov5n 30 MB.
  Buffer<T> center;   // (C) — the batch mean in train mode, the running mean in eval
  Buffer<T> invstd;   // (C) — of the batch in train mode, of the running var in eval
  // backward_then: one channel's γ·x̂ + β gradient (n·HW values) per thread.
  cpu::ThreadScratch<T> chan_;
  // Values per channel behind the statistics of the last forward: n·HW, or the sum over
  // ranks when synchronized.
  double count_ = 0;
  std::vector<double> sums_;  // synchronized: the per-channel sums sent to the all-reduce

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
  void bind_sync(Collective* c) { sync = c; }
  bool synced() const { return training && sync && sync->size() > 1; }
  // Inference: the per-channel scale and shift only (chan_ serves the training passes).
  void reserve_infer(std::size_t) {
    center.resize(C);
    invstd.resize(C);
    sums_.resize(4 * C + 1);
  }
  void resize(std::size_t n) {
    reserve_infer(n);
    chan_.reserve(n * HW);
  }

  // Σ over the batch of channel c's values of t: per sample a run of HW values (one call
  // of `run`, SIMD lanes), or for BatchNorm1d (HW = 1) one value per sample (`one`, in
  // double: the values are In::size apart and lanes would gain nothing). Summing lanes
  // across samples instead was 5–20 µs faster on 4×4 maps, but moved yolov5n's float
  // step from 5.1e-4 to 1.1e-3 of its float64 one: 2×2 and 4×4 maps over a batch of 2
  // make BatchNorms whose statistics amplify any change in rounding.
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

  // y may be x: each channel's statistics are taken before its values are written, and
  // each value is read before it is written (a planned inference runs BatchNorm in place).
  static constexpr bool inplace = true;
  void forward(const T* x, T* y, std::size_t n) { forward_impl<detail::bn_identity>(x, y, n); }

  // ---- fused with the activation after it (Graph fuses conv → bn → act when the act alone
  // reads the bn): z = Fn(γ·x̂ + β) goes straight to the activation's output, and the
  // BatchNorm output itself is neither stored nor read back; backward_then recomputes it
  // from x̂ where the activation's derivative needs it. yolov5n runs 57 of these pairs: the
  // fusion saves a write and two reads of every activation in forward, one read and one
  // write in backward, and two buffers of each pair.
  template <class Fn>
  void forward_then(const T* x, T* z, std::size_t n) {
    forward_impl<Fn>(x, z, n);
  }
  // dx (= or +=, as Overwrite) from dz, the activation's output gradient.
  template <class Fn, bool Overwrite>
  void backward_then(const T* x, const T* dz, T* dx, std::size_t n) {
    backward_act<Fn, Overwrite>(x, dz, dx, n);
  }

  template <class Fn>
  void forward_impl(const T* x, T* y, std::size_t n) {
    const std::size_t M = n * HW;
    const bool global = synced();
    if (global) global_statistics(x, n);
    else count_ = double(M);
    if (training && count_ <= 1)
      throw std::invalid_argument(
          "zoo::BatchNorm: training needs more than one value per channel (batch " +
          std::to_string(n) + " × " + std::to_string(HW) + " positions); use eval() or a larger batch");
    // Three passes over x and two writes per value: as costly as an activation's exp
    // (cost 8), so 8×8 and 4×4 maps of a small batch are split over the threads too.
    parallel_for(C, 8 * M, [&](std::size_t cb, std::size_t ce) {
      for (std::size_t c = cb; c < ce; ++c) {
        if (global) {  // global_statistics has set them
        } else if (training) {
          // Two passes: Σ(x − μ)² does not cancel as Σx² − Mμ² does.
          const double mu = channel_sum(x, c, n) / double(M);
          set_statistics(c, mu, channel_sq_dev(x, c, n, mu), double(M));
        } else {
          center[c] = running_mean[c];
          invstd[c] = static_cast<T>(1.0 / std::sqrt(static_cast<double>(running_var[c]) + options.eps));
        }
        const T mean = center[c], istd = invstd[c];
        const T g = weight[c], b = bias[c];
        const V vm(mean), vi(istd), vg(g), vb(b);
        for (std::size_t i = 0; i < n; ++i) {
          const std::size_t off = i * In::size + c * HW;
          const T* xp = x + off;
          T* yp = y + off;
          std::size_t k = 0;
          // if constexpr: nvcc's front end calls k < 0 (HWv = 0) a pointless comparison
          if constexpr (HWv > 0) {
            for (; k < HWv; k += L) {
              const V h = (V::load_unaligned(xp + k) - vm) * vi;
              Fn::f(vg * h + vb).store_unaligned(yp + k);
            }
          }
          if constexpr (std::is_same_v<Fn, detail::bn_identity>) {
            for (; k < HW; ++k) {
              const T h = (xp[k] - mean) * istd;
              yp[k] = g * h + b;
            }
          } else if constexpr (HW > HWv) {
            // The run's last values as a vector padded with zeros, so the activation's
            // vector function gives them too: the same values as the layers run apart.
            alignas(64) T in[L] = {}, out[L];
            for (std::size_t j = 0; j < HW - HWv; ++j) in[j] = (xp[k + j] - mean) * istd;
            const V h = V::load_aligned(in);
            Fn::f(vg * h + vb).store_aligned(out);
            for (std::size_t j = 0; j < HW - HWv; ++j) yp[k + j] = out[j];
          }
        }
      }
    });
    if (training) *num_batches_tracked += 1;
  }

  // Synchronized forward: μ and σ² of every channel over all ranks' values, into center,
  // invstd and the running statistics — the expressions of the one-process path, with
  // each sum taken over ranks before it is used.
  void global_statistics(const T* x, std::size_t n) {
    // sums_: [0, C) Σx, then μ; [C] the count; [C + 1, 2C + 1) Σ(x − μ)².
    double* s = sums_.data();
    double* ss = s + C + 1;
    parallel_for(C, 2 * n * HW, [&](std::size_t cb, std::size_t ce) {
      for (std::size_t c = cb; c < ce; ++c) s[c] = channel_sum(x, c, n);
    });
    s[C] = double(n * HW);
    sync->allreduce_sum(s, C + 1);
    const double M = s[C];
    count_ = M;
    if (M <= 1) return;  // forward_impl reports it
    for (std::size_t c = 0; c < C; ++c) s[c] /= M;
    parallel_for(C, 2 * n * HW, [&](std::size_t cb, std::size_t ce) {
      for (std::size_t c = cb; c < ce; ++c) ss[c] = channel_sq_dev(x, c, n, s[c]);
    });
    sync->allreduce_sum(ss, C);
    for (std::size_t c = 0; c < C; ++c) set_statistics(c, s[c], ss[c], M);
  }

  // Σx of channel c over this process's batch.
  static double channel_sum(const T* x, std::size_t c, std::size_t n) {
    return sum_over_batch(x, c, n, [](const T* p) { return double(*p); },
                          [](const T* p) { return reduce::sum(p, HW); });
  }
  // Σ(x − μ)² of channel c; the vector path subtracts μ rounded to T.
  static double channel_sq_dev(const T* x, std::size_t c, std::size_t n, double mu) {
    const T mt = static_cast<T>(mu);
    return sum_over_batch(x, c, n, [mu](const T* p) { return (*p - mu) * (*p - mu); },
                          [mt](const T* p) { return reduce::sum_sq_dev(p, HW, mt); });
  }
  // Channel c's batch statistics from μ and Σ(x − μ)² over M values: center, invstd, and
  // the running mean and (unbiased) variance.
  void set_statistics(std::size_t c, double mu, double ss, double M) {
    const double m = options.momentum;
    center[c] = static_cast<T>(mu);
    invstd[c] = static_cast<T>(1.0 / std::sqrt(ss / M + options.eps));
    running_mean[c] = static_cast<T>((1 - m) * running_mean[c] + m * mu);
    running_var[c] = static_cast<T>((1 - m) * running_var[c] + m * ss / (M - 1));
  }

  // Synchronized backward: the per-channel (Σdy, Σdy·x̂) of every rank, each scaled by its
  // rank's share of the global loss (Collective::weight) so the sum is the global batch's;
  // returned in this rank's units (÷ weight), which the dx formula mixes with its own dy.
  void global_sums() {
    const double w = sync->weight();
    if (w <= 0) throw std::logic_error("zoo::BatchNorm: a synchronized backward on a rank with no samples");
    for (std::size_t i = 0; i < 2 * C; ++i) sums_[i] *= w;
    sync->allreduce_sum(sums_.data(), 2 * C);
    for (std::size_t i = 0; i < 2 * C; ++i) sums_[i] /= w;
  }

  void backward(const T* x, const T* y, const T* dy, T* dx, std::size_t n) {
    backward_impl<false>(x, y, dy, dx, n);
  }
  // dx written, not added to: the graph then need not clear it first (a conv's output
  // gradient, which only its BatchNorm reads).
  void backward_overwrite(const T* x, const T* y, const T* dy, T* dx, std::size_t n) {
    backward_impl<true>(x, y, dy, dx, n);
  }

  template <bool Overwrite>
  void backward_impl(const T* x, const T*, const T* dy, T* dx, std::size_t n) {
    const std::size_t M = n * HW;
    auto sums = [&](std::size_t c, double& sdy, double& sdyh) {
      const T m = center[c], s = invstd[c];
      sdy = sum_over_batch(dy, c, n, [](const T* d) { return double(*d); },
                           [](const T* d) { return reduce::sum(d, HW); });
      sdyh = sum_over_batch(
          dy, c, n, [&](const T* d) { return double(*d) * ((x[d - dy] - m) * s); },
          [&](const T* d) { return reduce::dot_centered(d, x + (d - dy), m, s, HW); });
    };
    auto row = [&](std::size_t c) {
      return [dy, c](std::size_t i) { return dy + i * In::size + c * HW; };
    };
    if (synced()) {
      double* loc = local_sums(n, sums);
      parallel_for(C, 8 * M, [&](std::size_t cb, std::size_t ce) {
        for (std::size_t c = cb; c < ce; ++c)
          finish_channel<Overwrite>(c, n, loc[c], loc[C + c], sums_[c], sums_[C + c], x, row(c), dx);
      });
      return;
    }
    parallel_for(C, 8 * M, [&](std::size_t cb, std::size_t ce) {
      for (std::size_t c = cb; c < ce; ++c) {
        double sdy, sdyh;
        sums(c, sdy, sdyh);
        finish_channel<Overwrite>(c, n, sdy, sdyh, sdy, sdyh, x, row(c), dx);
      }
    });
  }

  // Synchronized backward, first half: every channel's (Σdy, Σdy·x̂) of this rank, kept at
  // the returned address (dβ, dγ take them), and their sum over ranks in sums_[0, 2C).
  template <class Sums>
  double* local_sums(std::size_t n, Sums&& sums) {
    double* loc = sums_.data() + 2 * C;
    parallel_for(C, 8 * n * HW, [&](std::size_t cb, std::size_t ce) {
      for (std::size_t c = cb; c < ce; ++c) sums(c, loc[c], loc[C + c]);
    });
    std::copy(loc, loc + 2 * C, sums_.begin());
    global_sums();
    return loc;
  }

  // Channel c's parameter gradients from this rank's Σdy and Σdy·x̂, then dx = γ/σ·(dy −
  // mean(dy) − x̂·mean(dy·x̂)) (eval: γ/σ·dy), the means from the sums over the values the
  // statistics came from (gdy, gdyh: this rank's own unless synchronized); row(i) is where
  // sample i's dy of channel c lies.
  template <bool Overwrite, class Row>
  void finish_channel(std::size_t c, std::size_t n, double sdy, double sdyh, double gdy,
                      double gdyh, const T* x, Row&& row, T* dx) {
    if (!frozen) dbias[c] += static_cast<T>(sdy), dweight[c] += static_cast<T>(sdyh);
    if (!dx) return;
    const double M = count_;
    const T g = weight[c] * invstd[c];
    const T mdy = static_cast<T>(gdy / M), mdyh = static_cast<T>(gdyh / M);
    const T m = center[c], s = invstd[c];
    for (std::size_t i = 0; i < n; ++i) {
      const std::size_t off = i * In::size + c * HW;
      const T* d = row(i);
      const T* xp = x + off;
      T* o = dx + off;
      for (std::size_t k = 0; k < HW; ++k) {
        const T v = training ? g * (d[k] - mdy - ((xp[k] - m) * s) * mdyh) : g * d[k];
        if constexpr (Overwrite) o[k] = v;
        else o[k] += v;
      }
    }
  }

  // f'(x) from x: an activation that takes it from y gets f(x); the others ignore y, and
  // are not made to compute f (an exp) for nothing.
  template <class Fn, class U>
  static U deriv(U x) {
    if constexpr (Fn::y_only) return Fn::df(x, Fn::f(x));
    else return Fn::df(x, x);
  }

  // backward_then: per channel, d = dz·f'(γ·x̂ + β) into this thread's scratch, summed a
  // sample at a time as backward_impl sums dy (the same order, so the same gradients as
  // the two layers run apart), then dx = γ/σ·(d − mean(d) − x̂·mean(d·x̂)).
  template <class Fn, bool Overwrite>
  void backward_act(const T* x, const T* dz, T* dx, std::size_t n) {
    const std::size_t M = n * HW;
    chan_.reserve(M);
    // Channel c's d into the scratch d, and its sums.
    auto chan = [&](std::size_t c, T* d, double& sdy, double& sdyh) {
      const T g = weight[c], b = bias[c], m = center[c], s = invstd[c];
      const V vg(g), vb(b), vm(m), vs(s);
      sdy = 0, sdyh = 0;
      for (std::size_t i = 0; i < n; ++i) {
        const std::size_t off = i * In::size + c * HW;
        const T* zp = dz + off;
        const T* xp = x + off;
        T* dp = d + i * HW;
        std::size_t k = 0;
        // if constexpr: nvcc's front end calls k < 0 (HWv = 0) a pointless comparison
        if constexpr (HWv > 0) {
          for (; k < HWv; k += L) {
            const V yb = vg * ((V::load_unaligned(xp + k) - vm) * vs) + vb;
            (V::load_unaligned(zp + k) * deriv<Fn>(yb)).store_unaligned(dp + k);
          }
        }
        if constexpr (HW > HWv) {  // padded, so the activation's vector functions give
                                   // these values too: the same as the layers run apart
          alignas(64) T h[L] = {}, z[L] = {}, out[L];
          for (std::size_t j = 0; j < HW - HWv; ++j) h[j] = (xp[k + j] - m) * s, z[j] = zp[k + j];
          const V yb = vg * V::load_aligned(h) + vb;
          (V::load_aligned(z) * deriv<Fn>(yb)).store_aligned(out);
          for (std::size_t j = 0; j < HW - HWv; ++j) dp[k + j] = out[j];
        }
        if constexpr (HW == 1) {
          sdy += double(dp[0]), sdyh += double(dp[0]) * ((xp[0] - m) * s);
        } else {
          sdy += reduce::sum(dp, HW), sdyh += reduce::dot_centered(dp, xp, m, s, HW);
        }
      }
    };
    auto thread_slice = [&] {
      int t = 0;
#if defined(_OPENMP)
      t = omp_get_thread_num();
#endif
      return chan_.slice(t);
    };
    // Synchronized: the sums first (d computed, then dropped), their all-reduce, then d
    // again for dx — the activation's derivative twice, where the one-process path keeps
    // one channel's d in the scratch between its sums and its dx.
    const bool global = synced();
    double* loc = global ? local_sums(n, [&](std::size_t c, double& a, double& b) {
      chan(c, thread_slice(), a, b);
    }) : nullptr;
    parallel_for(C, 16 * M, [&](std::size_t cb, std::size_t ce) {
      T* d = thread_slice();
      for (std::size_t c = cb; c < ce; ++c) {
        double sdy, sdyh;
        chan(c, d, sdy, sdyh);
        auto row = [d](std::size_t i) { return d + i * HW; };
        if (global) finish_channel<Overwrite>(c, n, loc[c], loc[C + c], sums_[c], sums_[C + c], x, row, dx);
        else finish_channel<Overwrite>(c, n, sdy, sdyh, sdy, sdyh, x, row, dx);
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
