// The direct convolution path (cpu/direct_conv.hpp) against the im2col + GEMM path that
// test_conv_properties checks against the definition: forward, dx, dW and db, in double
// to rounding and in float to float rounding, for padding, dilation, non-square kernels
// and images, channel counts that are not whole SIMD vectors (the zero-padded lanes),
// no bias, threads over the batch, frozen weights and a missing dx. Backward must ADD
// into dx and the gradients, on both paths.
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
using Out = zoo_test::ConvResult<T>;

enum class Path { gemm, direct, winograd };

template <class L, class T>
Out<T> run(Path path, std::size_t n, Opts o) {
  return zoo_test::run_conv<L, T>(
      [path](auto& k) {
        k.direct = path != Path::gemm;
        k.winograd = path == Path::winograd;
      },
      n, o);
}

template <class Spec, class In, class T = double>
void check_paths(Opts o = {}, std::size_t n = 5, Path path = Path::direct) {
  using L = bind_t<Spec, T, In>;
  static_assert(L::kernel_type::direct_possible);
  const Out<T> a = run<L, T>(path, n, o), b = run<L, T>(Path::gemm, n, o);
  // float: sums of up to ~1600 products in another order (and Winograd's transforms)
  const double tol = std::is_same_v<T, double> ? 1e-12 : 5e-5;
  INFO("path " << int(path) << " y " << max_rel_diff(a.y, b.y) << " dx " << max_rel_diff(a.dx, b.dx) << " grads " << max_rel_diff(a.grads, b.grads));
  CHECK_MESSAGE(max_rel_diff(a.y, b.y) < tol, "forward differs by " << max_rel_diff(a.y, b.y));
  CHECK_MESSAGE(max_rel_diff(a.dx, b.dx) < tol, "dx differs by " << max_rel_diff(a.dx, b.dx));
  CHECK_MESSAGE(max_rel_diff(a.grads, b.grads) < tol,
                "parameter gradients differ by " << max_rel_diff(a.grads, b.grads));
  if (o.frozen)  // frozen: the gradients keep their pre-filled value on the direct path too
    for (std::size_t i = 0; i + 1 < a.grads.size(); ++i) REQUIRE(a.grads[i] == T(0.25));
}

}  // namespace

TEST_CASE("direct conv equals im2col conv, double") {
  check_paths<Conv2d<32, 3, 1, 1>, Shape<16, 9, 7>>();                   // the default path
  check_paths<Conv2d<20, 3, 1, 2, 2>, Shape<5, 8, 9>>();                 // dilation, odd channels
  check_paths<Conv2d<64, 5>, Shape<32, 12, 12>>({}, 3);                  // DCGAN D.3, valid
  check_paths<Conv2dHW<17, 3, 5, 1, 1, 1, 2>, Shape<3, 6, 10>>();        // non-square kernel
  check_paths<Conv2dHW<9, 1, 3, 1, 1, 0, 1>, Shape<4, 3, 5>>();          // 1×3
  check_paths<Conv2d<40, 3, 1, 0, 1, 1, false>, Shape<19, 6, 6>>();      // no bias
  check_paths<Conv2d<33, 5, 1, 1>, Shape<18, 8, 8>>();                   // less padding than K−1
  check_paths<Conv2d<72, 3, 1, 1>, Shape<16, 5, 5>>();                   // several column blocks
  check_paths<Conv2d<3, 3, 1, 1>, Shape<2, 4, 4>>();                     // fewer than a vector
}

TEST_CASE("direct conv: threads, frozen weights, no dx") {
#if defined(_OPENMP)
  omp_set_num_threads(2);  // CTest runs with 1; this case splits the batch
#endif
  check_paths<Conv2d<32, 3, 1, 1>, Shape<16, 9, 7>>({.threads = true}, 7);
  check_paths<Conv2d<20, 3, 1, 2, 2>, Shape<5, 8, 9>>({.threads = true}, 3);
  check_paths<Conv2d<32, 3, 1, 1>, Shape<16, 9, 7>>({.frozen = true});
  check_paths<Conv2d<32, 3, 1, 1>, Shape<16, 9, 7>>({.with_dx = false});
  check_paths<Conv2d<32, 3, 1, 1>, Shape<16, 9, 7>>({.frozen = true, .threads = true}, 4);
}

TEST_CASE("direct conv equals im2col conv, float") {
  check_paths<Conv2d<64, 3, 1, 1>, Shape<64, 14, 14>, float>({}, 3);   // the UNet's 3×3
  check_paths<Conv2d<64, 5>, Shape<32, 12, 12>, float>({.threads = true}, 4);
  check_paths<Conv2d<40, 3, 1, 2, 2>, Shape<21, 7, 9>, float>();
}

