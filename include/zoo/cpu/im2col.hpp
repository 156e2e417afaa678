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
#pragma once
#include <algorithm>
#include <cstddef>

#include "../core/config.hpp"

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
void im2col(const T* ZOO_RESTRICT x, const ConvGeom& g, T* ZOO_RESTRICT col, index_t ld = 0) {
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
            std::fill(d, d + g.OW, T(0));
            continue;
          }
          const T* s = x + (c * g.H + ih) * g.W;  // reads s[ow·SW + woff], in [0, W)
          std::fill(d, d + lo, T(0));
          if (g.SW == 1)
            std::copy(s + lo + woff, s + hi + woff, d + lo);
          else
            for (index_t ow = lo; ow < hi; ++ow) d[ow] = s[ow * g.SW + woff];
          std::fill(d + hi, d + g.OW, T(0));
        }
      }
}

// x (C, H, W) += fold(col (C·KH·KW, OH·OW)): the adjoint of im2col (rows ld apart).
template <class T>
void col2im_add(const T* ZOO_RESTRICT col, const ConvGeom& g, T* ZOO_RESTRICT x, index_t ld = 0) {
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

}  // namespace zoo::cpu
