// zoo/cpu/dense.hpp — the large Linear layers on zoo's register-tiled kernel (gather_gemm).
//
// At a batch of 128, OpenBLAS computes y = x·Wᵀ of a 1024 → 1024 layer at 75% of this
// machine's peak on one core and ~60% on two: its "nt" panels are short on the batch side
// and each of two threads packs the whole x again. Written the other way round,
//   yT (Out, N) = W (Out, In) · xT (In, N),
// W is read in place (one broadcast per tap, as the direct convolution reads its image),
// only x (N·In values) is transposed into an aligned panel and yT (N·Out) back, both far
// smaller than W; the tile kernel then runs at ~90% of peak on one core. The same holds
// for dx (N, In) += dy (N, Out) · W (Out, In), where W is already the right operand.
// Measured (bench/results, docs/performance.md): the MLP GAN's 1024 → 1024 and
// 1024 → 784 layers gain 15–25% forward and 10–20% in dx on two threads; on the VAE's
// 784 → 400 OpenBLAS is as fast, so Linear takes this path only from kDenseMinWeights.
// dW = dyᵀ·x stays on zoo::gemm (OpenBLAS's "tn" is already near peak there).
#pragma once
#include <algorithm>
#include <cstddef>
#include <type_traits>
#include <vector>

#include "../core/config.hpp"
#include "../core/gemm.hpp"
#include "../core/parallel.hpp"
#include "../core/tensor.hpp"
#include "direct_conv.hpp"
#include "../layers/activations.hpp"

namespace zoo::cpu {

// Out·In from which a float Linear layer uses DenseKernel (1024 → 784 and up; the VAE's
// 784 → 400, 313 600 weights, measured no faster than OpenBLAS).
inline constexpr std::size_t kDenseMinWeights = 512 * 1024;
// Smallest batch it takes: the batch is padded to whole SIMD vectors, and below this the
// padding (up to 15 of 16 columns) would cost more than the kernel gains.
inline constexpr std::size_t kDenseMinBatch = 64;

// gather_gemm on every thread, split along the longer side of C (whole register tiles of
// rows, or whole 4-vector column blocks), when the work pays for a parallel region.
template <class T>
void gather_gemm_parallel(const T* src, const index_t* rows, index_t R, const index_t* toff,
                          index_t steps, const T* B, index_t ldb, index_t ncols, T* C,
                          index_t ldc, bool accumulate) {
#if defined(_OPENMP)
  const double flops = 2.0 * static_cast<double>(R) * static_cast<double>(steps) *
                       static_cast<double>(ncols);
  if (flops >= kGemmParallelFlops && omp_get_max_threads() > 1 && !omp_in_parallel()) {
    constexpr index_t L = simd_width<T>, MR = detail::tile_rows<4>, CB = 4 * L;
    const bool by_rows = R >= ncols;
    ZOO_PROFILE_REGION;
#pragma omp parallel
    {
      const index_t t = omp_get_thread_num(), k = omp_get_num_threads();
      if (by_rows) {
        const index_t b = R * t / k / MR * MR, e = t + 1 == k ? R : R * (t + 1) / k / MR * MR;
        if (b < e)
          gather_gemm<T>(src, rows + b, e - b, toff, steps, B, ldb, ncols, C + b * ldc, ldc,
                         accumulate);
      } else {
        const index_t nb = (ncols + CB - 1) / CB;
        const index_t b = nb * t / k * CB, e = t + 1 == k ? ncols : nb * (t + 1) / k * CB;
        if (b < e)
          gather_gemm<T>(src, rows, R, toff, steps, B + b, ldb, e - b, C + b, ldc, accumulate);
      }
    }
    return;
  }
#endif
  gather_gemm<T>(src, rows, R, toff, steps, B, ldb, ncols, C, ldc, accumulate);
}

// Forward and input gradient of one Linear (In → Out) layer; holds the transposed panels
// and the row/step index vectors gather_gemm reads its left operand through.
template <class T>
class DenseKernel {
 public:
  DenseKernel(index_t in, index_t out) : in_(in), out_(out) {
    w_rows_.resize(static_cast<std::size_t>(out));
    for (index_t o = 0; o < out; ++o) w_rows_[o] = o * in;
    iota_.resize(static_cast<std::size_t>(std::max(in, out)));
    for (index_t t = 0; t < std::max(in, out); ++t) iota_[t] = t;
  }
  // Whether dx can take the kernel: W's rows are its right operand, whole SIMD vectors.
  bool dx_ok() const { return in_ % simd_width<T> == 0; }

