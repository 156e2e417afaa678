// The direct path at strides > 1 and with several samples per GEMM (cpu/conv2d.hpp: the
// strided base table, the blocked dcolT input gradient, NBD-sample chunks) against the
// definition of the convolution, summed naively in double, and against the im2col + GEMM
// path: forward, dx, dW and db (dx by dcolT, or by im2col when there are few in-channels),
// for odd sizes, padding, dilation, non-square kernels and strides, channel counts that
// are not whole SIMD vectors, chunks with a remainder, dcolT blocks with a remainder,
// threads, frozen weights and a missing dx. Backward must ADD into dx and the gradients.
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

// The layer's forward and backward on one path (direct or not), from fixed data.
template <class L, class T>
Result<T> run(bool direct, std::size_t n, Opts o) {
  return zoo_test::run_conv<L, T>([direct](auto& k) { k.direct = direct; }, n, o);
}

// A kernel's geometry, read off its template arguments.
template <class K>
struct Geom;
template <class T, class In, std::size_t Out_, std::size_t KH_, std::size_t KW_, std::size_t SH_,
          std::size_t SW_, std::size_t PH_, std::size_t PW_, std::size_t DH_, std::size_t DW_,
          std::size_t G, bool Bias>
struct Geom<cpu::Conv2dKernel<T, In, Out_, KH_, KW_, SH_, SW_, PH_, PW_, DH_, DW_, G, Bias>> {
  static constexpr std::size_t KH = KH_, KW = KW_, SH = SH_, SW = SW_, PH = PH_, PW = PW_,
                               DH = DH_, DW = DW_;
  static constexpr bool bias = Bias;
};

// The same, by the definition: y = b + Σ W·x over the taps that land inside the image.
template <class L>
Result<double> naive(std::size_t n, Opts o) {
  using K = typename L::kernel_type;
  using Gm = Geom<K>;
  constexpr std::size_t C = K::C, H = K::H, W = K::W, Out = K::out_channels, OH = K::OH,
                        OW = K::OW, KH = Gm::KH, KW = Gm::KW, SH = Gm::SH, SW = Gm::SW,
                        PH = Gm::PH, PW = Gm::PW, DH = Gm::DH, DW = Gm::DW;
  constexpr bool bias = Gm::bias;
  const std::vector<double> params = uniform<double>(num_params_of<L>() + 1, 5);
  const double* w = params.data();  // (Out, C, KH, KW), then the bias
  const double* b = w + Out * C * KH * KW;
  constexpr std::size_t xs = C * H * W, ys = Out * OH * OW;
  const auto x = uniform<double>(n * xs, 6), dy = uniform<double>(n * ys, 7);
  Result<double> r{std::vector<double>(n * ys), uniform<double>(n * xs, 8),
                   std::vector<double>(params.size(), 0.25)};
  double* dw = r.grads.data();
  double* db = dw + Out * C * KH * KW;
  for (std::size_t i = 0; i < n; ++i)
    for (std::size_t oc = 0; oc < Out; ++oc)
      for (std::size_t oh = 0; oh < OH; ++oh)
        for (std::size_t ow = 0; ow < OW; ++ow) {
          const std::size_t yi = i * ys + (oc * OH + oh) * OW + ow;
          double s = bias ? b[oc] : 0.0;
          if (bias && !o.frozen) db[oc] += dy[yi];
          for (std::size_t c = 0; c < C; ++c)
            for (std::size_t kh = 0; kh < KH; ++kh)
              for (std::size_t kw = 0; kw < KW; ++kw) {
                const long ih = long(oh * SH + kh * DH) - long(PH);
                const long iw = long(ow * SW + kw * DW) - long(PW);
                if (ih < 0 || iw < 0 || ih >= long(H) || iw >= long(W)) continue;
                const std::size_t xi = i * xs + (c * H + std::size_t(ih)) * W + std::size_t(iw);
                const std::size_t wi = ((oc * C + c) * KH + kh) * KW + kw;
                s += w[wi] * x[xi];
                if (!o.frozen) dw[wi] += dy[yi] * x[xi];
                if (o.with_dx) r.dx[xi] += dy[yi] * w[wi];
              }
          r.y[yi] = s;
        }
  return r;
}

