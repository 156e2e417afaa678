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
// One functor per activation (forward value, derivative from x and y) drives a
// single loop template, so every activation is one vectorizable pass.
#pragma once
#include <cmath>

#include "../core/layer.hpp"
#include "../core/parallel.hpp"

namespace zoo {

namespace act {
struct relu {
  static constexpr const char* name = "ReLU";
  template <class T>
  static T f(T x) { return x > T(0) ? x : T(0); }
  template <class T>
  static T df(T x, T) { return x > T(0) ? T(1) : T(0); }
};
template <double Slope>
struct leaky_relu {
  static constexpr const char* name = "LeakyReLU";
  template <class T>
  static T f(T x) { return x > T(0) ? x : T(Slope) * x; }
  template <class T>
  static T df(T x, T) { return x > T(0) ? T(1) : T(Slope); }
};
struct tanh {
  static constexpr const char* name = "Tanh";
  template <class T>
  static T f(T x) { return std::tanh(x); }
  template <class T>
  static T df(T, T y) { return T(1) - y * y; }
};
struct sigmoid {
  static constexpr const char* name = "Sigmoid";
  template <class T>
  static T f(T x) { return T(1) / (T(1) + std::exp(-x)); }
  template <class T>
  static T df(T, T y) { return y * (T(1) - y); }
};
struct silu {
  static constexpr const char* name = "SiLU";
  template <class T>
  static T f(T x) { return x / (T(1) + std::exp(-x)); }
  template <class T>
  static T df(T x, T) {
    const T s = T(1) / (T(1) + std::exp(-x));
    return s * (T(1) + x * (T(1) - s));
  }
};
struct gelu {
  static constexpr const char* name = "GELU";
  template <class T>
  static T f(T x) { return T(0.5) * x * (T(1) + std::erf(x * T(0.70710678118654752440))); }
  template <class T>
  static T df(T x, T) {
    const T cdf = T(0.5) * (T(1) + std::erf(x * T(0.70710678118654752440)));
    const T pdf = T(0.39894228040143267794) * std::exp(T(-0.5) * x * x);
    return cdf + x * pdf;
  }
};
}  // namespace act

template <class T, class In, class Fn>
struct ActivationLayer {
  using input_shape = In;
  using output_shape = In;
  static constexpr double flops = In::size;
  static constexpr const char* name() { return Fn::name; }

  void forward(const T* ZOO_RESTRICT x, T* ZOO_RESTRICT y, std::size_t n) {
    parallel_for(n * In::size, 8, [&](std::size_t b, std::size_t e) {
#pragma omp simd
      for (std::size_t i = b; i < e; ++i) y[i] = Fn::f(x[i]);
    });
  }
  void backward(const T* ZOO_RESTRICT x, const T* ZOO_RESTRICT y, const T* ZOO_RESTRICT dy,
                T* ZOO_RESTRICT dx, std::size_t n) {
    if (!dx) return;
    parallel_for(n * In::size, 8, [&](std::size_t b, std::size_t e) {
#pragma omp simd
      for (std::size_t i = b; i < e; ++i) dx[i] += dy[i] * Fn::df(x[i], y[i]);
    });
  }
};

template <class Fn>
struct Activation {
  template <class T, class In>
  using bind = ActivationLayer<T, In, Fn>;
};

using ReLU = Activation<act::relu>;
// The slope is part of the type, as the constructor argument of nn.LeakyReLU(0.2).
template <double Slope = 0.01>
using LeakyReLU = Activation<act::leaky_relu<Slope>>;
using Tanh = Activation<act::tanh>;
using Sigmoid = Activation<act::sigmoid>;
using SiLU = Activation<act::silu>;
using GELU = Activation<act::gelu>;

}  // namespace zoo
