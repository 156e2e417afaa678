// zoo/layers/akconv.hpp — AKConv (Zhang et al. 2023): a convolution with N sampling
// points of any arrangement, moved by learned offsets. Mirrors the official PyTorch
// module AKConv(inc, outc, num_param, stride):
//
//   offset = p_conv(x)                       Conv2d(C, 2N, 3, stride S, padding 1), bias
//   p      = p_0 + p_n + offset              p_0(i, j) = (i·S, j·S); p_n: see kernels/akconv_gather.hpp
//   x_off  = bilinear(x, p)                  (B, C, OH, OW, N), laid out as (B, C, OH·N, OW)
//   y      = SiLU(BN(conv(x_off)))           conv: Conv2d(C, Out, (N, 1), stride (N, 1), no bias)
//
//   x: (B, C, H, W)   offset: (B, 2N, OH, OW) planar (rows 0..N−1, columns N..2N−1)
//   y: (B, Out, OH, OW),  OH = ⌊(H − 1)/S⌋ + 1 (p_conv's output size)
//
// The (N, 1)-stride-(N, 1) conv on the (OH·N, OW) layout reads each (c, n) exactly once,
// so its im2col matrix is col[c·N + n, i·OW + j] = x_off[c, i, j, n]: the fused gather
// writes that matrix directly, and the conv is one GEMM  z = W (Out, C·N) · col (C·N, P).
// Backward: dW += dz·colᵀ, dcol = Wᵀ·dz, then the gather's backward (offset gradient and
// input scatter), then p_conv's backward with the offset gradient.
// Caches: offset (B, 2N, P), taps (B, N, P), col (B, C·N, P), z and BN's output (B, Out, P).
// Parameters (PyTorch state_dict names): conv.0.weight (Out, C, N, 1), conv.1.{weight, bias},
// p_conv.{weight, bias}; buffers conv.1.running_{mean,var}, num_batches_tracked.
// Sampling: AKConvSampling::clamp_to_edge (default, weights sum to 1) or ::reference
// (the official code's doubled edge samples). Non-finite offsets throw.
#pragma once
#include <algorithm>
#include <cmath>
#include <stdexcept>
#include <string>
#include <vector>

#include "../core/gemm.hpp"
#include "../core/layer.hpp"
#include "../core/shape.hpp"
#include "../core/tensor.hpp"
#include "../kernels/akconv_gather.hpp"
#include "activations.hpp"
#include "batch_norm.hpp"
#include "conv2d.hpp"

namespace zoo {

template <class T, class In, std::size_t Out, std::size_t NP, std::size_t S, AKConvSampling Mode>
struct AKConvLayer {
  static constexpr bool image = is_image_v<In>;
  static constexpr bool bind_ok = image;  // what follows binds only if this holds
  // The layer's rules on its input, checked by bind_t (core/layer.hpp) rather than in the
  // class body: a failed static_assert there makes clang drop the rest of the class, and
  // every use of it then prints an error of its own.
  static constexpr bool check() {
    static_assert(image,
                  "zoo::AKConv: the input is flat features (F), but AKConv takes images (C, H, W); "
                  "put zoo::Reshape<C, H, W> before it");
    return bind_ok;
  }

  using PConv = Conv2dLayer<T, In, 2 * NP, 3, 3, S, S, 1, 1, 1, 1, 1, true>;
  static constexpr std::size_t C = In::C, H = In::H, W = In::W, N = NP;
  static constexpr std::size_t OH = PConv::OH, OW = PConv::OW, P = OH * OW;
  static constexpr std::size_t K = C * N;  // GEMM inner size
  using input_shape = In;
  using output_shape = Shape<Out, OH, OW>;
  using offset_shape = Shape<2 * N, OH, OW>;
  using BN = BatchNormLayer<T, output_shape>;
  using Act = ActivationLayer<T, output_shape, act::silu>;

  static constexpr std::size_t weight_size = Out * K;  // conv.0.weight
  // Grows with N, not with a square kernel: N·C·Out + 3·3·C·2N + 2N + 2·Out.
  static constexpr std::size_t num_params = weight_size + BN::num_params + PConv::num_params;
  static constexpr std::size_t num_buffers = BN::num_buffers;
  // p_conv, the gather (4 corners: 4 multiplies and 3 adds per channel and point,
  // plus the 2 × 4 products of the weights), the (N, 1) conv's GEMM, BN, SiLU.
  static constexpr double gather_flops = 7.0 * C * N * P;
  static constexpr double flops =
      PConv::flops + gather_flops + 2.0 * Out * K * P + BN::flops + Act::flops;
  static constexpr const char* name() { return "AKConv"; }
  static constexpr kernels::AKConvGeom geom{index_t(C),  index_t(H),  index_t(W), index_t(N),
                                            index_t(OH), index_t(OW), index_t(S)};

