// zoo/kernels/akconv_gather.hpp — AKConv's bilinear offset gather and its backward,
// written once as ZOO_HD functors over an index space.
//
// For sample b, sampling point k < N and output position (i, j) (pos = i·OW + j):
//   p_r = i·S + pn_r[k] + offset[b, k, i, j]          offset: (B, 2N, OH, OW), planar:
//   p_c = j·S + pn_c[k] + offset[b, N + k, i, j]      rows 0..N−1, columns N..2N−1
//   col[b, c·N + k, pos] = Σ_{a,e ∈ {0,1}} wr_a · wc_e · x[b, c, r_a, c_e]
// col (B, C·N, OH·OW) is the im2col matrix of the Conv2d(kernel (N,1), stride (N,1))
// that follows on the (B, C, OH·N, OW) layout: that conv is one GEMM with it.
//
// Per axis (p, extent M, hi = M − 1), two taps q0, q1 and weights w0, w1:
//   clamp_to_edge (zoo's default): pc = clamp(p, 0, hi); q0 = min(⌊pc⌋, M − 2), q1 = q0 + 1,
//       w1 = pc − q0, w0 = 1 − w1 (weights sum to 1; M = 1: q0 = q1 = 0, w = (1, 0)).
//   reference (AKConv's official code): q0 = clamp(⌊p⌋, 0, hi), q1 = clamp(⌊p⌋ + 1, 0, hi),
//       w0 = 1 + q0 − pc, w1 = 1 − q1 + pc: at p ≤ 0 or p ≥ hi both taps are the edge pixel
//       with weight 1 each, so the edge sample is doubled (4× in a corner).
// In both, dw0/dp = −m and dw1/dp = +m with m = [0 ≤ p ≤ hi] (torch.clamp's gradient), so
//   ∂col/∂p_r = m_r · Σ_e wc_e (x[r1, c_e] − x[r0, c_e]),  ∂col/∂p_c = m_c · Σ_a wr_a (x[r_a, c1] − x[r_a, c0]).
//
// Functors (index spaces): taps (B·N·P); for many narrow threads (GPU) gather (B·N·P),
// offset grad (B·N·P), input grad (B·C planes: each plane written by one index, so the
// scatter needs no atomics and is deterministic); for few wide threads (CPU) gather by
// planes (B·C) and a fused offset-grad + scatter by samples (B). Run them with
// cpu::for_each_index (OpenMP) or thrust::for_each (zoo/cuda/akconv_thrust.hpp).
#pragma once
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <type_traits>

#include "../core/config.hpp"

#if defined(_OPENMP)
#include <omp.h>

#include "../core/parallel.hpp"
#endif

