// zoo/cpu/winograd.hpp — 3×3 stride-1 convolution by Winograd's F(2×2, 3×3).
//
// Each 2×2 block of output is computed from the 4×4 input patch d under it as
//   Y = Aᵀ [ Σ_c (G g_c Gᵀ) ⊙ (Bᵀ d_c B) ] A
// so the 36 multiply-adds per output pair (o, c) of a direct 3×3 become 16 per 2×2 block:
// 2.25× fewer. The sum over c at each of the 16 positions ξ is a GEMM,
//   M_ξ (tiles, Out) = V_ξ (tiles, C) · U_ξ (C, Out),
// run by direct_conv.hpp's register-tiled kernel. Layouts are channel-last so that the
// transforms work on whole SIMD vectors of channels: the image is transposed to (pixel, C),
// transformed per tile into V, and the output comes back through M and one transpose.
// Tiles go in blocks whose V and M stay in L2. The transforms' constants (½, ±1) keep
// float rounding close to the direct sum (tests compare both paths to 2e-5 in float).
//
//   Bᵀ = [1 0 −1 0; 0 1 1 0; 0 −1 1 0; 0 1 0 −1]   G = [1 0 0; ½ ½ ½; ½ −½ ½; 0 0 1]
//   Aᵀ = [1 1 1 0; 0 1 −1 −1]
#pragma once
#include <algorithm>
#include <cstddef>
#include <vector>

#include "../core/vendor.hpp"  // Eigen, xsimd, intrinsics

#include "../core/config.hpp"
#include "direct_conv.hpp"

namespace zoo::cpu {

// One 3×3 stride-1 convolution geometry with padding p on both sides, channels rounded
// to SIMD vectors: CinP for the input, CoutP for the output.
template <class T>
struct Winograd3x3 {
  index_t Cin, H, W, p, Cout;
  index_t CinP, CoutP;
  index_t OH, OW;
  index_t th, tw, tiles;
  index_t Hq, Wq;  // the padded image, whole tiles
  // Tiles per block: V and M of a block take about 256 KB (Zen 5's L2 is 1 MB).
  index_t TB;

  // Every member from the arguments alone: nvcc's constant evaluator rejects default
  // member initializers that read earlier members of a constexpr object under construction.
  constexpr Winograd3x3(index_t cin, index_t h, index_t w, index_t pad, index_t cout)
      : Cin(cin), H(h), W(w), p(pad), Cout(cout),
        CinP(round_to_simd<T>(cin)), CoutP(round_to_simd<T>(cout)),
        OH(h + 2 * pad - 2), OW(w + 2 * pad - 2),
        th((h + 2 * pad - 1) / 2), tw((w + 2 * pad - 1) / 2),
        tiles(((h + 2 * pad - 1) / 2) * ((w + 2 * pad - 1) / 2)),
        Hq(2 * ((h + 2 * pad - 1) / 2) + 2), Wq(2 * ((w + 2 * pad - 1) / 2) + 2),
        TB(std::clamp<index_t>((4096 / (round_to_simd<T>(cin) + round_to_simd<T>(cout))) / 12 * 12,
                               12, 240)) {}

  // Scratch per thread, in elements: xq (Hq·Wq, CinP), V and M blocks, yT (OH·OW, CoutP),
  // each rounded to 16 values.
  static constexpr index_t r16(index_t n) { return (n + 15) / 16 * 16; }
  constexpr index_t work_size() const {
    return r16(Hq * Wq * CinP) + r16(16 * TB * CinP) + r16(16 * TB * CoutP) + r16(OH * OW * CoutP);
  }

  // U (16, CinP, CoutP) ← G g Gᵀ for g(ci, co) = w[((co·Cin + ci)·3 + kh)·3 + kw], or, with
  // flip, the kernel of the input gradient: g(ci = o, co = c) = w[o][c] rotated by 180°.
  // Padded rows and columns are zero.
  // Input channels [ci0, ci1) of U (threads take disjoint ranges); U's padding (channels
  // past Cin or Cout) is never written and must be zero from the start.
  void transform_weights(const T* w, bool flip, T* U, index_t ci0, index_t ci1) const {
    for (index_t ci = ci0; ci < ci1; ++ci)
      for (index_t co = 0; co < Cout; ++co) {
        const T* k = flip ? w + (ci * Cout + co) * 9 : w + (co * Cin + ci) * 9;
        T g[3][3];
        for (int a = 0; a < 3; ++a)
          for (int b = 0; b < 3; ++b) g[a][b] = flip ? k[(2 - a) * 3 + (2 - b)] : k[a * 3 + b];
        T gg[4][3];  // G g
        for (int b = 0; b < 3; ++b) {
          gg[0][b] = g[0][b];
          gg[1][b] = T(0.5) * (g[0][b] + g[1][b] + g[2][b]);
          gg[2][b] = T(0.5) * (g[0][b] - g[1][b] + g[2][b]);
          gg[3][b] = g[2][b];
        }
        for (int a = 0; a < 4; ++a) {  // (G g) Gᵀ
          const T u[4] = {gg[a][0], T(0.5) * (gg[a][0] + gg[a][1] + gg[a][2]),
                          T(0.5) * (gg[a][0] - gg[a][1] + gg[a][2]), gg[a][2]};
          for (int b = 0; b < 4; ++b) U[((a * 4 + b) * CinP + ci) * CoutP + co] = u[b];
        }
      }
  }