  PConv p_conv;
  BN bn;    // conv.1
  Act act;  // conv.2
  T* weight = nullptr;   // conv.0.weight (Out, C, N, 1) = (Out, K)
  T* dweight = nullptr;
  bool frozen = false;
  bool batch_threads = true;  // split the per-sample GEMMs over threads by samples

  Buffer<T> offset;                    // (B, 2N, OH, OW)
  Buffer<kernels::AKConvTap<T>> taps;  // (B, N, P)
  Buffer<T> col;                       // (B, C·N, P)
  Buffer<T> z;                         // (B, Out, P): conv output
  Buffer<T> a;                         // (B, Out, P): BN output
  Buffer<T> da, dz;                    // (B, Out, P)
  Buffer<T> dcol;                      // (B, C·N, P)
  Buffer<T> doffset;                   // (B, 2N, P)
  Buffer<T> dweight_parts;             // (threads − 1, Out, K): partial dW of threads 1…

  void bind_params(T*& p, T*& g) {
    weight = p, dweight = g;
    p += weight_size, g += weight_size;
    bn.bind_params(p, g);
    p_conv.bind_params(p, g);
  }
  void bind_buffers(T*& b) { bn.bind_buffers(b); }
  // PyTorch's defaults, then the reference's constant_(p_conv.weight, 0): the initial
  // offsets are p_conv's (random) bias.
  void init(Rng& rng) {
    const double bound = 1.0 / std::sqrt(static_cast<double>(K));
    rng.fill_uniform(weight, weight_size, -bound, bound);
    bn.init(rng);
    p_conv.init(rng);
    std::fill(p_conv.weight, p_conv.weight + PConv::weight_size, T(0));
  }
  void set_training(bool t) { bn.set_training(t); }
  void bind_sync(Collective* c) { bn.bind_sync(c); }
  void set_frozen(bool f) {
    frozen = f;
    bn.set_frozen(f);
    p_conv.set_frozen(f);
  }
  void resize(std::size_t n) {
    offset.resize(n * offset_shape::size);
    doffset.resize(n * offset_shape::size);
    taps.resize(n * N * P);
    col.resize(n * K * P);
    dcol.resize(n * K * P);
    z.resize(n * output_shape::size);
    a.resize(n * output_shape::size);
    da.resize(n * output_shape::size);
    dz.resize(n * output_shape::size);
    p_conv.resize(n);
    bn.resize(n);
  }

  void forward(const T* x, T* y, std::size_t n) {
    if (col.size() < n * K * P) resize(n);
    p_conv.forward(x, offset.data(), n);  // (B, 2N, OH, OW)
    check_offsets(n);
    kernels::akconv_gather_forward<T, Mode>(kernels::CpuRun{}, geom, index_t(n), x, offset.data(),
                                            taps.data(), col.data());  // (B, C·N, P)
    for_samples(n, sample_threads(n), [&](int, std::size_t b, std::size_t e) {
      for (std::size_t i = b; i < e; ++i)
        gemm<T>(false, false, Out, P, K, T(1), weight, K, col.data() + i * K * P, P, T(0),
                z.data() + i * Out * P, P);  // (Out, P)
    });
    bn.forward(z.data(), a.data(), n);
    act.forward(a.data(), y, n);
  }

