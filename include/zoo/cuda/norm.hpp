// zoo/cuda/norm.hpp — BatchNorm (1d and 2d) and GroupNorm on the device.
//
// BatchNorm, with the CPU layer's formulas (layers/batch_norm.hpp): two-pass statistics in double — Σx, then Σ(x − μ)²,
// which does not cancel as Σx² − Mμ² does — the running statistics with the unbiased
// variance, and backward's dx = γ/σ·(dy − mean(dy) − x̂·mean(dy·x̂)).
//
// Every sum is taken in two deterministic stages: per (sample, channel) plane by one index,
// then per channel over the samples in order, so the result does not depend on the schedule.
// eps and momentum are the CPU layer type's (BatchNormWith's ratios, or PyTorch's defaults);
// change them on the device layer (`options`), not on the host mirror's. Synchronized
// (multi-process) statistics are not part of the device layer yet.
#pragma once
#include <cmath>
#include <stdexcept>
#include <string>

#include "../layers/batch_norm.hpp"
#include "../layers/group_norm.hpp"
#include "layers.hpp"

namespace zoo::cuda {

namespace fn {
template <class T>
struct PlaneMoments {  // part[s·C + c] = Σ_k f(x[s, c, k]) in double: Σx, or Σ(x − μ_c)²
  const T* x;
  const double* mu;  // null: the plain sum
  double* part;
  index_t HW, C;
  ZOO_HD void operator()(index_t i) const {
    const T* p = x + i * HW;
    double acc = 0;
    if (mu) {
      const double m = mu[i % C];
      for (index_t k = 0; k < HW; ++k) acc += (p[k] - m) * (p[k] - m);
    } else {
      for (index_t k = 0; k < HW; ++k) acc += p[k];
    }
    part[i] = acc;
  }
};
struct MeanOf {
  const double* sum;
  double* mu;
  double M;
  ZOO_HD void operator()(index_t c) const { mu[c] = sum[c] / M; }
};
template <class T>
struct PlaneGradSums {  // Σdy and Σdy·x̂ of the (sample, channel) plane i
  const T* x;
  const T* dy;
  const T* center;
  const T* invstd;
  double* part;  // (2, N·C)
  index_t HW, C, NC;
  ZOO_HD void operator()(index_t i) const {
    const index_t c = i % C;
    const T m = center[c], s = invstd[c];
    const T* d = dy + i * HW;
    const T* xp = x + i * HW;
    double a = 0, b = 0;
    for (index_t k = 0; k < HW; ++k) {
      a += d[k];
      b += double(d[k]) * ((xp[k] - m) * s);
    }
    part[i] = a;
    part[NC + i] = b;
  }
};
template <class T>
struct ChannelReduce {  // out[c] = Σ_s part[s·C + c], samples in order
  const double* part;
  double* out;
  index_t N, C;
  ZOO_HD void operator()(index_t c) const {
    double acc = 0;
    for (index_t s = 0; s < N; ++s) acc += part[s * C + c];
    out[c] = acc;
  }
};
template <class T>
struct SetStatistics {  // μ, 1/√(σ² + ε) and the running statistics (train); or from running (eval)
  const double* sum;  // Σx (train)
  const double* ss;   // Σ(x − μ)² (train)
  T* center;
  T* invstd;
  T* running_mean;
  T* running_var;
  double M, eps, momentum;
  bool training;
  ZOO_HD void operator()(index_t c) const {
    if (!training) {
      center[c] = running_mean[c];
      invstd[c] = static_cast<T>(1.0 / sqrt(static_cast<double>(running_var[c]) + eps));
      return;
    }
    const double mu = sum[c] / M;
    center[c] = static_cast<T>(mu);
    invstd[c] = static_cast<T>(1.0 / sqrt(ss[c] / M + eps));
    running_mean[c] = static_cast<T>((1 - momentum) * running_mean[c] + momentum * mu);
    running_var[c] = static_cast<T>((1 - momentum) * running_var[c] + momentum * ss[c] / (M - 1));
  }
};
template <class T>
struct Normalize {  // y = γ·(x − μ)·istd + β
  const T* x;
  T* y;
  const T *center, *invstd, *weight, *bias;
  index_t HW, C;
  ZOO_HD void operator()(index_t i) const {
    const index_t c = (i / HW) % C;
    const T h = (x[i] - center[c]) * invstd[c];
    y[i] = weight[c] * h + bias[c];
  }
};
template <class T>
struct ParamGrads {  // dβ += Σdy, dγ += Σdy·x̂
  const double* sums;  // (2, C)
  T* dweight;
  T* dbias;
  index_t C;
  ZOO_HD void operator()(index_t c) const {
    dbias[c] += static_cast<T>(sums[c]);
    dweight[c] += static_cast<T>(sums[C + c]);
  }
};
template <class T, bool Overwrite>
struct InputGrad {
  const T* x;
  const T* dy;
  T* dx;
  const T *center, *invstd, *weight;
  const double* sums;  // (2, C)
  double M;
  index_t HW, C;
  bool training;
  ZOO_HD void operator()(index_t i) const {
    const index_t c = (i / HW) % C;
    const T g = weight[c] * invstd[c];
    T v;
    if (training) {
      const T mdy = static_cast<T>(sums[c] / M), mdyh = static_cast<T>(sums[C + c] / M);
      v = g * (dy[i] - mdy - ((x[i] - center[c]) * invstd[c]) * mdyh);
    } else {
      v = g * dy[i];
    }
    if constexpr (Overwrite) dx[i] = v;
    else dx[i] += v;
  }
};
template <class T>
struct CountBatch {
  T* count;
  ZOO_HD void operator()(index_t) const { *count += T(1); }
};
}  // namespace fn

template <class L, class T, class In>
struct batch_norm_layer : leaf<L> {
  static constexpr index_t C = In::C, HW = In::size / In::C;
  BatchNormOptions options = L{}.options;
  T *weight = nullptr, *bias = nullptr, *dweight = nullptr, *dbias = nullptr;
  T *running_mean = nullptr, *running_var = nullptr, *num_batches_tracked = nullptr;
  bool training = true, frozen = false;
  double M = 0;
  DeviceBuffer<T> center, invstd;
  DeviceBuffer<double> part, sums;  // (2, N·C) plane partials; (2, C) channel sums

