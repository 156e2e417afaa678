// The CUDA backend (zoo/cuda.hpp) against the CPU backend. Built by g++ with
// -DTHRUST_DEVICE_SYSTEM=THRUST_DEVICE_SYSTEM_OMP, every device functor, layer, loss,
// optimizer and model of the backend runs on OpenMP threads over host memory; the same
// file built by nvcc (tests/cuda/cuda_backend.cu) runs them on a GPU. Each case binds one
// network type both ways, gives both the same weights (the device model's host mirror is
// initialised from the same seed) and the same batch, and compares outputs, parameter
// gradients and input gradients by relative error ‖a − b‖ / ‖b‖: 1e-6 in float, 1e-12 in
// double (the device GEMM may sum in another order than the CPU's kernels).
#include <doctest/doctest.h>

#include <cmath>
#include <cstdio>
#include <ratio>
#include <string>
#include <vector>
#include <zoo/cuda.hpp>
#include <zoo/losses/losses.hpp>
#include <zoo/models/autoencoder.hpp>
#include <zoo/models/diffusion/context_unet.hpp>
#include <zoo/models/gan.hpp>
#include <zoo/models/vae.hpp>
#include <zoo/models/yolo/yolov5.hpp>
#if !ZOO_CUDA_DEVICE
#include <zoo/io/safetensors.hpp>
#endif
#include <zoo/optim/optimizers.hpp>
#include <zoo/zoo.hpp>

#include "support/compare.hpp"

// The sanitizer build (ZOO_TEST_SANITIZED: ASan + UBSan) runs every device kernel once, in
// double: the layers, losses, optimizers, checkpoints and errors. It leaves out the float layer
// pass and the whole networks, which only compose those kernels and would make this one file
// most of the sanitizer build's time (clang with ASan/UBSan needs over half an hour for all of
// it); the release build runs everything.
// The error test asks for 2^62 bytes on purpose; ASan aborts on such a request unless its
// allocator may return null, which the host system's device_alloc (and cudaMalloc on a GPU)
// must then turn into zoo::cuda::Error.
#ifdef ZOO_TEST_SANITIZED
#define ZOO_CUDA_TEST_KERNELS_ONLY 1
extern "C" const char* __asan_default_options() { return "allocator_may_return_null=1"; }
#endif

