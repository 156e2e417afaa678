// zoo/core/reduce.hpp — sums over a contiguous run of values, in SIMD lanes.
//
// The normalization layers reduce every activation once or twice per step. A plain
// `double s += x[k]` loop is one dependent add per element (the compiler may not
// reorder floating-point adds), ~4 cycles each: it made BatchNorm a sixth of a yolov5n
// training step. Here 4 vectors of T accumulate independently; every kBlock values the
// lanes are summed and added to a double, so no lane ever holds more than
// kBlock / (4·lanes) terms (32 for float on AVX-512) and the result is as accurate as the
// double loop's to within float rounding of those short partial sums.
#pragma once
#include <algorithm>
#include <cstddef>
#include <type_traits>

#include "vendor.hpp"  // xsimd

namespace zoo::reduce {

inline constexpr std::size_t kBlock = 2048;

namespace detail {
// Σ f(i) over [0, n) for one block; f takes an index and returns a batch (vector part)
// or a scalar (tail) — the two overloads of the functor.
template <class T, class F>
double block_sum(std::size_t n, F&& f) {
  using B = xsimd::batch<T>;
  constexpr std::size_t L = B::size;
  B a0(T(0)), a1(T(0)), a2(T(0)), a3(T(0));
  std::size_t k = 0;
  const std::size_t n4 = n / (4 * L) * (4 * L);
  for (; k < n4; k += 4 * L) {
    a0 += f(k, B{});
    a1 += f(k + L, B{});
    a2 += f(k + 2 * L, B{});
    a3 += f(k + 3 * L, B{});
  }
  const std::size_t n1 = n / L * L;
  for (; k < n1; k += L) a0 += f(k, B{});
  T tail = 0;
  for (; k < n; ++k) tail += f(k, T{});
  return static_cast<double>(xsimd::hadd((a0 + a1) + (a2 + a3))) + static_cast<double>(tail);
}
template <class T, class F>
double sum_blocks(std::size_t n, F&& f) {
  double s = 0;
  for (std::size_t b = 0; b < n; b += kBlock) {
    const std::size_t len = std::min(kBlock, n - b);
    s += block_sum<T>(len, [&](std::size_t k, auto tag) { return f(b + k, tag); });
  }
  return s;
}
template <class B>
inline constexpr bool is_batch = !std::is_arithmetic_v<B>;
}  // namespace detail

// Σ x[k], k < n.
template <class T>
double sum(const T* x, std::size_t n) {
  return detail::sum_blocks<T>(n, [x](std::size_t k, auto tag) {
    using V = decltype(tag);
    if constexpr (detail::is_batch<V>) return V::load_unaligned(x + k);
    else return x[k];
  });
}

// Σ (x[k] − m)², k < n.
template <class T>
double sum_sq_dev(const T* x, std::size_t n, T m) {
  return detail::sum_blocks<T>(n, [x, m](std::size_t k, auto tag) {
    using V = decltype(tag);
    if constexpr (detail::is_batch<V>) {
      const V d = V::load_unaligned(x + k) - V(m);
      return d * d;
    } else {
      const T d = x[k] - m;
      return d * d;
    }
  });
}

// Σ a[k]·b[k], k < n.
template <class T>
double dot(const T* a, const T* b, std::size_t n) {
  return detail::sum_blocks<T>(n, [a, b](std::size_t k, auto tag) {
    using V = decltype(tag);
    if constexpr (detail::is_batch<V>) return V::load_unaligned(a + k) * V::load_unaligned(b + k);
    else return a[k] * b[k];
  });
}

// Σ a[k]·((x[k] − m)·s), k < n: dot(a, h) for h = (x − m)·s computed as the normalization
// layers compute it, so the same value as that dot with h stored — without storing h.
template <class T>
double dot_centered(const T* a, const T* x, T m, T s, std::size_t n) {
  return detail::sum_blocks<T>(n, [a, x, m, s](std::size_t k, auto tag) {
    using V = decltype(tag);
    if constexpr (detail::is_batch<V>) {
      const V h = (V::load_unaligned(x + k) - V(m)) * V(s);
      return V::load_unaligned(a + k) * h;
    } else {
      const T h = (x[k] - m) * s;
      return a[k] * h;
    }
  });
}

}  // namespace zoo::reduce
