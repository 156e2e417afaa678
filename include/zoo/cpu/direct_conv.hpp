// zoo/cpu/direct_conv.hpp — convolution as a GEMM whose left operand is read straight
// from the zero-padded image, so no im2col matrix is written and read back.
//
// With the input zero-padded to xp (C, Hp, Wp) and stride 1,
//   yT[p][o] = Σ_k xp[base[p] + off[k]] · Wt[k][o]
// for output pixels p = (oh, ow), base[p] = oh·Wp + ow, taps k = (c, kh, kw),
// off[k] = c·Hp·Wp + kh·DH·Wp + kw·DW, and Wt (K, Out) the weight transposed. A tile of
// MR pixels × NV vectors of output channels stays in registers: each step broadcasts MR
// image values and loads NV weight vectors, as a GEMM micro-kernel does from its packed
// panels. im2col would write K·P values and read them back per sample (1.8 MB for a
// 64-channel 3×3 on 28×28, past L2); here the image (and its reuse across the K·KW taps)
// stays in L1/L2, which is where oneDNN's direct kernels get their lead on these shapes.
//
// The same kernel, `gather_gemm`, also computes
//   dWt[k][o] += Σ_p xp[off[k] + base[p]] · dyT[p][o]     (rows = taps, steps = pixels)
//   dxT[q][c]  = Σ_k' dyp[base'[q] + off'[k']] · Wx[k'][c] (a stride-1 conv of the padded
//                dy with the flipped kernel, in- and out-channels swapped)
// Channel counts are padded to a whole number of SIMD vectors (zeros in the packed weights).
#pragma once
#include <algorithm>
#include <cstddef>
#include <type_traits>

#include "../core/config.hpp"
#include "../core/vendor.hpp"  // Eigen, xsimd, intrinsics