namespace {

using zoo::Shape;

using zoo_test::rel_err;
template <class T>
constexpr double tol() {
  return std::is_same_v<T, float> ? 1e-6 : 1e-12;
}
template <class T>
zoo::Tensor<T> random_tensor(std::initializer_list<std::size_t> shape, std::uint64_t seed,
                             double lo = -1, double hi = 1) {
  zoo::Tensor<T> t(shape);
  zoo::Rng r(seed);
  r.fill_uniform(t.data(), t.size(), lo, hi);
  return t;
}
template <class T>
std::vector<T> download(const T* dev, std::size_t n) {
  std::vector<T> h(n);
  zoo::cuda::copy_to_host(dev, n, h.data());
  return h;
}

template <class S>
std::vector<std::size_t> batch_shape(std::size_t n) {
  std::vector<std::size_t> v{n};
  for (auto d : S::dims) v.push_back(d);
  return v;
}

// One forward and backward of Spec on inputs Ins... through both backends, everything
// compared: outputs, parameter gradients, every input's gradient, buffers (running stats).
// A whole model's outputs pass through several GEMMs summed in other orders than the CPU's:
// in float they are compared at `model_tol`; each layer alone at 1e-6.
[[maybe_unused]] constexpr double model_tol = 1e-5;  // unused in the sanitizer subset
template <class T, class Spec, class... Ins>
void compare_step(const char* what, std::size_t n, bool eval = false, double ftol = 1e-6,
                  std::uint64_t seed = 7) {
  const double tl = std::is_same_v<T, float> ? ftol : tol<T>();
  const std::string name = what;
  CAPTURE(name);
  CAPTURE(eval);
  constexpr std::size_t K = sizeof...(Ins);
  zoo::BasicModel<T, Spec, Ins...> cpu(seed);
  zoo::cuda::BasicModel<T, Spec, Ins...> dev(seed);
  if (eval) {
    cpu.eval();
    dev.eval();
  }
  using Out = typename decltype(cpu)::output_shape;
  std::array<zoo::Tensor<T>, K> x;
  std::array<zoo::cuda::Tensor<T>, K> xd;
  zoo::Rng r(seed + 1);
  [&]<std::size_t... I>(std::index_sequence<I...>) {
    ((x[I].resize(batch_shape<Ins>(n)), r.fill_uniform(x[I].data(), x[I].size(), -1.5, 1.5),
      xd[I].upload(x[I])),
     ...);
  }(std::index_sequence_for<Ins...>{});
  zoo::Tensor<T> dy{std::span<const std::size_t>(batch_shape<Out>(n))};
  r.fill_uniform(dy.data(), dy.size(), -1, 1);
  const zoo::cuda::Tensor<T> dyd(dy);
  cpu.requires_input_grad(true);
  dev.requires_input_grad(true);

  // Twice: the second pass reuses every buffer sized by the first.
  for (int pass = 0; pass < 2; ++pass) {
    CAPTURE(pass);
    const auto& y = [&]<std::size_t... I>(std::index_sequence<I...>) -> const zoo::Tensor<T>& {
      return cpu.forward(x[I]...);
    }(std::index_sequence_for<Ins...>{});
    const auto& yd = [&]<std::size_t... I>(std::index_sequence<I...>) -> const zoo::cuda::Tensor<T>& {
      return dev.forward(xd[I]...);
    }(std::index_sequence_for<Ins...>{});
    REQUIRE(yd.size() == y.size());
    CHECK(rel_err(yd.to_host().data(), y.data(), y.size()) <= tl);
    cpu.zero_grad();
    dev.zero_grad();
    // The first output's gradient; any other output does not reach the loss.
    std::array<const zoo::Tensor<T>*, decltype(cpu)::num_outputs> dc{&dy};
    std::array<const zoo::cuda::Tensor<T>*, decltype(cpu)::num_outputs> dd{&dyd};
    cpu.backward_ptrs(dc);
    dev.backward_ptrs(dd);
    const auto pc = cpu.parameters();
    const auto pd = dev.parameters();
    if (pc.size) {
      const auto g = download(pd.grad, pd.size);
      CHECK(rel_err(g.data(), pc.grad, pc.size) <= tl);
    }
    for (std::size_t k = 0; k < K; ++k) {
      CAPTURE(k);
      const auto dx = dev.input_grad(k).to_host();
      CHECK(rel_err(dx.data(), cpu.input_grad(k).data(), dx.size()) <= tl);
    }
    if (cpu.num_buffers) {  // running statistics and batch counts
      const auto b = download(dev.buffer_data(), cpu.num_buffers);
      CHECK(rel_err(b.data(), cpu.buffer_data(), b.size()) <= tl);
    }
  }
}

// The device layers fuse as the CPU's: a Linear computes a y_only activation after it
// (ReLU by cuBLASLt's epilogue on a GPU); GELU's backward reads x, so it stays apart.
namespace fusion {
template <class Fn>
constexpr bool device_fuses() {
  using L = zoo::cuda::layer<zoo::LinearLayer<float, Shape<20>, 32, true>>;
  using A = zoo::cuda::layer<zoo::ActivationLayer<float, Shape<32>, Fn>>;
  return zoo::fuses_with<float, L, A>();
}
static_assert(device_fuses<zoo::act::relu>() && device_fuses<zoo::act::tanh>() &&
              device_fuses<zoo::act::sigmoid>() && device_fuses<zoo::act::leaky_relu<1, 5>>());
static_assert(!device_fuses<zoo::act::gelu>() && !device_fuses<zoo::act::silu>() &&
              !device_fuses<zoo::act::leaky_relu<-1, 5>>());
static_assert(zoo::cuda::lt_epilogue<zoo::act::relu, true>() == zoo::cuda::Epilogue::relu_bias &&
              zoo::cuda::lt_epilogue<zoo::act::tanh, true>() == zoo::cuda::Epilogue::bias &&
              zoo::cuda::lt_epilogue<void, false>() == zoo::cuda::Epilogue::none);
}  // namespace fusion

// A layer of two inputs, as a model (a graph that feeds it both).
template <class Spec>
using Two = zoo::Graph<zoo::Inputs<"a", "b">, zoo::Node<"op", Spec, zoo::from<"a", "b">>>;

// YOLOv5's Detect over three levels, as a model.
using Detect3 = zoo::Graph<zoo::Inputs<"a", "b", "c">,
                           zoo::Node<"d", zoo::yolo::Detect<2>, zoo::from<"a", "b", "c">>>;

template <class T>
void layers_case() {
  compare_step<T, zoo::Linear<32>, Shape<20>>("Linear", 9);
  compare_step<T, zoo::Linear<16, false>, Shape<33>>("Linear, no bias", 5);
  compare_step<T, zoo::Linear<300>, Shape<784>>("Linear, large", 70);
  // Each Linear computes the activation after it (Sequential's fusion, as on the CPU).
  compare_step<T, zoo::Sequential<zoo::Linear<24>, zoo::ReLU, zoo::Linear<16, false>, zoo::Tanh, zoo::Linear<12>,
                                  zoo::Sigmoid, zoo::Linear<10, false>, zoo::ReLU, zoo::Linear<8>,
                                  zoo::LeakyReLU<1, 5>, zoo::Linear<4>, zoo::GELU>,
               Shape<20>>("Linear + activation, fused", 7);
  compare_step<T, zoo::ReLU, Shape<50>>("ReLU", 6);
  compare_step<T, zoo::LeakyReLU<1, 5>, Shape<50>>("LeakyReLU", 6);
  compare_step<T, zoo::Tanh, Shape<50>>("Tanh", 6);
  compare_step<T, zoo::Sigmoid, Shape<50>>("Sigmoid", 6);
  compare_step<T, zoo::SiLU, Shape<50>>("SiLU", 6);
  compare_step<T, zoo::GELU, Shape<50>>("GELU", 6);
  compare_step<T, zoo::Flatten, Shape<2, 3, 4>>("Flatten", 3);
  // Convolutions: padding, stride, dilation, groups, no bias, and a batch split in chunks.
  compare_step<T, zoo::Conv2d<8, 3, 1, 1>, Shape<3, 9, 7>>("Conv2d 3x3 pad 1", 4);
  compare_step<T, zoo::Conv2d<6, 5, 2, 1, 1, 1, false>, Shape<4, 12, 11>>("Conv2d 5x5 stride 2, no bias", 3);
  compare_step<T, zoo::Conv2d<6, 3, 1, 2, 2, 2>, Shape<4, 10, 10>>("Conv2d dilation 2, groups 2", 3);
  compare_step<T, zoo::Conv2dHW<5, 1, 3, 1, 2, 0, 1>, Shape<2, 6, 8>>("Conv2d 1x3", 2);
  compare_step<T, zoo::ConvTranspose2d<5, 3, 2>, Shape<4, 5, 5>>("ConvTranspose2d 3 stride 2", 3);
  compare_step<T, zoo::ConvTranspose2d<6, 4, 2, 1>, Shape<8, 7, 7>>("ConvTranspose2d 4/2/1", 2);
  compare_step<T, zoo::MaxPool2d<2, 2>, Shape<3, 8, 8>>("MaxPool2d 2", 4);
  compare_step<T, zoo::MaxPool2d<3, 2, 1>, Shape<2, 9, 7>>("MaxPool2d 3/2/1", 3);
  compare_step<T, zoo::AvgPool2d<2>, Shape<3, 8, 6>>("AvgPool2d 2", 4);
  compare_step<T, zoo::AvgPool2d<3, 2, 1>, Shape<2, 7, 9>>("AvgPool2d 3/2/1", 3);
  compare_step<T, zoo::BatchNorm, Shape<4, 5, 6>>("BatchNorm2d", 6);
  compare_step<T, zoo::BatchNorm, Shape<4, 5, 6>>("BatchNorm2d eval", 6, true);
  compare_step<T, zoo::BatchNorm, Shape<17>>("BatchNorm1d", 9);
  compare_step<T, zoo::BatchNormWith<std::ratio<1, 1000>, std::ratio<3, 100>>, Shape<3, 4, 4>>(
      "BatchNormWith", 5);
  compare_step<T, Two<zoo::Concat>, Shape<2, 4, 5>, Shape<3, 4, 5>>("Concat images", 3);
  compare_step<T, Two<zoo::Concat>, Shape<7>, Shape<3>>("Concat features", 4);
  compare_step<T, Two<zoo::Add>, Shape<3, 4, 5>, Shape<3, 4, 5>>("Add", 3);
  compare_step<T, Two<zoo::Mul>, Shape<3, 4, 5>, Shape<3, 4, 5>>("Mul", 3);
  compare_step<T, Two<zoo::Add>, Shape<3, 4, 5>, Shape<3, 1, 1>>("Add, broadcast", 3);
  compare_step<T, Two<zoo::Mul>, Shape<3>, Shape<3, 4, 5>>("Mul, broadcast first", 3);
  compare_step<T, zoo::Expand2d<4, 3>, Shape<5>>("Expand2d", 3);
  compare_step<T, zoo::Upsample<2>, Shape<3, 4, 5>>("Upsample 2", 3);
  compare_step<T, zoo::Upsample<3>, Shape<2, 3, 2>>("Upsample 3", 2);
  compare_step<T, Two<zoo::Reparameterize>, Shape<6>, Shape<6>>("Reparameterize", 5);
  compare_step<T, zoo::GroupNorm<2>, Shape<6, 4, 5>>("GroupNorm2d", 3);
  compare_step<T, zoo::AKConv<8, 3>, Shape<4, 9, 9>>("AKConv N 3", 3);
  compare_step<T, zoo::AKConv<6, 5, 2, zoo::AKConvSampling::reference>, Shape<3, 10, 11>>(
      "AKConv N 5 stride 2, reference sampling", 2);
  compare_step<T, zoo::GroupNorm<4>, Shape<8>>("GroupNorm1d", 5);
  compare_step<T, zoo::models::diffusion::Scale<1000, 1414>, Shape<3, 4>>("Scale", 3);
  compare_step<T, Detect3, Shape<3, 4, 4>, Shape<5, 2, 2>, Shape<4, 1, 1>>("Detect", 2);
  compare_step<T, zoo::yolo::YoloAKConv<6, 3, 2>, Shape<4, 6, 6>>("YoloAKConv", 2);
  compare_step<T, zoo::Sequential<zoo::Reshape<4, 6>, zoo::Flatten, zoo::Linear<5>>, Shape<24>>(
      "Reshape chain", 3);
}

TEST_CASE("cuda backend: each layer's forward and backward equal the CPU's (float, double)") {
#ifndef ZOO_CUDA_TEST_KERNELS_ONLY
  layers_case<float>();
#endif
  layers_case<double>();
}

#ifndef ZOO_CUDA_TEST_KERNELS_ONLY
TEST_CASE("cuda backend: containers and the zoo's models equal the CPU's, step for step") {
  using zoo::Linear;
  using zoo::ReLU;
  using zoo::Sigmoid;
  // Fused on the CPU (Linear + ReLU/Sigmoid in one pass), unfused on the device.
  compare_step<float, zoo::Sequential<Linear<64>, ReLU, Linear<10>, Sigmoid>, Shape<30>>(
      "Sequential MLP", 16, false, model_tol);
  compare_step<double, zoo::Sequential<Linear<64>, ReLU, Linear<10>, Sigmoid>, Shape<30>>(
      "Sequential MLP", 16);
  compare_step<float, zoo::models::MlpAutoencoder, Shape<784>>("MlpAutoencoder", 32, false, model_tol);
  compare_step<double, zoo::models::MlpAutoencoder, Shape<784>>("MlpAutoencoder", 8);
  compare_step<float, zoo::models::MlpDiscriminator, Shape<784>>("MlpDiscriminator", 64, false, model_tol);
  compare_step<float, zoo::models::MlpGenerator, Shape<100>>("MlpGenerator", 64, false, model_tol);
  compare_step<float, zoo::models::DcGenerator, Shape<100>>("DcGenerator", 16, false, model_tol);
  compare_step<float, zoo::models::DcDiscriminator, Shape<1, 28, 28>>("DcDiscriminator", 16, false, model_tol);
  compare_step<double, zoo::models::DcGenerator, Shape<100>>("DcGenerator", 4);
  compare_step<double, zoo::models::ConvAutoencoder, Shape<1, 28, 28>>("ConvAutoencoder", 4);
  // The VAEs: Reparameterize's ε comes from the same noise stream on both sides.
  compare_step<float, zoo::models::VaeMse, Shape<784>>("VaeMse", 16, false, model_tol);
  compare_step<double, zoo::models::VaeBce, Shape<784>>("VaeBce", 4);
  // The diffusion UNet (small): residual blocks, GroupNorm, FiLM's Mul and Add, AvgPool.
  using Unet = zoo::models::diffusion::ContextUnet<16, 10>;
  compare_step<float, Unet, Shape<1, 16, 16>, Shape<1>, Shape<10>>("ContextUnet", 4, false, model_tol);
  compare_step<double, Unet, Shape<1, 16, 16>, Shape<1>, Shape<10>>("ContextUnet", 3);
  compare_step<float, zoo::models::CondDcGenerator, Shape<zoo::models::gan_noise_dim>, Shape<10>>(
      "CondDcGenerator", 8, false, model_tol);
  compare_step<float, zoo::models::CondDcDiscriminator, Shape<1, 28, 28>, Shape<10>>(
      "CondDcDiscriminator", 8, false, model_tol);
}
#endif

// Five Adam steps of the MLP autoencoder on MSE, on both backends: the same losses and the
// same parameters after (the step's arithmetic is the same; only summation orders differ).
template <class T>
void train_case(std::size_t n, double loss_tol, double param_tol) {
  using Net = zoo::models::MlpAutoencoder;
  zoo::BasicModel<T, Net, Shape<784>> cpu(11);
  zoo::cuda::BasicModel<T, Net, Shape<784>> dev(11, "autoencoder");
  zoo::AdamOptions ao;
  ao.lr = 1e-3;
  ao.weight_decay = 1e-4;
  zoo::Adam<T> opt_c(cpu.parameters(), ao);
  zoo::cuda::Adam<T> opt_d(dev.parameters(), ao);
  const auto x = random_tensor<T>({n, 784}, 5, 0, 1);
  const zoo::cuda::Tensor<T> xd(x);
  zoo::Tensor<T> g, zc({n, 3});
  zc.fill(T(0));
  const zoo::cuda::Tensor<T> zd(zc);
  zoo::cuda::Tensor<T> gd;
  for (int step = 0; step < 5; ++step) {
    CAPTURE(step);
    const T lc = zoo::mse_loss(cpu.forward(x), x, &g);
    const T ld = zoo::cuda::mse_loss(dev.forward(xd), xd, &gd);
    CHECK(std::abs(double(ld) - double(lc)) <= loss_tol * std::abs(double(lc)));
    CHECK(rel_err(gd.to_host().data(), g.data(), g.size()) <= tol<T>());
    cpu.zero_grad();
    dev.zero_grad();
    cpu.backward(g, zc);  // the code (second output) does not reach the loss
    dev.backward(gd, zd);
    opt_c.step();
    opt_d.step();
  }
  const auto pd = download(dev.parameters().data, dev.num_params);
  CHECK(rel_err(pd.data(), cpu.parameters().data, pd.size()) <= param_tol);
  // The mirror is the CPU view of the device's values once brought back.
  dev.to_host();
  CHECK(rel_err(dev.host().parameters().data, cpu.parameters().data, pd.size()) <= param_tol);
}

TEST_CASE("cuda backend: Adam training of the MLP autoencoder follows the CPU's") {
  train_case<float>(64, 1e-5, 1e-5);
  train_case<double>(16, 1e-12, 1e-12);
}

TEST_CASE("cuda backend: SGD with momentum and BCE equal the CPU's") {
  using Net = zoo::Sequential<zoo::Linear<40>, zoo::ReLU, zoo::Linear<10>, zoo::Sigmoid>;
  zoo::BasicModel<double, Net, Shape<25>> cpu(3);
  zoo::cuda::BasicModel<double, Net, Shape<25>> dev(3);
  zoo::SGDOptions o;
  o.lr = 0.1, o.momentum = 0.9, o.weight_decay = 1e-3, o.nesterov = true;
  zoo::SGD<double> sc(cpu.parameters(), o);
  zoo::cuda::SGD<double> sd(dev.parameters(), o);
  const auto x = random_tensor<double>({12, 25}, 9);
  const auto y = random_tensor<double>({12, 10}, 10, 0, 1);
  const zoo::cuda::Tensor<double> xd(x), yd(y);
  zoo::Tensor<double> g;
  zoo::cuda::Tensor<double> gd;
  for (int step = 0; step < 4; ++step) {
    const double lc = zoo::bce_loss(cpu.forward(x), y, &g);
    const double ld = zoo::cuda::bce_loss(dev.forward(xd), yd, &gd);
    CHECK(std::abs(ld - lc) <= 1e-12 * std::abs(lc));
    CHECK(rel_err(gd.to_host().data(), g.data(), g.size()) <= 1e-12);
    cpu.zero_grad();
    dev.zero_grad();
    cpu.backward(g);
    dev.backward(gd);
    sc.step();
    sd.step();
  }
  const auto pd = download(dev.parameters().data, dev.num_params);
  CHECK(rel_err(pd.data(), cpu.parameters().data, pd.size()) <= 1e-12);
}

TEST_CASE("cuda backend: bad input and failed allocations give clear errors") {
  zoo::cuda::Model<zoo::models::MlpAutoencoder, Shape<784>> m(1, "autoencoder");
  zoo::cuda::Tensor<float> bad({4, 783});
  CHECK_THROWS_WITH_AS(m.forward(bad), doctest::Contains("has shape (4, 783)"),
                       std::invalid_argument);
  zoo::cuda::Tensor<float> y({4, 10});
  CHECK_THROWS_WITH_AS(m.backward(y, y), doctest::Contains("call forward() first"), std::logic_error);
  CHECK_THROWS_WITH_AS(zoo::cuda::bce_loss(zoo::cuda::Tensor<float>(random_tensor<float>({2, 3}, 1, 2, 3)),
                                           zoo::cuda::Tensor<float>(random_tensor<float>({2, 3}, 1))),
                       doctest::Contains("outside [0, 1]"), std::invalid_argument);
  zoo::cuda::DeviceBuffer<float> huge;
  CHECK_THROWS_WITH_AS(huge.resize(std::size_t(1) << 60),
                       doctest::Contains((std::to_string((std::size_t(1) << 60) * 4) + " bytes").c_str()),
                       zoo::cuda::Error);
  std::string why;
  CHECK(zoo::cuda::device_available(&why));  // the host system always is
}

}  // namespace

