// zoo/layers/conv2d.hpp — 2-D convolution, as torch.nn.Conv2d.
//
//   y[n, o, oh, ow] = b[o] + Σ_{c ∈ group(o), kh, kw} w[o, c, kh, kw] · x[n, g·C/G + c, oh·SH − PH + kh·DH,
//                                                                           ow·SW − PW + kw·DW]
//   x: (N, C, H, W)   w: (Out, C/G, KH, KW)   b: (Out)   y: (N, Out, OH, OW)
//   OH = ⌊(H + 2·PH − DH·(KH − 1) − 1) / SH⌋ + 1   (PyTorch's formula; OW alike)
//
// Per sample and group g, with col = im2col(x) (C/G·KH·KW, OH·OW):
//   forward   y_g  = W_g · col                      (Out/G, OH·OW)
//   backward  dW_g += dy_g · colᵀ,  db += Σ dy,  dx += col2im(W_gᵀ · dy_g)
// When OH·OW is small, NB samples share one GEMM. With NB ≥ 4 they are packed
// sample-minor: xT (C·H·W, NB), col (C/G·KH·KW, OH·OW·NB), y (Out, OH·OW·NB), moved
// to and from (N, ·) by pack/unpack (the bias added on the way out); with NB = 2, 3
// their cols sit side by side (C/G·KH·KW, NB·OH·OW).
// A 1×1 stride-1 unpadded kernel skips im2col: x itself is col.
// Caches nothing: backward recomputes im2col from x (cheaper than keeping an
// N·C·KH·KW·OH·OW matrix alive between forward and backward).
// docs/convolution.md explains the layout, the threading and its measurements.
#pragma once
#include <algorithm>
#include <cmath>
#include <string>
#include <vector>

#include "../core/gemm.hpp"
#include "../core/layer.hpp"
#include "../core/shape.hpp"
#include "../cpu/batch_parallel.hpp"
#include "../cpu/im2col.hpp"

namespace zoo {

namespace detail {
// PyTorch's output size of a convolution along one axis; 0 when the dilated
// kernel does not fit in the padded input.
constexpr std::size_t conv_out_size(std::size_t in, std::size_t k, std::size_t s, std::size_t p,
                                    std::size_t d) {
  const long num = static_cast<long>(in + 2 * p) - static_cast<long>(d * (k - 1)) - 1;
  return num < 0 ? 0 : static_cast<std::size_t>(num) / s + 1;
}

template <class T>
void add_bias_rows(T* y, const T* bias, std::size_t rows, std::size_t cols) {
  for (std::size_t r = 0; r < rows; ++r) {
    T* yr = y + r * cols;
    const T b = bias[r];
    for (std::size_t j = 0; j < cols; ++j) yr[j] += b;
  }
}
template <class T>
void add_row_sums(const T* dy, T* db, std::size_t rows, std::size_t cols) {
  for (std::size_t r = 0; r < rows; ++r) {
    const T* d = dy + r * cols;
    T s = 0;
    for (std::size_t j = 0; j < cols; ++j) s += d[j];
    db[r] += s;
  }
}
}  // namespace detail

template <class T, class In, std::size_t Out, std::size_t KH, std::size_t KW, std::size_t SH,
          std::size_t SW, std::size_t PH, std::size_t PW, std::size_t DH, std::size_t DW,
          std::size_t G, bool Bias>
struct Conv2dLayer {
  static constexpr bool image = is_image_v<In>;
  static_assert(image,
                "zoo::Conv2d: the input is flat features (F), but Conv2d takes images (C, H, W); "
                "put zoo::Reshape<C, H, W> before it");
  static_assert(!image || In::C % G == 0,
                "zoo::Conv2d: the input's channel count is not divisible by Groups; in-channels "
                "and out-channels must both be multiples of the number of groups");
  static_assert(Out % G == 0,
                "zoo::Conv2d: Out is not divisible by Groups; in-channels and out-channels must "
                "both be multiples of the number of groups");
  static constexpr std::size_t OH_ = detail::conv_out_size(In::H, KH, SH, PH, DH);
  static constexpr std::size_t OW_ = detail::conv_out_size(In::W, KW, SW, PW, DW);
  static_assert(!image || (OH_ > 0 && OW_ > 0),
                "zoo::Conv2d: the (dilated) kernel is larger than the padded input, so the output "
                "size would not be positive; use a smaller kernel or dilation, or more padding");