namespace zoo {

// How AKConv's bilinear sampling treats the border.
enum class AKConvSampling {
  clamp_to_edge,  // correct bilinear with clamp-to-edge: weights sum to 1 (zoo's default)
  reference,      // the official code's arithmetic: edge samples doubled (for weights trained with it)
};

namespace kernels {

// The four corners of one sample (flat offsets into an (H, W) plane), the per-axis
// weights and the per-axis clamp masks of the offset gradient.
template <class T>
struct AKConvTap {
  std::int32_t i00, i01, i10, i11;  // (r0,c0) (r0,c1) (r1,c0) (r1,c1)
  T wr0, wr1, wc0, wc1;
  T mr, mc;
};

// Taps and weights along one axis of extent M for the coordinate p.
template <AKConvSampling Mode, class T>
ZOO_HD inline void akconv_axis(T p, index_t M, index_t& q0, index_t& q1, T& w0, T& w1, T& m) {
  if (p != p) p = T(0);  // NaN never gets here (the layer rejects it); stay in bounds anyway
  const T hi = static_cast<T>(M - 1);
  m = (p >= T(0) && p <= hi) ? T(1) : T(0);
  const T pc = p < T(0) ? T(0) : (p > hi ? hi : p);
  if constexpr (Mode == AKConvSampling::reference) {
    // ⌊p⌋ and ⌊p⌋ + 1 clamped to [0, hi], without a floor: pc ≥ 0 truncates to its floor.
    if (p < T(0)) q0 = q1 = 0;
    else if (p >= hi) q0 = q1 = M - 1;
    else q0 = static_cast<index_t>(pc), q1 = q0 + 1;
    w0 = T(1) + static_cast<T>(q0) - pc;
    w1 = T(1) - static_cast<T>(q1) + pc;
  } else {
    if (M == 1) {
      q0 = q1 = 0, w0 = T(1), w1 = T(0);
      return;
    }
    q0 = static_cast<index_t>(pc);
    if (q0 > M - 2) q0 = M - 2;
    q1 = q0 + 1;
    w1 = pc - static_cast<T>(q0);
    w0 = T(1) - w1;
  }
}

// Initial sampling shape p_n: base = round(√N) points per row, ⌊N/base⌋ full rows in
// row-major order, then N mod base points in the next row (anchored top-left).
ZOO_HD constexpr index_t akconv_base(index_t N) {
  index_t b = 1;
  while ((b + 1) * (b + 1) <= N) ++b;  // ⌊√N⌋
  // round(√N) = ⌊√N⌋ + 1 exactly when N ≥ (⌊√N⌋ + ½)² = b² + b + ¼, i.e. N > b² + b.
  return N > b * b + b ? b + 1 : b;
}
ZOO_HD constexpr index_t akconv_pn_row(index_t N, index_t k) { return k / akconv_base(N); }
ZOO_HD constexpr index_t akconv_pn_col(index_t N, index_t k) { return k % akconv_base(N); }

// Geometry shared by every functor.
struct AKConvGeom {
  index_t C, H, W;    // input (C, H, W)
  index_t N;          // sampling points
  index_t OH, OW, S;  // output and stride
  ZOO_HD index_t P() const { return OH * OW; }
};

// taps[(b·N + k)·P + pos] from the offset map (B, 2N, OH, OW).
template <class T, AKConvSampling Mode>
struct AKConvTapsFn {
  AKConvGeom g;
  const T* offset;       // (B, 2N, P)
  AKConvTap<T>* taps;    // (B, N, P)
  ZOO_HD void operator()(index_t idx) const {
    const index_t P = g.P();
    const index_t pos = idx % P, bk = idx / P, k = bk % g.N, b = bk / g.N;
    const index_t i = pos / g.OW, j = pos % g.OW;
    const T* off = offset + b * 2 * g.N * P;
    const T pr = (static_cast<T>(i * g.S) + static_cast<T>(akconv_pn_row(g.N, k))) + off[k * P + pos];
    const T pc = (static_cast<T>(j * g.S) + static_cast<T>(akconv_pn_col(g.N, k))) +
                 off[(g.N + k) * P + pos];
    index_t r0, r1, c0, c1;
    AKConvTap<T> t;
    akconv_axis<Mode>(pr, g.H, r0, r1, t.wr0, t.wr1, t.mr);
    akconv_axis<Mode>(pc, g.W, c0, c1, t.wc0, t.wc1, t.mc);
    t.i00 = static_cast<std::int32_t>(r0 * g.W + c0);
    t.i01 = static_cast<std::int32_t>(r0 * g.W + c1);
    t.i10 = static_cast<std::int32_t>(r1 * g.W + c0);
    t.i11 = static_cast<std::int32_t>(r1 * g.W + c1);
    taps[idx] = t;
  }
};

// col[b, c·N + k, pos] = bilinear sample of x[b, c] at tap (b, k, pos).
template <class T>
struct AKConvGatherFn {
  AKConvGeom g;
  const T* x;                  // (B, C, H, W)
  const AKConvTap<T>* taps;    // (B, N, P)
  T* col;                      // (B, C·N, P)
  ZOO_HD void operator()(index_t idx) const {
    const index_t P = g.P(), HW = g.H * g.W;
    const index_t pos = idx % P, bk = idx / P, k = bk % g.N, b = bk / g.N;
    const AKConvTap<T> t = taps[idx];
    const T* xb = x + b * g.C * HW;
    T* out = col + (b * g.C * g.N + k) * P + pos;
    const index_t step = g.N * P;
    for (index_t c = 0; c < g.C; ++c) {
      const T* xc = xb + c * HW;
      out[c * step] = t.wr0 * (t.wc0 * xc[t.i00] + t.wc1 * xc[t.i01]) +
                      t.wr1 * (t.wc0 * xc[t.i10] + t.wc1 * xc[t.i11]);
    }
  }
};

// doffset[b, k, pos] = Σ_c dcol · ∂col/∂p_r and doffset[b, N + k, pos] = Σ_c dcol · ∂col/∂p_c
// (assigned: the offset gradient is an internal buffer).
template <class T>
struct AKConvOffsetGradFn {
  AKConvGeom g;
  const T* x;                  // (B, C, H, W)
  const AKConvTap<T>* taps;    // (B, N, P)
  const T* dcol;               // (B, C·N, P)
  T* doffset;                  // (B, 2N, P)
  ZOO_HD void operator()(index_t idx) const {
    const index_t P = g.P(), HW = g.H * g.W;
    const index_t pos = idx % P, bk = idx / P, k = bk % g.N, b = bk / g.N;
    const AKConvTap<T> t = taps[idx];
    const T* xb = x + b * g.C * HW;
    const T* d = dcol + (b * g.C * g.N + k) * P + pos;
    const index_t step = g.N * P;
    T sr = T(0), sc = T(0);
    for (index_t c = 0; c < g.C; ++c) {
      const T* xc = xb + c * HW;
      const T x00 = xc[t.i00], x01 = xc[t.i01], x10 = xc[t.i10], x11 = xc[t.i11];
      const T dv = d[c * step];
      sr += dv * (t.wc0 * (x10 - x00) + t.wc1 * (x11 - x01));
      sc += dv * (t.wr0 * (x01 - x00) + t.wr1 * (x11 - x10));
    }
    T* o = doffset + b * 2 * g.N * P;
    o[k * P + pos] = t.mr * sr;
    o[(g.N + k) * P + pos] = t.mc * sc;
  }
};

// dx[b, c] += Σ_{k, pos} dcol[b, c·N + k, pos] · (bilinear weights at tap (b, k, pos)),
// one index per (b, c) plane.
template <class T>
struct AKConvInputGradFn {
  AKConvGeom g;
  const AKConvTap<T>* taps;    // (B, N, P)
  const T* dcol;               // (B, C·N, P)
  T* dx;                       // (B, C, H, W)
  ZOO_HD void operator()(index_t plane) const {
    const index_t P = g.P(), HW = g.H * g.W;
    const index_t b = plane / g.C, c = plane % g.C;
    const AKConvTap<T>* tb = taps + b * g.N * P;
    const T* d = dcol + (b * g.C + c) * g.N * P;  // (N, P)
    T* o = dx + plane * HW;
    for (index_t kp = 0; kp < g.N * P; ++kp) {
      const AKConvTap<T> t = tb[kp];
      const T v = d[kp];
      const T r0 = t.wr0 * v, r1 = t.wr1 * v;
      o[t.i00] += r0 * t.wc0;
      o[t.i01] += r0 * t.wc1;
      o[t.i10] += r1 * t.wc0;
      o[t.i11] += r1 * t.wc1;
    }
  }
};

// dx += v at p from many indices at once: CUDA's atomicAdd on the device, std::atomic_ref on
// the host (Thrust's OpenMP system runs the same functor on threads).
template <class T>
ZOO_HD inline void atomic_add(T* p, T v) {
#if defined(__CUDA_ARCH__)
  atomicAdd(p, v);
#else
  std::atomic_ref<T>(*p).fetch_add(v, std::memory_order_relaxed);
#endif
}

// The input scatter with one index per (b, c, k, pos) and atomic adds: B·C·N·P indices, as
// many as a GPU can keep busy (the plane version has B·C), at the price of a summation order
// that changes from run to run (the results differ in the last bits).
template <class T>
struct AKConvInputGradAtomicFn {
  AKConvGeom g;
  const AKConvTap<T>* taps;    // (B, N, P)
  const T* dcol;               // (B, C·N, P)
  T* dx;                       // (B, C, H, W)
  ZOO_HD void operator()(index_t idx) const {
    const index_t NP = g.N * g.P(), HW = g.H * g.W;
    const index_t kp = idx % NP, plane = idx / NP, b = plane / g.C;
    const AKConvTap<T> t = taps[b * NP + kp];
    const T v = dcol[idx];  // dcol is (B, C, N, P): idx = plane·N·P + kp
    const T r0 = t.wr0 * v, r1 = t.wr1 * v;
    T* o = dx + plane * HW;
    atomic_add(o + t.i00, r0 * t.wc0);
    atomic_add(o + t.i01, r0 * t.wc1);
    atomic_add(o + t.i10, r1 * t.wc0);
    atomic_add(o + t.i11, r1 * t.wc1);
  }
};

// The same gather by planes: one index per (b, c), for backends with few wide threads
// (the CPU): the plane of x (H·W values) stays in L1 while N·P samples are read from it.
template <class T>
struct AKConvGatherPlaneFn {
  AKConvGeom g;
  const T* x;                  // (B, C, H, W)
  const AKConvTap<T>* taps;    // (B, N, P)
  T* col;                      // (B, C·N, P)
  ZOO_HD void operator()(index_t plane) const {
    const index_t NP = g.N * g.P(), b = plane / g.C;
    const T* xc = x + plane * g.H * g.W;
    const AKConvTap<T>* tb = taps + b * NP;
    T* out = col + plane * NP;  // rows c·N .. c·N + N − 1 of sample b: contiguous
    for (index_t kp = 0; kp < NP; ++kp) {
      const AKConvTap<T> t = tb[kp];
      out[kp] = t.wr0 * (t.wc0 * xc[t.i00] + t.wc1 * xc[t.i01]) +
                t.wr1 * (t.wc0 * xc[t.i10] + t.wc1 * xc[t.i11]);
    }
  }
};

// Offset gradient and input scatter fused, one index per sample b (few wide threads):
// walks the planes c in order, so doffset sums over c in the order AKConvOffsetGradFn does,
// and each plane of x and dx stays in L1 while all N·P taps touch it.
template <class T>
struct AKConvBackwardSampleFn {
  AKConvGeom g;
  const T* x;                  // (B, C, H, W)
  const AKConvTap<T>* taps;    // (B, N, P)
  const T* dcol;               // (B, C·N, P)
  T* doffset;                  // (B, 2N, P), assigned
  T* dx;                       // (B, C, H, W), added; may be null
  ZOO_HD void operator()(index_t b) const {
    const index_t NP = g.N * g.P(), HW = g.H * g.W;
    const AKConvTap<T>* tb = taps + b * NP;
    T* dr = doffset + b * 2 * NP;  // (N, P) row offsets
    T* dc = dr + NP;               // (N, P) column offsets
    for (index_t kp = 0; kp < NP; ++kp) dr[kp] = T(0), dc[kp] = T(0);
    for (index_t c = 0; c < g.C; ++c) {
      const T* xc = x + (b * g.C + c) * HW;
      const T* d = dcol + (b * g.C + c) * NP;
      T* o = dx ? dx + (b * g.C + c) * HW : nullptr;
      for (index_t kp = 0; kp < NP; ++kp) {
        const AKConvTap<T> t = tb[kp];
        const T x00 = xc[t.i00], x01 = xc[t.i01], x10 = xc[t.i10], x11 = xc[t.i11];
        const T v = d[kp];
        dr[kp] += v * (t.wc0 * (x10 - x00) + t.wc1 * (x11 - x01));
        dc[kp] += v * (t.wr0 * (x01 - x00) + t.wr1 * (x11 - x10));
        if (o) {
          const T r0 = t.wr0 * v, r1 = t.wr1 * v;
          o[t.i00] += r0 * t.wc0;
          o[t.i01] += r0 * t.wc1;
          o[t.i10] += r1 * t.wc0;
          o[t.i11] += r1 * t.wc1;
        }
      }
    }
    for (index_t kp = 0; kp < NP; ++kp) dr[kp] *= tb[kp].mr, dc[kp] *= tb[kp].mc;
  }
};

}  // namespace kernels

namespace cpu {
// Runs f(i) for i in [0, n) on the OpenMP team (the CPU backend of the ZOO_HD functors).
template <class F>
void for_each_index(index_t n, const F& f, index_t cost_per_index = 1) {
#if defined(_OPENMP)
  if (n > 1 && n * cost_per_index >= (index_t(1) << 14) && omp_get_max_threads() > 1 &&
      !omp_in_parallel()) {
    ZOO_PROFILE_REGION;
#pragma omp parallel for schedule(static)
    for (index_t i = 0; i < n; ++i) f(i);
    return;
  }
#endif
  (void)cost_per_index;
  for (index_t i = 0; i < n; ++i) f(i);
}
}  // namespace cpu

namespace kernels {

// The gather's forward and backward as sequences of functor launches, for any runner
// `run(n, functor, cost)` with `Run::wide` = whether it has few wide threads (the CPU:
// cpu::for_each_index) or many narrow ones (a GPU: thrust::for_each in
// zoo/cuda/akconv_thrust.hpp). Wide runners take the plane/sample functors (cache
// locality), narrow ones the point/plane functors (parallelism, no atomics); tests/thrust
// checks that both schedules give the same numbers.
template <class T, AKConvSampling Mode, class Run>
void akconv_gather_forward(Run&& run, const AKConvGeom& g, index_t B, const T* x,
                           const T* offset, AKConvTap<T>* taps, T* col) {
  const index_t points = B * g.N * g.P();
  run(points, AKConvTapsFn<T, Mode>{g, offset, taps}, index_t(16));
  if constexpr (std::remove_reference_t<Run>::wide)
    run(B * g.C, AKConvGatherPlaneFn<T>{g, x, taps, col}, 8 * g.N * g.P());
  else
    run(points, AKConvGatherFn<T>{g, x, taps, col}, 8 * g.C);
}
// doffset ← ∂/∂offset; dx += ∂/∂x (skipped when dx is null). `atomic` (narrow runners only):
// the input scatter by AKConvInputGradAtomicFn instead of one index per plane.
template <class T, class Run>
void akconv_gather_backward(Run&& run, const AKConvGeom& g, index_t B, const T* x,
                            const AKConvTap<T>* taps, const T* dcol, T* doffset, T* dx,
                            bool atomic = false) {
  if constexpr (std::remove_reference_t<Run>::wide) {
    run(B, AKConvBackwardSampleFn<T>{g, x, taps, dcol, doffset, dx}, 20 * g.C * g.N * g.P());
  } else {
    const index_t points = B * g.N * g.P();
    run(points, AKConvOffsetGradFn<T>{g, x, taps, dcol, doffset}, 12 * g.C);
    if (dx && atomic) run(points * g.C, AKConvInputGradAtomicFn<T>{g, taps, dcol, dx}, 8);
    else if (dx) run(B * g.C, AKConvInputGradFn<T>{g, taps, dcol, dx}, 8 * g.N * g.P());
  }
}

// The CPU runner as an object (what akconv_gather_forward/backward take).
struct CpuRun {
  static constexpr bool wide = true;
  template <class F>
  void operator()(index_t n, const F& f, index_t cost) const {
    cpu::for_each_index(n, f, cost);
  }
};

}  // namespace kernels
}  // namespace zoo