  void bind_params(T*& p, T*& g) {
    weight = p, bias = p + C, dweight = g, dbias = g + C;
    p += 2 * C, g += 2 * C;
  }
  void bind_buffers(T*& b) {
    running_mean = b, running_var = b + C, num_batches_tracked = b + 2 * C;
    b += 2 * C + 1;
  }
  void set_training(bool t) { training = t; }
  void set_frozen(bool f) { frozen = f; }
  void resize(std::size_t n) {
    center.resize(C), invstd.resize(C);
    part.resize(2 * n * C), sums.resize(2 * C);
  }
  void forward(const T* x, T* y, std::size_t n) {
    if (part.size() < 2 * n * C) resize(n);
    const index_t N = static_cast<index_t>(n);
    M = double(n * HW);
    if (training && M <= 1)
      throw std::invalid_argument(
          "zoo::cuda::BatchNorm: training needs more than one value per channel (batch " +
          std::to_string(n) + " × " + std::to_string(HW) + " positions); use eval() or a larger batch");
    double* sum = sums.data();
    double* ss = sums.data() + C;
    if (training) {
      launch(N * C, fn::PlaneMoments<T>{x, nullptr, part.data(), HW, C});
      launch(C, fn::ChannelReduce<T>{part.data(), sum, N, C});
      launch(C, fn::MeanOf{sum, center_mu(), M});
      launch(N * C, fn::PlaneMoments<T>{x, center_mu(), part.data(), HW, C});
      launch(C, fn::ChannelReduce<T>{part.data(), ss, N, C});
    }
    launch(C, fn::SetStatistics<T>{sum, ss, center.data(), invstd.data(), running_mean, running_var,
                                   M, options.eps, options.momentum, training});
    launch(N * C * HW, fn::Normalize<T>{x, y, center.data(), invstd.data(), weight, bias, HW, C});
    if (training) launch(1, fn::CountBatch<T>{num_batches_tracked});
  }
  void backward(const T* x, const T* y, const T* dy, T* dx, std::size_t n) {
    backward_impl<false>(x, y, dy, dx, n);
  }
  void backward_overwrite(const T* x, const T* y, const T* dy, T* dx, std::size_t n) {
    backward_impl<true>(x, y, dy, dx, n);
  }
  template <bool Overwrite>
  void backward_impl(const T* x, const T*, const T* dy, T* dx, std::size_t n) {
    const index_t N = static_cast<index_t>(n);
    launch(N * C, fn::PlaneGradSums<T>{x, dy, center.data(), invstd.data(), part.data(), HW, C, N * C});
    launch(C, fn::ChannelReduce<T>{part.data(), sums.data(), N, C});
    launch(C, fn::ChannelReduce<T>{part.data() + N * C, sums.data() + C, N, C});
    if (!frozen) launch(C, fn::ParamGrads<T>{sums.data(), dweight, dbias, C});
    if (dx)
      launch(N * C * HW, fn::InputGrad<T, Overwrite>{x, dy, dx, center.data(), invstd.data(), weight,
                                                     sums.data(), M, HW, C, training});
  }

