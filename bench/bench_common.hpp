// bench/bench_common.hpp — what every zoo benchmark shares.
//
// Names: a benchmark is registered as "<name>/t<threads>", where <name> is also
// the key of the PyTorch function in bench/pytorch/torch_bench.py that does the
// same work (bench/run.py pairs them). Counters, all per second unless noted:
//   flops   FLOPs done      → GFLOP/s in the table
//   items   images processed (batch per step)
//   batch   the batch size (plain value)
// Timing: Google Benchmark's own loop; bench/run.py asks for repetitions and
// takes the median, the same statistic the PyTorch side reports.
#pragma once
#include <benchmark/benchmark.h>

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "zoo/core/parallel.hpp"
#include "zoo/core/rng.hpp"
#include "zoo/core/tensor.hpp"

#if defined(ZOO_USE_CBLAS)
#include <cblas.h>
// OpenBLAS's own; weak, so that another CBLAS links too (its threads are its business).
#pragma weak openblas_set_num_threads
#endif

namespace zoo_bench {

// The thread count for zoo's OpenMP loops, Eigen's GEMM and, when zoo::gemm
// goes to OpenBLAS, OpenBLAS's own pool.
inline void use_threads(int t) {
  zoo::set_num_threads(t);
#if defined(ZOO_USE_CBLAS)
  if (&openblas_set_num_threads) openblas_set_num_threads(t);
#endif
}

inline const char* gemm_backend() {
#if defined(ZOO_USE_CBLAS)
  return "cblas";
#else
  return "eigen";
#endif
}

inline void fill(zoo::Tensor<float>& t, std::uint64_t seed, double lo = -1, double hi = 1) {
  zoo::Rng r(seed);
  r.fill_uniform(t.data(), t.size(), lo, hi);
}

// Sets the counters of one benchmark: work per iteration, as rates.
inline void set_counters(benchmark::State& s, double flops_per_iter, double items_per_iter,
                         double batch) {
  using C = benchmark::Counter;
  const double it = static_cast<double>(s.iterations());
  s.counters["flops"] = C(flops_per_iter * it, C::kIsRate);
  if (items_per_iter > 0) s.counters["items"] = C(items_per_iter * it, C::kIsRate);
  if (batch > 0) s.counters["batch"] = batch;
}

// Registers fn as "<name>/t1" and "<name>/t2" (real time: threads do the work
// inside one iteration, so CPU time of the main thread would understate it).
inline void register_threads(const std::string& name,
                             std::function<void(benchmark::State&, int)> fn,
                             std::vector<int> threads = {1, 2}) {
  for (int t : threads)
    benchmark::RegisterBenchmark((name + "/t" + std::to_string(t)).c_str(),
                                 [fn, t](benchmark::State& s) {
                                   use_threads(t);
                                   fn(s, t);
                                 })
        ->UseRealTime()
        ->Unit(benchmark::kMicrosecond);
}

}  // namespace zoo_bench