TEST_CASE("Winograd F(2x2, 3x3) equals im2col conv") {
  constexpr Path w = Path::winograd;
  check_paths<Conv2d<32, 3, 1, 1>, Shape<16, 9, 7>>({}, 5, w);             // odd output: edge tiles
  check_paths<Conv2d<20, 3, 1, 0>, Shape<5, 8, 9>>({}, 3, w);              // valid, odd channels
  check_paths<Conv2d<40, 3, 1, 2, 1, 1, false>, Shape<19, 6, 5>>({}, 3, w);  // pad 2, no bias
  check_paths<Conv2d<72, 3, 1, 1>, Shape<16, 5, 5>>({}, 3, w);             // column blocks
  check_paths<Conv2d<32, 3, 1, 1>, Shape<16, 9, 7>>({.threads = true}, 7, w);
  check_paths<Conv2d<32, 3, 1, 1>, Shape<16, 9, 7>>({.frozen = true}, 5, w);
  check_paths<Conv2d<32, 3, 1, 1>, Shape<16, 9, 7>>({.with_dx = false}, 5, w);
  check_paths<Conv2d<64, 3, 1, 1>, Shape<64, 14, 14>, float>({}, 3, w);  // the UNet's 3×3
  check_paths<Conv2d<64, 3, 1, 1>, Shape<64, 28, 28>, float>({.threads = true}, 2, w);
  check_paths<Conv2d<48, 3, 1, 1>, Shape<33, 7, 7>, float>({}, 3, w);
}

TEST_CASE("direct conv: gradient check in double") {
  using L = bind_t<Conv2d<32, 3, 1, 1>, double, Shape<16, 4, 3>>;
  static_assert(L::kernel_type::direct_default, "this shape must take the direct path by default");
  test::grad_check<L>({.batch = 2});
}

TEST_CASE("direct conv: which layers take it") {
  static_assert(bind_t<Conv2d<64, 3, 1, 1>, float, Shape<64, 28, 28>>::kernel_type::direct_default);
  static_assert(bind_t<Conv2d<64, 5>, float, Shape<32, 12, 12>>::kernel_type::direct_default);
  static_assert(bind_t<Conv2d<64, 3, 1, 1>, float, Shape<64, 28, 28>>::kernel_type::winograd_default);
  static_assert(!bind_t<Conv2d<64, 5, 1, 2>, float, Shape<64, 28, 28>>::kernel_type::winograd_possible);
  static_assert(!bind_t<Conv2d<64, 3, 1, 2, 2>, float, Shape<64, 28, 28>>::kernel_type::winograd_possible);
  static_assert(!bind_t<Conv2dHW<64, 3, 3, 1, 1, 1, 0>, float, Shape<64, 28, 28>>::kernel_type::winograd_possible);
  // Groups, 1×1 and padding past K−1 keep the GEMM path (strides: test_conv_strided.cpp).
  static_assert(!bind_t<Conv2d<64, 3, 1, 1, 1, 2>, float, Shape<64, 28, 28>>::kernel_type::direct_possible);
  static_assert(!bind_t<Conv2d<64, 1>, float, Shape<64, 28, 28>>::kernel_type::direct_possible);
  static_assert(!bind_t<Conv2d<64, 3, 1, 3>, float, Shape<64, 28, 28>>::kernel_type::direct_possible);
  // Too few channels to fill SIMD vectors: possible, not the default.
  static_assert(!bind_t<Conv2d<64, 3, 1, 1>, float, Shape<1, 28, 28>>::kernel_type::direct_default);
  static_assert(!bind_t<Conv2d<8, 3, 1, 1>, float, Shape<64, 28, 28>>::kernel_type::direct_default);
}

TEST_CASE("transpose_to: blocks, edges, bias and add") {
  for (auto [rows, cols] : {std::pair<index_t, index_t>{16, 16}, {49, 64}, {37, 21}, {5, 3}, {64, 196}}) {
    const index_t lds = cols + 3, ldd = rows + 5;
    const auto src = uniform<float>(static_cast<std::size_t>(rows * lds), 71);
    const auto bias = uniform<float>(static_cast<std::size_t>(cols), 72);
    const auto start = uniform<float>(static_cast<std::size_t>(cols * ldd), 73);
    std::vector<float> put = start, add = start;
    cpu::transpose_to<float>(src.data(), rows, cols, lds, put.data(), ldd, bias.data());
    cpu::transpose_to<float, true>(src.data(), rows, cols, lds, add.data(), ldd);
    for (index_t c = 0; c < cols; ++c)
      for (index_t r = 0; r < ldd; ++r) {
        const std::size_t i = static_cast<std::size_t>(c * ldd + r);
        if (r < rows) {
          const float s = src[static_cast<std::size_t>(r * lds + c)];
          REQUIRE(put[i] == s + bias[static_cast<std::size_t>(c)]);
          REQUIRE(add[i] == start[i] + s);
        } else {  // past the rows: untouched
          REQUIRE(put[i] == start[i]);
          REQUIRE(add[i] == start[i]);
        }
      }
  }
}