 private:
  // μ in double, between the two passes: the first C values of `part`'s second half.
  double* center_mu() { return part.data() + part.size() / 2; }
};

template <class T, class In>
struct layer<BatchNormLayer<T, In>> : batch_norm_layer<BatchNormLayer<T, In>, T, In> {};
template <class T, class In, class Eps, class Momentum>
struct layer<zoo::detail::BatchNormWithLayer<T, In, Eps, Momentum>>
    : batch_norm_layer<zoo::detail::BatchNormWithLayer<T, In, Eps, Momentum>, T, In> {};


// ------------------------------------------------------------------ GroupNorm
// Per (sample, group) block of M = C/G·H·W contiguous values: μ and Σ(x − μ)² in double by
// one index each, x̂ kept for backward, as the CPU layer (layers/group_norm.hpp) keeps it.
namespace fn {
template <class T>
struct GroupStats {
  const T* x;
  T* mean;
  T* invstd;
  index_t M;
  double eps;
  ZOO_HD void operator()(index_t b) const {
    const T* p = x + b * M;
    double s = 0;
    for (index_t k = 0; k < M; ++k) s += p[k];
    const double mu = s / double(M);
    double ss = 0;
    for (index_t k = 0; k < M; ++k) ss += (p[k] - mu) * (p[k] - mu);
    mean[b] = static_cast<T>(mu);
    invstd[b] = static_cast<T>(1.0 / sqrt(ss / double(M) + eps));
  }
};
template <class T>
struct GroupNormalize {  // x̂ = (x − μ)·istd;  y = γ·x̂ + β
  const T* x;
  T* xhat;
  T* y;
  const T *mean, *invstd, *weight, *bias;
  index_t M, HW, C;
  ZOO_HD void operator()(index_t i) const {
    const index_t b = i / M, c = (i / HW) % C;
    const T h = (x[i] - mean[b]) * invstd[b];
    xhat[i] = h;
    y[i] = weight[c] * h + bias[c];
  }
};
template <class T>
struct PlaneDots {  // part[i] = Σ dy, part[NC + i] = Σ dy·x̂ over plane i
  const T* dy;
  const T* h;
  double* part;
  index_t HW, NC;
  ZOO_HD void operator()(index_t i) const {
    double a = 0, b = 0;
    for (index_t k = 0; k < HW; ++k) {
      a += dy[i * HW + k];
      b += double(dy[i * HW + k]) * h[i * HW + k];
    }
    part[i] = a;
    part[NC + i] = b;
  }
};
template <class T>
struct GroupMeans {  // m1 = Σ_c γ_c Σ dy / M,  m2 = Σ_c γ_c Σ dy·x̂ / M of block b
  const T* dy;
  const T* h;
  const T* weight;
  T* m;  // (2, N·G)
  index_t M, HW, Cg, G, NG;
  ZOO_HD void operator()(index_t b) const {
    const index_t c0 = (b % G) * Cg;
    double s1 = 0, s2 = 0;
    for (index_t c = 0; c < Cg; ++c) {
      const double gm = weight[c0 + c];
      double a = 0, d = 0;
      for (index_t k = 0; k < HW; ++k) {
        const index_t i = b * M + c * HW + k;
        a += dy[i];
        d += double(dy[i]) * h[i];
      }
      s1 += gm * a;
      s2 += gm * d;
    }
    m[b] = static_cast<T>(s1 / double(M));
    m[NG + b] = static_cast<T>(s2 / double(M));
  }
};
template <class T>
struct GroupInputGrad {  // dx += istd·(γ·dy − m1 − x̂·m2)
  const T* dy;
  const T* h;
  const T* weight;
  const T* invstd;
  const T* m;
  T* dx;
  index_t M, HW, C, NG;
  ZOO_HD void operator()(index_t i) const {
    const index_t b = i / M, c = (i / HW) % C;
    dx[i] += invstd[b] * (weight[c] * dy[i] - m[b] - h[i] * m[NG + b]);
  }
};
}  // namespace fn

template <class T, class In, std::size_t G>
struct layer<GroupNormLayer<T, In, G>> : leaf<GroupNormLayer<T, In, G>> {
  using L = GroupNormLayer<T, In, G>;
  static constexpr index_t C = In::C, HW = In::size / In::C, Cg = C / G, M = Cg * HW;
  static constexpr std::size_t train_values() { return L::train_values(); }
  GroupNormOptions options = L{}.options;
  T *weight = nullptr, *bias = nullptr, *dweight = nullptr, *dbias = nullptr;
  bool frozen = false;
  DeviceBuffer<T> xhat, mean, invstd, m;
  DeviceBuffer<double> part, sums;

