// zoo/cpu/conv_transpose2d.hpp — the CPU backend of ConvTranspose2d (layers/conv_transpose2d.hpp).
//
// Per sample, with W as a (C, Out·KH·KW) matrix and the im2col geometry of a conv that
// maps (Out, OH, OW) back onto (H, W):
//   forward   y   = col2im(Wᵀ · x) + b                 col: (Out·KH·KW, H·W)
//   backward  col = im2col(dy),  dW += x · colᵀ,  dx += W · col,  db += Σ dy
// When H·W is small, NB samples share one GEMM. With NB ≥ 4 they are packed sample-minor:
// x as (C·H·W, NB), col (R, H·W·NB), y as yT (Out·OH·OW, NB), so col2im and im2col move
// runs of NB values (im2col_nb); with NB = 2, 3 x is gathered to (C, NB·H·W).
// A 1×1 stride-1 unpadded kernel is a plain GEMM (no col2im). Caches nothing: backward
// reads x and dy. The layer calls only the entry points at the end of this file.
#pragma once
#include <algorithm>
#include <cmath>
#include <vector>

#include "../core/gemm.hpp"
#include "../core/shape.hpp"
#include "batch_parallel.hpp"
#include "conv2d.hpp"
#include "im2col.hpp"

namespace zoo {

namespace detail {
// PyTorch's output size of a transposed convolution; 0 when it would not be positive.
constexpr std::size_t conv_transpose_out_size(std::size_t in, std::size_t k, std::size_t s,
                                              std::size_t p, std::size_t op, std::size_t d) {
  const long v = static_cast<long>((in - 1) * s + d * (k - 1) + op + 1) - 2 * static_cast<long>(p);
  return v <= 0 ? 0 : static_cast<std::size_t>(v);
}
}  // namespace detail

namespace cpu {

template <class T, class In, std::size_t Out, std::size_t KH, std::size_t KW, std::size_t SH,
          std::size_t SW, std::size_t PH, std::size_t PW, std::size_t OPH, std::size_t OPW,
          std::size_t DH, std::size_t DW, bool Bias>
struct ConvTranspose2dKernel {
  static constexpr std::size_t C = In::C, H = In::H, W = In::W;
  static constexpr std::size_t OH_ = zoo::detail::conv_transpose_out_size(In::H, KH, SH, PH, OPH, DH);
  static constexpr std::size_t OW_ = zoo::detail::conv_transpose_out_size(In::W, KW, SW, PW, OPW, DW);
  static constexpr std::size_t OH = OH_ > 0 ? OH_ : 1, OW = OW_ > 0 ? OW_ : 1;
  static constexpr std::size_t in_channels = C, out_channels = Out;
  static constexpr std::size_t R = Out * KH * KW;  // rows of col
  static constexpr std::size_t HW = H * W;
  static constexpr bool pointwise = KH == 1 && KW == 1 && SH == 1 && SW == 1 && PH == 0 &&
                                    PW == 0 && OPH == 0 && OPW == 0;
  static constexpr std::size_t weight_size = C * R;
  using input_shape = In;
  using output_shape = Shape<Out, OH, OW>;
  static constexpr std::size_t num_params = weight_size + (Bias ? Out : 0);
  static constexpr double flops = 2.0 * C * HW * R + (Bias ? 1.0 * Out * OH * OW : 0.0);
  // The conv whose input gradient this layer is: image (Out, OH, OW) → (H, W).
  static constexpr ConvGeom geom{Out, OH, OW, KH, KW, SH, SW, PH, PW, DH, DW, H, W};


  // The parameters of the call in progress (set by the entry points below).
  const T* weight = nullptr;  // (C, Out, KH, KW)
  const T* bias = nullptr;    // (Out)
  T* dweight = nullptr;       // null: no parameter gradients (a frozen layer)
  T* dbias = nullptr;

