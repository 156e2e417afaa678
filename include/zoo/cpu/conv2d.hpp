// zoo/cpu/conv2d.hpp — the CPU backend of Conv2d: how layers/conv2d.hpp's convolution is
// computed on this machine. The layer owns the parameters, the shape rules, the
// initialisation and the names; it calls only the entry points at the end of this file
// (conv2d_reserve, conv2d_forward, conv2d_backward), and this file chooses the path:
//   im2col + GEMM   any geometry; NB small samples share one GEMM, sample-minor when NB ≥ 4
//   direct          no groups, ≥ 16 out-channels and, at stride 1, ≥ 16 in-channels: the
//                   GEMM reads the padded image itself (direct_conv.hpp), several samples'
//                   pixels per GEMM on small maps; dx on the padded dy, or as dcolT = dyᵀ·W
//                   (any stride) where dy's zero border would waste more than 1.3×, or by
//                   im2col's GEMM for images of fewer than half a vector of channels
//   Winograd        3×3 stride-1 direct-path layers with equal padding and ≥ 16 tiles a
//                   sample: F(2×2, 3×3) for forward and dx (winograd.hpp); dW stays direct
// A second backend (CUDA: cuDNN, or im2col + cuBLAS) brings its own kernel state and the
// same three entry points in its namespace (docs/architecture.md, "Backends").
// docs/convolution.md explains the layouts, the threading and their measurements.
#pragma once
#include <algorithm>
#include <cmath>
#include <vector>

#include "../core/gemm.hpp"
#include "../core/shape.hpp"
#include "../core/tensor.hpp"
#include "batch_parallel.hpp"
#include "direct_conv.hpp"
#include "im2col.hpp"
#include "winograd.hpp"

#ifndef ZOO_CONV_DIRECT
#define ZOO_CONV_DIRECT 1
#endif
#ifndef ZOO_CONV_WINOGRAD
#define ZOO_CONV_WINOGRAD 1
#endif

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

namespace cpu {

// The kernel state of one Conv2d geometry: per-thread scratch, the path flags and the
// re-laid-out weights of the direct and Winograd paths. The parameters are not here: each
// call is given them.
template <class T, class In, std::size_t Out, std::size_t KH, std::size_t KW, std::size_t SH,
          std::size_t SW, std::size_t PH, std::size_t PW, std::size_t DH, std::size_t DW,
          std::size_t G, bool Bias>
struct Conv2dKernel {
  static constexpr std::size_t C = In::C, H = In::H, W = In::W;
  static constexpr std::size_t OH_ = zoo::detail::conv_out_size(In::H, KH, SH, PH, DH);
  static constexpr std::size_t OW_ = zoo::detail::conv_out_size(In::W, KW, SW, PW, DW);
  static constexpr std::size_t OH = OH_ > 0 ? OH_ : 1, OW = OW_ > 0 ? OW_ : 1;
  static constexpr std::size_t in_channels = C, out_channels = Out, groups = G;
  static constexpr std::size_t Cg = C / G, Og = Out / G;
  static constexpr std::size_t K = Cg * KH * KW;  // GEMM inner size per group
  static constexpr std::size_t P = OH * OW;       // output positions
  static constexpr bool pointwise = KH == 1 && KW == 1 && SH == 1 && SW == 1 && PH == 0 && PW == 0;
  static constexpr std::size_t weight_size = Out * K;
  static constexpr ConvGeom geom{C, H, W, KH, KW, SH, SW, PH, PW, DH, DW, OH, OW};

  static constexpr std::size_t num_params = weight_size + (Bias ? Out : 0);
  static constexpr double flops = 2.0 * Out * P * K + (Bias ? 1.0 * Out * P : 0.0);
  using output_shape = Shape<Out, OH, OW>;

  // The parameters of the call in progress (set by the entry points below).
  const T* weight = nullptr;  // (Out, C/G, KH, KW)
  const T* bias = nullptr;    // (Out)
  T* dweight = nullptr;       // null: no parameter gradients (a frozen layer)
  T* dbias = nullptr;

  Threading threading = Threading::batch;
  double min_parallel_flops = kMinParallelFlops;  // smaller calls stay on one thread
  // Samples side by side in one GEMM: (C·KH·KW, NB·P) columns instead of P, for
  // layers whose outputs are too small to keep a GEMM busy on their own.
  static constexpr std::size_t NB = pointwise ? 1 : samples_per_gemm(P);
  // Per thread: col (C·KH·KW, NB·P), ycat (Out, NB·P) when NB > 1, partial dW and db.
  ThreadScratch<T> scratch;
  static constexpr bool minor = NB >= kSampleMinorMin;  // sample-minor packing
  static constexpr std::size_t col_size = pointwise ? 0 : C * KH * KW * NB * P;
  static constexpr std::size_t cat_size = NB > 1 ? Out * NB * P : 0;
  static constexpr std::size_t xt_size = minor ? C * H * W * NB : 0;  // xT, then dxT
  static constexpr std::size_t work_size = col_size + cat_size + xt_size;
  static constexpr std::size_t scratch_size = work_size + num_params;

