// Finite-difference gradient checks (double) of the convolution family:
// every option of Conv2d, ConvTranspose2d, the pools, GroupNorm, Upsample.
#include "support/gradcheck.hpp"

using namespace zoo;
using zoo::test::grad_check;
using zoo::test::GradCheckOptions;

TEST_CASE("Conv2d: kernel, stride, padding, dilation, groups, bias") {
  grad_check<bind_t<Conv2d<4, 3>, double, Shape<2, 5, 6>>>();
  grad_check<bind_t<Conv2d<3, 3, 2, 1>, double, Shape<2, 7, 6>>>();        // stride, padding
  grad_check<bind_t<Conv2d<3, 3, 3, 1>, double, Shape<1, 8, 8>>>();        // the seed's 28→10 kind
  grad_check<bind_t<Conv2d<2, 3, 1, 2, 2>, double, Shape<2, 6, 5>>>();     // dilation
  grad_check<bind_t<Conv2d<4, 3, 1, 1, 1, 2>, double, Shape<4, 4, 4>>>();  // groups
  grad_check<bind_t<Conv2d<4, 3, 1, 1, 1, 4>, double, Shape<4, 4, 4>>>();  // depthwise
  grad_check<bind_t<Conv2d<3, 2, 1, 0, 1, 1, false>, double, Shape<2, 4, 5>>>();  // no bias
  grad_check<bind_t<Conv2d<3, 5>, double, Shape<1, 5, 5>>>();  // kernel = image
}

TEST_CASE("Conv2d: the 1x1 fast path, with groups and without bias") {
  grad_check<bind_t<Conv2d<5, 1>, double, Shape<3, 4, 3>>>();
  grad_check<bind_t<Conv2d<4, 1, 1, 0, 1, 2, false>, double, Shape<6, 3, 3>>>();
  grad_check<bind_t<Conv2d<3, 1, 2>, double, Shape<2, 5, 5>>>();  // strided 1×1: not the fast path
}

TEST_CASE("Conv2dHW: non-square kernel, stride, padding, dilation") {
  grad_check<bind_t<Conv2dHW<3, 3, 1, 3, 1>, double, Shape<2, 9, 4>>>();  // AKConv's (N,1)/(N,1)
  grad_check<bind_t<Conv2dHW<2, 2, 3, 1, 2, 1, 0, 2, 1>, double, Shape<2, 6, 7>>>();
}

TEST_CASE("Conv2d: per-thread partial gradients over an odd batch") {
  GradCheckOptions o;
  o.batch = 5;  // split unevenly across threads; partial dW/db must sum exactly once
  grad_check<bind_t<Conv2d<3, 3, 2, 1>, double, Shape<2, 7, 7>>>(o);
  grad_check<bind_t<ConvTranspose2d<3, 3, 2, 1>, double, Shape<2, 3, 3>>>(o);
}

TEST_CASE("ConvTranspose2d: stride, padding, output_padding, bias") {
  grad_check<bind_t<ConvTranspose2d<3, 3>, double, Shape<2, 3, 4>>>();
  grad_check<bind_t<ConvTranspose2d<3, 3, 2>, double, Shape<2, 3, 3>>>();           // 3→7
  grad_check<bind_t<ConvTranspose2d<2, 5, 3, 1>, double, Shape<3, 3, 3>>>();        // 3→9
  grad_check<bind_t<ConvTranspose2d<1, 2, 2, 1>, double, Shape<2, 4, 4>>>();        // 4→6
  grad_check<bind_t<ConvTranspose2d<2, 4, 2, 1>, double, Shape<3, 3, 3>>>();        // DCGAN 3→6
  grad_check<bind_t<ConvTranspose2d<2, 3, 2, 1, 1>, double, Shape<2, 3, 3>>>();     // output_padding
  grad_check<bind_t<ConvTranspose2d<2, 3, 2, 0, 0, false>, double, Shape<2, 3, 2>>>();  // no bias
  grad_check<bind_t<ConvTranspose2d<3, 1>, double, Shape<2, 3, 3>>>();              // 1×1 fast path
  grad_check<bind_t<ConvTranspose2dHW<2, 3, 2, 2, 1, 1, 0, 1, 0, 2, 1>, double, Shape<2, 3, 4>>>();
}

// Inputs spread on a grid with distinct values so no max ties and no kink is crossed.
static GradCheckOptions distinct_inputs() {
  GradCheckOptions o;
  o.make_input = [](std::size_t, std::vector<double>& x) {
    for (std::size_t i = 0; i < x.size(); ++i)
      x[i] = 0.01 * static_cast<double>((i * 37) % x.size()) - 0.3;
  };
  return o;
}