namespace {

TEST_CASE("cuda backend: bce_with_logits_loss equals the CPU's, both target forms") {
  const auto x = random_tensor<double>({7, 3}, 21, -6, 6);
  const auto y = random_tensor<double>({7, 3}, 22, 0, 1);
  const zoo::cuda::Tensor<double> xd(x), yd(y);
  zoo::Tensor<double> g;
  zoo::cuda::Tensor<double> gd;
  const double lc = zoo::bce_with_logits_loss(x, y, &g);
  const double ld = zoo::cuda::bce_with_logits_loss(xd, yd, &gd);
  CHECK(std::abs(ld - lc) <= 1e-12 * std::abs(lc));
  CHECK(rel_err(gd.to_host().data(), g.data(), g.size()) <= 1e-12);
  const double lc1 = zoo::bce_with_logits_loss(x, 1.0, &g);
  const double ld1 = zoo::cuda::bce_with_logits_loss(xd, 1.0, &gd);
  CHECK(std::abs(ld1 - lc1) <= 1e-12 * std::abs(lc1));
  CHECK(rel_err(gd.to_host().data(), g.data(), g.size()) <= 1e-12);
}

// ZOO_CUDA_CONV picks the convolution engine; a build without cuDNN (this one, on Thrust's
// OpenMP system) refuses "cudnn" rather than fall back in silence.
TEST_CASE("cuda backend: ZOO_CUDA_CONV names an engine this build has, or is an error") {
  using zoo::cuda::ConvEngine;
  CHECK(zoo::cuda::parse_conv_engine(nullptr) == ConvEngine::im2col);
  CHECK(zoo::cuda::parse_conv_engine("") == ConvEngine::im2col);
  CHECK(zoo::cuda::parse_conv_engine("im2col") == ConvEngine::im2col);
  CHECK_THROWS_WITH_AS(zoo::cuda::parse_conv_engine("winograd"), doctest::Contains("expected im2col or cudnn"),
                       zoo::cuda::Error);
  if constexpr (zoo::cuda::cudnn_built)
    CHECK(zoo::cuda::parse_conv_engine("cudnn") == ConvEngine::cudnn);
  else
    CHECK_THROWS_WITH_AS(zoo::cuda::parse_conv_engine("cudnn"), doctest::Contains("has no cuDNN"),
                         zoo::cuda::Error);
}

// The reductions' temporary storage comes from the kept allocator (cuda/scratch.hpp): the
// first loss call allocates it, the next calls of that size or smaller allocate nothing,
// and the values are the ones thrust::device gives.
TEST_CASE("cuda backend: reductions reuse their scratch; a steady state allocates none") {
  const auto x = random_tensor<double>({64, 30}, 23, -1, 1);
  const auto y = random_tensor<double>({64, 30}, 24, -1, 1);
  const zoo::cuda::Tensor<double> xd(x), yd(y);
  zoo::cuda::Tensor<double> gd;
  auto& s = zoo::cuda::scratch();
  const double first = zoo::cuda::mse_loss(xd, yd, &gd);
  const std::size_t after_first = s.allocations();
  CHECK(after_first >= 1);  // the OMP system's reduction takes temporary storage too
  const std::size_t held = s.bytes_held();
  for (int i = 0; i < 5; ++i) CHECK(zoo::cuda::mse_loss(xd, yd, &gd) == first);
  const zoo::cuda::Tensor<double> small(random_tensor<double>({8, 30}, 25, -1, 1));
  zoo::cuda::mse_loss(small, small, &gd);
  CHECK(s.allocations() == after_first);
  CHECK(s.bytes_held() == held);
  CHECK(first == doctest::Approx(zoo::mse_loss(x, y, nullptr)).epsilon(1e-12));
}

TEST_CASE("cuda backend: ZOO_CUDA_LT is 0 or 1; cuBLASLt is told each operand's alignment") {
  CHECK(zoo::cuda::parse_lt_enabled(nullptr));
  CHECK(zoo::cuda::parse_lt_enabled(""));
  CHECK(zoo::cuda::parse_lt_enabled("1"));
  CHECK_FALSE(zoo::cuda::parse_lt_enabled("0"));
  CHECK_THROWS_WITH_AS(zoo::cuda::parse_lt_enabled("yes"), "ZOO_CUDA_LT='yes': expected 0 or 1",
                       zoo::cuda::Error);
  // The largest power of two up to 256 dividing the address: a weight after 3 floats of
  // the flat buffer is 4-byte aligned, which a heuristic assuming 256 would get wrong.
  alignas(256) static float buf[512];
  CHECK(zoo::cuda::lt_alignment(nullptr) == 256);
  CHECK(zoo::cuda::lt_alignment(buf) == 256);
  CHECK(zoo::cuda::lt_alignment(buf + 3) == 4);
  CHECK(zoo::cuda::lt_alignment(buf + 4) == 16);
  CHECK(zoo::cuda::lt_alignment(buf + 32) == 128);
  CHECK(zoo::cuda::lt_alignment(buf + 64) == 256);
}

#if !ZOO_CUDA_DEVICE  // io/ needs zlib's headers, which the GPU machine need not have
TEST_CASE("cuda backend: checkpoints go through the host mirror") {
  using Net = zoo::models::DcGenerator;
  zoo::cuda::Model<Net, Shape<zoo::models::gan_noise_dim>> a(5, "G");
  zoo::cuda::Adam<float> opt(a.parameters(), {});
  const zoo::cuda::Tensor<float> z(random_tensor<float>({8, zoo::models::gan_noise_dim}, 6));
  zoo::cuda::Tensor<float> g;
  const zoo::cuda::Tensor<float> target(random_tensor<float>({8, 1, 28, 28}, 7));
  zoo::cuda::mse_loss(a.forward(z), target, &g);  // one step: parameters and running stats move
  a.backward(g);
  opt.step();
  a.to_host();
  const std::string path = "cuda_backend_ckpt.safetensors";
  zoo::save_safetensors(path, a.host());
  zoo::cuda::Model<Net, Shape<zoo::models::gan_noise_dim>> b(99, "G copy");
  zoo::load_safetensors(path, b.host());
  b.to_device();
  a.eval();
  b.eval();
  const auto ya = a.forward(z).to_host();
  const auto yb = b.forward(z).to_host();
  CHECK(rel_err(yb.data(), ya.data(), ya.size()) == 0.0);
  std::remove(path.c_str());
}
#endif

}  // namespace