  // ---- direct path (no groups; any stride) ----
  // The padding limit keeps dy's padding for a stride-1 dx, D·(K−1) − P, non-negative.
  static constexpr bool direct_possible = G == 1 && !pointwise &&
                                          PH <= DH * (KH - 1) && PW <= DW * (KW - 1);
  static constexpr bool strided = SH > 1 || SW > 1;
  // dx as a stride-1 conv of the padded dy computes H·W·KH·KW·Out·C products where
  // OH·OW·KH·KW·Out·C are needed (the rest meet dy's zero border): 2.25× for a valid 5×5
  // on 12×12, about 4× at stride 2 (and most of the rest would meet dy's zero-stuffing).
  // Past 1.3× dx is computed exactly instead: dcolT (P, KH·KW·C) = dyᵀ·W on the same
  // kernel, then folded onto a channel-last dx a vector of channels at a time.
  static constexpr bool dx_direct = !strided && 10 * H * W <= 13 * OH * OW;
  // dcolT has a whole vector of columns per tap: with fewer than half a vector of input
  // channels (a 1- or 3-channel image) most of its products are zeros, and the direct path
  // leaves dx to im2col's Wᵀ·dy + col2im (dW stays direct).
  static constexpr bool dx_gemm = !dx_direct && 2 * C < static_cast<std::size_t>(round_to_simd<T>(C));
  // Where it measures faster (docs/convolution.md): a whole SIMD vector of output
  // channels and, at stride 1, of input channels (dx's outputs). At stride > 1 it wins
  // from 16 outputs on whatever the in-channels: im2col's strided gathers and the BLAS's
  // repacking of col cost as much as the GEMM there (yolov5n's 3-channel 6×6 stem, forward
  // + dW at batch 16: 7.6 → 4.0 ms).
  // -DZOO_CONV_DIRECT=0 keeps every layer on im2col + GEMM (for comparisons).
  static constexpr bool direct_default =
      ZOO_CONV_DIRECT && direct_possible && Out >= 16 && (strided || C >= 16);
  // The path the next call takes; tests and benchmarks flip it to compare the two.
  bool direct = direct_default;

  // Samples per direct GEMM: a small map's pixels are too few rows to pay for reading the
  // weights (1.2 MB for 128→256 3×3) once per sample, so NBD samples' pixels are the rows
  // of one GEMM (the images of a chunk lie XI apart in the padded buffer).
  static constexpr std::size_t NBD =
      P >= kDirectRows ? 1 : std::min<std::size_t>(64, (kDirectRows + P - 1) / P);
  static constexpr index_t r16(std::size_t n) { return static_cast<index_t>((n + 15) & ~std::size_t{15}); }
  static constexpr index_t OutP = round_to_simd<T>(Out), CP = round_to_simd<T>(C);
  static constexpr std::size_t Hp = H + 2 * PH, Wp = W + 2 * PW;  // padded input
  static constexpr std::size_t XI = C * Hp * Wp;                  // one padded image
  static constexpr std::size_t QH = DH * (KH - 1) - PH, QW = DW * (KW - 1) - PW;
  static constexpr std::size_t Hq = OH + 2 * QH, Wq = OW + 2 * QW;  // padded dy, for dx
  static constexpr std::size_t KX = Out * KH * KW;                   // dx's GEMM inner size
  static constexpr std::size_t KX2 = KH * KW * CP;                   // dcolT's columns
  // dcolT is made and folded in blocks of RX rows (pixels of dy): bounded scratch for
  // large maps (the 6×6 stem's whole dcolT would be 9 MB).
  static constexpr std::size_t RX = std::min<std::size_t>(NBD * P, kDcolRows);
  // Per thread: padded x, yT or dyT, padded dy (or a dcolT block), dxT, dWt and db partials.
  static constexpr index_t d_xp = r16(NBD * XI), d_yt = r16(NBD * P * OutP),
                           d_dyp = dx_direct ? r16(NBD * Out * Hq * Wq) : dx_gemm ? 0 : r16(RX * KX2),
                           d_dxt = dx_gemm ? 0 : r16(NBD * H * W * CP),
                           d_dwt = r16(K * OutP), d_db = r16(Out);
  static constexpr std::size_t direct_size = d_xp + d_yt + d_dyp + d_dxt + d_dwt + d_db;
  ThreadScratch<T> dscratch;

