// zoo/cpu/batch_parallel.hpp — splitting a batch across threads, with scratch per thread.
//
// Convolution layers run one GEMM per sample; on a few cores it is faster to give
// each thread whole samples (each GEMM single-threaded, no synchronisation inside
// it) than to thread each GEMM (docs/convolution.md has the measurements). Each
// thread then needs its own im2col matrix and, in backward, its own partial
// parameter gradient, summed into the real one after the parallel region in a
// fixed order, so results do not depend on scheduling.
#pragma once
#include <algorithm>
#include <cstddef>
#if defined(_OPENMP)
#include <omp.h>
#endif

#include "../core/parallel.hpp"
#include "../core/tensor.hpp"

namespace zoo::cpu {

// How a layer spreads a batch over the cores.
enum class Threading {
  batch,  // whole samples per thread; each GEMM on one thread
  gemm,   // samples one after another; the GEMM threads itself (Eigen/BLAS)
};

// Per-thread scratch: `per_thread` values for each of up to max_threads threads.
template <class T>
struct ThreadScratch {
  Buffer<T> data;
  std::size_t per_thread = 0;
  int threads = 0;

  // Sizes the scratch for `per` values per thread; allocates only when it grows.
  void reserve(std::size_t per) {
    int nt = 1;
#if defined(_OPENMP)
    nt = omp_get_max_threads();
#endif
    per = (per + 15) & ~std::size_t{15};  // keep every slice 64-byte aligned
    if (per > per_thread || nt > threads) {
      per_thread = std::max(per, per_thread);
      threads = std::max(nt, threads);
      data.resize(per_thread * static_cast<std::size_t>(threads));
    }
  }
  T* slice(int t) { return data.data() + per_thread * static_cast<std::size_t>(t); }
};

// Below this many FLOPs per call a layer stays on one thread: waking a second
// thread costs microseconds on an idle machine and milliseconds on a busy one
// (a descheduled thread holds the barrier for a time slice).
inline constexpr double kMinParallelFlops = 4e6;

// Number of threads a batch of n samples is split into; flops: the call's work.
inline int batch_threads(std::size_t n, Threading mode, int scratch_threads, double flops,
                         double min_flops = kMinParallelFlops) {
#if defined(_OPENMP)
  if (mode != Threading::batch || n < 2 || flops < min_flops || omp_in_parallel())
    return 1;
  return static_cast<int>(std::min<std::size_t>(
      n, static_cast<std::size_t>(std::min(omp_get_max_threads(), scratch_threads))));
#else
  (void)n, (void)mode, (void)scratch_threads, (void)flops, (void)min_flops;
  return 1;
#endif
}

// Samples per GEMM: enough that one GEMM has about kGemmColumns columns, so
// layers with small outputs do not pay a GEMM's fixed cost per sample.
inline constexpr std::size_t kGemmColumns = 512;
constexpr std::size_t samples_per_gemm(std::size_t positions) {
  const std::size_t k = kGemmColumns / (positions ? positions : 1);
  return k < 1 ? 1 : (k > 64 ? 64 : k);
}

// From this many samples per GEMM on, conv layers pack them sample-minor
// (im2col.hpp's im2col_nb): runs of ≥ 4 values copy faster than row segments of
// OW ≤ 11 values (what 512 / OH·OW ≥ 4 leaves).
inline constexpr std::size_t kSampleMinorMin = 4;

// The direct convolution path (direct_conv.hpp) stacks the pixels of several samples as
// the rows of one GEMM until it has about this many: the weights are then streamed from
// cache once per chunk rather than once per sample of a small map.
#ifndef ZOO_CONV_DIRECT_ROWS
#define ZOO_CONV_DIRECT_ROWS 256
#endif
inline constexpr std::size_t kDirectRows = ZOO_CONV_DIRECT_ROWS;
// Rows (pixels of dy) per block of the direct path's exact input gradient, dcolT.
inline constexpr std::size_t kDcolRows = 512;

// Calls f(t, begin, end) for contiguous sample ranges, one per thread t < nt.
// With serial_gemm, a run on one thread also keeps the GEMMs inside f on one
// thread (Eigen asks omp_get_max_threads()), so a call judged too small to
// thread is not threaded behind our back either.
template <class F>
void for_sample_ranges(std::size_t n, int nt, bool serial_gemm, F&& f) {
#if defined(_OPENMP)
  if (nt > 1) {
    ZOO_PROFILE_REGION;
#pragma omp parallel num_threads(nt)
    {
      const int t = omp_get_thread_num();
      const int k = omp_get_num_threads();
      const std::size_t b = n * t / k, e = n * (t + 1) / k;
      if (b < e) f(t, b, e);
    }
    return;
  }
  if (serial_gemm && !omp_in_parallel()) {
    struct Restore {
      int threads;
      ~Restore() { omp_set_num_threads(threads); }
    } restore{omp_get_max_threads()};
    omp_set_num_threads(1);
    f(0, std::size_t{0}, n);
    return;
  }
#endif
  (void)nt, (void)serial_gemm;
  f(0, std::size_t{0}, n);
}

// Thread t's share [b, e) of `len` items when `k` threads split them.
inline void share(std::size_t len, int t, int k, std::size_t& b, std::size_t& e) {
  b = len * static_cast<std::size_t>(t) / static_cast<std::size_t>(k);
  e = len * static_cast<std::size_t>(t + 1) / static_cast<std::size_t>(k);
}

// for_sample_ranges with a setup and a finish that every thread shares, in the same
// parallel region: prep(t, k) (thread t of k: its part of a weight re-layout) before any
// thread starts on its samples, post(t, k) (its part of summing the per-thread weight
// gradients) after all have finished. On small maps a layer's samples take tens of
// microseconds, and the setup and the sum done on the calling thread alone left the other
// core idle for a third of the layer. Each GEMM inside f runs on its thread alone.
template <class Prep, class F, class Post>
void for_sample_ranges_staged(std::size_t n, int nt, Prep&& prep, F&& f, Post&& post) {
#if defined(_OPENMP)
  if (nt > 1) {
    ZOO_PROFILE_REGION;
#pragma omp parallel num_threads(nt)
    {
      const int t = omp_get_thread_num();
      const int k = omp_get_num_threads();
      prep(t, k);
#pragma omp barrier
      std::size_t b, e;
      share(n, t, k, b, e);
      if (b < e) f(t, b, e);
#pragma omp barrier
      post(t, k);
    }
    return;
  }
  if (!omp_in_parallel()) {
    struct Restore {
      int threads;
      ~Restore() { omp_set_num_threads(threads); }
    } restore{omp_get_max_threads()};
    omp_set_num_threads(1);
    prep(0, 1);
    f(0, std::size_t{0}, n);
    post(0, 1);
    return;
  }
#endif
  (void)nt;
  prep(0, 1);
  f(0, std::size_t{0}, n);
  post(0, 1);
}

}  // namespace zoo::cpu
