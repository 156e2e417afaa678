// AKConv properties: gradient checks in double away from integer sampling points,
// the grid p_0 is not transposed on a non-square input, zero offsets with N = k² give
// the matching plain convolution, the gather's adjoint identity, non-finite offsets
// throw, threads do not change results, and the compile-time parameter/FLOP counts.
#include <doctest/doctest.h>

#include <cmath>
#include <limits>
#include <vector>
#include <zoo/layers/akconv.hpp>

#include "support/gradcheck.hpp"

namespace {

using zoo::AKConvSampling;
using zoo::Shape;

// A bound layer with its own flat storage.
template <class L, class T = double>
struct Bound {
  L layer;
  std::vector<T> params = std::vector<T>(L::num_params), grads = std::vector<T>(L::num_params),
                 buffers = std::vector<T>(zoo::num_buffers_of<L>() + 1);
  explicit Bound(std::size_t n, std::uint64_t seed = 7) {
    T* p = params.data();
    T* g = grads.data();
    T* b = buffers.data();
    zoo::layer_ops::bind_params(layer, p, g);
    zoo::layer_ops::bind_buffers(layer, b);
    zoo::Rng rng(seed);
    zoo::layer_ops::init(layer, rng);
    zoo::layer_ops::resize(layer, n);
  }
};

// Offsets = bias + Σ w·x with |Σ w·x| ≤ 9·C·0.01 < 0.2 for |x| ≤ 1; the biases put every
// p = p_0 + p_n + bias at a half-integer, inside the image or well outside it, so each
// coordinate stays ≥ 0.3 from the integers where the bilinear weights have kinks.
template <class L>
void gradcheck_akconv(std::uint64_t seed) {
  zoo::test::GradCheckOptions o;
  o.seed = seed;
  o.tol = 2e-6;
  o.make_params = [](double* p, std::size_t n) {
    REQUIRE(n == L::num_params);
    double* pw = p + L::weight_size + L::BN::num_params;  // p_conv.weight
    double* pb = pw + L::PConv::weight_size;              // p_conv.bias
    zoo::Rng r(11);
    r.fill_uniform(pw, L::PConv::weight_size, -0.01, 0.01);
    const double half[] = {0.5, -0.5, 1.5, -3.5, 0.5, 9.5, -1.5, 2.5, 0.5, -6.5};
    for (std::size_t k = 0; k < 2 * L::N; ++k) pb[k] = half[k % 10];
  };
  zoo::test::grad_check<L>(o);
}

}  // namespace

TEST_CASE("AKConv gradient check in double (clamp_to_edge and reference; N 3, 5; stride 1, 2)") {
  gradcheck_akconv<zoo::bind_t<zoo::AKConv<3, 5, 2>, double, Shape<2, 5, 4>>>(1);
  gradcheck_akconv<zoo::bind_t<zoo::AKConv<2, 3, 1>, double, Shape<2, 4, 6>>>(2);
  gradcheck_akconv<zoo::bind_t<zoo::AKConv<3, 5, 1, AKConvSampling::reference>, double,
                               Shape<2, 5, 4>>>(3);
  gradcheck_akconv<zoo::bind_t<zoo::AKConv<2, 4, 2, AKConvSampling::reference>, double,
                               Shape<3, 6, 3>>>(4);
}

TEST_CASE("p_n follows the official row-major 'ij' order, anchored top-left") {
  using zoo::kernels::akconv_base;
  using zoo::kernels::akconv_pn_col;
  using zoo::kernels::akconv_pn_row;
  // base = round(√N)
  const zoo::index_t base[] = {1, 1, 2, 2, 2, 2, 3, 3, 3, 3, 3, 3, 4};
  for (zoo::index_t n = 1; n <= 13; ++n) CHECK(akconv_base(n) == base[n - 1]);
  // N = 5: (0,0) (0,1) (1,0) (1,1) (2,0);  N = 7: 3 per row, then (2,0).
  const int r5[] = {0, 0, 1, 1, 2}, c5[] = {0, 1, 0, 1, 0};
  for (int k = 0; k < 5; ++k) CHECK((akconv_pn_row(5, k) == r5[k] && akconv_pn_col(5, k) == c5[k]));
  CHECK((akconv_pn_row(7, 6) == 2 && akconv_pn_col(7, 6) == 0));
  CHECK((akconv_pn_row(7, 5) == 1 && akconv_pn_col(7, 5) == 2));
}

