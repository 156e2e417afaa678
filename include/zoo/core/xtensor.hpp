// zoo/core/xtensor.hpp — zoo tensors as xtensor expressions, without copies.
//
//   auto v = zoo::as_xtensor(t);            // xt::xtensor_adaptor over t's buffer, shape (N, ...)
//   v = xt::tanh(v) * 0.5 + 0.5;            // fused, evaluated into t's memory
//
// Kept out of zoo.hpp: xtensor roughly doubles the compile time of a translation
// unit, and zoo's own element-wise kernels are plain loops that measured as fast
// (docs/architecture.md, "Element-wise work").
#pragma once
#include <array>
#include <xtensor/xadapt.hpp>

#include "tensor.hpp"

namespace zoo {

template <class T>
auto as_xtensor(Tensor<T>& t) {
  std::vector<std::size_t> shape(t.shape().begin(), t.shape().end());
  return xt::adapt(t.data(), t.size(), xt::no_ownership(), shape);
}
template <class T>
auto as_xtensor(const Tensor<T>& t) {
  std::vector<std::size_t> shape(t.shape().begin(), t.shape().end());
  return xt::adapt(t.data(), t.size(), xt::no_ownership(), shape);
}

}  // namespace zoo
