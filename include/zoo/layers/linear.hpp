// zoo/layers/linear.hpp — fully connected layer, as torch.nn.Linear.
//
//   y = x Wᵀ + b        x: (N, In)  W: (Out, In)  b: (Out)  y: (N, Out)
//
// In-features are inferred from the input shape. Backward:
//   dW += dyᵀ x,  db += Σₙ dy,  dx += dy W.
// Caches nothing: backward reads x, which the container keeps.
//
// Large float layers (Out·In ≥ cpu::kDenseMinWeights, batch ≥ cpu::kDenseMinBatch) compute
// y and dx on zoo's own register-tiled kernel instead of zoo::gemm (cpu/dense.hpp says why
// and what it measured); `dense = false` on a layer, or -DZOO_DENSE_KERNEL=0 for the whole
// program, keeps them on zoo::gemm.
#pragma once
#include <algorithm>
#include <cmath>
#include <string>
#include <type_traits>

#include "../core/gemm.hpp"
#include "../cpu/dense.hpp"
#include "../core/layer.hpp"
#include "../core/shape.hpp"
#include "../core/parallel.hpp"
#include "activations.hpp"

#ifndef ZOO_DENSE_KERNEL
#define ZOO_DENSE_KERNEL 1
#endif

namespace zoo {

template <class T, class In, std::size_t Out, bool Bias>
struct LinearLayer {
  static constexpr bool bind_ok = is_flat_v<In>;
  // The layer's rules on its input, checked by bind_t (core/layer.hpp) rather than in the
  // class body: a failed static_assert there makes clang drop the rest of the class, and
  // every use of it then prints an error of its own.
  static constexpr bool check() {
    static_assert(is_flat_v<In>,
                  "zoo::Linear: the input is an image (C, H, W), but Linear takes flat features; "
                  "put zoo::Flatten before it, as nn.Flatten in PyTorch");
    return bind_ok;
  }
  static constexpr std::size_t in_features = In::size;
  static constexpr std::size_t out_features = Out;
  using input_shape = In;
  using output_shape = Shape<Out>;
  static constexpr std::size_t num_params = Out * in_features + (Bias ? Out : 0);
  static constexpr double flops = 2.0 * Out * in_features + (Bias ? Out : 0);
  static constexpr const char* name() { return "Linear"; }
  static constexpr bool backward_reads_x = true, backward_reads_y = false;  // x: for dW

  static constexpr bool dense_possible = ZOO_DENSE_KERNEL && std::is_same_v<T, float> &&
                                        Out * in_features >= cpu::kDenseMinWeights;
  struct NoKernel {};

  T* weight = nullptr;  // (Out, In)
  T* bias = nullptr;    // (Out)
  T* dweight = nullptr;
  T* dbias = nullptr;
  bool frozen = false;
  bool dense = dense_possible;  // y and dx on cpu::DenseKernel (large float layers only)
  [[no_unique_address]] std::conditional_t<dense_possible, cpu::DenseKernel<T>, NoKernel> kernel =
      make_kernel();

  static auto make_kernel() {
    if constexpr (dense_possible)
      return cpu::DenseKernel<T>(static_cast<index_t>(in_features), static_cast<index_t>(Out));
    else
      return NoKernel{};
  }
  bool use_dense(std::size_t n) const {
    if constexpr (dense_possible) return dense && n >= cpu::kDenseMinBatch;
    else return false;
  }

  void bind_params(T*& p, T*& g) {
    weight = p, dweight = g;
    p += Out * in_features, g += Out * in_features;
    if constexpr (Bias) {
      bias = p, dbias = g;
      p += Out, g += Out;
    }
  }
  // PyTorch's default: kaiming_uniform(a=√5) gives U(±1/√fan_in) for W and b alike.
  void init(Rng& rng) {
    const double bound = 1.0 / std::sqrt(static_cast<double>(in_features));
    rng.fill_uniform(weight, Out * in_features, -bound, bound);
    if constexpr (Bias) rng.fill_uniform(bias, Out, -bound, bound);
  }
  void set_frozen(bool f) { frozen = f; }

  // The bias rows are written first and the GEMM adds onto them (β = 1): one
  // pass over y, where β = 0 and a bias loop after would be two (BLAS clears C
  // for β = 0 in a pass of its own).
  void resize(std::size_t n) {
    if constexpr (dense_possible)
      if (use_dense(n)) kernel.reserve(static_cast<index_t>(n));
  }

