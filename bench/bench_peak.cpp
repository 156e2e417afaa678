// bench/bench_peak.cpp — the machine's attainable FP32 FLOP/s: FMA chains.
//
// Each thread runs `Acc` independent accumulator chains acc = acc·a + b, enough
// to cover FMA latency × FMA ports (Zen 4: latency 4, two 256-bit pipes, a
// 512-bit FMA takes both; Intel server cores: two 512-bit ports). The chains
// stay in registers and touch no memory, so the rate is the core's FMA
// throughput: 2 FLOPs × lanes × FMAs per second. Every other benchmark's
// "% of peak" in the table divides by the best of these at the same thread count.
#include <immintrin.h>
#include <omp.h>

#include "bench_common.hpp"

namespace {

constexpr long kIters = 1 << 18;  // per thread and call: ~kIters·Acc FMAs

#if defined(__AVX512F__)
template <int Acc>
float fma_chains_512(long iters) {
  __m512 acc[Acc];
  for (int j = 0; j < Acc; ++j) acc[j] = _mm512_set1_ps(1.0f + 0.001f * j);
  const __m512 a = _mm512_set1_ps(0.99999f), b = _mm512_set1_ps(1e-6f);
  for (long i = 0; i < iters; ++i)
    for (int j = 0; j < Acc; ++j) acc[j] = _mm512_fmadd_ps(acc[j], a, b);
  __m512 s = acc[0];
  for (int j = 1; j < Acc; ++j) s = _mm512_add_ps(s, acc[j]);
  return _mm512_reduce_add_ps(s);
}
#endif

#if defined(__AVX2__) && defined(__FMA__)
template <int Acc>
float fma_chains_256(long iters) {
  __m256 acc[Acc];
  for (int j = 0; j < Acc; ++j) acc[j] = _mm256_set1_ps(1.0f + 0.001f * j);
  const __m256 a = _mm256_set1_ps(0.99999f), b = _mm256_set1_ps(1e-6f);
  for (long i = 0; i < iters; ++i)
    for (int j = 0; j < Acc; ++j) acc[j] = _mm256_fmadd_ps(acc[j], a, b);
  __m256 s = acc[0];
  for (int j = 1; j < Acc; ++j) s = _mm256_add_ps(s, acc[j]);
  float out[8];
  _mm256_storeu_ps(out, s);
  return out[0] + out[7];
}
#endif

// Runs kernel on t threads at once; FLOPs per iteration = t · iters · Acc · lanes · 2.
template <class K>
void run_peak(benchmark::State& s, int t, K kernel, double flops_per_thread) {
  float sink = 0;
  for (auto _ : s) {
    float local = 0;
#pragma omp parallel num_threads(t) reduction(+ : local)
    local += kernel(kIters);
    sink += local;
    benchmark::DoNotOptimize(sink);
  }
  zoo_bench::set_counters(s, flops_per_thread * t, 0, 0);
}

const bool registered = [] {
#if defined(__AVX512F__)
  zoo_bench::register_threads("peak_fma512", [](benchmark::State& s, int t) {
    run_peak(s, t, fma_chains_512<12>, 2.0 * 16 * 12 * kIters);
  });
#endif
#if defined(__AVX2__) && defined(__FMA__)
  zoo_bench::register_threads("peak_fma256", [](benchmark::State& s, int t) {
    run_peak(s, t, fma_chains_256<12>, 2.0 * 8 * 12 * kIters);
  });
#endif
  return true;
}();

}  // namespace

BENCHMARK_MAIN();