TEST_CASE("the grid p_0 is not transposed: output (i, j) samples input (i·S, j·S) on a 3×6 image") {
  using L = zoo::bind_t<zoo::AKConv<2, 1, 2>, double, Shape<2, 3, 6>>;  // N = 1: p_n = (0, 0)
  using R = zoo::bind_t<zoo::AKConv<2, 1, 2, AKConvSampling::reference>, double, Shape<2, 3, 6>>;
  static_assert(L::OH == 2 && L::OW == 3);
  constexpr std::size_t n = 2;
  Bound<L> l(n);
  Bound<R> r(n);
  std::fill(l.layer.p_conv.bias, l.layer.p_conv.bias + 2, 0.0);  // zero offsets
  std::fill(r.layer.p_conv.bias, r.layer.p_conv.bias + 2, 0.0);
  std::vector<double> x(n * 2 * 3 * 6), y(n * L::output_shape::size);
  for (std::size_t i = 0; i < x.size(); ++i) x[i] = double(i) + 1;  // every pixel distinct
  l.layer.forward(x.data(), y.data(), n);
  r.layer.forward(x.data(), y.data(), n);
  for (std::size_t b = 0; b < n; ++b)
    for (std::size_t c = 0; c < 2; ++c)
      for (std::size_t i = 0; i < 2; ++i)
        for (std::size_t j = 0; j < 3; ++j) {
          const double want = x[((b * 2 + c) * 3 + 2 * i) * 6 + 2 * j];
          const std::size_t at = (b * 2 + c) * 6 + i * 3 + j;  // col (B, C·N, OH·OW)
          CHECK(l.layer.col[at] == want);
          // The reference doubles samples on the last row (2 = H − 1); column 2j ≤ 4 < 5.
          CHECK(r.layer.col[at] == (2 * i == 2 ? 2 * want : want));
        }
}

TEST_CASE("zero offsets and N = k² equal the plain k×k convolution on its valid region") {
  // AKConv's shape is anchored top-left: output (i, j) reads x[i·S + r, j·S + c], r, c < k,
  // exactly what Conv2d(k, stride S, padding 0) reads at (i, j). AKConv's output is
  // ⌈H/S⌉ × ⌈W/S⌉ (p_conv's), the plain conv's (H − k)/S + 1: on that valid top-left block
  // the pre-BN outputs agree, since conv.0.weight (Out, C, k², 1) has the memory layout of
  // a (Out, C, k, k) weight. Beyond it AKConv samples the clamped edge.
  constexpr std::size_t C = 3, Hs = 9, Out = 4, k = 3, S = 2;
  using L = zoo::bind_t<zoo::AKConv<Out, k * k, S>, double, Shape<C, Hs, Hs>>;
  using R = zoo::bind_t<zoo::AKConv<Out, k * k, S, AKConvSampling::reference>, double,
                        Shape<C, Hs, Hs>>;
  using Plain = zoo::bind_t<zoo::Conv2d<Out, k, S, 0, 1, 1, false>, double, Shape<C, Hs, Hs>>;
  constexpr std::size_t V = Plain::OH;  // 4
  static_assert(L::OH == 5 && V == 4);
  constexpr std::size_t n = 2;
  Bound<L> l(n, 5);
  Bound<R> r(n, 5);
  Bound<Plain> plain(n, 5);
  std::fill(l.layer.p_conv.bias, l.layer.p_conv.bias + 2 * k * k, 0.0);
  std::fill(r.layer.p_conv.bias, r.layer.p_conv.bias + 2 * k * k, 0.0);
  std::copy(l.layer.weight, l.layer.weight + L::weight_size, plain.layer.weight);
  std::copy(l.layer.weight, l.layer.weight + L::weight_size, r.layer.weight);
  std::vector<double> x(n * L::input_shape::size), y(n * L::output_shape::size),
      yp(n * Plain::output_shape::size);
  zoo::Rng rng(9);
  rng.fill_uniform(x.data(), x.size(), -1, 1);
  l.layer.forward(x.data(), y.data(), n);
  r.layer.forward(x.data(), y.data(), n);
  plain.layer.forward(x.data(), yp.data(), n);
  double worst = 0, ref_last = 0;
  for (std::size_t b = 0; b < n; ++b)
    for (std::size_t o = 0; o < Out; ++o)
      for (std::size_t i = 0; i < V; ++i)
        for (std::size_t j = 0; j < V; ++j) {
          const double want = yp[((b * Out + o) * V + i) * V + j];
          const std::size_t at = ((b * Out + o) * L::OH + i) * L::OW + j;
          worst = std::max(worst, std::abs(l.layer.z[at] - want));
          // The reference agrees except where a sample lands on the last row/column
          // (i·S + k − 1 = H − 1): there it doubles it.
          const double dr = std::abs(r.layer.z[at] - want);
          if (i < V - 1 && j < V - 1) CHECK(dr < 1e-12);
          else ref_last = std::max(ref_last, dr);
        }
  CHECK(worst < 1e-12);
  CHECK(ref_last > 1e-3);
}

TEST_CASE("the gather's backward is its adjoint: <gather(x), d> = <x, scatter(d)>") {
  using namespace zoo::kernels;
  const AKConvGeom g{3, 5, 7, 5, 3, 4, 2};
  const zoo::index_t B = 2, P = g.P();
  std::vector<double> x(B * 3 * 5 * 7), off(B * 2 * 5 * P), col(B * 3 * 5 * P), d(col.size()),
      dx(x.size(), 0.0), doff(off.size());
  zoo::Rng rng(4);
  rng.fill_uniform(x.data(), x.size(), -1, 1);
  rng.fill_uniform(off.data(), off.size(), -4, 4);
  rng.fill_uniform(d.data(), d.size(), -1, 1);
  std::vector<AKConvTap<double>> taps(B * 5 * P);
  akconv_gather_forward<double, zoo::AKConvSampling::clamp_to_edge>(CpuRun{}, g, B, x.data(),
                                                                     off.data(), taps.data(),
                                                                     col.data());
  akconv_gather_backward<double>(CpuRun{}, g, B, x.data(), taps.data(), d.data(), doff.data(),
                                 dx.data());
  double lhs = 0, rhs = 0;
  for (std::size_t i = 0; i < col.size(); ++i) lhs += col[i] * d[i];
  for (std::size_t i = 0; i < x.size(); ++i) rhs += x[i] * dx[i];
  CHECK(std::abs(lhs - rhs) < 1e-10 * (1 + std::abs(lhs)));
}