  Threading threading = Threading::batch;
  double min_parallel_flops = kMinParallelFlops;  // smaller calls stay on one thread
  // Samples side by side in one GEMM when H·W is small (x: (C, NB·H·W), col: (R, NB·H·W)).
  static constexpr std::size_t NB = pointwise ? 1 : samples_per_gemm(HW);
  // Per thread: col (Out·KH·KW, NB·H·W), xcat (C, NB·H·W) when NB > 1, partial dW and db.
  ThreadScratch<T> scratch;
  static constexpr bool minor = NB >= kSampleMinorMin;  // sample-minor packing
  static constexpr std::size_t col_size = pointwise ? 0 : R * NB * HW;
  static constexpr std::size_t cat_size = NB > 1 ? C * NB * HW : 0;
  static constexpr std::size_t yt_size = minor ? output_shape::size * NB : 0;  // yT, dyT
  static constexpr std::size_t work_size = col_size + cat_size + yt_size;
  static constexpr std::size_t scratch_size = work_size + num_params;
  // Forward makes col in blocks of output channels (rows of Wᵀ), each folded into yT before
  // the next: its scratch is one block, not all R rows (DCGAN's first layer: 0.5 of 2 MB a
  // thread). In forward's slice xcat and yT follow that block.
  static constexpr std::size_t CB = minor ? std::max<std::size_t>(1, 256 / (KH * KW)) : Out;
  static constexpr std::size_t fwd_col_size = minor ? std::min(Out, CB) * KH * KW * NB * HW : col_size;
  static constexpr std::size_t fwd_reserve = fwd_col_size + cat_size + yt_size;

  void resize(std::size_t) { scratch.reserve(scratch_size); }
  // Forward alone needs no per-thread partial dW, and one block of col.
  void resize_forward() { scratch.reserve(fwd_reserve); }

  // (C, H·W) of samples i0… side by side into xcat (C, nb·H·W).
  static void gather(const T* x, std::size_t nb, T* xcat) {
    for (std::size_t j = 0; j < nb; ++j)
      for (std::size_t c = 0; c < C; ++c)
        std::copy_n(x + j * In::size + c * HW, HW, xcat + c * nb * HW + j * HW);
  }

  void forward(const T* x, T* y, std::size_t n) {
    scratch.reserve(fwd_reserve);
    const int nt =
        batch_threads(n, threading, scratch.threads, n * flops, min_parallel_flops);
    for_sample_ranges(n, nt, threading == Threading::batch, [&](int t, std::size_t b, std::size_t e) {
      T* col = scratch.slice(t);
      T* xcat = col + fwd_col_size;
      if constexpr (minor) {
        T* yT = xcat + cat_size;
        constexpr auto M = static_cast<index_t>(output_shape::size);
        for (std::size_t i0 = b; i0 < e; i0 += NB) {
          const index_t nb = static_cast<index_t>(std::min(NB, e - i0));
          const std::size_t ld = static_cast<std::size_t>(nb) * HW;
          pack_samples(x + i0 * In::size, nb, index_t{In::size}, index_t{In::size}, xcat);
          std::fill(yT, yT + M * nb, T(0));
          for (std::size_t c0 = 0; c0 < Out; c0 += CB) {  // (rows, H·W·nb) of col, then yT
            const std::size_t c1 = std::min(Out, c0 + CB), r0 = c0 * KH * KW;
            gemm<T>(true, false, (c1 - c0) * KH * KW, ld, C, T(1), weight + r0, R, xcat, ld,
                    T(0), col, ld);
            col2im_nb_add(col, geom, nb, yT, static_cast<index_t>(c0), static_cast<index_t>(c1));
          }
          T* yi = y + i0 * output_shape::size;
          unpack_samples<false>(yT, nb, M, M, yi);
          if constexpr (Bias)
            for (index_t j = 0; j < nb; ++j)
              zoo::detail::add_bias_rows(yi + j * M, bias, Out, OH * OW);
        }
      } else {  // (an else, not a return above: nvcc reports the loop after one as unreachable)
      for (std::size_t i0 = b; i0 < e; i0 += NB) {
        const std::size_t nb = std::min(NB, e - i0);
        const std::size_t ld = nb * HW;
        const T* xi = x + i0 * In::size;     // (C, H·W)
        T* yi = y + i0 * output_shape::size;  // (Out, OH, OW)
        if (nb > 1) gather(xi, nb, xcat);
        const T* xs = nb > 1 ? xcat : xi;  // (C, nb·H·W)
        if constexpr (pointwise) {
          gemm<T>(true, false, R, HW, C, T(1), weight, R, xs, HW, T(0), yi, HW);
        } else {
          gemm<T>(true, false, R, ld, C, T(1), weight, R, xs, ld, T(0), col, ld);  // (R, nb·H·W)
          std::fill(yi, yi + nb * output_shape::size, T(0));
          for (std::size_t j = 0; j < nb; ++j)
            col2im_add(col + j * HW, geom, yi + j * output_shape::size,
                            static_cast<index_t>(ld));
        }
        if constexpr (Bias)
          for (std::size_t j = 0; j < nb; ++j)
            zoo::detail::add_bias_rows(yi + j * output_shape::size, bias, Out, OH * OW);
      }
      }
    });
  }

