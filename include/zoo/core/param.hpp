// zoo/core/param.hpp — views of a model's flat parameter storage.
//
// A model keeps all trainable parameters in one contiguous buffer and their
// gradients in another of the same layout (as llm.c does), so optimizers are
// one loop over a span and checkpoints are one visitor over named views.
#pragma once
#include <cstddef>
#include <string>
#include <vector>

namespace zoo {

// A contiguous range of parameters and their gradients (an optimizer's unit).
template <class T>
struct ParamSpan {
  T* data = nullptr;
  T* grad = nullptr;
  std::size_t size = 0;
};

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
