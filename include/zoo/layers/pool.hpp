// zoo/layers/pool.hpp — max and average pooling, as nn.MaxPool2d and nn.AvgPool2d
// (ceil_mode=False, dilation 1; AvgPool2d with count_include_pad=True, PyTorch's default).
//
//   x: (N, C, H, W)  →  y: (N, C, OH, OW),   OH = ⌊(H + 2·P − K) / S⌋ + 1
//   max:  y = max over the window (padding counts as −∞); backward adds dy at the argmax.
//   avg:  y = Σ window / (K·K clipped to the padded image); backward spreads dy / that count.
// MaxPool2d caches the argmax of every output, as an index into its (H, W) plane
// (int32, (N, C, OH, OW)); AvgPool2d caches nothing.
#pragma once
#include <cmath>
#include <cstdint>
#include <limits>

#include "../core/layer.hpp"
#include "../core/parallel.hpp"
#include "../core/shape.hpp"
#include "../core/tensor.hpp"
#include "conv2d.hpp"

namespace zoo {

namespace detail {
template <class In, std::size_t KH, std::size_t KW, std::size_t SH, std::size_t SW, std::size_t PH,
          std::size_t PW>
struct pool_geometry {
  static constexpr bool image = is_image_v<In>;
  static constexpr std::size_t OH_ = conv_out_size(In::H, KH, SH, PH, 1);
  static constexpr std::size_t OW_ = conv_out_size(In::W, KW, SW, PW, 1);
  static constexpr bool bind_ok = image && 2 * PH <= KH && 2 * PW <= KW && OH_ > 0 && OW_ > 0;
  // The layer's rules on its input, checked by bind_t (core/layer.hpp) rather than in the
  // class body: a failed static_assert there makes clang drop the rest of the class, and
  // every use of it then prints an error of its own.
  static constexpr bool check() {
    static_assert(image,
                  "zoo::MaxPool2d/AvgPool2d: the input is flat features (F), but pooling takes "
                  "images (C, H, W); put zoo::Reshape<C, H, W> before it");
    static_assert(2 * PH <= KH && 2 * PW <= KW,
                  "zoo::MaxPool2d/AvgPool2d: padding must be at most half the kernel size, as in "
                  "PyTorch");
    static_assert(!image || (OH_ > 0 && OW_ > 0),
                  "zoo::MaxPool2d/AvgPool2d: the window is larger than the padded input, so the "
                  "output size would not be positive; use a smaller kernel or more padding");
    return bind_ok;
  }
  static constexpr std::size_t C = In::C, H = In::H, W = In::W;
  static constexpr std::size_t OH = OH_ > 0 ? OH_ : 1, OW = OW_ > 0 ? OW_ : 1;
  using output_shape = Shape<C, OH, OW>;
};
}  // namespace detail

template <class T, class In, std::size_t KH, std::size_t KW, std::size_t SH, std::size_t SW,
          std::size_t PH, std::size_t PW>
struct MaxPool2dLayer : detail::pool_geometry<In, KH, KW, SH, SW, PH, PW> {
  using geo = detail::pool_geometry<In, KH, KW, SH, SW, PH, PW>;
  using geo::C, geo::H, geo::W, geo::OH, geo::OW;
  using input_shape = In;
  using output_shape = typename geo::output_shape;
  static constexpr double flops = 1.0 * KH * KW * output_shape::size;  // comparisons
  static constexpr const char* name() { return "MaxPool2d"; }
  static constexpr bool backward_reads_x = false, backward_reads_y = false;  // its cached argmax

  Buffer<std::int32_t> argmax;  // (N, C, OH, OW), index into the (H, W) plane

  void resize(std::size_t n) { argmax.resize(n * output_shape::size); }

  // Backward reads which input won each window: kept for training (an int32 per output).
  static constexpr std::size_t train_values() { return output_shape::size; }
  void forward(const T* x, T* y, std::size_t n) {
    if (argmax.size() < n * output_shape::size) resize(n);
    parallel_for(n * C, OH * OW * KH * KW, [&](std::size_t pb, std::size_t pe) {
      for (std::size_t pl = pb; pl < pe; ++pl)
        plane<true>(x + pl * H * W, y + pl * OH * OW, argmax.data() + pl * OH * OW);
    });
  }
  // Inference: the same maxima, no argmax.
  void reserve_infer(std::size_t) {}
  void forward_infer(const T* x, T* y, std::size_t n, T*) {
    parallel_for(n * C, OH * OW * KH * KW, [&](std::size_t pb, std::size_t pe) {
      for (std::size_t pl = pb; pl < pe; ++pl)
        plane<false>(x + pl * H * W, y + pl * OH * OW, nullptr);
    });
  }

