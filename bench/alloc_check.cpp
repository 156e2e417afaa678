// bench/alloc_check.cpp — does a steady-state step allocate? Counts malloc itself.
//
// operator new counters miss Eigen's GEMM workspace and OpenBLAS's buffers, which
// come from malloc/posix_memalign/mmap, so this program replaces glibc's malloc
// family (symbol interposition from the executable) and forwards to __libc_*.
// For each step it runs 5 warm-up calls, then counts the calls of 20 more.
// Prints one JSON object: {"gemm": "...", "threads": T, "counts": {name: per_step}}.
#include <dlfcn.h>

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <string>
#include <utility>
#include <vector>

#include "bench_common.hpp"
#include "models.hpp"
#include "zoo/core/gemm.hpp"

extern "C" {
void* __libc_malloc(std::size_t);
void* __libc_calloc(std::size_t, std::size_t);
void* __libc_realloc(void*, std::size_t);
void* __libc_memalign(std::size_t, std::size_t);
void __libc_free(void*);
}

static std::atomic<long> g_calls{0};

extern "C" {
void* malloc(std::size_t n) {
  g_calls.fetch_add(1, std::memory_order_relaxed);
  return __libc_malloc(n);
}
void* calloc(std::size_t a, std::size_t b) {
  g_calls.fetch_add(1, std::memory_order_relaxed);
  return __libc_calloc(a, b);
}
void* realloc(void* p, std::size_t n) {
  g_calls.fetch_add(1, std::memory_order_relaxed);
  return __libc_realloc(p, n);
}
int posix_memalign(void** out, std::size_t align, std::size_t n) {
  g_calls.fetch_add(1, std::memory_order_relaxed);
  *out = __libc_memalign(align, n);
  return *out ? 0 : 12;
}
void* aligned_alloc(std::size_t align, std::size_t n) {
  g_calls.fetch_add(1, std::memory_order_relaxed);
  return __libc_memalign(align, n);
}
void* memalign(std::size_t align, std::size_t n) {
  g_calls.fetch_add(1, std::memory_order_relaxed);
  return __libc_memalign(align, n);
}
void free(void* p) { __libc_free(p); }
}

template <class F>
double per_step(F&& f) {
  for (int i = 0; i < 5; ++i) f();
  const long before = g_calls.load();
  constexpr int kSteps = 20;
  for (int i = 0; i < kSteps; ++i) f();
  return static_cast<double>(g_calls.load() - before) / kSteps;
}

int main(int argc, char** argv) {
  const int threads = argc > 1 ? std::atoi(argv[1]) : 1;
  zoo_bench::use_threads(threads);
  std::vector<std::pair<std::string, double>> counts;

  for (long n : {512L, 1024L}) {
    zoo::Tensor<float> a({std::size_t(n * n)}), b({std::size_t(n * n)}), c({std::size_t(n * n)});
    zoo_bench::fill(a, 1), zoo_bench::fill(b, 2);
    counts.emplace_back("gemm_nn_" + std::to_string(n), per_step([&] {
                          zoo::gemm<float>(false, false, n, n, n, 1.f, a.data(), n, b.data(), n,
                                           0.f, c.data(), n);
                        }));
  }
  zoo_bench::AE ae(128);
  zoo_bench::VAE vae(128);
  zoo_bench::GAN gan(128);
  counts.emplace_back("ae_train", per_step([&] { ae.train(); }));
  counts.emplace_back("ae_infer", per_step([&] { ae.infer(); }));
  counts.emplace_back("vae_train", per_step([&] { vae.train(); }));
  counts.emplace_back("gan_train", per_step([&] { gan.train(); }));
  counts.emplace_back("gan_infer", per_step([&] { gan.infer(); }));

  std::printf("{\"gemm\": \"%s\", \"threads\": %d, \"mallocs_per_step\": {", zoo_bench::gemm_backend(),
              threads);
  for (std::size_t i = 0; i < counts.size(); ++i)
    std::printf("%s\"%s\": %g", i ? ", " : "", counts[i].first.c_str(), counts[i].second);
  std::printf("}}\n");
  return 0;
}