  void backward(const T* x, const T* y, const T* dy, T* dx, std::size_t n) {
    const std::size_t outs = n * output_shape::size;
    std::fill(da.begin(), da.begin() + outs, T(0));
    act.backward(a.data(), y, dy, da.data(), n);
    std::fill(dz.begin(), dz.begin() + outs, T(0));
    bn.backward(z.data(), a.data(), da.data(), dz.data(), n);

    // dW += dz·colᵀ (per-thread partials, summed in thread order), dcol = Wᵀ·dz.
    const int nt = sample_threads(n);
    if (dweight_parts.size() < (nt - 1) * weight_size) dweight_parts.resize((nt - 1) * weight_size);
    std::fill(dweight_parts.begin(), dweight_parts.begin() + (nt - 1) * weight_size, T(0));
    for_samples(n, nt, [&](int t, std::size_t b, std::size_t e) {
      T* dw = t == 0 ? dweight : dweight_parts.data() + (t - 1) * weight_size;
      for (std::size_t i = b; i < e; ++i) {
        const T* dzi = dz.data() + i * Out * P;
        if (!frozen)
          gemm<T>(false, true, Out, K, P, T(1), dzi, P, col.data() + i * K * P, P, T(1), dw, K);
        gemm<T>(true, false, K, P, Out, T(1), weight, K, dzi, P, T(0), dcol.data() + i * K * P,
                P);  // (C·N, P)
      }
    });
    if (!frozen)
      for (int t = 1; t < nt; ++t) {
        const T* part = dweight_parts.data() + (t - 1) * weight_size;
        for (std::size_t j = 0; j < weight_size; ++j) dweight[j] += part[j];
      }

    kernels::akconv_gather_backward<T>(kernels::CpuRun{}, geom, index_t(n), x, taps.data(),
                                       dcol.data(), doffset.data(), dx);
    p_conv.backward(x, offset.data(), doffset.data(), dx, n);
  }

  template <class F>
  void visit_params(const std::string& prefix, F&& f) {
    f(layer_ops::join(prefix, "conv.0.weight"), std::vector<std::size_t>{Out, C, N, 1}, weight,
      dweight, weight_size);
    bn.visit_params(layer_ops::join(prefix, "conv.1"), f);
    p_conv.visit_params(layer_ops::join(prefix, "p_conv"), f);
  }
  template <class F>
  void visit_buffers(const std::string& prefix, F&& f) {
    bn.visit_buffers(layer_ops::join(prefix, "conv.1"), f);
  }

 private:
  // Threads for the per-sample GEMMs: whole samples per thread (each GEMM on one thread),
  // one thread when the batch is too small to pay for waking a second one.
  int sample_threads(std::size_t n) const {
#if defined(_OPENMP)
    if (!batch_threads || n < 2 || omp_in_parallel() ||
        2.0 * Out * K * P * n < 4e6)
      return 1;
    return static_cast<int>(std::min<std::size_t>(n, std::size_t(omp_get_max_threads())));
#else
    (void)n;
    return 1;
#endif
  }
  // f(t, begin, end) over contiguous sample ranges, one per thread t < nt; partial
  // gradients are summed in thread order afterwards, so results do not depend on timing.
  template <class F>
  static void for_samples(std::size_t n, int nt, F&& f) {
#if defined(_OPENMP)
    if (nt > 1) {
      ZOO_PROFILE_REGION;
#pragma omp parallel num_threads(nt)
      {
        const int t = omp_get_thread_num(), k = omp_get_num_threads();
        const std::size_t b = n * t / k, e = n * (t + 1) / k;
        if (b < e) f(t, b, e);
      }
      return;
    }
#endif
    (void)nt;
    f(0, std::size_t{0}, n);
  }
  // The reference turns a NaN/Inf offset into an out-of-range gather index (CUDA's
  // "device-side assert"); here it is a clear error naming where it happened.
  void check_offsets(std::size_t n) const {
    const T* o = offset.data();
    const std::size_t total = n * offset_shape::size;
    for (std::size_t i = 0; i < total; ++i)
      if (!std::isfinite(o[i])) {
        const std::size_t b = i / offset_shape::size, r = i % offset_shape::size;
        const std::size_t ch = r / P, pos = r % P;
        throw std::invalid_argument(
            "zoo::AKConv: p_conv produced a non-finite offset (" + std::to_string(double(o[i])) +
            ") at sample " + std::to_string(b) + ", " + (ch < N ? "row" : "column") +
            " offset of point " + std::to_string(ch % N) + ", output position (" +
            std::to_string(pos / OW) + ", " + std::to_string(pos % OW) +
            "); the input or p_conv's parameters contain NaN/Inf or have overflowed");
      }
  }
};

// AKConv<Out, NumParam, Stride, Sampling>: in-channels come from the input, as
// AKConv(inc, Out, NumParam, Stride) in the official code.
template <std::size_t Out, std::size_t NumParam, std::size_t Stride = 1,
          AKConvSampling Sampling = AKConvSampling::clamp_to_edge>
struct AKConv {
  static_assert(Out > 0, "zoo::AKConv: out-channels must be positive");
  static_assert(NumParam > 0, "zoo::AKConv: the number of sampling points must be at least 1");
  static_assert(Stride > 0, "zoo::AKConv: the stride must be positive");
  template <class T, class In>
  using bind = AKConvLayer<T, In, Out, NumParam, Stride, Sampling>;
};

}  // namespace zoo
