// zoo/layers/upsample.hpp — nearest-neighbour upsampling by an integer factor,
// as nn.Upsample(scale_factor=S, mode="nearest").
//
//   y[n, c, h, w] = x[n, c, ⌊h/S⌋, ⌊w/S⌋]        x: (N, C, H, W)  y: (N, C, S·H, S·W)
//   backward: dx[n, c, h, w] += Σ_{a, b < S} dy[n, c, S·h + a, S·w + b]
// Caches nothing.
#pragma once
#include "../core/layer.hpp"
#include "../core/parallel.hpp"
#include "../core/shape.hpp"

namespace zoo {

template <class T, class In, std::size_t S>
struct UpsampleLayer {
  static constexpr bool bind_ok = is_image_v<In>;
  // The layer's rules on its input, checked by bind_t (core/layer.hpp) rather than in the
  // class body: a failed static_assert there makes clang drop the rest of the class, and
  // every use of it then prints an error of its own.
  static constexpr bool check() {
    static_assert(is_image_v<In>,
                  "zoo::Upsample: the input is flat features (F), but Upsample takes images "
                  "(C, H, W); put zoo::Reshape<C, H, W> before it");
    return bind_ok;
  }
  static constexpr std::size_t C = In::C, H = In::H, W = In::W, OH = S * H, OW = S * W;
  using input_shape = In;
  using output_shape = Shape<C, OH, OW>;
  static constexpr double flops = 0;  // copies only
  static constexpr const char* name() { return "Upsample"; }
  static constexpr bool backward_reads_x = false, backward_reads_y = false;

  void forward(const T* x, T* y, std::size_t n) {
    parallel_for(n * C, OH * OW, [&](std::size_t pb, std::size_t pe) {
      for (std::size_t pl = pb; pl < pe; ++pl) {
        const T* xp = x + pl * H * W;
        T* yp = y + pl * OH * OW;
        for (std::size_t h = 0; h < H; ++h) {
          T* row = yp + h * S * OW;  // first of the S copies of input row h
          for (std::size_t w = 0; w < W; ++w)
            for (std::size_t b = 0; b < S; ++b) row[w * S + b] = xp[h * W + w];
          for (std::size_t a = 1; a < S; ++a)
            for (std::size_t j = 0; j < OW; ++j) row[a * OW + j] = row[j];
        }
      }
    });
  }

  void backward(const T*, const T*, const T* dy, T* dx, std::size_t n) {
    if (!dx) return;
    parallel_for(n * C, OH * OW, [&](std::size_t pb, std::size_t pe) {
      for (std::size_t pl = pb; pl < pe; ++pl) {
        const T* d = dy + pl * OH * OW;
        T* o = dx + pl * H * W;
        for (std::size_t h = 0; h < H; ++h)
          for (std::size_t a = 0; a < S; ++a) {
            const T* row = d + (h * S + a) * OW;
            for (std::size_t w = 0; w < W; ++w) {
              T s = 0;
              for (std::size_t b = 0; b < S; ++b) s += row[w * S + b];
              o[h * W + w] += s;
            }
          }
      }
    });
  }
};

// Upsample<Scale>: nearest neighbour, the same integer factor on height and width.
template <std::size_t Scale>
struct Upsample {
  static_assert(Scale > 0, "zoo::Upsample<Scale>: Scale must be positive");
  template <class T, class In>
  using bind = UpsampleLayer<T, In, Scale>;
};

}  // namespace zoo