  // ---- inference in a planned arena: the kernel's transposed panels are this layer's
  // working memory there (infer_ws values per sample), so an InferenceModel keeps no
  // panels of its own; they share the arena with values dead at this layer.
  static constexpr std::size_t infer_ws =
      dense_possible ? cpu::DenseKernel<T>::panel_values_per_sample(in_features, Out) : 0;
  void reserve_infer(std::size_t) {}
  void forward_infer(const T* x, T* y, std::size_t n, T* ws) { forward_act_infer<void>(x, y, n, ws); }
  template <class Fn>  // Fn = void: no activation
  void forward_act_infer(const T* x, T* y, std::size_t n, T* ws) {
    if constexpr (dense_possible)
      if (use_dense(n))
        return kernel.template forward_act<Fn>(x, weight, Bias ? bias : nullptr, y,
                                               static_cast<index_t>(n), ws);
    if constexpr (std::is_void_v<Fn>) forward(x, y, n);
    else forward_act<Fn>(x, y, n);
  }

  void forward(const T* x, T* y, std::size_t n) {
    if constexpr (dense_possible)
      if (use_dense(n))
        return kernel.forward(x, weight, Bias ? bias : nullptr, y, static_cast<index_t>(n));
    if constexpr (Bias)
      for (std::size_t i = 0; i < n; ++i) std::copy(bias, bias + Out, y + i * Out);
    gemm<T>(false, true, n, Out, in_features, T(1), x, in_features, weight, in_features,
            Bias ? T(1) : T(0), y, Out);  // (N, Out)
  }

  // y = Fn(x Wᵀ + b): a Linear and the activation after it in one pass (Sequential
  // fuses the pair when the activation's backward reads only y). Each thread of the
  // GEMM writes the bias into its block of y and applies Fn to it while it is in that
  // core's cache: no separate bias and activation passes over y, and on two threads no
  // line of y crosses to the other core. Measured in docs/performance.md.
  template <class Fn>
  void forward_act(const T* x, T* y, std::size_t n) {
    if constexpr (dense_possible)
      if (use_dense(n))
        return kernel.template forward_act<Fn>(x, weight, Bias ? bias : nullptr, y,
                                               static_cast<index_t>(n));
    const T* b = bias;
    gemm_blocks<T>(
        false, true, n, Out, in_features, T(1), x, in_features, weight, in_features,
        Bias ? T(1) : T(0), y, Out,
        [b](T* c, index_t rows, index_t cols, index_t ldc, index_t, index_t c0) {
          if constexpr (Bias)
            for (index_t r = 0; r < rows; ++r) std::copy(b + c0, b + c0 + cols, c + r * ldc);
        },
        [](T* c, index_t rows, index_t cols, index_t ldc, index_t, index_t) {
          if (ldc == cols) return act::apply_inplace<Fn>(c, static_cast<std::size_t>(rows * cols));
          for (index_t r = 0; r < rows; ++r)
            act::apply_inplace<Fn>(c + r * ldc, static_cast<std::size_t>(cols));
        });
  }

  void backward(const T* x, const T* y, const T* dy, T* dx, std::size_t n) {
    backward_impl(x, y, dy, dx, n, false);
  }
  // As backward, but dx = dy·W (not +=): β = 0 lets each thread clear its own block of
  // dx inside the GEMM instead of a pass over all of dx before it.
  void backward_overwrite(const T* x, const T* y, const T* dy, T* dx, std::size_t n) {
    backward_impl(x, y, dy, dx, n, true);
  }

  void backward_impl(const T* x, const T*, const T* dy, T* dx, std::size_t n, bool overwrite) {
    if (!frozen) {
      gemm<T>(true, false, Out, in_features, n, T(1), dy, Out, x, in_features, T(1), dweight,
              in_features);  // (Out, In)
      if constexpr (Bias)
        for (std::size_t i = 0; i < n; ++i) {
          const T* dyr = dy + i * Out;
          for (std::size_t o = 0; o < Out; ++o) dbias[o] += dyr[o];
        }
    }
    if (!dx) return;
    if constexpr (dense_possible)
      if (use_dense(n) && kernel.dx_ok()) {
        if (overwrite) std::fill(dx, dx + n * in_features, T(0));
        return kernel.backward_dx(dy, weight, dx, static_cast<index_t>(n));
      }
    gemm<T>(false, false, n, in_features, Out, T(1), dy, Out, weight, in_features,
            overwrite ? T(0) : T(1), dx, in_features);  // (N, In)
  }

  template <class F>
  void visit_params(const std::string& prefix, F&& f) {
    f(layer_ops::join(prefix, "weight"), std::vector<std::size_t>{Out, in_features}, weight,
      dweight, Out * in_features);
    if constexpr (Bias)
      f(layer_ops::join(prefix, "bias"), std::vector<std::size_t>{Out}, bias, dbias, Out);
  }
};

// Linear<Out>: in-features come from the input, as every zoo layer's do.
template <std::size_t Out, bool Bias = true>
struct Linear {
  static_assert(Out > 0, "zoo::Linear<Out>: Out must be positive");
  template <class T, class In>
  using bind = LinearLayer<T, In, Out, Bias>;
};

}  // namespace zoo
