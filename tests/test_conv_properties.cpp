// Identities the convolution family must satisfy, checked on random data in double:
//   • im2col + GEMM conv equals a naive direct conv (forward), for every option;
//   • transposed conv equals its naive scatter definition;
//   • ⟨conv(x), y⟩ = ⟨x, conv_backward(y)⟩ (backward is the adjoint of the linear map x ↦ conv(x));
//   • ⟨convT(y), x⟩ = ⟨y, conv(x)⟩ with the same weights: transposed conv IS conv's adjoint;
//   • ⟨im2col(x), c⟩ = ⟨x, col2im(c)⟩;
//   • ⟨dW, W⟩ = ⟨y, dy⟩ for a bias-free layer (y is linear in W), on every GEMM layout;
//   • batched (several samples per GEMM), threaded and one-sample-at-a-time runs agree.
#include <doctest/doctest.h>

#include <cmath>
#include <vector>
#include <zoo/zoo.hpp>

using namespace zoo;

namespace {

struct Bound {
  std::vector<double> params, grads;
};
template <class L>
Bound bind_random(L& l, std::uint64_t seed) {
  Bound b{std::vector<double>(num_params_of<L>() + 1), std::vector<double>(num_params_of<L>() + 1)};
  double* p = b.params.data();
  double* g = b.grads.data();
  layer_ops::bind_params(l, p, g);
  Rng rng(seed);
  layer_ops::init(l, rng);
  layer_ops::resize(l, 3);
  return b;
}
std::vector<double> random(std::size_t n, std::uint64_t seed) {
  std::vector<double> v(n);
  Rng(seed).fill_uniform(v.data(), n, -1, 1);
  return v;
}
double dot(const std::vector<double>& a, const std::vector<double>& b) {
  double s = 0;
  for (std::size_t i = 0; i < a.size(); ++i) s += a[i] * b[i];
  return s;
}
double max_abs_diff(const std::vector<double>& a, const std::vector<double>& b) {
  double m = 0;
  for (std::size_t i = 0; i < a.size(); ++i) m = std::max(m, std::abs(a[i] - b[i]));
  return m;
}

// y[n, o, oh, ow] by the definition, straight from the layer's compile-time geometry.
template <class L>
std::vector<double> naive_conv(const L& l, const std::vector<double>& x, std::size_t n) {
  using O = typename L::output_shape;
  constexpr auto g = L::kernel_type::geom;
  std::vector<double> y(n * O::size);
  for (std::size_t i = 0; i < n; ++i)
    for (std::size_t o = 0; o < L::out_channels; ++o)
      for (index_t oh = 0; oh < g.OH; ++oh)
        for (index_t ow = 0; ow < g.OW; ++ow) {
          const std::size_t grp = o / L::Og;
          double s = l.bias ? l.bias[o] : 0.0;
          for (std::size_t c = 0; c < L::Cg; ++c)
            for (index_t kh = 0; kh < g.KH; ++kh)
              for (index_t kw = 0; kw < g.KW; ++kw) {
                const index_t ih = oh * g.SH - g.PH + kh * g.DH, iw = ow * g.SW - g.PW + kw * g.DW;
                if (ih < 0 || iw < 0 || ih >= g.H || iw >= g.W) continue;
                const std::size_t ci = grp * L::Cg + c;
                s += l.weight[((o * L::Cg + c) * g.KH + kh) * g.KW + kw] *
                     x[((i * L::C + ci) * g.H + ih) * g.W + iw];
              }
          y[((i * L::out_channels + o) * g.OH + oh) * g.OW + ow] = s;
        }
  return y;
}

// Transposed conv by scattering every input pixel through the kernel.
template <class L>
std::vector<double> naive_conv_transpose(const L& l, const std::vector<double>& x, std::size_t n) {
  using O = typename L::output_shape;
  constexpr auto g = L::kernel_type::geom;  // image = output (Out, OH, OW), "conv output" = input (H, W)
  std::vector<double> y(n * O::size, 0.0);
  for (std::size_t i = 0; i < n; ++i) {
    for (std::size_t o = 0; o < L::out_channels; ++o)
      for (index_t k = 0; k < g.H * g.W; ++k)
        y[(i * L::out_channels + o) * g.H * g.W + k] = l.bias ? l.bias[o] : 0.0;
    for (std::size_t c = 0; c < L::C; ++c)
      for (index_t h = 0; h < g.OH; ++h)
        for (index_t w = 0; w < g.OW; ++w)
          for (std::size_t o = 0; o < L::out_channels; ++o)
            for (index_t kh = 0; kh < g.KH; ++kh)
              for (index_t kw = 0; kw < g.KW; ++kw) {
                const index_t yh = h * g.SH - g.PH + kh * g.DH, yw = w * g.SW - g.PW + kw * g.DW;
                if (yh < 0 || yw < 0 || yh >= g.H || yw >= g.W) continue;
                y[((i * L::out_channels + o) * g.H + yh) * g.W + yw] +=
                    l.weight[((c * L::out_channels + o) * g.KH + kh) * g.KW + kw] *
                    x[((i * L::C + c) * g.OH + h) * g.OW + w];
              }
  }
  return y;
}

template <class Spec, class In>
void check_against_naive() {
  using L = bind_t<Spec, double, In>;
  constexpr std::size_t n = 3;
  L l;
  auto b = bind_random(l, 11);
  const auto x = random(n * In::size, 12);
  std::vector<double> y(n * L::output_shape::size);
  l.forward(x.data(), y.data(), n);
  const auto want = naive_conv(l, x, n);
  CHECK_MESSAGE(max_abs_diff(y, want) < 1e-12, "im2col conv differs from the naive conv by "
                                                   << max_abs_diff(y, want));
}

template <class Spec, class In>
void check_transpose_against_naive() {
  using L = bind_t<Spec, double, In>;
  constexpr std::size_t n = 3;
  L l;
  auto b = bind_random(l, 21);
  const auto x = random(n * In::size, 22);
  std::vector<double> y(n * L::output_shape::size);
  l.forward(x.data(), y.data(), n);
  const auto want = naive_conv_transpose(l, x, n);
  CHECK_MESSAGE(max_abs_diff(y, want) < 1e-12, "transposed conv differs from the naive scatter by "
                                                   << max_abs_diff(y, want));
}

// For a bias-free (linear) layer A: ⟨A x, y⟩ = ⟨x, Aᵀ y⟩, Aᵀ y being backward's dx.
template <class Spec, class In>
void check_adjoint() {
  using L = bind_t<Spec, double, In>;
  constexpr std::size_t n = 3;
  L l;
  auto b = bind_random(l, 31);
  const auto x = random(n * In::size, 32);
  const auto yr = random(n * L::output_shape::size, 33);
  std::vector<double> ax(yr.size()), aty(x.size(), 0.0);
  l.forward(x.data(), ax.data(), n);
  l.backward(x.data(), ax.data(), yr.data(), aty.data(), n);
  const double lhs = dot(ax, yr), rhs = dot(x, aty);
  CHECK_MESSAGE(std::abs(lhs - rhs) <= 1e-12 * std::max(1.0, std::abs(lhs)),
                "<Ax, y> = " << lhs << " but <x, A^T y> = " << rhs);
}

// The weight gradient of a bias-free layer, y = A_x·w: ⟨dW, w⟩ = ⟨A_x w, dy⟩ = ⟨y, dy⟩.
template <class Spec, class In>
void check_weight_grad(std::size_t n) {
  using L = bind_t<Spec, double, In>;
  L l;
  auto b = bind_random(l, 35);
  l.resize(n);
  const auto x = random(n * In::size, 36);
  const auto dy = random(n * L::output_shape::size, 37);
  std::vector<double> y(dy.size());
  l.forward(x.data(), y.data(), n);
  l.backward(x.data(), y.data(), dy.data(), nullptr, n);
  double wdw = 0;
  for (std::size_t j = 0; j < L::weight_size; ++j) wdw += l.weight[j] * l.dweight[j];
  const double ydy = dot(y, dy);
  CHECK_MESSAGE(std::abs(wdw - ydy) <= 1e-11 * std::max(1.0, std::abs(ydy)),
                "<dW, W> = " << wdw << " but <y, dy> = " << ydy);
}

}  // namespace

