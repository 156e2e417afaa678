// tests/support/gradcheck.hpp — finite-difference checks of a layer's backward.
//
// For a bound layer L (in double) with K inputs, draws inputs x and an upstream
// gradient dy, and compares backward's dx and dθ with central differences of
// the scalar  f = Σ y·dy. Gradients are PRE-FILLED with a constant before
// backward and the constant subtracted after, which proves backward adds
// (+=) instead of assigning. Errors print the first offending entries.
#pragma once
#include <doctest/doctest.h>

#include <array>
#include <cmath>
#include <cstdio>
#include <functional>
#include <string>
#include <vector>
#include <zoo/zoo.hpp>

namespace zoo::test {

struct GradCheckOptions {
  std::size_t batch = 3;
  double eps = 1e-6;
  double tol = 1e-6;        // on |a − n| / max(1, |a| + |n|)
  double input_lo = -1.0, input_hi = 1.0;
  std::uint64_t seed = 1;
  bool training = true;
  // Optional: overwrite the drawn inputs (e.g. keep them away from kinks).
  std::function<void(std::size_t k, std::vector<double>&)> make_input;
  std::function<void(double* params, std::size_t n)> make_params;
};

inline bool close_enough(double a, double n, double tol) {
  return std::abs(a - n) / std::max(1.0, std::abs(a) + std::abs(n)) <= tol;
}

template <class L>
void grad_check(const GradCheckOptions& o = {}) {
  using T = double;
  constexpr std::size_t K = layer_arity<L>();
  constexpr std::size_t P = num_params_of<L>();
  constexpr std::size_t B = num_buffers_of<L>();
  const std::size_t n = o.batch;
  std::array<std::size_t, K> in_size{};
  if constexpr (K == 1) in_size[0] = L::input_shape::size;
  else
    [&]<std::size_t... I>(std::index_sequence<I...>) {
      ((in_size[I] = type_at_t<I, typename L::input_shapes>::size), ...);
    }(std::make_index_sequence<K>{});
  const std::size_t out_size = n * L::output_shape::size;

  L layer;
  std::vector<T> params(P + 1), grads(P + 1), buffers(B + 1);
  T* p = params.data();
  T* g = grads.data();
  T* b = buffers.data();
  layer_ops::bind_params(layer, p, g);
  layer_ops::bind_buffers(layer, b);
  Rng rng(o.seed);
  layer_ops::init(layer, rng);
  if (o.make_params) o.make_params(params.data(), P);
  layer_ops::set_training(layer, o.training);
  layer_ops::resize(layer, n);

  std::array<std::vector<T>, K> x, dx;
  for (std::size_t k = 0; k < K; ++k) {
    x[k].resize(n * in_size[k]);
    rng.fill_uniform(x[k].data(), x[k].size(), o.input_lo, o.input_hi);
    if (o.make_input) o.make_input(k, x[k]);
    dx[k].assign(x[k].size(), 0.5);  // pre-filled: backward must add
  }
  std::vector<T> y(out_size), dy(out_size);
  rng.fill_uniform(dy.data(), dy.size(), -1.0, 1.0);
  const std::vector<T> buffers0 = buffers;

  auto run_forward = [&](std::vector<T>& out) {
    buffers = buffers0;  // running statistics must not drift between probes
    if constexpr (K == 1) layer.forward(x[0].data(), out.data(), n);
    else {
      std::array<const T*, K> xs{};
      for (std::size_t k = 0; k < K; ++k) xs[k] = x[k].data();
      layer.forward(xs, out.data(), n);
    }
  };
  auto objective = [&]() {
    std::vector<T> out(out_size);
    run_forward(out);
    double s = 0;
    for (std::size_t i = 0; i < out_size; ++i) s += out[i] * dy[i];
    return s;
  };

  run_forward(y);
  std::fill(grads.begin(), grads.end(), 0.25);
  if constexpr (K == 1) layer.backward(x[0].data(), y.data(), dy.data(), dx[0].data(), n);
  else {
    std::array<const T*, K> xs{};
    std::array<T*, K> dxs{};
    for (std::size_t k = 0; k < K; ++k) xs[k] = x[k].data(), dxs[k] = dx[k].data();
    layer.backward(xs, y.data(), dy.data(), dxs, n);
  }

  int bad = 0;
  auto check = [&](const char* what, std::size_t k, std::size_t i, double analytic, T& v) {
    const T saved = v;
    v = saved + o.eps;
    const double fp = objective();
    v = saved - o.eps;
    const double fm = objective();
    v = saved;
    const double numeric = (fp - fm) / (2 * o.eps);
    if (!close_enough(analytic, numeric, o.tol)) {
      if (bad < 8)
        MESSAGE(what << "[" << k << "][" << i << "]: backward " << analytic << ", numeric "
                     << numeric);
      ++bad;
    }
  };
  for (std::size_t k = 0; k < K; ++k)
    for (std::size_t i = 0; i < x[k].size(); ++i) check("dx", k, i, dx[k][i] - 0.5, x[k][i]);
  for (std::size_t i = 0; i < P; ++i) check("dparam", 0, i, grads[i] - 0.25, params[i]);
  CHECK_MESSAGE(bad == 0, bad << " gradient entries disagree with finite differences");
  CHECK(grads[P] == 0.25);  // nothing written past the layer's parameters
}

}  // namespace zoo::test