namespace zoo::cpu {

// Values per SIMD vector for T on the architecture zoo is compiled for.
template <class T>
inline constexpr index_t simd_width = static_cast<index_t>(xsimd::batch<T>::size);

// n rounded up to a whole number of SIMD vectors of T.
template <class T>
constexpr index_t round_to_simd(index_t n) {
  return (n + simd_width<T> - 1) / simd_width<T> * simd_width<T>;
}

namespace detail {

// C[r][0, NV·L) (+)= Σ_t src[rows[r] + toff[t]] · B[t][0, NV·L) for the first `mr` of MR
// rows (the rest compute a copy of the last row and are not stored). Loads and stores are
// unaligned ones: as fast as aligned ones on aligned addresses, and a Linear layer's W
// (dx = dy·W) sits in the flat parameter buffer wherever the layers before it end.
template <class T, int MR, int NV>
inline void gather_tile(const T* ZOO_RESTRICT src, const index_t* rows, int mr,
                        const index_t* ZOO_RESTRICT toff, index_t steps, const T* ZOO_RESTRICT B,
                        index_t ldb, T* ZOO_RESTRICT C, index_t ldc, bool accumulate,
                        index_t bvs, index_t cvs) {
  using V = xsimd::batch<T>;
  V acc[MR][NV];
  const T* s[MR];
ZOO_UNROLL(16)
  for (int r = 0; r < MR; ++r) s[r] = src + rows[r < mr ? r : mr - 1];
ZOO_UNROLL(16)
  for (int r = 0; r < MR; ++r)
ZOO_UNROLL(4)
    for (int v = 0; v < NV; ++v)
      acc[r][v] = accumulate && r < mr ? V::load_unaligned(C + r * ldc + v * cvs) : V(T(0));
  for (index_t t = 0; t < steps; ++t) {
    const T* b = B + t * ldb;
    const index_t o = toff[t];
    V bv[NV];
ZOO_UNROLL(4)
    for (int v = 0; v < NV; ++v) bv[v] = V::load_unaligned(b + v * bvs);
ZOO_UNROLL(16)
    for (int r = 0; r < MR; ++r) {
      const V a(s[r][o]);
ZOO_UNROLL(4)
      for (int v = 0; v < NV; ++v) acc[r][v] = xsimd::fma(a, bv[v], acc[r][v]);
    }
  }
ZOO_UNROLL(16)
  for (int r = 0; r < MR; ++r)
    if (r < mr)
ZOO_UNROLL(4)
      for (int v = 0; v < NV; ++v) acc[r][v].store_unaligned(C + r * ldc + v * cvs);
}

// Rows per register tile for NV vectors of columns: about 24 accumulators on AVX-512's
// 32 vector registers, about 12 on AVX2/SSE's 16, leaving registers for the NV loaded
// vectors and the broadcast (a tile that spills runs at a fraction of the speed).
#if XSIMD_WITH_AVX512F
template <int NV>
inline constexpr int tile_rows = NV >= 4 ? 6 : NV == 3 ? 8 : NV == 2 ? 12 : 16;
#else
template <int NV>
inline constexpr int tile_rows = NV >= 4 ? 3 : NV == 3 ? 4 : NV == 2 ? 6 : 8;
#endif

template <class T, int NV>
void gather_block(const T* src, const index_t* rows, index_t R, const index_t* toff,
                  index_t steps, const T* B, index_t ldb, T* C, index_t ldc, bool accumulate,
                  index_t bvs, index_t cvs) {
  constexpr int MR = tile_rows<NV>;
  for (index_t r0 = 0; r0 < R; r0 += MR) {
    const int mr = static_cast<int>(std::min<index_t>(MR, R - r0));
    gather_tile<T, MR, NV>(src, rows + r0, mr, toff, steps, B, ldb, C + r0 * ldc, ldc,
                           accumulate, bvs, cvs);
  }
}

}  // namespace detail

// C (R, ncols) (+)= A · B, A[r][t] = src[rows[r] + toff[t]] (R × steps, gathered on the
// fly), B (steps, ncols) with row stride ldb, C with row stride ldc. ncols, ldb and ldc
// are multiples of simd_width<T> (aligned B and C are faster). accumulate = false
// overwrites C.
// Steps go in chunks whose B rows fit in L1 next to the image values they meet.
// bvs and cvs: how far apart B's and C's successive vectors of a row lie (L by default, a
// plain row; a sample's size when each vector is one sample's row of L pixels, so that a
// 4×4 map's 1×1 conv multiplies several samples at once).
template <class T>
void gather_gemm(const T* src, const index_t* rows, index_t R, const index_t* toff,
                 index_t steps, const T* B, index_t ldb, index_t ncols, T* C, index_t ldc,
                 bool accumulate, index_t bvs = simd_width<T>, index_t cvs = simd_width<T>) {
  constexpr index_t L = simd_width<T>;
  const index_t nvec = ncols / L;
  const index_t chunk = std::max<index_t>(32, 16384 / static_cast<index_t>(sizeof(T) * L * 4));
  for (index_t t0 = 0; t0 < steps; t0 += chunk) {
    const index_t ts = std::min(chunk, steps - t0);
    const bool acc = accumulate || t0 > 0;
    index_t v0 = 0;
    while (v0 < nvec) {
      const index_t left = nvec - v0;
      // Blocks of 4 vectors; a remainder of 5 goes 3 + 2 rather than 4 + 1.
      const index_t nv = left >= 6 || left == 4 ? 4 : left == 5 ? 3 : left;
      const T* b = B + t0 * ldb + v0 * bvs;
      T* c = C + v0 * cvs;
      switch (nv) {
        case 4: detail::gather_block<T, 4>(src, rows, R, toff + t0, ts, b, ldb, c, ldc, acc, bvs, cvs); break;
        case 3: detail::gather_block<T, 3>(src, rows, R, toff + t0, ts, b, ldb, c, ldc, acc, bvs, cvs); break;
        case 2: detail::gather_block<T, 2>(src, rows, R, toff + t0, ts, b, ldb, c, ldc, acc, bvs, cvs); break;
        default: detail::gather_block<T, 1>(src, rows, R, toff + t0, ts, b, ldb, c, ldc, acc, bvs, cvs); break;
      }
      v0 += nv;
    }
  }
}

namespace detail {
#if defined(__AVX512F__)
// GCC 12's own avx512fintrin.h seeds the unpack/shuffle intrinsics with an undefined
// vector and then warns about it (-Wuninitialized) once they are inlined; not our code.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif
// The 16 × 16 block at src (rows lds apart), transposed into dst (rows ldd apart), plus
// bias[c] on dst row c (Add: added onto dst instead). Three rounds of lane shuffles.
template <bool Add, class Row>
inline void transpose16(const float* src, index_t lds, Row dst_row, const float* bias) {
  __m512 r[16], t[16];
  for (int i = 0; i < 16; ++i) r[i] = _mm512_loadu_ps(src + i * lds);
  for (int i = 0; i < 8; ++i) {
    t[2 * i] = _mm512_unpacklo_ps(r[2 * i], r[2 * i + 1]);
    t[2 * i + 1] = _mm512_unpackhi_ps(r[2 * i], r[2 * i + 1]);
  }
  for (int j = 0; j < 4; ++j) {  // r[4j + m], lane l: rows 4j…4j+3 of column 4l + m
    const __m512d a = _mm512_castps_pd(t[4 * j]), b = _mm512_castps_pd(t[4 * j + 1]);
    const __m512d c = _mm512_castps_pd(t[4 * j + 2]), d = _mm512_castps_pd(t[4 * j + 3]);
    r[4 * j] = _mm512_castpd_ps(_mm512_unpacklo_pd(a, c));
    r[4 * j + 1] = _mm512_castpd_ps(_mm512_unpackhi_pd(a, c));
    r[4 * j + 2] = _mm512_castpd_ps(_mm512_unpacklo_pd(b, d));
    r[4 * j + 3] = _mm512_castpd_ps(_mm512_unpackhi_pd(b, d));
  }
  for (int m = 0; m < 4; ++m) {
    const __m512 x0 = _mm512_shuffle_f32x4(r[m], r[4 + m], 0x88);
    const __m512 x1 = _mm512_shuffle_f32x4(r[m], r[4 + m], 0xdd);
    const __m512 y0 = _mm512_shuffle_f32x4(r[8 + m], r[12 + m], 0x88);
    const __m512 y1 = _mm512_shuffle_f32x4(r[8 + m], r[12 + m], 0xdd);
    t[m] = _mm512_shuffle_f32x4(x0, y0, 0x88);       // column m
    t[4 + m] = _mm512_shuffle_f32x4(x1, y1, 0x88);   // column 4 + m
    t[8 + m] = _mm512_shuffle_f32x4(x0, y0, 0xdd);   // column 8 + m
    t[12 + m] = _mm512_shuffle_f32x4(x1, y1, 0xdd);  // column 12 + m
  }
  for (int c = 0; c < 16; ++c) {
    float* d = dst_row(c);
    if constexpr (Add)
      _mm512_storeu_ps(d, _mm512_add_ps(_mm512_loadu_ps(d), t[c]));
    else
      _mm512_storeu_ps(d, bias ? _mm512_add_ps(t[c], _mm512_set1_ps(bias[c])) : t[c]);
  }
}
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic pop
#endif
#endif
}  // namespace detail

// dst_row(c)[r] = src[r][c] (+ bias[c]) for r < rows, c < cols, src rows lds apart;
// dst_row(c) is where column c of src goes (the caller's layout: padded, strided...).
// Add: dst_row(c)[r] += src[r][c]. 16 × 16 blocks keep both sides in L1; in float on
// AVX-512 a whole block is transposed in registers (a scalar transpose of a 64-channel
// 28 × 28 output cost 15% of the direct conv's time).
template <class T, bool Add = false, bool ColsOuter = false, class Row>
void transpose_rows(const T* ZOO_RESTRICT src, index_t rows, index_t cols, index_t lds,
                    Row dst_row, const T* bias = nullptr) {
  constexpr index_t Bk = 16;
  // Rows outer reads 16 src rows front to back and writes one 64-byte piece of every dst
  // row per block row; columns outer the other way round. The side read or written a
  // piece per row should be the one with the shorter stride: rows 4 KB apart (a
  // 1024-wide Linear layer's x or y) all fall in one L1 set (8 GB/s instead of 30).
  const index_t nr = (rows + Bk - 1) / Bk, nc = (cols + Bk - 1) / Bk;
  for (index_t ob = 0; ob < (ColsOuter ? nc : nr); ++ob)
    for (index_t ib = 0; ib < (ColsOuter ? nr : nc); ++ib) {
      const index_t r0 = (ColsOuter ? ib : ob) * Bk, c0 = (ColsOuter ? ob : ib) * Bk;
      const index_t re = std::min(rows, r0 + Bk), ce = std::min(cols, c0 + Bk);
#if defined(__AVX512F__)
      if constexpr (std::is_same_v<T, float>)
        if (re - r0 == Bk && ce - c0 == Bk) {
          detail::transpose16<Add>(src + r0 * lds + c0, lds,
                                   [&](int c) { return dst_row(c0 + c) + r0; },
                                   bias ? bias + c0 : nullptr);
          continue;
        }
#endif
      for (index_t c = c0; c < ce; ++c) {
        const T b = bias ? bias[c] : T(0);
        T* ZOO_RESTRICT d = dst_row(c);
        if constexpr (Add)
          for (index_t r = r0; r < re; ++r) d[r] += src[r * lds + c];
        else
          for (index_t r = r0; r < re; ++r) d[r] = src[r * lds + c] + b;
      }
    }
}

// dst[c][r] = src[r][c] (+ bias[c]), dst rows ldd apart; Add: +=. See transpose_rows.
template <class T, bool Add = false>
void transpose_to(const T* ZOO_RESTRICT src, index_t rows, index_t cols, index_t lds,
                  T* ZOO_RESTRICT dst, index_t ldd, const T* bias = nullptr) {
  const auto row = [=](index_t c) { return dst + c * ldd; };
  if (ldd > lds)
    transpose_rows<T, Add, true>(src, rows, cols, lds, row, bias);
  else
    transpose_rows<T, Add, false>(src, rows, cols, lds, row, bias);
}

// xp (C, H + 2·PH, W + 2·PW) ← x (C, H, W) in its interior; the border is left as it is
// (zeroed once by the caller).
template <class T>
void pad_into(const T* ZOO_RESTRICT x, index_t C, index_t H, index_t W, index_t PH, index_t PW,
              T* ZOO_RESTRICT xp) {
  const index_t Hp = H + 2 * PH, Wp = W + 2 * PW;
  for (index_t c = 0; c < C; ++c)
    for (index_t h = 0; h < H; ++h)
      std::copy_n(x + (c * H + h) * W, W, xp + (c * Hp + h + PH) * Wp + PW);
}

}  // namespace zoo::cpu
