// The pointwise path of Conv2d (cpu/conv2d.hpp: 1×1 convolutions on gather_gemm, with W
// broadcast and the image rows read in place; dW through dy transposed in blocks of pixels)
// against the definition summed naively in double and against the GEMM path: forward, dx,
// dW and db, for channel counts that are not whole SIMD vectors, Detect's 45 outputs with a
// bias, maps of one vector of pixels (several samples a call, with a remainder), pixel
// blocks with a remainder, threads, frozen weights and a missing dx. Backward must ADD into dx and the gradients.
#include <doctest/doctest.h>

#include <cmath>
#include <vector>
#include <zoo/zoo.hpp>
#if defined(_OPENMP)
#include <omp.h>
#endif

#include "support/compare.hpp"
#include "support/conv_paths.hpp"
#include "support/gradcheck.hpp"

using namespace zoo;

namespace {

using zoo_test::max_rel_diff;
using zoo_test::uniform;

using Opts = zoo_test::ConvOpts;
template <class T>
using Result = zoo_test::ConvResult<T>;

template <class L, class T>
Result<T> run(bool pw, std::size_t n, Opts o) {
  return zoo_test::run_conv<L, T>([pw](auto& k) { k.pw = pw; }, n, o);
}

// y = b + W·x per pixel, by the definition, with the same data as run().
template <class L>
Result<double> naive(std::size_t n, Opts o, bool bias) {
  using K = typename L::kernel_type;
  constexpr std::size_t C = K::C, Out = K::out_channels, P = K::P;
  const std::vector<double> params = uniform<double>(num_params_of<L>() + 1, 5);
  const double* w = params.data();  // (Out, C)
  const double* b = w + Out * C;
  const auto x = uniform<double>(n * C * P, 6), dy = uniform<double>(n * Out * P, 7);
  Result<double> r{std::vector<double>(n * Out * P), uniform<double>(n * C * P, 8),
                   std::vector<double>(params.size(), 0.25)};
  double* dw = r.grads.data();
  double* db = dw + Out * C;
  for (std::size_t i = 0; i < n; ++i)
    for (std::size_t oc = 0; oc < Out; ++oc)
      for (std::size_t p = 0; p < P; ++p) {
        const std::size_t yi = (i * Out + oc) * P + p;
        double s = bias ? b[oc] : 0.0;
        if (bias && !o.frozen) db[oc] += dy[yi];
        for (std::size_t c = 0; c < C; ++c) {
          const std::size_t xi = (i * C + c) * P + p;
          s += w[oc * C + c] * x[xi];
          if (!o.frozen) dw[oc * C + c] += dy[yi] * x[xi];
          if (o.with_dx) r.dx[xi] += dy[yi] * w[oc * C + c];
        }
        r.y[yi] = s;
      }
  return r;
}

template <class Spec, class In, class T = double, bool Bias = true>
void check(Opts o = {}, std::size_t n = 5, double ftol = 2e-5) {
  using L = bind_t<Spec, T, In>;
  static_assert(L::kernel_type::pw_default, "this shape must take the pointwise path");
  const Result<T> a = run<L, T>(true, n, o), b = run<L, T>(false, n, o);
  const double tol = std::is_same_v<T, double> ? 1e-12 : ftol;
  INFO("samples side by side: " << L::kernel_type::PWS);
  CHECK_MESSAGE(max_rel_diff(a.y, b.y) < tol, "forward differs by " << max_rel_diff(a.y, b.y));
  CHECK_MESSAGE(max_rel_diff(a.dx, b.dx) < tol, "dx differs by " << max_rel_diff(a.dx, b.dx));
  CHECK_MESSAGE(max_rel_diff(a.grads, b.grads) < tol,
                "parameter gradients differ by " << max_rel_diff(a.grads, b.grads));
  if constexpr (std::is_same_v<T, double>) {
    const Result<double> d = naive<L>(n, o, Bias);
    CHECK_MESSAGE(max_rel_diff(a.y, d.y) < 1e-12, "forward differs from the definition by "
                                                      << max_rel_diff(a.y, d.y));
    CHECK_MESSAGE(max_rel_diff(a.dx, d.dx) < 1e-12, "dx differs from the definition by "
                                                        << max_rel_diff(a.dx, d.dx));
    CHECK_MESSAGE(max_rel_diff(a.grads, d.grads) < 1e-12,
                  "parameter gradients differ from the definition by "
                      << max_rel_diff(a.grads, d.grads));
  }
  if (o.frozen)
    for (std::size_t i = 0; i + 1 < a.grads.size(); ++i) REQUIRE(a.grads[i] == T(0.25));
}

}  // namespace