TEST_CASE("large maps (one sample per GEMM) and sample-minor packing (small maps)") {
  using Large = bind_t<Conv2d<4, 3, 1, 1>, double, Shape<64, 30, 30>>;
  using Minor = bind_t<Conv2d<8, 3, 2, 1>, double, Shape<16, 5, 5>>;  // 3×3 out: 56 per GEMM
  using MinorT = bind_t<ConvTranspose2d<8, 5, 3, 1>, double, Shape<16, 5, 5>>;
  static_assert(Large::kernel_type::NB == 1 && !Large::kernel_type::minor && Minor::kernel_type::minor && MinorT::kernel_type::minor);
  check_against_naive<Conv2d<4, 3, 1, 1>, Shape<64, 30, 30>>();
  check_against_naive<Conv2d<6, 3, 2, 1, 1, 2>, Shape<64, 40, 40>>();  // strided, 2 groups
  check_adjoint<Conv2d<4, 3, 1, 1, 1, 1, false>, Shape<64, 30, 30>>();
  check_adjoint<Conv2d<6, 3, 2, 1, 1, 2, false>, Shape<64, 40, 40>>();
  check_weight_grad<Conv2d<4, 3, 1, 1, 1, 1, false>, Shape<64, 30, 30>>(3);
  check_weight_grad<Conv2d<6, 3, 2, 1, 1, 2, false>, Shape<64, 40, 40>>(2);
  // 130 samples: chunks of 56, 56 and 18 in the sample-minor layout.
  check_weight_grad<Conv2d<8, 3, 2, 1, 1, 1, false>, Shape<16, 5, 5>>(130);
  check_weight_grad<ConvTranspose2d<8, 5, 3, 1, 0, false>, Shape<16, 5, 5>>(45);
}