  // One (H, W) plane, separably: per row the maximum of each window's columns and its
  // column, then per output the maximum of those over the window's rows. With PyTorch's
  // rule in both passes (take v when v > m or v is NaN) this is PyTorch's answer: the
  // first maximum in row-major order, or the last NaN (the last row holding a NaN, and
  // that row's last NaN). H·OW + OH·OW windows of K values instead of OH·OW of K·K
  // (SPPF's 5×5 pools: 4× fewer), and selects instead of branches: on a trained
  // network's activations which value wins is a coin toss, and a branch per value made
  // the pool 3× slower on them than on its own, mostly tied, output.
  // Row results on the stack up to 8192 of them (96 KB in double); larger planes take
  // each window whole, with the same selects.
  static constexpr bool separable = H * OW <= 8192;
  template <bool Keep>
  static void plane(const T* xp, T* yp, std::int32_t* ap) {
    if constexpr (separable) plane_separable<Keep>(xp, yp, ap);
    else plane_windows<Keep>(xp, yp, ap);
  }
  template <bool Keep>
  static void plane_windows(const T* xp, T* yp, std::int32_t* ap) {
    for (std::size_t oh = 0; oh < OH; ++oh) {
      const long h0 = static_cast<long>(oh * SH) - static_cast<long>(PH);
      const long hb = std::max(h0, 0L), he = std::min(h0 + long(KH), long(H));
      for (std::size_t ow = 0; ow < OW; ++ow) {
        const long w0 = static_cast<long>(ow * SW) - static_cast<long>(PW);
        const long wb = std::max(w0, 0L), we = std::min(w0 + long(KW), long(W));
        T m = -std::numeric_limits<T>::infinity();
        long best = hb * long(W) + wb;
        for (long h = hb; h < he; ++h)
          for (long w = wb; w < we; ++w) {
            const T v = xp[h * long(W) + w];
            const bool take = v > m || v != v;
            m = take ? v : m;
            best = take ? h * long(W) + w : best;
          }
        yp[oh * OW + ow] = m;
        if constexpr (Keep) ap[oh * OW + ow] = static_cast<std::int32_t>(best);
      }
    }
  }
  template <bool Keep>
  static void plane_separable(const T* xp, T* yp, std::int32_t* ap) {
    T rm[H * OW];
    std::int32_t ra[H * OW];
    for (std::size_t h = 0; h < H; ++h)
      for (std::size_t ow = 0; ow < OW; ++ow) {
        const long w0 = static_cast<long>(ow * SW) - static_cast<long>(PW);
        const long wb = std::max(w0, 0L), we = std::min(w0 + long(KW), long(W));
        T m = -std::numeric_limits<T>::infinity();
        long best = wb;
        for (long w = wb; w < we; ++w) {
          const T v = xp[h * W + static_cast<std::size_t>(w)];
          const bool take = v > m || v != v;
          m = take ? v : m;
          best = take ? w : best;
        }
        rm[h * OW + ow] = m;
        ra[h * OW + ow] = static_cast<std::int32_t>(h * W + static_cast<std::size_t>(best));
      }
    for (std::size_t oh = 0; oh < OH; ++oh) {
      const long h0 = static_cast<long>(oh * SH) - static_cast<long>(PH);
      const long hb = std::max(h0, 0L), he = std::min(h0 + long(KH), long(H));
      for (std::size_t ow = 0; ow < OW; ++ow) {
        T m = -std::numeric_limits<T>::infinity();
        std::int32_t best = ra[static_cast<std::size_t>(hb) * OW + ow];
        for (long h = hb; h < he; ++h) {
          const T v = rm[static_cast<std::size_t>(h) * OW + ow];
          const bool take = v > m || v != v;
          m = take ? v : m;
          best = take ? ra[static_cast<std::size_t>(h) * OW + ow] : best;
        }
        yp[oh * OW + ow] = m;
        if constexpr (Keep) ap[oh * OW + ow] = best;
      }
    }
  }