namespace {

// AKConv's input scatter with atomic adds (one index per sample, channel, point and
// position) against the CPU: the same gradients up to the order of the additions.
template <class T>
void akconv_atomic_case() {
  using Spec = zoo::AKConv<6, 5, 2>;
  using In = Shape<4, 11, 10>;
  constexpr std::size_t n = 3;
  zoo::BasicModel<T, Spec, In> cpu(4);
  zoo::cuda::BasicModel<T, Spec, In> dev(4);
  dev.net().atomic_scatter = true;
  cpu.requires_input_grad(true);
  dev.requires_input_grad(true);
  zoo::Tensor<T> x{std::span<const std::size_t>(batch_shape<In>(n))};
  zoo::Tensor<T> dy{std::span<const std::size_t>(batch_shape<typename decltype(cpu)::output_shape>(n))};
  zoo::Rng r(8);
  r.fill_uniform(x.data(), x.size(), -1, 1);
  r.fill_uniform(dy.data(), dy.size(), -1, 1);
  cpu.forward(x);
  dev.forward(zoo::cuda::Tensor<T>(x));
  cpu.backward(dy);
  dev.backward(zoo::cuda::Tensor<T>(dy));
  const auto dx = dev.input_grad().to_host();
  CHECK(rel_err(dx.data(), cpu.input_grad().data(), dx.size()) <= tol<T>());
  const auto g = download(dev.parameters().grad, dev.num_params);
  CHECK(rel_err(g.data(), cpu.parameters().grad, g.size()) <= tol<T>());
}

TEST_CASE("cuda backend: AKConv's atomic input scatter equals the CPU's gradients") {
  akconv_atomic_case<float>();
  akconv_atomic_case<double>();
}

}  // namespace

