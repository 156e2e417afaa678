// zoo/cuda/scratch.hpp — temporary storage for the backend's reductions, kept from call to
// call.
//
// Thrust's reductions (transform_reduce, count_if, find_if) need temporary storage. Given
// thrust::device, under CUDA they take it from cudaMalloc and return it with cudaFree on
// every call: an allocation and a device-wide synchronization each time, several times a
// step (each loss's sum, gradient clipping, the guards' finiteness checks). reduce_policy()
// gives them a caching allocator instead: a block, once allocated, goes back to a free list
// and serves the next call of its size or less, so a steady-state step allocates nothing —
// the rule the models' own buffers follow. One allocator per host thread; its blocks are
// freed when the thread ends.
#pragma once
#include <cassert>
#include <cstddef>
#include <map>

#include "runtime.hpp"

#if ZOO_CUDA_DEVICE
#include <thrust/system/cuda/execution_policy.h>
#elif THRUST_DEVICE_SYSTEM == THRUST_DEVICE_SYSTEM_OMP
#include <thrust/system/omp/execution_policy.h>
#else
#include <thrust/system/cpp/execution_policy.h>
#endif

namespace zoo::cuda {

class ScratchAllocator {
 public:
  using value_type = char;
  ScratchAllocator() = default;
  ScratchAllocator(const ScratchAllocator&) = delete;
  ScratchAllocator& operator=(const ScratchAllocator&) = delete;
  ~ScratchAllocator() {
    for (auto& [bytes, p] : free_) device_free(p);
    for (auto& [p, bytes] : used_) device_free(p);
  }
  char* allocate(std::ptrdiff_t n) {
    const std::size_t want = n > 0 ? static_cast<std::size_t>(n) : 1;
    char* p = nullptr;
    std::size_t bytes = want;
    if (auto it = free_.lower_bound(want); it != free_.end()) {
      bytes = it->first;
      p = it->second;
      free_.erase(it);
    } else {
      p = static_cast<char*>(device_alloc(want));
      ++allocations_;
      held_ += want;
    }
    used_.emplace(p, bytes);
    return p;
  }
  void deallocate(char* p, std::size_t) noexcept {
    const auto it = used_.find(p);
    assert(it != used_.end() && "zoo::cuda::ScratchAllocator: a block it did not hand out");
    if (it == used_.end()) return;
    free_.emplace(it->second, p);
    used_.erase(it);
  }
  // Device allocations made so far, and the bytes they hold (for tests and diagnostics).
  std::size_t allocations() const { return allocations_; }
  std::size_t bytes_held() const { return held_; }

 private:
  std::multimap<std::size_t, char*> free_;  // by size: the smallest block that fits
  std::map<char*, std::size_t> used_;
  std::size_t allocations_ = 0, held_ = 0;
};

// This thread's allocator.
inline ScratchAllocator& scratch() {
  thread_local ScratchAllocator s;
  return s;
}

// The execution policy of a reduction: the device system, with scratch() for its
// temporary storage.
inline auto reduce_policy() {
#if ZOO_CUDA_DEVICE
  return thrust::cuda::par(scratch());
#elif THRUST_DEVICE_SYSTEM == THRUST_DEVICE_SYSTEM_OMP
  return thrust::omp::par(scratch());
#else
  return thrust::cpp::par(scratch());
#endif
}

}  // namespace zoo::cuda