  // ---- pointwise path (1×1, stride 1, unpadded, ungrouped) ----
  // y_i (Out, P) = W (Out, C) · x_i (C, P) on gather_gemm with W as the broadcast side
  // (rows o·C, steps c) and x_i's rows read in place as the vector side: no packing, no
  // im2col, no transpose, and y comes out channel-major. dx_i += Wᵀ·dy_i the same way
  // (rows c, steps o·C over the same W). dW: dy_i is transposed a block of pixels at a
  // time to (pixels, OutP) and dWt (C, OutP) += x_i·dy_iᵀ sums over those pixels, as the
  // direct path's dW. OpenBLAS spent as long packing these small operands (K = 16…512,
  // 16…1024 columns a sample) as multiplying them: yolov5n's 1×1 forwards run 1.6–2.3×
  // faster this way (docs/convolution.md). Needs whole SIMD vectors of pixels per row.
  static constexpr bool pw_possible = pointwise && G == 1 && P % simd_width<T> == 0;
  static constexpr bool pw_default = ZOO_CONV_DIRECT && pw_possible;
  bool pw = pw_default;  // tests and benchmarks flip it to compare with the GEMM path
  static constexpr std::size_t PWB = std::min<std::size_t>(P, kDcolRows);  // dyT block rows
  static constexpr index_t pw_dyt = r16(PWB * OutP), pw_dwt = r16(C * OutP), pw_db = r16(Out);
  ThreadScratch<T> pscratch;
  // Offsets into W (o·C and c, rows in forward and steps in dx or the other way round),
  // into x (c·P) and pixel steps (p).
  std::vector<index_t> pw_oc_, pw_c_, pw_xrow_, pw_pstep_;

  void pw_tables() {
    if (!pw_oc_.empty()) return;
    pw_oc_.resize(Out), pw_c_.resize(C), pw_xrow_.resize(C), pw_pstep_.resize(P);
    for (std::size_t o = 0; o < Out; ++o) pw_oc_[o] = static_cast<index_t>(o * C);
    for (std::size_t c = 0; c < C; ++c)
      pw_c_[c] = static_cast<index_t>(c), pw_xrow_[c] = static_cast<index_t>(c * P);
    for (std::size_t p = 0; p < P; ++p) pw_pstep_[p] = static_cast<index_t>(p);
  }

  void forward_pw(const T* x, T* y, std::size_t n) {
    pw_tables();
    const int nt = batch_threads(n, threading, pscratch.threads, n * flops, min_parallel_flops);
    for_sample_ranges(n, nt, true, [&](int, std::size_t b, std::size_t e) {
      for (std::size_t i = b; i < e; i += PWS) {
        const std::size_t nb = std::min(PWS, e - i);
        gather_gemm<T>(weight, pw_oc_.data(), index_t{Out}, pw_c_.data(), index_t{C},
                       x + i * In::size, index_t{P}, static_cast<index_t>(nb * P),
                       y + i * output_shape::size, index_t{P}, false, pw_vs(In::size),
                       pw_vs(output_shape::size));
        if constexpr (Bias)
          for (std::size_t j = i; j < i + nb; ++j)
            zoo::detail::add_bias_rows(y + j * output_shape::size, bias, Out, P);
      }
    });
  }
  // A map of exactly one SIMD vector of pixels (4×4 in float on AVX-512) gives each GEMM
  // row a single vector: a 16-row × 1-vector register tile, bound by its broadcasts. There
  // PWS samples go side by side, one vector each (their rows lie a sample apart).
  static constexpr std::size_t PWS = P == static_cast<std::size_t>(simd_width<T>) ? 8 : 1;
  static constexpr index_t pw_vs(std::size_t sample) {
    return PWS > 1 ? static_cast<index_t>(sample) : simd_width<T>;
  }

  void backward_pw(const T* x, const T* dy, T* dx, std::size_t n) {
    const bool grads = dweight != nullptr;
    pw_tables();
    pscratch.reserve(pw_dyt + pw_dwt + pw_db);
    const int nt =
        batch_threads(n, threading, pscratch.threads, 2 * n * flops, min_parallel_flops);
    const auto prep = [&](int t, int) {
      if (!grads) return;
      T* dwt = pscratch.slice(t) + pw_dyt;
      std::fill(dwt, dwt + pw_dwt + pw_db, T(0));  // columns past Out stay zero
    };
    const auto run = [&](int t, std::size_t b, std::size_t e) {
      T* dyT = pscratch.slice(t);
      T* dwt = dyT + pw_dyt;
      T* db = dwt + pw_dwt;
      if (grads) std::fill(dyT, dyT + pw_dyt, T(0));
      for (std::size_t i = b; i < e; ++i) {
        const T* dyi = dy + i * output_shape::size;
        if (grads) {
          for (std::size_t p0 = 0; p0 < P; p0 += PWB) {
            const std::size_t np = std::min(PWB, P - p0);
            transpose_to<T>(dyi + p0, Out, np, P, dyT, OutP);  // (np, OutP)
            gather_gemm<T>(x + i * In::size + p0, pw_xrow_.data(), index_t{C},
                           pw_pstep_.data(), static_cast<index_t>(np), dyT, OutP, OutP, dwt,
                           OutP, true);
          }
          if constexpr (Bias) zoo::detail::add_row_sums(dyi, db, Out, P);
        }
        if (dx && (i - b) % PWS == 0) {
          const std::size_t nb = std::min(PWS, e - i);
          gather_gemm<T>(weight, pw_c_.data(), index_t{C}, pw_oc_.data(), index_t{Out}, dyi,
                         index_t{P}, static_cast<index_t>(nb * P), dx + i * In::size, index_t{P},
                         true, pw_vs(output_shape::size), pw_vs(In::size));
        }
      }
    };
    const auto post = [&](int t, int k) {  // dW += Σ_t dWtᵀ, rows split, partials in order
      if (!grads) return;
      sum_partials(t, k, C, [&](int u) { return pscratch.slice(u) + pw_dyt; }, pw_dwt);
    };
    for_sample_ranges_staged(n, nt, prep, run, post);
  }