namespace {

// The sanitizer build's subset leaves out the whole networks; their layers are tested above.
#ifndef ZOO_CUDA_TEST_KERNELS_ONLY
TEST_CASE("cuda backend: YOLOv5n with AKConv equals the CPU's, train step and eval decode") {
  using Net = zoo::yolo::YOLOv5nAKConv<2, 3>;
  using In = Shape<3, 64, 64>;
  // Detect's P5 level is 2×2 here: its BatchNorms normalise over 4·2·2 = 16 values, which
  // amplifies last-bit differences about a hundredfold (at 32×32 and batch 2, over 2 values:
  // a millionfold). Double shows the arithmetic is the same; float is held to 1e-4.
  compare_step<double, Net, In>("YOLOv5n-AKConv", 4);
  compare_step<float, Net, In>("YOLOv5n-AKConv", 4, false, 1e-4);
  // Eval: Detect decodes boxes; BatchNorm uses running statistics.
  zoo::Model<Net, In> cpu(3);
  zoo::cuda::Model<Net, In> dev(3);
  cpu.eval();
  dev.eval();
  const auto x = random_tensor<float>({2, 3, 64, 64}, 31, 0, 1);
  const auto& y = cpu.forward(x);
  const auto yd = dev.forward(zoo::cuda::Tensor<float>(x)).to_host();
  CHECK(rel_err(yd.data(), y.data(), y.size()) <= model_tol);
  zoo::cuda::Tensor<float> dy(std::span<const std::size_t>(yd.shape()));
  CHECK_THROWS_WITH_AS(dev.backward(dy), doctest::Contains("training-mode output"), std::logic_error);
}

#endif

}  // namespace