// ftol: the float tolerance; dW sums n·OH·OW products (8192 for the stem at batch 2) in
// another order on each path.
template <class Spec, class In, class T = double>
void check(Opts o = {}, std::size_t n = 5, double ftol = 5e-5) {
  using L = bind_t<Spec, T, In>;
  static_assert(L::kernel_type::direct_possible);
  const Result<T> a = run<L, T>(true, n, o), b = run<L, T>(false, n, o);
  const double tol = std::is_same_v<T, double> ? 1e-12 : ftol;
  INFO("NBD " << L::kernel_type::NBD << ", dx_direct " << L::kernel_type::dx_direct);
  CHECK_MESSAGE(max_rel_diff(a.y, b.y) < tol, "forward differs by " << max_rel_diff(a.y, b.y));
  CHECK_MESSAGE(max_rel_diff(a.dx, b.dx) < tol, "dx differs by " << max_rel_diff(a.dx, b.dx));
  CHECK_MESSAGE(max_rel_diff(a.grads, b.grads) < tol,
                "parameter gradients differ by " << max_rel_diff(a.grads, b.grads));
  if constexpr (std::is_same_v<T, double>) {
    const Result<double> d = naive<L>(n, o);
    CHECK_MESSAGE(max_rel_diff(a.y, d.y) < 1e-12, "forward differs from the definition by "
                                                      << max_rel_diff(a.y, d.y));
    CHECK_MESSAGE(max_rel_diff(a.dx, d.dx) < 1e-12, "dx differs from the definition by "
                                                        << max_rel_diff(a.dx, d.dx));
    CHECK_MESSAGE(max_rel_diff(a.grads, d.grads) < 1e-12,
                  "parameter gradients differ from the definition by "
                      << max_rel_diff(a.grads, d.grads));
  }
  if (o.frozen)  // frozen: the gradients keep their pre-filled value
    for (std::size_t i = 0; i + 1 < a.grads.size(); ++i) REQUIRE(a.grads[i] == T(0.25));
}

}  // namespace

TEST_CASE("strided direct conv equals the definition and the im2col path, double") {
  check<Conv2d<32, 3, 2, 1>, Shape<16, 9, 7>>();                     // odd sizes, stride 2
  check<Conv2d<16, 6, 2, 2>, Shape<3, 17, 13>>();                    // yolov5's 6×6 stem, 3 channels
  check<Conv2dHW<20, 3, 5, 2, 3, 1, 2>, Shape<5, 11, 14>>();         // stride (2, 3), pad (1, 2)
  check<Conv2d<24, 3, 3>, Shape<7, 10, 11>>();                       // stride 3, no padding
  check<Conv2d<17, 3, 2, 2, 2>, Shape<6, 12, 9>>();                  // dilation 2
  check<Conv2d<40, 3, 2, 1, 1, 1, false>, Shape<19, 8, 8>>();        // no bias, 3 vectors
  check<Conv2d<3, 4, 2, 1>, Shape<2, 9, 9>>();                       // fewer than a vector
  check<Conv2d<16, 3, 2, 1>, Shape<4, 50, 47>>({}, 2);               // dcolT in 2 blocks of rows
}