  // Thread t's share of dW += Σ_u dWt_uᵀ over k per-thread partials (K_ rows of OutP; db
  // after d_dwt values), each element summed in thread order: results do not depend on
  // how many threads ran or on scheduling.
  template <class Part>
  void sum_partials(int t, int k, std::size_t K_, Part&& part, std::size_t d_dwt) {
    std::size_t r0, r1;
    share(K_, t, k, r0, r1);
    for (int u = 0; u < k; ++u)
      if (r1 > r0)
        transpose_to<T, true>(part(u) + r0 * OutP, static_cast<index_t>(r1 - r0), Out, OutP,
                              dweight + r0, static_cast<index_t>(K_));
    if constexpr (Bias)
      if (t == 0)
        for (int u = 0; u < k; ++u)
          for (std::size_t o = 0; o < Out; ++o) dbias[o] += part(u)[d_dwt + o];
  }

  // ---- Winograd F(2×2, 3×3) (cpu/winograd.hpp): 3×3 direct-path layers with equal
  // padding on both axes compute forward and dx with 2.25× fewer multiplies; dW stays
  // on the direct kernel. -DZOO_CONV_WINOGRAD=0 turns it off program-wide.
  static constexpr bool winograd_possible =
      direct_possible && !strided && KH == 3 && KW == 3 && DH == 1 && DW == 1 && PH == PW;
  // Winograd runs a sample at a time, so each sample reads all 16 transformed weight
  // matrices (1 MB for 128→128): below 16 tiles a sample (a 4×4 map has 4) the batched
  // direct path is faster (128→128 on 4×4, forward + backward at batch 16: 1.2 against
  // 2.2 ms).
  static constexpr std::size_t wino_tiles = ((H + 2 * PH - 1) / 2) * ((W + 2 * PW - 1) / 2);
  static constexpr bool winograd_default =
      ZOO_CONV_WINOGRAD && winograd_possible && direct_default && wino_tiles >= 16;
  bool winograd = winograd_default;  // used only while `direct` is on
  static constexpr Winograd3x3<T> wf{index_t{C}, index_t{H}, index_t{W}, index_t{PH},
                                          index_t{Out}};
  static constexpr Winograd3x3<T> wx{index_t{Out}, index_t{OH}, index_t{OW},
                                          index_t{2 - static_cast<index_t>(PH)}, index_t{C}};
  static constexpr std::size_t wino_size =
      static_cast<std::size_t>(wf.work_size() > wx.work_size() ? wf.work_size() : wx.work_size());
  ThreadScratch<T> wscratch;
  Buffer<T> uf_, ux_;  // transformed weights: forward (16, C, Out), dx (16, Out, C)
  std::vector<index_t> wrows_f_, wsteps_f_, wrows_x_, wsteps_x_;
  // Wt (K, OutP); for dx the flipped Wx (Out·KH·KW, CP), or without dx_direct
  // W reordered to (Out, KH·KW·CP).
  Buffer<T> wt_, wx_;
  std::vector<index_t> base_, off_, basex_, offx_;