TEST_CASE("pointwise conv equals the definition and the GEMM path, double") {
  check<Conv2d<16, 1>, Shape<32, 8, 8>>();                          // C3's cv1
  check<Conv2d<45, 1>, Shape<64, 4, 4>>();                          // Detect: 45 outputs, bias
  check<Conv2d<17, 1, 1, 0, 1, 1, false>, Shape<3, 2, 4>, double, false>();  // one vector of pixels
  check<Conv2d<17, 1, 1, 0, 1, 1, false>, Shape<3, 2, 4>, double, false>({}, 19);  // 8 + 8 + 3 samples
  check<Conv2d<24, 1>, Shape<19, 24, 24>>({}, 2);                   // 576 pixels: dyT blocks 512 + 64
  check<Conv2d<8, 1>, Shape<40, 32, 32>>({}, 2);                    // two whole blocks
}

TEST_CASE("pointwise conv: threads, frozen weights, no dx") {
#if defined(_OPENMP)
  omp_set_num_threads(2);  // CTest runs with 1; this case splits the batch
#endif
  check<Conv2d<16, 1>, Shape<32, 8, 8>>({.threads = true}, 7);
  check<Conv2d<16, 1>, Shape<32, 8, 8>>({.frozen = true});
  check<Conv2d<16, 1>, Shape<32, 8, 8>>({.with_dx = false});
  check<Conv2d<45, 1>, Shape<64, 4, 4>>({.frozen = true, .with_dx = false, .threads = true}, 9);
  check<Conv2d<45, 1>, Shape<64, 4, 4>, float>({.threads = true}, 19);  // samples side by side
  check<Conv2d<24, 1>, Shape<8, 2, 4>>({.threads = true}, 21);
#if defined(_OPENMP)
  omp_set_num_threads(1);
#endif
}

TEST_CASE("pointwise conv equals the GEMM path in float, yolov5n's shapes") {
  check<Conv2d<16, 1, 1, 0, 1, 1, false>, Shape<32, 32, 32>, float, false>({}, 3);
  check<Conv2d<128, 1, 1, 0, 1, 1, false>, Shape<256, 4, 4>, float, false>({}, 16);
  check<Conv2d<256, 1, 1, 0, 1, 1, false>, Shape<512, 4, 4>, float, false>({}, 4, 5e-5);
  check<Conv2d<45, 1>, Shape<64, 16, 16>, float>({}, 4);
}

TEST_CASE("pointwise conv: gradient check in double") {
  using L = bind_t<Conv2d<16, 1>, double, Shape<8, 4, 4>>;
  static_assert(L::kernel_type::pw_default);
  test::grad_check<L>({.batch = 2});
}

TEST_CASE("pointwise conv: which layers take it") {
  // Whole SIMD vectors of pixels a row: 4×4 in float takes it, 5×5 and 3×3 do not.
  static_assert(bind_t<Conv2d<16, 1>, float, Shape<32, 4, 4>>::kernel_type::pw_default);
  static_assert(!bind_t<Conv2d<16, 1>, float, Shape<32, 5, 5>>::kernel_type::pw_possible);
  // Strided, padded or grouped 1×1s are not pointwise.
  static_assert(!bind_t<Conv2d<16, 1, 2>, float, Shape<32, 8, 8>>::kernel_type::pw_possible);
  static_assert(!bind_t<Conv2d<16, 1, 1, 1>, float, Shape<32, 8, 8>>::kernel_type::pw_possible);
  static_assert(!bind_t<Conv2d<16, 1, 1, 0, 1, 2>, float, Shape<32, 8, 8>>::kernel_type::pw_possible);
}