TEST_CASE("im2col conv equals the naive conv") {
  check_against_naive<Conv2d<4, 3>, Shape<3, 6, 7>>();
  check_against_naive<Conv2d<16, 3, 3, 1>, Shape<1, 28, 28>>();
  check_against_naive<Conv2d<8, 3, 2, 1>, Shape<16, 5, 5>>();
  check_against_naive<Conv2d<5, 3, 2, 2, 2>, Shape<2, 9, 8>>();
  check_against_naive<Conv2d<6, 3, 1, 1, 1, 3>, Shape<3, 5, 5>>();   // depthwise-ish groups
  check_against_naive<Conv2d<4, 1>, Shape<6, 5, 5>>();               // 1×1 fast path
  check_against_naive<Conv2d<4, 1, 1, 0, 1, 2, false>, Shape<6, 3, 4>>();
  check_against_naive<Conv2d<3, 1, 2, 1>, Shape<2, 5, 6>>();         // padded strided 1×1
  check_against_naive<Conv2dHW<3, 3, 1, 3, 1>, Shape<2, 9, 4>>();
  check_against_naive<Conv2dHW<3, 2, 4, 1, 3, 1, 2, 1, 2>, Shape<2, 7, 9>>();
  check_against_naive<Conv2d<2, 7, 1, 3>, Shape<1, 4, 4>>();  // kernel wider than the image
}