  static constexpr std::size_t C = In::C, H = In::H, W = In::W;
  static constexpr std::size_t OH = OH_ > 0 ? OH_ : 1, OW = OW_ > 0 ? OW_ : 1;
  static constexpr std::size_t in_channels = C, out_channels = Out, groups = G;
  static constexpr std::size_t Cg = C / G, Og = Out / G;
  static constexpr std::size_t K = Cg * KH * KW;  // GEMM inner size per group
  static constexpr std::size_t P = OH * OW;       // output positions
  static constexpr bool pointwise = KH == 1 && KW == 1 && SH == 1 && SW == 1 && PH == 0 && PW == 0;
  static constexpr std::size_t weight_size = Out * K;
  using input_shape = In;
  using output_shape = Shape<Out, OH, OW>;
  static constexpr std::size_t num_params = weight_size + (Bias ? Out : 0);
  static constexpr double flops = 2.0 * Out * P * K + (Bias ? 1.0 * Out * P : 0.0);
  static constexpr const char* name() { return "Conv2d"; }
  static constexpr cpu::ConvGeom geom{C, H, W, KH, KW, SH, SW, PH, PW, DH, DW, OH, OW};

  T* weight = nullptr;  // (Out, C/G, KH, KW)
  T* bias = nullptr;    // (Out)
  T* dweight = nullptr;
  T* dbias = nullptr;
  bool frozen = false;
  cpu::Threading threading = cpu::Threading::batch;
  double min_parallel_flops = cpu::kMinParallelFlops;  // smaller calls stay on one thread
  // Samples side by side in one GEMM: (C·KH·KW, NB·P) columns instead of P, for
  // layers whose outputs are too small to keep a GEMM busy on their own.
  static constexpr std::size_t NB = pointwise ? 1 : cpu::samples_per_gemm(P);
  // Per thread: col (C·KH·KW, NB·P), ycat (Out, NB·P) when NB > 1, partial dW and db.
  cpu::ThreadScratch<T> scratch;
  static constexpr bool minor = NB >= cpu::kSampleMinorMin;  // sample-minor packing
  static constexpr std::size_t col_size = pointwise ? 0 : C * KH * KW * NB * P;
  static constexpr std::size_t cat_size = NB > 1 ? Out * NB * P : 0;
  static constexpr std::size_t xt_size = minor ? C * H * W * NB : 0;  // xT, then dxT
  static constexpr std::size_t work_size = col_size + cat_size + xt_size;
  static constexpr std::size_t scratch_size = work_size + num_params;

  void bind_params(T*& p, T*& g) {
    weight = p, dweight = g;
    p += weight_size, g += weight_size;
    if constexpr (Bias) {
      bias = p, dbias = g;
      p += Out, g += Out;
    }
  }
  // PyTorch's default: kaiming_uniform(a=√5) is U(±1/√fan_in), fan_in = C/G·KH·KW; bias alike.
  void init(Rng& rng) {
    const double bound = 1.0 / std::sqrt(static_cast<double>(K));
    rng.fill_uniform(weight, weight_size, -bound, bound);
    if constexpr (Bias) rng.fill_uniform(bias, Out, -bound, bound);
  }
  void set_frozen(bool f) { frozen = f; }
  void resize(std::size_t) { scratch.reserve(scratch_size); }