  void bind_params(T*& p, T*& g) {
    weight = p, dweight = g, bias = p + C, dbias = g + C;
    p += 2 * C, g += 2 * C;
  }
  void set_frozen(bool f) { frozen = f; }
  void resize(std::size_t n) {
    xhat.resize(n * In::size);
    mean.resize(n * G), invstd.resize(n * G), m.resize(2 * n * G);
    part.resize(2 * n * C), sums.resize(2 * C);
  }
  void forward(const T* x, T* y, std::size_t n) {
    if (xhat.size() < n * In::size) resize(n);
    const index_t N = static_cast<index_t>(n);
    launch(N * static_cast<index_t>(G), fn::GroupStats<T>{x, mean.data(), invstd.data(), M, options.eps});
    launch(N * C * HW, fn::GroupNormalize<T>{x, xhat.data(), y, mean.data(), invstd.data(), weight,
                                             bias, M, HW, C});
  }
  void backward(const T*, const T*, const T* dy, T* dx, std::size_t n) {
    const index_t N = static_cast<index_t>(n), NG = N * static_cast<index_t>(G);
    if (!frozen) {
      launch(N * C, fn::PlaneDots<T>{dy, xhat.data(), part.data(), HW, N * C});
      launch(C, fn::ChannelReduce<T>{part.data(), sums.data(), N, C});
      launch(C, fn::ChannelReduce<T>{part.data() + N * C, sums.data() + C, N, C});
      launch(C, fn::ParamGrads<T>{sums.data(), dweight, dbias, C});
    }
    if (!dx) return;
    launch(NG, fn::GroupMeans<T>{dy, xhat.data(), weight, m.data(), M, HW, Cg, static_cast<index_t>(G), NG});
    launch(N * C * HW, fn::GroupInputGrad<T>{dy, xhat.data(), weight, invstd.data(), m.data(), dx, M,
                                             HW, C, NG});
  }
};

}  // namespace zoo::cuda
