// zoo/core/parallel.hpp — OpenMP helpers.
//
// Element-wise work is split across threads only when it is large enough to
// pay for waking them (on 2 cores a parallel region costs a few microseconds
// when the other thread spins, a scheduler slice when it sleeps or its core is
// busy). SerialScope keeps a call on the calling thread, the libraries it calls
// included: Eigen and OpenBLAS's OpenMP build both size their teams from
// omp_get_max_threads(), which it sets to 1 until it goes out of scope.
#pragma once
#include <algorithm>
#include <cstddef>
#if defined(_OPENMP)
#include <omp.h>
#endif

#ifdef ZOO_PROFILE
#include "profile.hpp"
// Opens a timed parallel region: the profile separates a node's time into parallel
// regions and the rest (one thread working).
#define ZOO_PROFILE_REGION ::zoo::profile::Region zoo_profile_region_
#else
#define ZOO_PROFILE_REGION
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

// Inside its scope, omp_get_max_threads() is 1 on this thread; the previous
// value comes back at its end. Cheap (an ICV write; OpenBLAS 0.3.21 re-reads
// it on each call): measured no slower than a plain 5 µs sgemm call.
class SerialScope {
 public:
  SerialScope() {
#if defined(_OPENMP)
    prev_ = omp_get_max_threads();
    if (prev_ > 1) omp_set_num_threads(1);
#endif
  }
  ~SerialScope() {
#if defined(_OPENMP)
    if (prev_ > 1) omp_set_num_threads(prev_);
#endif
  }
  SerialScope(const SerialScope&) = delete;
  SerialScope& operator=(const SerialScope&) = delete;

 private:
  int prev_ = 1;
};

// Calls f(begin, end) over [0, n) in contiguous chunks, one per thread.
template <class F>
void parallel_for(std::size_t n, std::size_t cost_per_item, F&& f) {
#if defined(_OPENMP)
  if (n * cost_per_item >= kParallelGrain && n > 1 && omp_get_max_threads() > 1 &&
      !omp_in_parallel()) {
    ZOO_PROFILE_REGION;
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

// p[0, len) = v, split across threads when it is large enough (the graphs clear every
// node gradient that backward adds into: megabytes a step, on one thread a tenth of
// yolov5n's step). Cost 4 a value: from 64 K values (256 KB of floats, ~10 µs of one
// core's stores), well above what waking the other thread costs.
template <class T>
void parallel_fill(T* p, std::size_t len, T v) {
  parallel_for(len, 4, [=](std::size_t b, std::size_t e) { std::fill(p + b, p + e, v); });
}
// d[0, len) = s[0, len), the same way.
template <class T>
void parallel_copy(const T* s, std::size_t len, T* d) {
  parallel_for(len, 4, [=](std::size_t b, std::size_t e) { std::copy(s + b, s + e, d + b); });
}

}  // namespace zoo
