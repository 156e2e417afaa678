// bench/bench_gemm.cpp — zoo::gemm at square sizes and at the dense models' shapes.
//
//   gemm_<op>_<M>x<N>x<K>:  C(M×N) = op(A)·op(B), row-major, 2·M·N·K FLOPs.
//   op "nt" is Linear's forward (x·Wᵀ), "tn" its weight gradient (dyᵀ·x),
//   "nn" its input gradient (dy·W) and the plain square product.
// Built twice: bench_gemm (Eigen, zoo's default) and bench_gemm_cblas
// (zoo::gemm → cblas_sgemm, OpenBLAS), so one run compares the two.
#include <string>

#include "bench_common.hpp"
#include "zoo/core/gemm.hpp"

namespace {

struct Shape3 {
  const char* op;
  long m, n, k;
};

// Square sizes for the ≥80%-of-peak goal, then the MLPs' layers at batch 128:
// AE encoder 784→128 (fwd, dW), AE decoder 128→784 (fwd, dx), VAE fc1 784→400,
// GAN generator 1024→1024 (fwd, dW, dx) and 1024→784.
constexpr Shape3 kShapes[] = {
    {"nn", 512, 512, 512},    {"nn", 1024, 1024, 1024}, {"nt", 128, 128, 784},
    {"tn", 128, 784, 128},    {"nt", 128, 784, 128},    {"nn", 128, 128, 784},
    {"nt", 128, 400, 784},    {"nt", 128, 1024, 1024},  {"tn", 1024, 1024, 128},
    {"nn", 128, 1024, 1024},  {"nt", 128, 784, 1024},
};

void bench_gemm(benchmark::State& s, Shape3 g) {
  const bool ta = g.op[0] == 't', tb = g.op[1] == 't';
  zoo::Tensor<float> a({static_cast<std::size_t>(g.m * g.k)}),
      b({static_cast<std::size_t>(g.k * g.n)}), c({static_cast<std::size_t>(g.m * g.n)});
  zoo_bench::fill(a, 1);
  zoo_bench::fill(b, 2);
  c.fill(0);
  const long lda = ta ? g.m : g.k, ldb = tb ? g.k : g.n;
  for (auto _ : s) {
    zoo::gemm<float>(ta, tb, g.m, g.n, g.k, 1.0f, a.data(), lda, b.data(), ldb, 0.0f, c.data(),
                     g.n);
    benchmark::ClobberMemory();
  }
  zoo_bench::set_counters(s, 2.0 * g.m * g.n * g.k, 0, 0);
  s.SetLabel(zoo_bench::gemm_backend());
}

const bool registered = [] {
  for (const auto& g : kShapes) {
    const std::string name = std::string("gemm_") + g.op + "_" + std::to_string(g.m) + "x" +
                             std::to_string(g.n) + "x" + std::to_string(g.k);
    zoo_bench::register_threads(name, [g](benchmark::State& s, int) { bench_gemm(s, g); });
  }
  return true;
}();

}  // namespace

BENCHMARK_MAIN();