  void forward(const T* x, T* y, std::size_t n) {
    scratch.reserve(scratch_size);
    const int nt =
        cpu::batch_threads(n, threading, scratch.threads, n * flops, min_parallel_flops);
    cpu::for_sample_ranges(n, nt, threading == cpu::Threading::batch, [&](int t, std::size_t b, std::size_t e) {
      T* col = scratch.slice(t);
      T* ycat = col + col_size;
      if constexpr (minor) {
        T* xT = ycat + cat_size;
        for (std::size_t i0 = b; i0 < e; i0 += NB) {
          const index_t nb = static_cast<index_t>(std::min(NB, e - i0));
          const std::size_t ld = static_cast<std::size_t>(nb) * P;
          cpu::pack_samples(x + i0 * In::size, nb, index_t{In::size}, index_t{In::size}, xT);
          cpu::im2col_nb(xT, geom, nb, col);  // (C·KH·KW, P·nb)
          for (std::size_t g = 0; g < G; ++g)
            gemm<T>(false, false, Og, ld, K, T(1), weight + g * Og * K, K, col + g * K * ld, ld,
                    T(0), ycat + g * Og * ld, ld);  // (Out/G, P·nb)
          unpack_bias(ycat, nb, y + i0 * output_shape::size);
        }
        return;
      }
      for (std::size_t i0 = b; i0 < e; i0 += NB) {
        const std::size_t nb = std::min(NB, e - i0);
        const std::size_t ld = nb * P;  // columns of this chunk's GEMM
        const T* xi = x + i0 * In::size;  // (C, H, W)
        if constexpr (!pointwise)
          for (std::size_t j = 0; j < nb; ++j)
            cpu::im2col(xi + j * In::size, geom, col + j * P, static_cast<index_t>(ld));
        const T* cols = pointwise ? xi : col;       // (C·KH·KW, nb·P)
        T* out = nb > 1 ? ycat : y + i0 * output_shape::size;  // (Out, nb·P)
        for (std::size_t g = 0; g < G; ++g)
          gemm<T>(false, false, Og, ld, K, T(1), weight + g * Og * K, K, cols + g * K * ld, ld,
                  T(0), out + g * Og * ld, ld);  // (Out/G, nb·P)
        for (std::size_t j = 0; j < nb; ++j) {
          T* yi = y + (i0 + j) * output_shape::size;  // (Out, OH, OW)
          if (nb > 1)
            for (std::size_t o = 0; o < Out; ++o)
              std::copy_n(ycat + o * ld + j * P, P, yi + o * P);
          if constexpr (Bias) detail::add_bias_rows(yi, bias, Out, P);
        }
      }
    });
  }

  // y (nb, Out, P) = ycat (Out·P, nb) + b: the sample-minor GEMM output, unpacked.
  static void unpack_bias_impl(const T* ycat, index_t nb, T* y, const T* b) {
    for (std::size_t o = 0; o < Out; ++o) {
      const T bo = Bias ? b[o] : T(0);
      for (index_t j = 0; j < nb; ++j) {
        T* d = y + static_cast<std::size_t>(j) * output_shape::size + o * P;
        const T* s = ycat + o * P * nb + j;
        for (std::size_t p = 0; p < P; ++p) d[p] = s[p * nb] + bo;
      }
    }
  }
  void unpack_bias(const T* ycat, index_t nb, T* y) const { unpack_bias_impl(ycat, nb, y, bias); }

