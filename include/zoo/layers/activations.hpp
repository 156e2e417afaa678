// zoo/layers/activations.hpp — element-wise activations, as torch.nn's.
//
//   ReLU      y = max(x, 0)                 dx += dy·[x > 0]
//   LeakyReLU y = x>0 ? x : s·x             dx += dy·(x>0 ? 1 : s)
//   Tanh      y = tanh x                    dx += dy·(1 − y²)
//   Sigmoid   y = 1/(1+e^{−x})              dx += dy·y(1 − y)
//   SiLU      y = x·σ(x)                    dx += dy·σ(x)(1 + x(1 − σ(x)))
//   GELU      y = x·Φ(x)  (erf form)        dx += dy·(Φ(x) + x·φ(x))
//
// Shape-preserving; each caches nothing beyond the x and y its container keeps.
// ReLU, LeakyReLU (slope > 0), Tanh and Sigmoid take their derivative from y alone.
// One functor per activation (forward value, derivative from x and y) drives a
// single loop template, so every activation is one vectorizable pass.
#pragma once
#include <cmath>
#include <cstdint>
#include <ratio>
#include <type_traits>
#include "../core/vendor.hpp"  // Eigen, xsimd, intrinsics

#include "../core/layer.hpp"
#include "../core/parallel.hpp"

namespace zoo {

namespace act {
// Written once for scalars and xsimd batches: glibc's scalar tanh/exp/erf do not
// vectorize and cost 10-100x the SIMD versions over an activation tensor.
namespace vm {
// Scalars (host and device: the C library's functions, which std::exp calls on the host
// too) and xsimd batches (host only: nvcc compiles a __host__ __device__ template for the
// device wherever it is used, and rejects SIMD types there).
ZOO_HD inline float select_pos(float x, float a, float b) { return x > 0.0f ? a : b; }
ZOO_HD inline double select_pos(double x, double a, double b) { return x > 0.0 ? a : b; }
ZOO_HD inline float exp(float x) { return ::expf(x); }
ZOO_HD inline double exp(double x) { return ::exp(x); }
ZOO_HD inline float tanh(float x) { return ::tanhf(x); }
ZOO_HD inline double tanh(double x) { return ::tanh(x); }
ZOO_HD inline float erf(float x) { return ::erff(x); }
ZOO_HD inline double erf(double x) { return ::erf(x); }
template <class V>
  requires(!std::is_arithmetic_v<V>)
V select_pos(V x, V a, V b) {  // x > 0 ? a : b
  return xsimd::select(x > V(0), a, b);
}
template <class V>
  requires(!std::is_arithmetic_v<V>)
V exp(V x) {
  return xsimd::exp(x);
}
template <class V>
  requires(!std::is_arithmetic_v<V>)
V tanh(V x) {
  return xsimd::tanh(x);
}
template <class V>
  requires(!std::is_arithmetic_v<V>)
V erf(V x) {
  return xsimd::erf(x);
}
}  // namespace vm

// Each functor's arithmetic is written once, in ZOO_ACT, which defines it twice: for
// scalars on the host and the device (ZOO_HD; the CUDA backend's layers call these) and
// for xsimd batches on the host.
#define ZOO_ACT(NAME, PARAMS, ...)                                \
  template <class V>                                              \
    requires std::is_arithmetic_v<V>                              \
  ZOO_HD static V NAME PARAMS { __VA_ARGS__ }                     \
  template <class V>                                              \
    requires(!std::is_arithmetic_v<V>)                            \
  static V NAME PARAMS { __VA_ARGS__ }

struct relu {
  static constexpr const char* name = "ReLU";
  static constexpr bool y_only = true;
  ZOO_ACT(f, (V x), return vm::select_pos(x, x, V(0));)
  ZOO_ACT(df, (V, V y), return vm::select_pos(y, V(1), V(0));)  // y > 0 exactly when x > 0
};
// The slope is the exact ratio Num/Den (reduced, Den > 0): a floating-point template
// argument is not portable C++ yet (clang before 18 rejects it). Num/Den in double is
// correctly rounded, so LeakyReLU<1, 5> multiplies by the same float as nn.LeakyReLU(0.2).
template <std::intmax_t Num, std::intmax_t Den>
struct leaky_relu {
  static constexpr double Slope = static_cast<double>(Num) / static_cast<double>(Den);
  static constexpr const char* name = "LeakyReLU";
  static constexpr bool y_only = Num > 0;  // then y > 0 exactly when x > 0
  ZOO_ACT(f, (V x), return vm::select_pos(x, x, V(Slope) * x);)
  ZOO_ACT(df, (V x, V y),
          if constexpr (Num > 0) return vm::select_pos(y, V(1), V(Slope));
          else return vm::select_pos(x, V(1), V(Slope));)
};
struct tanh {
  static constexpr const char* name = "Tanh";
  static constexpr bool y_only = true;
  ZOO_ACT(f, (V x), return vm::tanh(x);)
  ZOO_ACT(df, (V, V y), return V(1) - y * y;)
};
struct sigmoid {
  static constexpr const char* name = "Sigmoid";
  static constexpr bool y_only = true;
  ZOO_ACT(f, (V x), return V(1) / (V(1) + vm::exp(-x));)
  ZOO_ACT(df, (V, V y), return y * (V(1) - y);)
};
struct silu {
  static constexpr const char* name = "SiLU";
  static constexpr bool y_only = false;
  ZOO_ACT(f, (V x), return x / (V(1) + vm::exp(-x));)
  ZOO_ACT(df, (V x, V),
          const V s = V(1) / (V(1) + vm::exp(-x));
          return s * (V(1) + x * (V(1) - s));)
};
struct gelu {
  static constexpr const char* name = "GELU";
  static constexpr bool y_only = false;
  ZOO_ACT(f, (V x), return V(0.5) * x * (V(1) + vm::erf(x * V(0.70710678118654752440)));)
  ZOO_ACT(df, (V x, V),
          const V cdf = V(0.5) * (V(1) + vm::erf(x * V(0.70710678118654752440)));
          const V pdf = V(0.39894228040143267794) * vm::exp(V(-0.5) * x * x);
          return cdf + x * pdf;)
};
#undef ZOO_ACT
// y = f(x) in place over n values (a Linear layer's block, fused with its activation).
template <class Fn, class T>
void apply_inplace(T* ZOO_RESTRICT p, std::size_t n) {
  using B = xsimd::batch<T>;
  std::size_t i = 0;
  const std::size_t nv = n / B::size * B::size;
  for (; i < nv; i += B::size) Fn::f(B::load_unaligned(p + i)).store_unaligned(p + i);
  for (; i < n; ++i) p[i] = Fn::f(p[i]);
}
}  // namespace act

template <class T, class In, class Fn>
struct ActivationLayer {
  using input_shape = In;
  using output_shape = In;
  static constexpr double flops = In::size;
  static constexpr const char* name() { return Fn::name; }
  // Whether backward reads only y: then a Linear before it may compute y directly
  // (Sequential fuses the pair) and x, the Linear's output, is never written.
  using fn = Fn;
  static constexpr bool y_only = Fn::y_only;
  static constexpr bool backward_reads_x = !Fn::y_only, backward_reads_y = Fn::y_only;