TEST_CASE("transposed conv equals its scatter definition") {
  check_transpose_against_naive<ConvTranspose2d<16, 3, 2>, Shape<8, 2, 2>>();
  check_transpose_against_naive<ConvTranspose2d<8, 5, 3, 1>, Shape<16, 5, 5>>();
  check_transpose_against_naive<ConvTranspose2d<1, 2, 2, 1>, Shape<8, 15, 15>>();
  check_transpose_against_naive<ConvTranspose2d<4, 4, 2, 1>, Shape<6, 7, 7>>();
  check_transpose_against_naive<ConvTranspose2d<2, 3, 2, 1, 1>, Shape<3, 4, 5>>();
  check_transpose_against_naive<ConvTranspose2d<3, 1>, Shape<4, 3, 3>>();
  check_transpose_against_naive<ConvTranspose2dHW<2, 3, 2, 2, 1, 1, 0, 1, 0, 2, 1>, Shape<2, 3, 4>>();
  // Forward makes col in blocks of output channels (256 / (KH·KW) at a time): two blocks,
  // the last one short, and DCGAN's first layer (four blocks of 16 channels).
  check_transpose_against_naive<ConvTranspose2d<40, 3, 2>, Shape<8, 2, 2>>();
  check_transpose_against_naive<ConvTranspose2d<64, 4, 2, 1>, Shape<12, 7, 7>>();
}

TEST_CASE("backward is the adjoint of forward: <Ax, y> = <x, A^T y>") {
  check_adjoint<Conv2d<4, 3, 1, 1, 1, 1, false>, Shape<3, 6, 6>>();
  check_adjoint<Conv2d<6, 3, 2, 1, 2, 2, false>, Shape<4, 9, 8>>();
  check_adjoint<Conv2d<5, 1, 1, 0, 1, 1, false>, Shape<3, 4, 4>>();
  check_adjoint<Conv2dHW<3, 3, 1, 3, 1, 0, 0, 1, 1, 1, false>, Shape<2, 9, 4>>();
  check_adjoint<ConvTranspose2d<3, 5, 3, 1, 0, false>, Shape<4, 5, 5>>();
  check_adjoint<ConvTranspose2d<2, 4, 2, 1, 0, false>, Shape<3, 7, 7>>();
  check_adjoint<ConvTranspose2d<2, 3, 2, 1, 1, false>, Shape<3, 4, 5>>();
  check_adjoint<AvgPool2d<3, 2, 1>, Shape<2, 7, 6>>();
  check_adjoint<Upsample<2>, Shape<2, 3, 4>>();
}

TEST_CASE("ConvTranspose2d with a conv's weights is that conv's adjoint") {
  // Conv2d<4, 3, 2, 1>: (3, 7, 7) → (4, 4, 4); ConvTranspose2d<3, 3, 2, 1>: (4, 4, 4) → (3, 7, 7).
  using Cv = bind_t<Conv2d<4, 3, 2, 1, 1, 1, false>, double, Shape<3, 7, 7>>;
  using Ct = bind_t<ConvTranspose2d<3, 3, 2, 1, 0, false>, double, Shape<4, 4, 4>>;
  static_assert(std::is_same_v<Ct::output_shape, Cv::input_shape>);
  static_assert(Cv::weight_size == Ct::weight_size);
  constexpr std::size_t n = 2;
  Cv conv;
  Ct convt;
  auto bc = bind_random(conv, 41);
  auto bt = bind_random(convt, 42);
  std::copy(conv.weight, conv.weight + Cv::weight_size, convt.weight);  // (4, 3, 3, 3) both ways
  const auto x = random(n * Cv::input_shape::size, 43);
  const auto y = random(n * Cv::output_shape::size, 44);
  std::vector<double> cx(y.size()), ty(x.size());
  conv.forward(x.data(), cx.data(), n);
  convt.forward(y.data(), ty.data(), n);
  const double lhs = dot(cx, y), rhs = dot(x, ty);
  CHECK(std::abs(lhs - rhs) <= 1e-12 * std::max(1.0, std::abs(lhs)));
}

TEST_CASE("col2im is the adjoint of im2col") {
  const cpu::ConvGeom g{3, 7, 6, 3, 2, 2, 1, 1, 0, 1, 2, 4, 4};  // output by PyTorch's formula
  const auto x = random(static_cast<std::size_t>(g.C * g.H * g.W), 51);
  const auto c = random(static_cast<std::size_t>(g.rows() * g.cols()), 52);
  std::vector<double> col(c.size()), back(x.size(), 0.0);
  cpu::im2col(x.data(), g, col.data());
  cpu::col2im_add(c.data(), g, back.data());
  CHECK(std::abs(dot(col, c) - dot(x, back)) < 1e-12);
}