TEST_CASE("MaxPool2d: kernel, stride, padding") {
  const auto o = distinct_inputs();
  grad_check<bind_t<MaxPool2d<2>, double, Shape<2, 6, 6>>>(o);
  grad_check<bind_t<MaxPool2d<2, 1>, double, Shape<2, 3, 3>>>(o);
  grad_check<bind_t<MaxPool2d<3, 2, 1>, double, Shape<2, 7, 6>>>(o);
  grad_check<bind_t<MaxPool2d<5, 1, 2>, double, Shape<1, 6, 6>>>(o);  // SPPF's pool
}

TEST_CASE("AvgPool2d: kernel, stride, padding (count_include_pad)") {
  grad_check<bind_t<AvgPool2d<2>, double, Shape<2, 6, 5>>>();
  grad_check<bind_t<AvgPool2d<3, 2, 1>, double, Shape<2, 7, 6>>>();
  grad_check<bind_t<AvgPool2d<2, 1>, double, Shape<1, 3, 3>>>();
}

TEST_CASE("GroupNorm on images and features") {
  GradCheckOptions o;
  o.make_params = [](double* p, std::size_t n) {
    for (std::size_t i = 0; i < n; ++i) p[i] = 0.5 + 0.1 * static_cast<double>(i);
  };
  grad_check<bind_t<GroupNorm<2>, double, Shape<4, 3, 2>>>(o);
  grad_check<bind_t<GroupNorm<1>, double, Shape<3, 2, 2>>>(o);
  grad_check<bind_t<GroupNorm<3>, double, Shape<3, 2, 3>>>(o);  // one channel per group
  grad_check<bind_t<GroupNorm<2>, double, Shape<6>>>(o);
}

TEST_CASE("BatchNorm on images (BatchNorm2d), train and eval") {
  GradCheckOptions o;
  o.batch = 3;
  o.make_params = [](double* p, std::size_t n) {
    for (std::size_t i = 0; i < n; ++i) p[i] = 0.7 - 0.1 * static_cast<double>(i);
  };
  grad_check<bind_t<BatchNorm, double, Shape<2, 3, 4>>>(o);
  o.training = false;
  grad_check<bind_t<BatchNorm, double, Shape<2, 3, 4>>>(o);
}

TEST_CASE("Upsample nearest") {
  grad_check<bind_t<Upsample<2>, double, Shape<2, 3, 4>>>();
  grad_check<bind_t<Upsample<3>, double, Shape<1, 2, 2>>>();
}

TEST_CASE("compile-time shapes and FLOPs follow PyTorch's formulas") {
  using A = bind_t<Conv2d<16, 3, 3, 1>, float, Shape<1, 28, 28>>;
  static_assert(std::is_same_v<A::output_shape, Shape<16, 10, 10>>);
  using B = bind_t<MaxPool2d<2, 2>, float, A::output_shape>;
  static_assert(std::is_same_v<B::output_shape, Shape<16, 5, 5>>);
  using Cc = bind_t<Conv2d<8, 3, 2, 1>, float, B::output_shape>;
  static_assert(std::is_same_v<Cc::output_shape, Shape<8, 3, 3>>);
  using D = bind_t<MaxPool2d<2, 1>, float, Cc::output_shape>;
  static_assert(std::is_same_v<D::output_shape, Shape<8, 2, 2>>);
  using E = bind_t<ConvTranspose2d<16, 3, 2>, float, D::output_shape>;
  static_assert(std::is_same_v<E::output_shape, Shape<16, 5, 5>>);
  using F = bind_t<ConvTranspose2d<8, 5, 3, 1>, float, E::output_shape>;
  static_assert(std::is_same_v<F::output_shape, Shape<8, 15, 15>>);
  using G = bind_t<ConvTranspose2d<1, 2, 2, 1>, float, F::output_shape>;
  static_assert(std::is_same_v<G::output_shape, Shape<1, 28, 28>>);
  using H = bind_t<ConvTranspose2d<64, 4, 2, 1>, float, Shape<128, 7, 7>>;
  static_assert(std::is_same_v<H::output_shape, Shape<64, 14, 14>>);
  static_assert(std::is_same_v<bind_t<Conv2dHW<5, 3, 1, 3, 1>, float, Shape<2, 27, 4>>::output_shape,
                               Shape<5, 9, 4>>);
  static_assert(std::is_same_v<bind_t<Upsample<2>, float, Shape<3, 5, 4>>::output_shape,
                               Shape<3, 10, 8>>);
  // 2·MACs + bias adds, as YOLOv5 reports GFLOPs.
  static_assert(A::flops == 2.0 * 16 * 100 * 9 + 16 * 100);
  static_assert(H::flops == 2.0 * 128 * 49 * 64 * 16 + 64 * 196);
  static_assert(A::num_params == 16 * 9 + 16);
  CHECK(A::flops > 0);
}