  void backward(const T* x, const T*, const T* dy, T* dx, std::size_t n) {
    const bool grads = dweight != nullptr;
    if (!grads && !dx) return;
    scratch.reserve(scratch_size);
    const int nt =
        batch_threads(n, threading, scratch.threads, 2 * n * flops, min_parallel_flops);
    for (int t = 1; t < nt; ++t) {
      T* part = scratch.slice(t) + work_size;
      std::fill(part, part + num_params, T(0));
    }
    for_sample_ranges(n, nt, threading == Threading::batch, [&](int t, std::size_t b, std::size_t e) {
      T* col = scratch.slice(t);
      T* xcat = col + col_size;
      T* dw = t == 0 ? dweight : col + work_size;              // (C, Out·KH·KW)
      T* db = t == 0 ? dbias : col + work_size + weight_size;  // (Out)
      if constexpr (minor) {
        T* dyT = xcat + cat_size;
        constexpr auto M = static_cast<index_t>(output_shape::size);
        for (std::size_t i0 = b; i0 < e; i0 += NB) {
          const index_t nb = static_cast<index_t>(std::min(NB, e - i0));
          const std::size_t ld = static_cast<std::size_t>(nb) * HW;
          pack_samples(dy + i0 * output_shape::size, nb, M, M, dyT);  // (Out·OH·OW, nb)
          im2col_nb(dyT, geom, nb, col);                              // (R, H·W·nb)
          if (grads) {
            pack_samples(x + i0 * In::size, nb, index_t{In::size}, index_t{In::size}, xcat);
            gemm<T>(false, true, C, R, ld, T(1), xcat, ld, col, ld, T(1), dw, R);  // (C, R)
            if constexpr (Bias)
              zoo::detail::add_row_sums(dyT, db, Out, static_cast<std::size_t>(nb) * OH * OW);
          }
          if (!dx) continue;
          gemm<T>(false, false, C, ld, R, T(1), weight, R, col, ld, T(0), xcat, ld);  // (C, H·W·nb)
          unpack_samples<true>(xcat, nb, index_t{In::size}, index_t{In::size},
                                    dx + i0 * In::size);
        }
      } else {
      for (std::size_t i0 = b; i0 < e; i0 += NB) {
        const std::size_t nb = std::min(NB, e - i0);
        const std::size_t ld = nb * HW;
        const T* xi = x + i0 * In::size;
        const T* dyi = dy + i0 * output_shape::size;  // (Out, OH, OW)
        if constexpr (!pointwise)
          for (std::size_t j = 0; j < nb; ++j)
            im2col(dyi + j * output_shape::size, geom, col + j * HW, static_cast<index_t>(ld));
        const T* cols = pointwise ? dyi : col;  // (R, nb·H·W)
        if (grads) {
          if (nb > 1) gather(xi, nb, xcat);
          const T* xs = nb > 1 ? xcat : xi;
          gemm<T>(false, true, C, R, ld, T(1), xs, ld, cols, ld, T(1), dw, R);  // (C, R)
          if constexpr (Bias)
            for (std::size_t j = 0; j < nb; ++j)
              zoo::detail::add_row_sums(dyi + j * output_shape::size, db, Out, OH * OW);
        }
        if (!dx) continue;
        T* dxi = dx + i0 * In::size;
        if (nb == 1) {
          gemm<T>(false, false, C, HW, R, T(1), weight, R, cols, HW, T(1), dxi, HW);  // (C, H·W)
        } else {
          gemm<T>(false, false, C, ld, R, T(1), weight, R, cols, ld, T(0), xcat, ld);  // (C, nb·H·W)
          for (std::size_t j = 0; j < nb; ++j)
            for (std::size_t c = 0; c < C; ++c) {
              const T* s = xcat + c * ld + j * HW;
              T* o = dxi + j * In::size + c * HW;
              for (std::size_t k = 0; k < HW; ++k) o[k] += s[k];
            }
        }
      }
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
};

// ---- the entry points a layer calls (as cpu/conv2d.hpp's)
template <class K>
void conv_transpose2d_reserve(K& k, std::size_t n) {
  k.resize(n);
}
template <class K>
void conv_transpose2d_reserve_infer(K& k) {
  k.resize_forward();
}
template <class K, class T>
void conv_transpose2d_forward(K& k, const T* w, const T* b, const T* x, T* y, std::size_t n) {
  detail::conv_call_forward(k, w, b, x, y, n);
}
template <class K, class T>
void conv_transpose2d_backward(K& k, const T* w, const T* x, const T* dy, T* dw, T* db, T* dx,
                               std::size_t n) {
  detail::conv_call_backward(k, w, x, dy, dw, db, dx, n);
}

}  // namespace cpu
}  // namespace zoo
