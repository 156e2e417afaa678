// zoo/core/parallel.hpp — OpenMP helpers.
//
// Element-wise work is split across threads only when it is large enough to
// pay for waking them (on 2 cores a parallel region costs a few microseconds).
#pragma once
#include <cstddef>
#if defined(_OPENMP)
#include <omp.h>
#endif

namespace zoo {

inline int num_threads() {
#if defined(_OPENMP)
  return omp_get_max_threads();
#else
  return 1;
#endif
}

inline void set_num_threads(int n) {
#if defined(_OPENMP)
  omp_set_num_threads(n > 0 ? n : 1);
#else
  (void)n;
#endif
}

// Below this much work (elements × cost per element) a loop stays on one
// thread: waking the second thread costs microseconds on an idle machine and a
// scheduler slice on a busy one. With cost 8 this is 32768 elements, PyTorch's grain.
inline constexpr std::size_t kParallelGrain = 1 << 18;

// Calls f(begin, end) over [0, n) in contiguous chunks, one per thread.
template <class F>
void parallel_for(std::size_t n, std::size_t cost_per_item, F&& f) {
#if defined(_OPENMP)
  if (n * cost_per_item >= kParallelGrain && n > 1 && omp_get_max_threads() > 1 &&
      !omp_in_parallel()) {
#pragma omp parallel
    {
      const std::size_t t = static_cast<std::size_t>(omp_get_thread_num());
      const std::size_t nt = static_cast<std::size_t>(omp_get_num_threads());
      const std::size_t b = n * t / nt, e = n * (t + 1) / nt;
      if (b < e) f(b, e);
    }
    return;
  }
#endif
  (void)cost_per_item;
  f(std::size_t{0}, n);
}

}  // namespace zoo