  void backward(const T*, const T*, const T* dy, T* dx, std::size_t n) {
    if (!dx) return;
    parallel_for(n * C, OH * OW, [&](std::size_t pb, std::size_t pe) {
      for (std::size_t pl = pb; pl < pe; ++pl) {
        const T* d = dy + pl * OH * OW;
        const std::int32_t* ap = argmax.data() + pl * OH * OW;
        T* o = dx + pl * H * W;
        for (std::size_t j = 0; j < OH * OW; ++j) o[ap[j]] += d[j];
      }
    });
  }
};

template <class T, class In, std::size_t KH, std::size_t KW, std::size_t SH, std::size_t SW,
          std::size_t PH, std::size_t PW>
struct AvgPool2dLayer : detail::pool_geometry<In, KH, KW, SH, SW, PH, PW> {
  using geo = detail::pool_geometry<In, KH, KW, SH, SW, PH, PW>;
  using geo::C, geo::H, geo::W, geo::OH, geo::OW;
  using input_shape = In;
  using output_shape = typename geo::output_shape;
  static constexpr double flops = 1.0 * KH * KW * output_shape::size;  // additions
  static constexpr const char* name() { return "AvgPool2d"; }
  static constexpr bool backward_reads_x = false, backward_reads_y = false;

  // The window of output (oh, ow): rows [hb, he), columns [wb, we), and the divisor
  // (count_include_pad: the window clipped to the padded image, not to the image).
  struct Window {
    long hb, he, wb, we;
    double count;
  };
  static Window window(std::size_t oh, std::size_t ow) {
    const long h0 = long(oh * SH) - long(PH), w0 = long(ow * SW) - long(PW);
    const long h1 = std::min(h0 + long(KH), long(H + PH)), w1 = std::min(w0 + long(KW), long(W + PW));
    const double count = double((h1 - h0) * (w1 - w0));
    return {std::max(h0, 0L), std::min(h1, long(H)), std::max(w0, 0L), std::min(w1, long(W)), count};
  }

  void forward(const T* x, T* y, std::size_t n) {
    parallel_for(n * C, OH * OW * KH * KW, [&](std::size_t pb, std::size_t pe) {
      for (std::size_t pl = pb; pl < pe; ++pl) {
        const T* xp = x + pl * H * W;
        T* yp = y + pl * OH * OW;
        for (std::size_t oh = 0; oh < OH; ++oh)
          for (std::size_t ow = 0; ow < OW; ++ow) {
            const Window b = window(oh, ow);
            T s = 0;
            for (long h = b.hb; h < b.he; ++h)
              for (long w = b.wb; w < b.we; ++w) s += xp[h * long(W) + w];
            yp[oh * OW + ow] = s / static_cast<T>(b.count);
          }
      }
    });
  }

  void backward(const T*, const T*, const T* dy, T* dx, std::size_t n) {
    if (!dx) return;
    parallel_for(n * C, OH * OW * KH * KW, [&](std::size_t pb, std::size_t pe) {
      for (std::size_t pl = pb; pl < pe; ++pl) {
        const T* d = dy + pl * OH * OW;
        T* o = dx + pl * H * W;
        for (std::size_t oh = 0; oh < OH; ++oh)
          for (std::size_t ow = 0; ow < OW; ++ow) {
            const Window b = window(oh, ow);
            const T g = d[oh * OW + ow] / static_cast<T>(b.count);
            for (long h = b.hb; h < b.he; ++h)
              for (long w = b.wb; w < b.we; ++w) o[h * long(W) + w] += g;
          }
      }
    });
  }
};

// MaxPool2d<Kernel, Stride = Kernel, Padding = 0>, as nn.MaxPool2d(Kernel, Stride, Padding).
template <std::size_t Kernel, std::size_t Stride = Kernel, std::size_t Padding = 0>
struct MaxPool2d {
  static_assert(Kernel > 0 && Stride > 0, "zoo::MaxPool2d: kernel and stride must be positive");
  template <class T, class In>
  using bind = MaxPool2dLayer<T, In, Kernel, Kernel, Stride, Stride, Padding, Padding>;
};

// AvgPool2d<Kernel, Stride = Kernel, Padding = 0>, as nn.AvgPool2d(Kernel, Stride, Padding).
template <std::size_t Kernel, std::size_t Stride = Kernel, std::size_t Padding = 0>
struct AvgPool2d {
  static_assert(Kernel > 0 && Stride > 0, "zoo::AvgPool2d: kernel and stride must be positive");
  template <class T, class In>
  using bind = AvgPool2dLayer<T, In, Kernel, Kernel, Stride, Stride, Padding, Padding>;
};

}  // namespace zoo