// Runs forward + backward of a fresh layer on n samples; returns y, dx and the parameter grads.
struct Run {
  std::vector<double> y, dx, grads;
};
template <class L>
Run run_layer(std::size_t n, cpu::Threading mode, double min_flops, std::size_t first = 0,
              std::size_t count = 0) {
  L l;
  auto b = bind_random(l, 61);
  l.kernel.threading = mode;
  l.kernel.min_parallel_flops = min_flops;
  constexpr std::size_t xs = L::input_shape::size, ys = L::output_shape::size;
  const auto x = random(n * xs, 62);
  const auto dy = random(n * ys, 63);
  Run r{std::vector<double>(n * ys, 0.0), std::vector<double>(n * xs, 0.0), {}};
  std::fill(b.grads.begin(), b.grads.end(), 0.0);
  if (count == 0) {
    l.forward(x.data(), r.y.data(), n);
    l.backward(x.data(), r.y.data(), dy.data(), r.dx.data(), n);
  } else {  // samples one call at a time: the per-sample reference
    for (std::size_t i = first; i < first + count; ++i) {
      l.forward(x.data() + i * xs, r.y.data() + i * ys, 1);
      l.backward(x.data() + i * xs, r.y.data() + i * ys, dy.data() + i * ys, r.dx.data() + i * xs, 1);
    }
  }
  r.grads = b.grads;
  return r;
}

template <class L>
void check_batching() {
  // 13 samples: several GEMM chunks of L::kernel_type::NB samples, a short last chunk, an uneven thread split.
  constexpr std::size_t n = 13;
  static_assert(L::kernel_type::NB > 1 && L::kernel_type::NB < n);
  const Run one = run_layer<L>(n, cpu::Threading::batch, 0.0, 0, n);     // one sample per call
  const Run thr = run_layer<L>(n, cpu::Threading::batch, 0.0);           // threads over the batch
  const Run gem = run_layer<L>(n, cpu::Threading::gemm, 0.0);            // one thread, GEMM threads
  const Run big = run_layer<L>(n, cpu::Threading::batch, 1e300);         // never threaded
  for (const Run* r : {&thr, &gem, &big}) {
    CHECK(max_abs_diff(one.y, r->y) < 1e-12);
    CHECK(max_abs_diff(one.dx, r->dx) < 1e-12);
    CHECK(max_abs_diff(one.grads, r->grads) < 1e-11);
  }
}

TEST_CASE("batched, chunked and threaded runs equal one sample at a time") {
  check_batching<bind_t<Conv2d<8, 3, 2, 1, 1, 2>, double, Shape<4, 19, 19>>>();   // P = 100
  check_batching<bind_t<Conv2d<6, 3, 3, 1>, double, Shape<2, 28, 28>>>();         // the seed's
  check_batching<bind_t<Conv2d<3, 3, 1, 1, 1, 1, false>, double, Shape<2, 12, 12>>>();
  check_batching<bind_t<ConvTranspose2d<3, 4, 2, 1>, double, Shape<4, 10, 10>>>();  // H·W = 100
  check_batching<bind_t<ConvTranspose2d<2, 2, 2, 1, 0, false>, double, Shape<3, 9, 9>>>();
  // The 1×1 path is one sample per GEMM; it must still split over threads correctly.
  using P = bind_t<Conv2d<5, 1>, double, Shape<3, 4, 4>>;
  static_assert(P::kernel_type::NB == 1);
  const Run one = run_layer<P>(9, cpu::Threading::batch, 0.0, 0, 9);
  const Run thr = run_layer<P>(9, cpu::Threading::batch, 0.0);
  CHECK(max_abs_diff(one.y, thr.y) < 1e-12);
  CHECK(max_abs_diff(one.dx, thr.dx) < 1e-12);
  CHECK(max_abs_diff(one.grads, thr.grads) < 1e-11);
}