  void backward(const T* x, const T*, const T* dy, T* dx, std::size_t n) {
    const bool grads = !frozen;
    if (!grads && !dx) return;
    scratch.reserve(scratch_size);
    const int nt =
        cpu::batch_threads(n, threading, scratch.threads, 2 * n * flops, min_parallel_flops);
    for (int t = 1; t < nt; ++t) {  // partial parameter gradients of threads 1…
      T* part = scratch.slice(t) + work_size;
      std::fill(part, part + num_params, T(0));
    }
    cpu::for_sample_ranges(n, nt, threading == cpu::Threading::batch, [&](int t, std::size_t b, std::size_t e) {
      T* col = scratch.slice(t);
      T* dycat = col + col_size;
      T* dw = t == 0 ? dweight : col + work_size;                // (Out, C/G, KH, KW)
      T* db = t == 0 ? dbias : col + work_size + weight_size;  // (Out)
      if constexpr (minor) {
        T* xT = dycat + cat_size;
        for (std::size_t i0 = b; i0 < e; i0 += NB) {
          const index_t nb = static_cast<index_t>(std::min(NB, e - i0));
          const std::size_t ld = static_cast<std::size_t>(nb) * P;
          cpu::pack_samples(dy + i0 * output_shape::size, nb, index_t{output_shape::size},
                            index_t{output_shape::size}, dycat);  // (Out, P·nb)
          if (grads) {
            cpu::pack_samples(x + i0 * In::size, nb, index_t{In::size}, index_t{In::size}, xT);
            cpu::im2col_nb(xT, geom, nb, col);
            for (std::size_t g = 0; g < G; ++g)
              gemm<T>(false, true, Og, K, ld, T(1), dycat + g * Og * ld, ld, col + g * K * ld, ld,
                      T(1), dw + g * Og * K, K);  // (Out/G, K)
            if constexpr (Bias) detail::add_row_sums(dycat, db, Out, ld);
          }
          if (!dx) continue;
          for (std::size_t g = 0; g < G; ++g)
            gemm<T>(true, false, K, ld, Og, T(1), weight + g * Og * K, K, dycat + g * Og * ld, ld,
                    T(0), col + g * K * ld, ld);  // dcol (K, P·nb)
          std::fill(xT, xT + In::size * static_cast<std::size_t>(nb), T(0));
          cpu::col2im_nb_add(col, geom, nb, xT);  // dxT (C·H·W, nb)
          cpu::unpack_samples<true>(xT, nb, index_t{In::size}, index_t{In::size},
                                    dx + i0 * In::size);
        }
        return;
      }
      for (std::size_t i0 = b; i0 < e; i0 += NB) {
        const std::size_t nb = std::min(NB, e - i0);
        const std::size_t ld = nb * P;
        const T* xi = x + i0 * In::size;
        const T* d = dy + i0 * output_shape::size;  // (Out, P), or gathered (Out, nb·P)
        if (nb > 1) {
          for (std::size_t j = 0; j < nb; ++j)
            for (std::size_t o = 0; o < Out; ++o)
              std::copy_n(d + j * output_shape::size + o * P, P, dycat + o * ld + j * P);
          d = dycat;
        }
        if (grads) {
          if constexpr (!pointwise)
            for (std::size_t j = 0; j < nb; ++j)
              cpu::im2col(xi + j * In::size, geom, col + j * P, static_cast<index_t>(ld));
          const T* cols = pointwise ? xi : col;
          for (std::size_t g = 0; g < G; ++g)
            gemm<T>(false, true, Og, K, ld, T(1), d + g * Og * ld, ld, cols + g * K * ld, ld, T(1),
                    dw + g * Og * K, K);  // (Out/G, K)
          if constexpr (Bias) detail::add_row_sums(d, db, Out, ld);
        }
        if (!dx) continue;
        T* dxi = dx + i0 * In::size;
        // pointwise: dx_g += W_gᵀ dy_g straight into dx; else through col and col2im.
        T* dcol = pointwise ? dxi : col;
        for (std::size_t g = 0; g < G; ++g)
          gemm<T>(true, false, K, ld, Og, T(1), weight + g * Og * K, K, d + g * Og * ld, ld,
                  pointwise ? T(1) : T(0), dcol + g * K * ld, ld);  // (K, nb·P)
        if constexpr (!pointwise)
          for (std::size_t j = 0; j < nb; ++j)
            cpu::col2im_add(col + j * P, geom, dxi + j * In::size, static_cast<index_t>(ld));
      }
    });
    if (grads)
      for (int t = 1; t < nt; ++t) {
        const T* part = scratch.slice(t) + work_size;
        for (std::size_t j = 0; j < weight_size; ++j) dweight[j] += part[j];
        if constexpr (Bias)
          for (std::size_t j = 0; j < Out; ++j) dbias[j] += part[weight_size + j];
      }
  }

  template <class F>
  void visit_params(const std::string& prefix, F&& f) {
    f(layer_ops::join(prefix, "weight"), std::vector<std::size_t>{Out, Cg, KH, KW}, weight,
      dweight, weight_size);
    if constexpr (Bias)
      f(layer_ops::join(prefix, "bias"), std::vector<std::size_t>{Out}, bias, dbias, Out);
  }
};

// Conv2dHW: a kernel, stride, padding and dilation per axis (height, width), as
// nn.Conv2d(kernel_size=(KH, KW), stride=(SH, SW), ...). In-channels come from the input.
template <std::size_t Out, std::size_t KH, std::size_t KW, std::size_t SH = 1, std::size_t SW = 1,
          std::size_t PH = 0, std::size_t PW = 0, std::size_t DH = 1, std::size_t DW = 1,
          std::size_t Groups = 1, bool Bias = true>
struct Conv2dHW {
  static_assert(Out > 0 && KH > 0 && KW > 0,
                "zoo::Conv2d: out-channels and kernel size must be positive");
  static_assert(SH > 0 && SW > 0 && DH > 0 && DW > 0 && Groups > 0,
                "zoo::Conv2d: stride, dilation and groups must be positive");
  template <class T, class In>
  using bind = Conv2dLayer<T, In, Out, KH, KW, SH, SW, PH, PW, DH, DW, Groups, Bias>;
};

// Conv2d<Out, Kernel, Stride, Padding, Dilation, Groups, Bias>: a square kernel,
// as nn.Conv2d(in, Out, Kernel, Stride, Padding, Dilation, Groups, Bias).
template <std::size_t Out, std::size_t Kernel, std::size_t Stride = 1, std::size_t Padding = 0,
          std::size_t Dilation = 1, std::size_t Groups = 1, bool Bias = true>
struct Conv2d : Conv2dHW<Out, Kernel, Kernel, Stride, Stride, Padding, Padding, Dilation, Dilation,
                         Groups, Bias> {};

}  // namespace zoo
