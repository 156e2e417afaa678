// The large-Linear kernel (cpu/dense.hpp): DenseKernel against the definition in double
// (batches that are and are not whole SIMD vectors, with and without bias, one and two
// threads, dx added onto what is there), and the float Linear layers that take it against
// the same layers on zoo::gemm — forward, dx and the parameter gradients — plus which
// layers take it.
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <vector>
#include <zoo/zoo.hpp>
#if defined(_OPENMP)
#include <omp.h>
#endif

#include "support/compare.hpp"

using namespace zoo;

namespace {

using zoo_test::max_rel_diff;
using zoo_test::uniform;

void set_threads(int t) {
#if defined(_OPENMP)
  omp_set_num_threads(t);
#else
  (void)t;
#endif
}

// y = x Wᵀ + b and dx0 + dy W, summed in long double.
void check_kernel(index_t in, index_t out, index_t n, bool bias) {
  CAPTURE(in);
  CAPTURE(out);
  CAPTURE(n);
  CAPTURE(bias);
  const auto x = uniform<double>(n * in, 1), W = uniform<double>(out * in, 2),
             b = uniform<double>(out, 3), dy = uniform<double>(n * out, 4),
             dx0 = uniform<double>(n * in, 5);
  std::vector<double> y(n * out, 7.0), dx = dx0, y_ref(n * out), dx_ref(n * in);
  for (index_t i = 0; i < n; ++i)
    for (index_t o = 0; o < out; ++o) {
      long double s = bias ? b[o] : 0;
      for (index_t k = 0; k < in; ++k) s += (long double)x[i * in + k] * W[o * in + k];
      y_ref[i * out + o] = double(s);
    }
  for (index_t i = 0; i < n; ++i)
    for (index_t k = 0; k < in; ++k) {
      long double s = dx0[i * in + k];
      for (index_t o = 0; o < out; ++o) s += (long double)dy[i * out + o] * W[o * in + k];
      dx_ref[i * in + k] = double(s);
    }
  cpu::DenseKernel<double> kern(in, out);
  kern.forward(x.data(), W.data(), bias ? b.data() : nullptr, y.data(), n);
  CHECK(max_rel_diff(y, y_ref) < 1e-12);
  REQUIRE(kern.dx_ok() == (in % cpu::simd_width<double> == 0));
  if (kern.dx_ok()) {
    kern.backward_dx(dy.data(), W.data(), dx.data(), n);
    CHECK(max_rel_diff(dx, dx_ref) < 1e-12);
  }
  // A second call on the same scratch gives the same (the panels' padding is re-zeroed).
  std::vector<double> y2(n * out);
  kern.forward(x.data(), W.data(), bias ? b.data() : nullptr, y2.data(), n);
  CHECK(y2 == y);
}

struct Run {
  std::vector<float> y, dx, grads;
};

template <class L>
Run run_layer(bool dense, std::size_t n, bool with_dx, bool frozen) {
  L l;
  std::vector<float> params = uniform<float>(num_params_of<L>(), 11),
                     grads(num_params_of<L>(), 0.25f);
  float* p = params.data();
  float* g = grads.data();
  layer_ops::bind_params(l, p, g);
  l.dense = dense;
  l.frozen = frozen;
  l.resize(n);
  constexpr std::size_t xs = L::input_shape::size, ys = L::output_shape::size;
  const auto x = uniform<float>(n * xs, 12), dy = uniform<float>(n * ys, 13);
  Run r{std::vector<float>(n * ys), uniform<float>(n * xs, 14), {}};  // dx starts non-zero
  l.forward(x.data(), r.y.data(), n);
  l.backward(x.data(), r.y.data(), dy.data(), with_dx ? r.dx.data() : nullptr, n);
  r.grads = grads;
  return r;
}

template <class Spec, class In>
void check_layer(std::size_t n, bool with_dx = true, bool frozen = false) {
  using L = bind_t<Spec, float, In>;
  static_assert(L::dense_possible);
  CAPTURE(n);
  const Run a = run_layer<L>(true, n, with_dx, frozen), b = run_layer<L>(false, n, with_dx, frozen);
  // float sums of ~1000 products of size ~1 in another order (sums reach ~30)
  CHECK(max_rel_diff(a.y, b.y) < 1e-4);
  CHECK(max_rel_diff(a.dx, b.dx) < 1e-4);
  CHECK(max_rel_diff(a.grads, b.grads) < 1e-4);
  if (frozen)
    CHECK(std::count(a.grads.begin(), a.grads.end(), 0.25f) == std::ptrdiff_t(a.grads.size()));
}

}  // namespace

TEST_CASE("DenseKernel equals the definition, double") {
  set_threads(1);
  check_kernel(40, 24, 70, true);   // batch not a whole number of vectors: padded panel
  check_kernel(40, 24, 5, false);   // fewer samples than a vector, no bias
  check_kernel(16, 72, 33, true);   // several column blocks in dx, rows not whole tiles
  check_kernel(19, 8, 17, true);    // In not whole vectors: forward only (dx_ok false)
  check_kernel(64, 130, 64, true);  // Out rows: 21 tiles and a remainder
}

TEST_CASE("DenseKernel on two threads") {
  set_threads(2);  // CTest runs with 1; above kGemmParallelFlops the kernel splits C
  check_kernel(256, 200, 96, true);  // forward split by rows (Out ≥ batch), dx by columns
  check_kernel(512, 64, 130, true);  // dx: R = 130 rows of 512 columns
  set_threads(1);
}

TEST_CASE("float Linear layers on the dense kernel equal them on zoo::gemm") {
  set_threads(1);
  check_layer<Linear<1024>, Shape<1024>>(128);  // the MLP GAN's G.2
  check_layer<Linear<784>, Shape<1024>>(100);   // G.3, a batch that is not whole vectors
  check_layer<Linear<1024>, Shape<1024>>(64, false);
  check_layer<Linear<1024, false>, Shape<520>>(70);  // no bias; In not a multiple of 16 rows
  check_layer<Linear<784>, Shape<1024>>(96, true, true);  // frozen: gradients untouched
  set_threads(2);
  check_layer<Linear<1024>, Shape<1024>>(128);
  set_threads(1);
}

TEST_CASE("which Linear layers take the dense kernel") {
  static_assert(bind_t<Linear<1024>, float, Shape<1024>>::dense_possible);
  static_assert(bind_t<Linear<784>, float, Shape<1024>>::dense_possible);
  static_assert(!bind_t<Linear<400>, float, Shape<784>>::dense_possible,
                "the VAE's fc1: OpenBLAS measured as fast");
  static_assert(!bind_t<Linear<1024>, double, Shape<1024>>::dense_possible,
                "double stays on zoo::gemm");
  bind_t<Linear<1024>, float, Shape<1024>> l;
  CHECK(l.use_dense(128));
  CHECK_FALSE(l.use_dense(cpu::kDenseMinBatch - 1));  // small batches stay on zoo::gemm
  l.dense = false;
  CHECK_FALSE(l.use_dense(128));
}