  // Index tables of the block GEMMs: rows[r] = r·CinP, steps[t] = t.
  void tables(std::vector<index_t>& rows, std::vector<index_t>& steps) const {
    rows.resize(static_cast<std::size_t>(TB));
    steps.resize(static_cast<std::size_t>(CinP));
    for (index_t r = 0; r < TB; ++r) rows[static_cast<std::size_t>(r)] = r * CinP;
    for (index_t t = 0; t < CinP; ++t) steps[static_cast<std::size_t>(t)] = t;
  }

  // Zeroes the padded image's border (and padded channels) once per call and thread.
  void clear(T* work) const { std::fill(work, work + Hq * Wq * CinP, T(0)); }

  // out (Cout, OH, OW) = conv(src (Cin, H, W)) + bias, or += with Add; one sample.
  template <bool Add>
  void run(const T* src, const T* U, const index_t* rows, const index_t* steps, T* out,
           const T* bias, T* work) const {
    using V = xsimd::batch<T>;
    constexpr index_t L = V::size;
    T* xq = work;
    T* vb = xq + r16(Hq * Wq * CinP);
    T* mb = vb + r16(16 * TB * CinP);
    T* yT = mb + r16(16 * TB * CoutP);
    // (Cin, H·W) → the padded, tile-aligned (Hq·Wq, CinP) image: pixel (h, w) to row
    // (h + p)·Wq + w + p.
    transpose_rows<T>(src, Cin, H * W, H * W, [&](index_t px) {
      return xq + ((px / W + p) * Wq + px % W + p) * CinP;
    });
    for (index_t t0 = 0; t0 < tiles; t0 += TB) {
      const index_t nb = std::min(TB, tiles - t0);
      // V_ξ[tile][c] = (Bᵀ d B)_ξ, a vector of channels at a time.
      for (index_t b = 0; b < nb; ++b) {
        const index_t ti = (t0 + b) / tw, tj = (t0 + b) % tw;
        const T* d0 = xq + (2 * ti * Wq + 2 * tj) * CinP;
        for (index_t c = 0; c < CinP; c += L) {
          V t[4][4];
          for (int s = 0; s < 4; ++s) {
            const V x0 = V::load_aligned(d0 + (0 * Wq + s) * CinP + c);
            const V x1 = V::load_aligned(d0 + (1 * Wq + s) * CinP + c);
            const V x2 = V::load_aligned(d0 + (2 * Wq + s) * CinP + c);
            const V x3 = V::load_aligned(d0 + (3 * Wq + s) * CinP + c);
            t[0][s] = x0 - x2, t[1][s] = x1 + x2, t[2][s] = x2 - x1, t[3][s] = x1 - x3;
          }
          for (int r = 0; r < 4; ++r) {
            T* v = vb + ((r * 4) * TB + b) * CinP + c;
            const index_t plane = TB * CinP;
            (t[r][0] - t[r][2]).store_aligned(v);
            (t[r][1] + t[r][2]).store_aligned(v + plane);
            (t[r][2] - t[r][1]).store_aligned(v + 2 * plane);
            (t[r][1] - t[r][3]).store_aligned(v + 3 * plane);
          }
        }
      }
      for (index_t x = 0; x < 16; ++x)
        gather_gemm<T>(vb + x * TB * CinP, rows, nb, steps, CinP, U + x * CinP * CoutP, CoutP,
                       CoutP, mb + x * TB * CoutP, CoutP, false);
      // Y = Aᵀ M A per tile, into yT (OH·OW, CoutP), cropping the odd edge.
      for (index_t b = 0; b < nb; ++b) {
        const index_t ti = (t0 + b) / tw, tj = (t0 + b) % tw;
        const index_t oh = 2 * ti, ow = 2 * tj;
        const bool h2 = oh + 1 < OH, w2 = ow + 1 < OW;
        for (index_t o = 0; o < CoutP; o += L) {
          const T* m = mb + b * CoutP + o;
          const index_t plane = TB * CoutP;
          V u[2][4];
          for (int s = 0; s < 4; ++s) {
            const V m0 = V::load_aligned(m + (0 * 4 + s) * plane);
            const V m1 = V::load_aligned(m + (1 * 4 + s) * plane);
            const V m2 = V::load_aligned(m + (2 * 4 + s) * plane);
            const V m3 = V::load_aligned(m + (3 * 4 + s) * plane);
            u[0][s] = m0 + m1 + m2;
            u[1][s] = m1 - m2 - m3;
          }
          T* y0 = yT + (oh * OW + ow) * CoutP + o;
          (u[0][0] + u[0][1] + u[0][2]).store_aligned(y0);
          if (w2) (u[0][1] - u[0][2] - u[0][3]).store_aligned(y0 + CoutP);
          if (h2) {
            T* y1 = y0 + OW * CoutP;
            (u[1][0] + u[1][1] + u[1][2]).store_aligned(y1);
            if (w2) (u[1][1] - u[1][2] - u[1][3]).store_aligned(y1 + CoutP);
          }
        }
      }
    }
    transpose_to<T, Add>(yT, OH * OW, Cout, CoutP, out, OH * OW, Add ? nullptr : bias);
  }
};

}  // namespace zoo::cpu
