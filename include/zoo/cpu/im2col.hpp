// zoo/cpu/im2col.hpp — the unfold/fold pair that turns convolution into GEMM.
//
// For one sample x (C, H, W), a kernel (KH, KW), stride (SH, SW), padding (PH, PW)
// and dilation (DH, DW), the output is (OH, OW) and
//
//   col[(c·KH + kh)·KW + kw][oh·OW + ow] = x[c][oh·SH − PH + kh·DH][ow·SW − PW + kw·DW]
//
// (0 outside the image), a (C·KH·KW, OH·OW) matrix, as torch.nn.functional.unfold.
// col2im is its adjoint: it ADDS every col entry back onto the pixel it was read
// from (F.fold), which is what conv's input gradient and transposed conv's
// forward need. Each row of col is split once into [zeros | copy | zeros], so
// the inner loop has no bounds test and, at stride 1, is a straight copy.
//
// Sample-minor layout, for small images: NB samples packed as xT (C·H·W, NB) — each
// pixel a run of NB values, one per sample — make im2col copy whole runs,
//   col[(c·KH + kh)·KW + kw][(oh·OW + ow)·NB + j] = xT[(c·H + ih)·W + iw][j]
// so a 3×3 output costs 9 vector copies per row of col instead of 3 short row
// segments per sample (docs/convolution.md: 5× faster on the autoencoder's 5×5 maps).
// pack_samples / unpack_samples move between (N, M) and (M, NB).
#pragma once
#include <algorithm>
#include <cstddef>

#include "../core/config.hpp"

// GCC turns the short row copies and zero fills below into memcpy/memset calls, which
// cost more than the 3–28 values they move (perf: 7% of a 64→64 3×3 conv); keep them inline.
#if defined(__GNUC__) && !defined(__clang__)
#define ZOO_INLINE_COPIES __attribute__((optimize("no-tree-loop-distribute-patterns")))
#else
#define ZOO_INLINE_COPIES
#endif

