// zoo/cuda/diffusion.hpp — the device layers of the diffusion models' own blocks
// (models/diffusion/blocks.hpp): Scale, the residual blocks' constant factor.
#pragma once
#include "../models/diffusion/blocks.hpp"
#include "layers.hpp"

namespace zoo::cuda {

namespace fn {
template <class T, bool Add>
struct Scaled {  // y (+)= s·x
  const T* x;
  T* y;
  T s;
  ZOO_HD void operator()(index_t i) const {
    if constexpr (Add) y[i] += s * x[i];
    else y[i] = s * x[i];
  }
};
}  // namespace fn

template <class T, class In, std::intmax_t Num, std::intmax_t Den>
struct layer<models::diffusion::ScaleLayer<T, In, Num, Den>>
    : leaf<models::diffusion::ScaleLayer<T, In, Num, Den>> {
  static constexpr T S = static_cast<T>(models::diffusion::ScaleLayer<T, In, Num, Den>::S);
  static constexpr bool inplace = true;
  void forward(const T* x, T* y, std::size_t n) {
    launch(static_cast<index_t>(n * In::size), fn::Scaled<T, false>{x, y, S});
  }
  void backward(const T*, const T*, const T* dy, T* dx, std::size_t n) {
    if (dx) launch(static_cast<index_t>(n * In::size), fn::Scaled<T, true>{dy, dx, S});
  }
};

}  // namespace zoo::cuda
