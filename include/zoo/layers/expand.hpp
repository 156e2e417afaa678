// zoo/layers/expand.hpp — Expand2d<H, W>: features (C) → constant maps (C, H, W),
// as y = x[:, :, None, None].expand(-1, -1, H, W) in PyTorch.
//
//   y[n, c, h, w] = x[n, c]            dx[n, c] += Σ_{h,w} dy[n, c, h, w]
//
// A conditional DCGAN's discriminator uses it to give the class one-hot to
// every pixel as 10 extra image channels. Caches nothing.
#pragma once
#include <algorithm>

#include "../core/layer.hpp"

namespace zoo {

template <class T, class In, std::size_t H, std::size_t W>
struct Expand2dLayer {
  static constexpr bool bind_ok = is_flat_v<In>;
  // The layer's rules on its input, checked by bind_t (core/layer.hpp) rather than in the
  // class body: a failed static_assert there makes clang drop the rest of the class, and
  // every use of it then prints an error of its own.
  static constexpr bool check() {
    static_assert(is_flat_v<In>,
                  "zoo::Expand2d<H, W>: the input must be flat features (C); it becomes C constant "
                  "maps of H x W");
    return bind_ok;
  }
  static constexpr std::size_t C = In::size;
  using input_shape = In;
  using output_shape = Shape<C, H, W>;
  static constexpr double flops = 0;
  static constexpr const char* name() { return "Expand2d"; }
  static constexpr bool backward_reads_x = false, backward_reads_y = false;

  void forward(const T* x, T* y, std::size_t n) {
    for (std::size_t i = 0; i < n * C; ++i) std::fill_n(y + i * H * W, H * W, x[i]);  // (N, C, H, W)
  }
  void backward(const T*, const T*, const T* dy, T* dx, std::size_t n) {
    if (!dx) return;
    for (std::size_t i = 0; i < n * C; ++i) {
      const T* d = dy + i * H * W;
      T s = 0;
      for (std::size_t k = 0; k < H * W; ++k) s += d[k];
      dx[i] += s;  // (N, C)
    }
  }
};

template <std::size_t H, std::size_t W = H>
struct Expand2d {
  static_assert(H > 0 && W > 0, "zoo::Expand2d<H, W>: H and W must be positive");
  template <class T, class In>
  using bind = Expand2dLayer<T, In, H, W>;
};

}  // namespace zoo