namespace zoo::cpu {

struct ConvGeom {
  index_t C, H, W;     // image
  index_t KH, KW;      // kernel
  index_t SH, SW;      // stride
  index_t PH, PW;      // zero padding
  index_t DH, DW;      // dilation
  index_t OH, OW;      // output, by PyTorch's formula
  index_t rows() const { return C * KH * KW; }
  index_t cols() const { return OH * OW; }
};

namespace detail {
// First ow with 0 ≤ ow·S + off, and one past the last with ow·S + off < W.
inline void valid_range(index_t off, index_t S, index_t W, index_t OW, index_t& lo, index_t& hi) {
  lo = off >= 0 ? 0 : (-off + S - 1) / S;
  hi = W - off <= 0 ? 0 : (W - off + S - 1) / S;
  lo = std::min(lo, OW);
  hi = std::clamp(hi, lo, OW);
}
}  // namespace detail

// col (C·KH·KW, OH·OW) ← unfold(x (C, H, W)). Rows of col lie ld apart (ld ≥ OH·OW;
// 0 means OH·OW), so several samples can sit side by side in one wider matrix.
template <class T>
ZOO_INLINE_COPIES void im2col(const T* ZOO_RESTRICT x, const ConvGeom& g, T* ZOO_RESTRICT col, index_t ld = 0) {
  const index_t P = ld > 0 ? ld : g.OH * g.OW;
  for (index_t c = 0; c < g.C; ++c)
    for (index_t kh = 0; kh < g.KH; ++kh)
      for (index_t kw = 0; kw < g.KW; ++kw) {
        T* row = col + ((c * g.KH + kh) * g.KW + kw) * P;
        const index_t woff = kw * g.DW - g.PW;
        index_t lo, hi;
        detail::valid_range(woff, g.SW, g.W, g.OW, lo, hi);
        for (index_t oh = 0; oh < g.OH; ++oh) {
          T* d = row + oh * g.OW;
          const index_t ih = oh * g.SH - g.PH + kh * g.DH;
          if (ih < 0 || ih >= g.H) {
            for (index_t ow = 0; ow < g.OW; ++ow) d[ow] = T(0);
            continue;
          }
          const T* s = x + (c * g.H + ih) * g.W;  // reads s[ow·SW + woff], in [0, W)
          for (index_t ow = 0; ow < lo; ++ow) d[ow] = T(0);
          if (g.SW == 1)
            for (index_t ow = lo; ow < hi; ++ow) d[ow] = s[ow + woff];
          else
            for (index_t ow = lo; ow < hi; ++ow) d[ow] = s[ow * g.SW + woff];
          for (index_t ow = hi; ow < g.OW; ++ow) d[ow] = T(0);
        }
      }
}

// x (C, H, W) += fold(col (C·KH·KW, OH·OW)): the adjoint of im2col (rows ld apart).
template <class T>
ZOO_INLINE_COPIES void col2im_add(const T* ZOO_RESTRICT col, const ConvGeom& g, T* ZOO_RESTRICT x, index_t ld = 0) {
  const index_t P = ld > 0 ? ld : g.OH * g.OW;
  for (index_t c = 0; c < g.C; ++c)
    for (index_t kh = 0; kh < g.KH; ++kh)
      for (index_t kw = 0; kw < g.KW; ++kw) {
        const T* row = col + ((c * g.KH + kh) * g.KW + kw) * P;
        const index_t woff = kw * g.DW - g.PW;
        index_t lo, hi;
        detail::valid_range(woff, g.SW, g.W, g.OW, lo, hi);
        for (index_t oh = 0; oh < g.OH; ++oh) {
          const index_t ih = oh * g.SH - g.PH + kh * g.DH;
          if (ih < 0 || ih >= g.H) continue;
          const T* s = row + oh * g.OW;
          T* d = x + (c * g.H + ih) * g.W;  // writes d[ow·SW + woff], in [0, W)
          if (g.SW == 1)
            for (index_t ow = lo; ow < hi; ++ow) d[ow + woff] += s[ow];
          else
            for (index_t ow = lo; ow < hi; ++ow) d[ow * g.SW + woff] += s[ow];
        }
      }
}

// xT (M, nb) ← x (nb, M): sample j's M values, rows `stride` apart, become column j.
template <class T>
void pack_samples(const T* ZOO_RESTRICT x, index_t nb, index_t M, index_t stride,
                  T* ZOO_RESTRICT xT) {
  constexpr index_t B = 16;  // a block of pixels: contiguous reads, nb-strided writes in cache
  for (index_t i0 = 0; i0 < M; i0 += B) {
    const index_t ie = std::min(M, i0 + B);
    for (index_t j = 0; j < nb; ++j) {
      const T* s = x + j * stride;
      for (index_t i = i0; i < ie; ++i) xT[i * nb + j] = s[i];
    }
  }
}

// y (nb, M) (+)= xT (M, nb), rows of y `stride` apart: the inverse of pack_samples.
template <bool Add, class T>
void unpack_samples(const T* ZOO_RESTRICT xT, index_t nb, index_t M, index_t stride,
                    T* ZOO_RESTRICT y) {
  constexpr index_t B = 16;
  for (index_t i0 = 0; i0 < M; i0 += B) {
    const index_t ie = std::min(M, i0 + B);
    for (index_t j = 0; j < nb; ++j) {
      T* d = y + j * stride;
      for (index_t i = i0; i < ie; ++i) {
        if constexpr (Add) d[i] += xT[i * nb + j];
        else d[i] = xT[i * nb + j];
      }
    }
  }
}

// col (C·KH·KW, OH·OW·nb) ← unfold of nb samples packed as xT (C·H·W, nb).
template <class T>
ZOO_INLINE_COPIES void im2col_nb(const T* ZOO_RESTRICT xT, const ConvGeom& g, index_t nb, T* ZOO_RESTRICT col) {
  const index_t P = g.OH * g.OW;
  for (index_t c = 0; c < g.C; ++c)
    for (index_t kh = 0; kh < g.KH; ++kh)
      for (index_t kw = 0; kw < g.KW; ++kw) {
        T* row = col + ((c * g.KH + kh) * g.KW + kw) * P * nb;
        for (index_t oh = 0; oh < g.OH; ++oh) {
          const index_t ih = oh * g.SH - g.PH + kh * g.DH;
          T* d = row + oh * g.OW * nb;
          if (ih < 0 || ih >= g.H) {
            std::fill(d, d + g.OW * nb, T(0));
            continue;
          }
          const T* s = xT + (c * g.H + ih) * g.W * nb;
          for (index_t ow = 0; ow < g.OW; ++ow, d += nb) {
            const index_t iw = ow * g.SW - g.PW + kw * g.DW;
            if (iw < 0 || iw >= g.W)
              for (index_t j = 0; j < nb; ++j) d[j] = T(0);
            else
              for (index_t j = 0; j < nb; ++j) d[j] = s[iw * nb + j];
          }
        }
      }
}

// xT (C·H·W, nb) += fold(col (C·KH·KW, OH·OW·nb)): the adjoint of im2col_nb.
template <class T>
ZOO_INLINE_COPIES void col2im_nb_add(const T* ZOO_RESTRICT col, const ConvGeom& g, index_t nb, T* ZOO_RESTRICT xT,
                                     index_t c0 = 0, index_t c1 = -1) {
  // Channels [c0, c1) only (col then holds just their rows): each channel's values are
  // summed in the same order whether col holds all channels or a block of them.
  const index_t P = g.OH * g.OW;
  if (c1 < 0) c1 = g.C;
  for (index_t c = c0; c < c1; ++c)
    for (index_t kh = 0; kh < g.KH; ++kh)
      for (index_t kw = 0; kw < g.KW; ++kw) {
        const T* row = col + (((c - c0) * g.KH + kh) * g.KW + kw) * P * nb;
        for (index_t oh = 0; oh < g.OH; ++oh) {
          const index_t ih = oh * g.SH - g.PH + kh * g.DH;
          if (ih < 0 || ih >= g.H) continue;
          const T* s = row + oh * g.OW * nb;
          T* d = xT + (c * g.H + ih) * g.W * nb;
          for (index_t ow = 0; ow < g.OW; ++ow, s += nb) {
            const index_t iw = ow * g.SW - g.PW + kw * g.DW;
            if (iw < 0 || iw >= g.W) continue;
            for (index_t j = 0; j < nb; ++j) d[iw * nb + j] += s[j];
          }
        }
      }
}

}  // namespace zoo::cpu