  using batch = xsimd::batch<T>;
  static constexpr std::size_t W = batch::size;

  // y may be x (no restrict): each value is read, then written (a planned inference runs
  // activations in place where their input dies).
  static constexpr bool inplace = true;
  void forward(const T* x, T* y, std::size_t n) {
    parallel_for(n * In::size, 8, [&](std::size_t b, std::size_t e) {
      std::size_t i = b;
      // The vector part's end, computed once: g++ 12 reads `i + W <= e` as a loop that may
      // wrap around and warns (-Waggressive-loop-optimizations) where n is a constant.
      const std::size_t ev = b + (e - b) / W * W;
      for (; i < ev; i += W) Fn::f(batch::load_unaligned(x + i)).store_unaligned(y + i);
      for (; i < e; ++i) y[i] = Fn::f(x[i]);
    });
  }
  void backward(const T* ZOO_RESTRICT x, const T* ZOO_RESTRICT y, const T* ZOO_RESTRICT dy,
                T* ZOO_RESTRICT dx, std::size_t n) {
    if (!dx) return;
    parallel_for(n * In::size, 8, [&](std::size_t b, std::size_t e) {
      std::size_t i = b;
      // The vector part's end, computed once: g++ 12 reads `i + W <= e` as a loop that may
      // wrap around and warns (-Waggressive-loop-optimizations) where n is a constant.
      const std::size_t ev = b + (e - b) / W * W;
      for (; i < ev; i += W) {
        const batch g = batch::load_unaligned(dy + i) *
                        Fn::df(batch::load_unaligned(x + i), batch::load_unaligned(y + i));
        (batch::load_unaligned(dx + i) + g).store_unaligned(dx + i);
      }
      for (; i < e; ++i) dx[i] += dy[i] * Fn::df(x[i], y[i]);
    });
  }
  // dx = dy·f' (not +=): a Sequential's own intermediate gradient, which would
  // otherwise be cleared in a pass of its own first.
  void backward_overwrite(const T* ZOO_RESTRICT x, const T* ZOO_RESTRICT y,
                          const T* ZOO_RESTRICT dy, T* ZOO_RESTRICT dx, std::size_t n) {
    if (!dx) return;
    parallel_for(n * In::size, 8, [&](std::size_t b, std::size_t e) {
      std::size_t i = b;
      // The vector part's end, computed once: g++ 12 reads `i + W <= e` as a loop that may
      // wrap around and warns (-Waggressive-loop-optimizations) where n is a constant.
      const std::size_t ev = b + (e - b) / W * W;
      for (; i < ev; i += W)
        (batch::load_unaligned(dy + i) *
         Fn::df(batch::load_unaligned(x + i), batch::load_unaligned(y + i)))
            .store_unaligned(dx + i);
      for (; i < e; ++i) dx[i] = dy[i] * Fn::df(x[i], y[i]);
    });
  }
};

template <class Fn>
struct Activation {
  template <class T, class In>
  using bind = ActivationLayer<T, In, Fn>;
};

using ReLU = Activation<act::relu>;
// The slope is part of the type, as the constructor argument of nn.LeakyReLU(0.2), written
// as a ratio: LeakyReLU<1, 5> is nn.LeakyReLU(0.2), LeakyReLU<> is nn.LeakyReLU() (0.01).
template <std::intmax_t Num = 1, std::intmax_t Den = 100>
using LeakyReLU =
    Activation<act::leaky_relu<std::ratio<Num, Den>::num, std::ratio<Num, Den>::den>>;
using Tanh = Activation<act::tanh>;
using Sigmoid = Activation<act::sigmoid>;
using SiLU = Activation<act::silu>;
using GELU = Activation<act::gelu>;

}  // namespace zoo