TEST_CASE("non-finite offsets are an error, not an out-of-range read") {
  using L = zoo::bind_t<zoo::AKConv<2, 5, 1>, float, Shape<2, 4, 6>>;
  constexpr std::size_t n = 2;
  Bound<L, float> l(n);
  std::vector<float> x(n * L::input_shape::size, 0.5f), y(n * L::output_shape::size);
  CHECK_NOTHROW(l.layer.forward(x.data(), y.data(), n));
  l.layer.p_conv.bias[7] = std::numeric_limits<float>::quiet_NaN();  // column offset of point 2
  CHECK_THROWS_WITH_AS(l.layer.forward(x.data(), y.data(), n),
                       doctest::Contains("non-finite offset (nan) at sample 0, column offset of "
                                         "point 2, output position (0, 0)"),
                       std::invalid_argument);
  l.layer.p_conv.bias[7] = 0;
  l.layer.p_conv.weight[0] = 1;  // x = inf reaches the offsets through p_conv's weights
  x[L::input_shape::size + 5] = std::numeric_limits<float>::infinity();
  CHECK_THROWS_AS(l.layer.forward(x.data(), y.data(), n), std::invalid_argument);
}

TEST_CASE("two threads give the results of one") {
  using L = zoo::bind_t<zoo::AKConv<8, 5, 2>, double, Shape<6, 10, 12>>;
  constexpr std::size_t n = 4;
  std::vector<double> x(n * L::input_shape::size), dy(n * L::output_shape::size);
  zoo::Rng rng(1);
  rng.fill_uniform(x.data(), x.size(), -1, 1);
  rng.fill_uniform(dy.data(), dy.size(), -1, 1);
  auto run = [&](int threads, std::vector<double>& y, std::vector<double>& dx,
                 std::vector<double>& grads) {
    zoo::set_num_threads(threads);
    Bound<L> l(n);
    for (std::size_t i = 0; i < L::PConv::weight_size; ++i) l.layer.p_conv.weight[i] = 0.02 * std::sin(double(i));
    y.assign(dy.size(), 0);
    dx.assign(x.size(), 0);
    l.layer.forward(x.data(), y.data(), n);
    l.layer.backward(x.data(), y.data(), dy.data(), dx.data(), n);
    grads = l.grads;
  };
  std::vector<double> y1, dx1, g1, y2, dx2, g2;
  run(1, y1, dx1, g1);
  run(2, y2, dx2, g2);
  zoo::set_num_threads(1);
  auto maxdiff = [](const std::vector<double>& a, const std::vector<double>& b) {
    double m = 0;
    for (std::size_t i = 0; i < a.size(); ++i) m = std::max(m, std::abs(a[i] - b[i]));
    return m;
  };
  CHECK(maxdiff(y1, y2) < 1e-12);
  CHECK(maxdiff(dx1, dx2) < 1e-12);
  CHECK(maxdiff(g1, g2) < 1e-10);
}

TEST_CASE("parameters and FLOPs are compile-time constants that grow linearly with N") {
  // AKConv(64 → 128, N = 5, stride 2) on 40×40: N·C·Out + 3·3·C·2N + 2N (p_conv bias)
  // + 2·Out (BN), against a 3×3 conv's 9·C·Out.
  using L = zoo::bind_t<zoo::AKConv<128, 5, 2>, float, Shape<64, 40, 40>>;
  static_assert(L::num_params == 5 * 64 * 128 + 9 * 64 * 10 + 10 + 2 * 128);
  static_assert(L::num_params == 46986);
  static_assert(L::OH == 20 && L::OW == 20);
  constexpr double gemm = 2.0 * 128 * 64 * 5 * 400, pconv = 2.0 * 10 * 64 * 9 * 400 + 10 * 400;
  static_assert(L::flops > gemm + pconv && L::flops < 1.2 * (gemm + pconv));
  using L9 = zoo::bind_t<zoo::AKConv<128, 9, 2>, float, Shape<64, 40, 40>>;
  using L1 = zoo::bind_t<zoo::AKConv<128, 1, 2>, float, Shape<64, 40, 40>>;
  static_assert(L9::num_params - L::num_params == 4 * (64 * 128 + 9 * 64 * 2 + 2));
  static_assert(L::num_params - L1::num_params == 4 * (64 * 128 + 9 * 64 * 2 + 2));
  CHECK(L::flops > 0);
}