  // Values of the two panels (xT, yT) per sample, enough for every batch this kernel takes (n ≥ kDenseMinBatch, whose
  // padding to whole SIMD vectors is at most simd_width − 1 columns): an inference plan
  // places the panels in its arena (layers/linear.hpp's infer_ws).
  static constexpr std::size_t panel_values_per_sample(std::size_t in, std::size_t out) {
    constexpr std::size_t b = kDenseMinBatch, pad = static_cast<std::size_t>(simd_width<T>) - 1;
    return ((in + out) * (b + pad) + b - 1) / b;
  }

  // Sizes the panels for a batch of n (a steady-state step allocates nothing).
  void reserve(index_t n) {
    const index_t np = round_to_simd<T>(n);
    if (xT_.size() < static_cast<std::size_t>(in_ * np)) xT_.resize({static_cast<std::size_t>(in_ * np)});
    if (yT_.size() < static_cast<std::size_t>(out_ * np)) yT_.resize({static_cast<std::size_t>(out_ * np)});
    if (dy_rows_.size() < static_cast<std::size_t>(n)) {
      dy_rows_.resize(static_cast<std::size_t>(n));
      for (index_t r = 0; r < n; ++r) dy_rows_[r] = r * out_;
    }
  }

  // y (n, Out) = x (n, In) · Wᵀ + b   (b may be null).
  void forward(const T* x, const T* W, const T* b, T* y, index_t n) {
    forward_act<void>(x, W, b, y, n);
  }

  // y = Fn(x · Wᵀ + b) (Fn = void: no activation). On several threads it is one
  // parallel region: the threads transpose their share of x's columns into xT, meet
  // at a barrier, and each then takes whole tile rows of yT (output features) — bias,
  // product, activation and the transpose back into its columns of y — so no pass
  // runs on one thread while the other waits, and no line of yT changes core.
  // `panels`: (In + Out)·round_to_simd(n) values to use instead of the kernel's own (an
  // inference arena); null: the kernel's, sized here.
  template <class Fn>
  void forward_act(const T* x, const T* W, const T* b, T* y, index_t n, T* panels = nullptr) {
    const index_t np = round_to_simd<T>(n);
    if (!panels) reserve(n);
    T* xT = panels ? panels : xT_.data();
    T* yT = panels ? panels + in_ * np : yT_.data();
    // Columns [c0, c1) of x into rows of xT, the padding columns zeroed.
    const auto load_x = [&](index_t c0, index_t c1) {
      if (c0 >= c1) return;
      transpose_to<T>(x + c0, n, c1 - c0, in_, xT + c0 * np, np);
      for (index_t c = c0; c < c1; ++c) std::fill(xT + c * np + n, xT + (c + 1) * np, T(0));
    };
    // Output features [o0, o1): yT's rows start as the bias and the kernel adds onto them.
    const auto rows_out = [&](index_t o0, index_t o1) {
      if (o0 >= o1) return;
      for (index_t o = o0; o < o1; ++o) std::fill(yT + o * np, yT + (o + 1) * np, b ? b[o] : T(0));
      gather_gemm<T>(W, w_rows_.data() + o0, o1 - o0, iota_.data(), in_, xT, np, np,
                     yT + o0 * np, np, true);
      if constexpr (!std::is_void_v<Fn>)
        act::apply_inplace<Fn>(yT + o0 * np, static_cast<std::size_t>((o1 - o0) * np));
      transpose_to<T>(yT + o0 * np, o1 - o0, n, np, y + o0, out_);
    };
#if defined(_OPENMP)
    const double flops = 2.0 * double(out_) * double(in_) * double(np);
    if (flops >= kGemmParallelFlops && omp_get_max_threads() > 1 && !omp_in_parallel()) {
      constexpr index_t MR = detail::tile_rows<4>;
      ZOO_PROFILE_REGION;
#pragma omp parallel
      {
        const index_t t = omp_get_thread_num(), k = omp_get_num_threads();
        load_x(in_ * t / k, in_ * (t + 1) / k);
#pragma omp barrier
        rows_out(out_ * t / k / MR * MR, t + 1 == k ? out_ : out_ * (t + 1) / k / MR * MR);
      }
      return;
    }
#endif
    load_x(0, in_);
    rows_out(0, out_);
  }

  // dx (n, In) += dy (n, Out) · W (Out, In). Needs dx_ok().
  void backward_dx(const T* dy, const T* W, T* dx, index_t n) {
    reserve(n);
    gather_gemm_parallel<T>(dy, dy_rows_.data(), n, iota_.data(), out_, W, in_, in_, dx, in_,
                            true);
  }

 private:
  index_t in_, out_;
  std::vector<index_t> w_rows_, iota_, dy_rows_;
  Tensor<T> xT_, yT_;
};

}  // namespace zoo::cpu
