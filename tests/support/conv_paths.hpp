// Running one convolution layer on a chosen kernel path from fixed data, for the tests that
// compare paths (test_conv_direct, test_conv_strided, test_conv_pointwise) with each other and
// with the definition: parameters uniform(seed 5), x seed 6, dy seed 7, dx starting at seed 8
// (so that backward's += is checked) and the parameter gradients at 0.25.
#pragma once
#include <algorithm>
#include <vector>
#include <zoo/zoo.hpp>

#include "compare.hpp"

namespace zoo_test {

struct ConvOpts {
  bool frozen = false, with_dx = true, threads = false;
};

template <class T>
struct ConvResult {
  std::vector<T> y, dx, grads;
};

// choose(l.kernel) sets the path; threads = false keeps every call on one thread.
template <class L, class T, class Choose>
ConvResult<T> run_conv(Choose&& choose, std::size_t n, ConvOpts o) {
  L l;
  std::vector<T> params = uniform<T>(zoo::num_params_of<L>() + 1, 5),
                 grads(zoo::num_params_of<L>() + 1);
  T* p = params.data();
  T* g = grads.data();
  zoo::layer_ops::bind_params(l, p, g);
  choose(l.kernel);
  l.frozen = o.frozen;
  l.kernel.min_parallel_flops = o.threads ? 0.0 : 1e300;
  constexpr std::size_t xs = L::input_shape::size, ys = L::output_shape::size;
  const auto x = uniform<T>(n * xs, 6), dy = uniform<T>(n * ys, 7);
  ConvResult<T> r{std::vector<T>(n * ys), uniform<T>(n * xs, 8), {}};
  std::fill(grads.begin(), grads.end(), T(0.25));
  l.forward(x.data(), r.y.data(), n);
  l.backward(x.data(), r.y.data(), dy.data(), o.with_dx ? r.dx.data() : nullptr, n);
  r.grads = grads;
  return r;
}

}  // namespace zoo_test