  void direct_tables() {
    if (!base_.empty()) return;
    base_.resize(NBD * P), off_.resize(K);
    for (std::size_t j = 0; j < NBD; ++j)
      for (std::size_t oh = 0; oh < OH; ++oh)
        for (std::size_t ow = 0; ow < OW; ++ow)
          base_[(j * OH + oh) * OW + ow] = static_cast<index_t>(j * XI + oh * SH * Wp + ow * SW);
    for (std::size_t c = 0; c < C; ++c)
      for (std::size_t kh = 0; kh < KH; ++kh)
        for (std::size_t kw = 0; kw < KW; ++kw)
          off_[(c * KH + kh) * KW + kw] = static_cast<index_t>(c * Hp * Wp + kh * DH * Wp + kw * DW);
    if constexpr (dx_direct) {
      basex_.resize(NBD * H * W), offx_.resize(KX);
      for (std::size_t j = 0; j < NBD; ++j)
        for (std::size_t h = 0; h < H; ++h)
          for (std::size_t w = 0; w < W; ++w)
            basex_[(j * H + h) * W + w] = static_cast<index_t>(j * Out * Hq * Wq + h * Wq + w);
      for (std::size_t o = 0; o < Out; ++o)
        for (std::size_t kh = 0; kh < KH; ++kh)
          for (std::size_t kw = 0; kw < KW; ++kw)
            offx_[(o * KH + kh) * KW + kw] =
                static_cast<index_t>(o * Hq * Wq + kh * DH * Wq + kw * DW);
    } else {  // dcolT's rows are dy's pixels (dy of a chunk's samples lies contiguous),
              // its steps dy's channels
      basex_.resize(NBD * P), offx_.resize(Out);
      for (std::size_t r = 0; r < NBD * P; ++r)
        basex_[r] = static_cast<index_t>(r / P * output_shape::size + r % P);
      for (std::size_t o = 0; o < Out; ++o) offx_[o] = static_cast<index_t>(o * P);
    }
    wt_.assign(K * OutP, T(0));
    wx_.assign(KX * CP, T(0));
  }

  // Scratch of the path this geometry takes (im2col's col matrix is megabytes per thread).
  void resize(std::size_t) {
    if constexpr (pw_possible)
      if (pw) {
        pscratch.reserve(pw_dyt + pw_dwt + pw_db);
        return;
      }
    if constexpr (direct_possible)
      if (direct) {
        dscratch.reserve(direct_size);
        if (winograd_possible && winograd)
          wscratch.reserve(wino_size);
        if (dx_gemm) scratch.reserve(scratch_size);
        return;
      }
    scratch.reserve(scratch_size);
  }

