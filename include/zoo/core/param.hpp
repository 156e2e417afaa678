// zoo/core/param.hpp — views of a model's flat parameter storage.
//
// A model keeps all trainable parameters in one contiguous buffer and their
// gradients in another of the same layout (as llm.c does), so optimizers are
// one loop over a span and checkpoints are one visitor over named views.
#pragma once
#include <cstddef>
#include <string>
#include <utility>
#include <vector>

#include "parallel.hpp"

namespace zoo {

// One parameter tensor inside a span: `rows` × `cols` values from `offset` (a vector is
// rows × 1). Threads split each tensor by rows, as the GEMM that writes its gradient
// does (see ParamSpan::blocks).
struct ParamBlock {
  std::size_t offset = 0, rows = 0, cols = 0;
};

// A contiguous range of parameters and their gradients (an optimizer's unit).
// `blocks` (optional, from Model::parameters()) lists its tensors: an optimizer on
// several threads then gives thread t rows [rows·t/T, rows·(t+1)/T) of every tensor —
// the rows that thread's share of the dW GEMM wrote — instead of one contiguous half
// of the span; on this VM a line written by the other vCPU costs a transfer.
template <class T>
struct ParamSpan {
  T* data = nullptr;
  T* grad = nullptr;
  std::size_t size = 0;
  const std::vector<ParamBlock>* blocks = nullptr;
};

// f(begin, end) over [0, size) of a span: per thread, its rows of every block when the
// span has blocks and the work pays for a parallel region (cost per value as
// parallel_for's), else parallel_for's contiguous chunks.
template <class T, class F>
void for_param_rows(const ParamSpan<T>& s, std::size_t cost, F&& f) {
#if defined(_OPENMP)
  if (s.blocks && s.size * cost >= kParallelGrain && omp_get_max_threads() > 1 &&
      !omp_in_parallel()) {
    ZOO_PROFILE_REGION;
#pragma omp parallel
    {
      const std::size_t t = static_cast<std::size_t>(omp_get_thread_num());
      const std::size_t k = static_cast<std::size_t>(omp_get_num_threads());
      for (const ParamBlock& b : *s.blocks) {
        const std::size_t lo = b.rows * t / k, hi = b.rows * (t + 1) / k;
        if (lo < hi) f(b.offset + lo * b.cols, b.offset + hi * b.cols);
      }
    }
    return;
  }
#endif
  parallel_for(s.size, cost, std::forward<F>(f));
}

// One named tensor of a model, as PyTorch's state_dict names it.
template <class T>
struct NamedTensor {
  std::string name;
  std::vector<std::size_t> shape;
  T* data = nullptr;
  T* grad = nullptr;  // null for buffers (running statistics)
  std::size_t size = 0;
};

}  // namespace zoo