TEST_CASE("direct conv: several samples per GEMM, remainders") {
  // Small maps: NBD samples share one GEMM; 2 chunks and a remainder.
  using S2 = bind_t<Conv2d<32, 3, 2, 1>, double, Shape<16, 4, 4>>;
  static_assert(S2::kernel_type::NBD > 1);
  check<Conv2d<32, 3, 2, 1>, Shape<16, 4, 4>>({}, 2 * S2::kernel_type::NBD + 3);
  using S1 = bind_t<Conv2d<32, 3, 1, 1>, double, Shape<16, 4, 5>>;  // stride 1, dx by conv of dy
  static_assert(S1::kernel_type::NBD > 1 && S1::kernel_type::dx_direct);
  check<Conv2d<32, 3, 1, 1>, Shape<16, 4, 5>>({}, S1::kernel_type::NBD + 5);
  using V = bind_t<Conv2d<24, 3, 1, 0>, double, Shape<17, 5, 5>>;   // stride 1, dx exact (dcolT)
  static_assert(V::kernel_type::NBD > 1 && !V::kernel_type::dx_direct);
  check<Conv2d<24, 3, 1, 0>, Shape<17, 5, 5>>({}, V::kernel_type::NBD + 7);
  // dcolT blocks that end inside a sample: 3×3 outputs, blocks of 512 rows.
  check<Conv2d<16, 3, 2, 0>, Shape<5, 7, 7>>({}, 60);
}

TEST_CASE("strided direct conv: threads, frozen weights, no dx") {
#if defined(_OPENMP)
  omp_set_num_threads(2);  // CTest runs with 1; this case splits the batch
#endif
  check<Conv2d<32, 3, 2, 1>, Shape<16, 9, 7>>({.threads = true}, 7);
  check<Conv2d<32, 3, 2, 1>, Shape<16, 4, 4>>({.threads = true}, 75);
  check<Conv2d<32, 3, 2, 1>, Shape<16, 9, 7>>({.frozen = true});
  check<Conv2d<32, 3, 2, 1>, Shape<16, 9, 7>>({.with_dx = false});
  check<Conv2d<16, 6, 2, 2>, Shape<3, 17, 13>>({.frozen = true, .threads = true}, 4);
#if defined(_OPENMP)
  omp_set_num_threads(1);
#endif
}

TEST_CASE("strided direct conv equals im2col conv, float, yolov5n's shapes") {
  check<Conv2d<16, 6, 2, 2>, Shape<3, 128, 128>, float>({.with_dx = false}, 2, 3e-4);  // stem
  check<Conv2d<32, 3, 2, 1>, Shape<16, 64, 64>, float>({}, 2, 3e-4);
  check<Conv2d<64, 3, 2, 1>, Shape<32, 32, 32>, float>({}, 3, 2e-4);
  check<Conv2d<256, 3, 2, 1>, Shape<128, 8, 8>, float>({}, 20);
  check<Conv2d<128, 3, 1, 1>, Shape<128, 4, 4>, float>({}, 20);  // stride 1, 16 samples a GEMM
}

TEST_CASE("strided direct conv: gradient check in double") {
  using L = bind_t<Conv2d<16, 3, 2, 1>, double, Shape<16, 5, 6>>;
  static_assert(L::kernel_type::direct_default, "this shape must take the direct path by default");
  test::grad_check<L>({.batch = 2});
}

TEST_CASE("strided direct conv: which layers take it") {
  static_assert(bind_t<Conv2d<16, 6, 2, 2>, float, Shape<3, 128, 128>>::kernel_type::direct_default);
  static_assert(bind_t<Conv2d<32, 3, 2, 1>, float, Shape<16, 64, 64>>::kernel_type::direct_default);
  static_assert(bind_t<Conv2d<256, 3, 2, 1>, float, Shape<128, 8, 8>>::kernel_type::direct_default);
  static_assert(!bind_t<Conv2d<64, 3, 2, 1>, float, Shape<64, 28, 28>>::kernel_type::winograd_possible);
  // Fewer in-channels than half a vector: dW direct, dx by im2col's GEMM + col2im (the
  // stem and the 2-channel case above run both halves).
  static_assert(bind_t<Conv2d<16, 6, 2, 2>, float, Shape<3, 128, 128>>::kernel_type::dx_gemm);
  static_assert(!bind_t<Conv2d<32, 3, 2, 1>, float, Shape<16, 64, 64>>::kernel_type::dx_gemm);
  // AKConv's offset conv (2N = 6 or 10 outputs) keeps im2col: most lanes would be zeros.
  static_assert(!bind_t<Conv2d<6, 3, 2, 1>, float, Shape<32, 32, 32>>::kernel_type::direct_default);
}