  void forward(const T* x, T* y, std::size_t n) {
    if constexpr (pw_possible)
      if (pw) return forward_pw(x, y, n);
    if constexpr (winograd_possible)
      if (direct && winograd) return forward_winograd(x, y, n);
    if constexpr (direct_possible)
      if (direct) return forward_direct(x, y, n);
    scratch.reserve(scratch_size);
    const int nt =
        batch_threads(n, threading, scratch.threads, n * flops, min_parallel_flops);
    for_sample_ranges(n, nt, threading == Threading::batch, [&](int t, std::size_t b, std::size_t e) {
      T* col = scratch.slice(t);
      T* ycat = col + col_size;
      if constexpr (minor) {
        T* xT = ycat + cat_size;
        for (std::size_t i0 = b; i0 < e; i0 += NB) {
          const index_t nb = static_cast<index_t>(std::min(NB, e - i0));
          const std::size_t ld = static_cast<std::size_t>(nb) * P;
          pack_samples(x + i0 * In::size, nb, index_t{In::size}, index_t{In::size}, xT);
          im2col_nb(xT, geom, nb, col);  // (C·KH·KW, P·nb)
          for (std::size_t g = 0; g < G; ++g)
            gemm<T>(false, false, Og, ld, K, T(1), weight + g * Og * K, K, col + g * K * ld, ld,
                    T(0), ycat + g * Og * ld, ld);  // (Out/G, P·nb)
          unpack_bias(ycat, nb, y + i0 * output_shape::size);
        }
      } else {
      for (std::size_t i0 = b; i0 < e; i0 += NB) {
        const std::size_t nb = std::min(NB, e - i0);
        const std::size_t ld = nb * P;  // columns of this chunk's GEMM
        const T* xi = x + i0 * In::size;  // (C, H, W)
        if constexpr (!pointwise)
          for (std::size_t j = 0; j < nb; ++j)
            im2col(xi + j * In::size, geom, col + j * P, static_cast<index_t>(ld));
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
          if constexpr (Bias) zoo::detail::add_bias_rows(yi, bias, Out, P);
        }
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
    const bool grads = dweight != nullptr;
    if (!grads && !dx) return;
    if constexpr (pw_possible)
      if (pw) return backward_pw(x, dy, dx, n);
    if constexpr (winograd_possible)
      if (direct && winograd) {
        if (grads) backward_direct(x, dy, nullptr, n);  // dW, db
        if (dx) dx_winograd(dy, dx, n);
        return;
      }
    if constexpr (direct_possible)
      if (direct) {
        if constexpr (dx_gemm) {
          if (grads) backward_direct(x, dy, nullptr, n);
          if (dx) backward_gemm(x, dy, dx, n, false);
          return;
        }
        return backward_direct(x, dy, dx, n);
      }
    backward_gemm(x, dy, dx, n, grads);
  }

  // im2col + GEMM backward; grads = false computes dx alone.
  void backward_gemm(const T* x, const T* dy, T* dx, std::size_t n, bool grads) {
    scratch.reserve(scratch_size);
    const int nt =
        batch_threads(n, threading, scratch.threads, 2 * n * flops, min_parallel_flops);
    for (int t = 1; t < nt; ++t) {  // partial parameter gradients of threads 1…
      T* part = scratch.slice(t) + work_size;
      std::fill(part, part + num_params, T(0));
    }
    for_sample_ranges(n, nt, threading == Threading::batch, [&](int t, std::size_t b, std::size_t e) {
      T* col = scratch.slice(t);
      T* dycat = col + col_size;
      T* dw = t == 0 ? dweight : col + work_size;                // (Out, C/G, KH, KW)
      T* db = t == 0 ? dbias : col + work_size + weight_size;  // (Out)
      if constexpr (minor) {
        T* xT = dycat + cat_size;
        for (std::size_t i0 = b; i0 < e; i0 += NB) {
          const index_t nb = static_cast<index_t>(std::min(NB, e - i0));
          const std::size_t ld = static_cast<std::size_t>(nb) * P;
          pack_samples(dy + i0 * output_shape::size, nb, index_t{output_shape::size},
                            index_t{output_shape::size}, dycat);  // (Out, P·nb)
          if (grads) {
            pack_samples(x + i0 * In::size, nb, index_t{In::size}, index_t{In::size}, xT);
            im2col_nb(xT, geom, nb, col);
            for (std::size_t g = 0; g < G; ++g)
              gemm<T>(false, true, Og, K, ld, T(1), dycat + g * Og * ld, ld, col + g * K * ld, ld,
                      T(1), dw + g * Og * K, K);  // (Out/G, K)
            if constexpr (Bias) zoo::detail::add_row_sums(dycat, db, Out, ld);
          }
          if (!dx) continue;
          for (std::size_t g = 0; g < G; ++g)
            gemm<T>(true, false, K, ld, Og, T(1), weight + g * Og * K, K, dycat + g * Og * ld, ld,
                    T(0), col + g * K * ld, ld);  // dcol (K, P·nb)
          std::fill(xT, xT + In::size * static_cast<std::size_t>(nb), T(0));
          col2im_nb_add(col, geom, nb, xT);  // dxT (C·H·W, nb)
          unpack_samples<true>(xT, nb, index_t{In::size}, index_t{In::size},
                                    dx + i0 * In::size);
        }
      } else {
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
              im2col(xi + j * In::size, geom, col + j * P, static_cast<index_t>(ld));
          const T* cols = pointwise ? xi : col;
          for (std::size_t g = 0; g < G; ++g)
            gemm<T>(false, true, Og, K, ld, T(1), d + g * Og * ld, ld, cols + g * K * ld, ld, T(1),
                    dw + g * Og * K, K);  // (Out/G, K)
          if constexpr (Bias) zoo::detail::add_row_sums(d, db, Out, ld);
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
            col2im_add(col + j * P, geom, dxi + j * In::size, static_cast<index_t>(ld));
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

  void forward_direct(const T* x, T* y, std::size_t n) {
    direct_tables();
    dscratch.reserve(direct_size);
    constexpr bool padx = PH > 0 || PW > 0;
    const int nt =
        batch_threads(n, threading, dscratch.threads, n * flops, min_parallel_flops);
    const auto prep = [&](int t, int k) {  // Wt = Wᵀ, zero columns past Out stay zero
      std::size_t o0, o1;
      share(Out, t, k, o0, o1);
      if (o1 > o0)
        transpose_to<T>(weight + o0 * K, static_cast<index_t>(o1 - o0), index_t{K}, index_t{K},
                        wt_.data() + o0, OutP);
    };
    for_sample_ranges_staged(n, nt, prep, [&](int t, std::size_t b, std::size_t e) {
      T* xp = dscratch.slice(t);
      T* yT = xp + d_xp;
      if constexpr (padx) std::fill(xp, xp + d_xp, T(0));
      for (std::size_t i0 = b; i0 < e; i0 += NBD) {
        const std::size_t nb = std::min(NBD, e - i0);
        const T* xc = x + i0 * In::size;  // unpadded, the chunk's images lie XI apart already
        if constexpr (padx)
          for (std::size_t j = 0; j < nb; ++j)
            pad_into<T>(xc + j * In::size, C, H, W, PH, PW, xp + j * XI);
        gather_gemm<T>(padx ? xp : xc, base_.data(), static_cast<index_t>(nb * P), off_.data(),
                       K, wt_.data(), OutP, OutP, yT, OutP, false);
        for (std::size_t j = 0; j < nb; ++j)
          transpose_to<T>(yT + j * P * OutP, P, Out, OutP, y + (i0 + j) * output_shape::size, P,
                          Bias ? bias : nullptr);
      }
    }, [](int, int) {});
  }

  void forward_winograd(const T* x, T* y, std::size_t n) {
    winograd_batch<false>(wf, false, uf_, wrows_f_, wsteps_f_, x, In::size, y,
                          output_shape::size, Bias ? bias : nullptr, n);
  }

  // dx += the 3×3 conv of dy, padded by 2 − P, with the flipped kernel (in/out swapped).
  void dx_winograd(const T* dy, T* dx, std::size_t n) {
    winograd_batch<true>(wx, true, ux_, wrows_x_, wsteps_x_, dy, output_shape::size, dx, In::size,
                         nullptr, n);
  }

  // dst_i = (Add: +=) geometry g's conv of src_i for n samples, threads over the batch;
  // u, rows and steps are that geometry's transformed weights and tables (built once).
  template <bool Add>
  void winograd_batch(const Winograd3x3<T>& g, bool flip, Buffer<T>& u,
                      std::vector<index_t>& rows, std::vector<index_t>& steps, const T* src,
                      std::size_t src_size, T* dst, std::size_t dst_size, const T* b,
                      std::size_t n) {
    if (u.empty()) {
      u.resize(static_cast<std::size_t>(16 * g.CinP * g.CoutP));
      std::fill(u.begin(), u.end(), T(0));  // the padding stays zero
      g.tables(rows, steps);
    }
    wscratch.reserve(wino_size);
    const int nt =
        batch_threads(n, threading, wscratch.threads, n * flops, min_parallel_flops);
    const auto prep = [&](int t, int k) {  // the weights' transform, input channels split
      std::size_t c0, c1;
      share(static_cast<std::size_t>(g.Cin), t, k, c0, c1);
      g.transform_weights(weight, flip, u.data(), static_cast<index_t>(c0),
                          static_cast<index_t>(c1));
    };
    for_sample_ranges_staged(n, nt, prep, [&](int t, std::size_t lo, std::size_t hi) {
      T* work = wscratch.slice(t);
      g.clear(work);
      for (std::size_t i = lo; i < hi; ++i)
        g.template run<Add>(src + i * src_size, u.data(), rows.data(), steps.data(),
                            dst + i * dst_size, b, work);
    }, [](int, int) {});
  }

  // dW and db (when dweight is given) and dx (when asked) on the direct path.
  void backward_direct(const T* x, const T* dy, T* dx, std::size_t n) {
    const bool grads = dweight != nullptr;
    if (!grads && !dx) return;
    direct_tables();
    dscratch.reserve(direct_size);
    const int nt =
        batch_threads(n, threading, dscratch.threads, 2 * n * flops, min_parallel_flops);
    constexpr bool padx = PH > 0 || PW > 0;
    const auto prep = [&](int t, int k) {
      if (grads) {  // this thread's dWt and db partials
        T* dwt = dscratch.slice(t) + d_xp + d_yt + d_dyp + d_dxt;
        std::fill(dwt, dwt + d_dwt + d_db, T(0));
      }
      if (!dx) return;
      // dx_direct: Wx[(o, kh', kw')][c] = W[o][c][KH−1−kh'][KW−1−kw'];
      // else Wr[o][(kh, kw, c)] = W[o][c][kh][kw]. Output channels split over the threads.
      std::size_t o0, o1;
      share(Out, t, k, o0, o1);
      for (std::size_t o = o0; o < o1; ++o)
        for (std::size_t c = 0; c < C; ++c)
          for (std::size_t kh = 0; kh < KH; ++kh)
            for (std::size_t kw = 0; kw < KW; ++kw) {
              if constexpr (dx_direct)
                wx_[((o * KH + kh) * KW + kw) * CP + c] =
                    weight[((o * C + c) * KH + (KH - 1 - kh)) * KW + (KW - 1 - kw)];
              else
                wx_[o * KX2 + (kh * KW + kw) * CP + c] = weight[((o * C + c) * KH + kh) * KW + kw];
            }
    };
    for_sample_ranges_staged(n, nt, prep, [&](int t, std::size_t b, std::size_t e) {
      T* xp = dscratch.slice(t);
      T* dyT = xp + d_xp;
      T* dyp = dyT + d_yt;
      T* dxT = dyp + d_dyp;
      T* dwt = dxT + d_dxt;
      T* db = dwt + d_dwt;
      if (grads) {
        if constexpr (OutP != static_cast<index_t>(Out))
          std::fill(dyT, dyT + d_yt, T(0));  // columns past Out stay zero
        if constexpr (padx) std::fill(xp, xp + d_xp, T(0));
      }
      if constexpr (dx_direct)
        if (dx) std::fill(dyp, dyp + d_dyp, T(0));
      for (std::size_t i0 = b; i0 < e; i0 += NBD) {
        const std::size_t nb = std::min(NBD, e - i0);
        const T* dyc = dy + i0 * output_shape::size;
        if (grads) {
          const T* xc = x + i0 * In::size;
          for (std::size_t j = 0; j < nb; ++j) {
            if constexpr (padx) pad_into<T>(xc + j * In::size, C, H, W, PH, PW, xp + j * XI);
            transpose_to<T>(dyc + j * output_shape::size, Out, P, P, dyT + j * P * OutP, OutP);
            if constexpr (Bias) zoo::detail::add_row_sums(dyc + j * output_shape::size, db, Out, P);
          }
          gather_gemm<T>(padx ? xp : xc, off_.data(), K, base_.data(),
                         static_cast<index_t>(nb * P), dyT, OutP, OutP, dwt, OutP, true);
        }
        if (!dx) continue;
        if constexpr (dx_direct) {
          for (std::size_t j = 0; j < nb; ++j)
            pad_into<T>(dyc + j * output_shape::size, Out, OH, OW, QH, QW, dyp + j * Out * Hq * Wq);
          gather_gemm<T>(dyp, basex_.data(), static_cast<index_t>(nb * H * W), offx_.data(), KX,
                         wx_.data(), CP, CP, dxT, CP, false);
        } else {
          using V = xsimd::batch<T>;
          constexpr index_t L = V::size;
          T* dcol = dyp;  // (RX, KH·KW·CP): dcolT[p][(kh, kw, c)] = Σ_o dy[o][p]·W[o][c][kh][kw]
          std::fill(dxT, dxT + nb * H * W * CP, T(0));
          for (std::size_t r0 = 0; r0 < nb * P; r0 += RX) {
            const std::size_t rb = std::min(RX, nb * P - r0);
            gather_gemm<T>(dyc, basex_.data() + r0, static_cast<index_t>(rb), offx_.data(), Out,
                           wx_.data(), KX2, KX2, dcol, KX2, false);
            for (std::size_t r = r0; r < r0 + rb; ++r) {
              const std::size_t oh = r % P / OW, ow = r % P % OW;
              T* dxj = dxT + r / P * H * W * CP;
              const T* sr = dcol + (r - r0) * KX2;
              for (std::size_t kh = 0; kh < KH; ++kh) {
                const std::size_t ih = oh * SH + kh * DH;  // + PH: the padded row
                if (ih - PH >= H) continue;                // unsigned: also ih < PH
                for (std::size_t kw = 0; kw < KW; ++kw) {
                  const std::size_t iw = ow * SW + kw * DW;
                  if (iw - PW >= W) continue;
                  T* d = dxj + ((ih - PH) * W + (iw - PW)) * CP;
                  const T* sc = sr + (kh * KW + kw) * CP;
                  // Explicit vectors: GCC leaves this loop scalar (20% of the layer's time).
                  for (index_t c = 0; c < CP; c += L)
                    (V::load_aligned(d + c) + V::load_aligned(sc + c)).store_aligned(d + c);
                }
              }
            }
          }
        }
        for (std::size_t j = 0; j < nb; ++j)
          transpose_to<T, true>(dxT + j * H * W * CP, H * W, C, CP, dx + (i0 + j) * In::size, H * W);
      }
    }, [&](int t, int k) {
      if (grads)
        sum_partials(t, k, K, [&](int u) { return dscratch.slice(u) + d_xp + d_yt + d_dyp + d_dxt; },
                     d_dwt);
    });
  }
};

// ---- the entry points a layer calls
// How every convolution kernel of this backend is called (Conv2d's and ConvTranspose2d's
// entry points are these, under their own names): the parameters of the call are handed
// to the kernel, which holds none between calls.
namespace detail {
template <class K, class T>
void conv_call_forward(K& k, const T* w, const T* b, const T* x, T* y, std::size_t n) {
  k.weight = w, k.bias = b;
  k.forward(x, y, n);
}
template <class K, class T>
void conv_call_backward(K& k, const T* w, const T* x, const T* dy, T* dw, T* db, T* dx,
                        std::size_t n) {
  k.weight = w, k.dweight = dw, k.dbias = db;
  k.backward(x, nullptr, dy, dx, n);
}
}  // namespace detail

// Scratch of the path this geometry takes, for batch n (may allocate; never during a step).
template <class K>
void conv2d_reserve(K& k, std::size_t n) {
  k.resize(n);
}
// y = conv(x; w) + b for n samples (b null: no bias).
template <class K, class T>
void conv2d_forward(K& k, const T* w, const T* b, const T* x, T* y, std::size_t n) {
  detail::conv_call_forward(k, w, b, x, y, n);
}
// dw += ∂L/∂w and db += ∂L/∂b (both skipped when dw is null), dx += ∂L/∂x (skipped when dx
// is null), from the layer's input x and its output's gradient dy.
template <class K, class T>
void conv2d_backward(K& k, const T* w, const T* x, const T* dy, T* dw, T* db, T* dx,
                     std::size_t n) {
  detail::conv_call_backward(k, w, x, dy, dw, db, dx, n);
}

}  // namespace cpu
}  // namespace zoo
