// Golden values of the convolution family against PyTorch 1.13 (tests/fixtures/conv_layers.txt,
// written by tests/fixtures/make_conv_fixtures.py). Inputs, weights and upstream gradients
// come from the same integer hash on both sides (exact in float and double), so the fixture
// stores only results: y, dx, dweight, dbias (large ones subsampled with a stride).
// Every case runs in double (agreement to rounding) and in float.
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <string>
#include <vector>
#include <zoo/zoo.hpp>

#include "support/fixtures.hpp"

using namespace zoo;
using zoo::test::check_close;
using zoo::test::Fixture;

namespace {

const Fixture& fx() {
  static const Fixture f("conv_layers.txt");
  return f;
}

// The script's pattern(): values in [-1, 1) on a 2^-23 grid.
double pattern(std::uint64_t i, std::uint64_t seed) {
  const std::uint64_t h = (i * 2654435761ull + seed * 1013904223ull + 12345ull) & 0xffffffffull;
  return (static_cast<double>(h >> 8) - 8388608.0) / 8388608.0;
}
template <class T>
void make(T* p, std::size_t n, std::uint64_t seed, double scale, double offset = 0) {
  for (std::size_t i = 0; i < n; ++i) p[i] = static_cast<T>(offset + scale * pattern(i, seed));
}

enum Seed : std::uint64_t { kX = 3, kW = 1, kB = 2, kDy = 4, kRm = 5, kRv = 6 };

// The script's stride_for(): large tensors are stored as every k-th value, k odd.
std::size_t stride_for(std::size_t numel) {
  constexpr std::size_t max_stored = 600;
  const std::size_t k = std::max<std::size_t>(1, (numel + max_stored - 1) / max_stored);
  return k > 1 && k % 2 == 0 ? k + 1 : k;
}

// Compares got[0], got[k], got[2k], … with the fixture tensor `key`.
template <class T>
void compare(const std::string& key, const T* got, std::size_t total) {
  const auto& want = fx()[key];
  const std::size_t every = stride_for(total);
  std::vector<T> sub;
  for (std::size_t i = 0; i < total; i += every) sub.push_back(got[i]);
  REQUIRE_MESSAGE(sub.size() == want.values.size(), key << ": fixture holds "
                                                        << want.values.size() << " values, layer "
                                                        << sub.size());
  double big = 1;
  for (const double v : want.values) big = std::max(big, std::abs(v));
  constexpr bool dbl = std::is_same_v<T, double>;
  check_close(key + (dbl ? " (double)" : " (float)"), sub.data(), want,
              (dbl ? 1e-11 : 2e-5) * big, dbl ? 1e-9 : 1e-4);
}

template <class Spec, class In, class T>
void run_case(const std::string& name, bool train = true) {
  using L = bind_t<Spec, T, In>;
  constexpr std::size_t n = 2;
  const auto& sc = fx()[name + ".scales"].values;  // x, weight, weight offset, bias, dy

  L layer;
  std::vector<T> params(num_params_of<L>() + 1), grads(num_params_of<L>() + 1, T(0)),
      buffers(num_buffers_of<L>() + 1);
  T* p = params.data();
  T* g = grads.data();
  T* b = buffers.data();
  layer_ops::bind_params(layer, p, g);
  layer_ops::bind_buffers(layer, b);
  Rng rng(0);
  layer_ops::init(layer, rng);
  T *dweight = nullptr, *dbias = nullptr;
  std::size_t weight_size = 0;
  layer_ops::visit_params(layer, "", [&](const std::string& key, auto, T* data, T* grad,
                                          std::size_t count) {
    if (key == "weight") make(data, count, kW, sc[1], sc[2]), dweight = grad, weight_size = count;
    if (key == "bias") make(data, count, kB, sc[3]), dbias = grad;
  });
  if (!train)
    layer_ops::visit_buffers(layer, "", [&](const std::string& key, auto, T* data, std::size_t count) {
      if (key == "running_mean") make(data, count, kRm, 0.5);
      if (key == "running_var") make(data, count, kRv, 0.25, 1.0);
    });
  layer_ops::set_training(layer, train);
  layer_ops::resize(layer, n);

  constexpr std::size_t xs = n * L::input_shape::size, ys = n * L::output_shape::size;
  std::vector<T> x(xs), y(ys, T(-7)), dy(ys), dx(xs, T(0));
  make(x.data(), xs, kX, sc[0]);
  make(dy.data(), ys, kDy, sc[4]);
  layer.forward(x.data(), y.data(), n);
  layer.backward(x.data(), y.data(), dy.data(), dx.data(), n);

  compare(name + ".y", y.data(), ys);
  compare(name + ".dx", dx.data(), xs);
  if (dweight) compare(name + ".dweight", dweight, weight_size);
  if (fx().has(name + ".dbias")) {
    REQUIRE(dbias != nullptr);
    compare(name + ".dbias", dbias, fx()[name + ".dbias"].values.size());
  } else {
    CHECK(dbias == nullptr);
  }
  if (fx().has(name + ".running_mean"))
    layer_ops::visit_buffers(layer, "", [&](const std::string& key, auto, T* data, std::size_t count) {
      if (key == "running_mean" || key == "running_var") compare(name + "." + key, data, count);
    });
}

template <class Spec, class In>
void run_both(const std::string& name, bool train = true) {
  run_case<Spec, In, double>(name, train);
  run_case<Spec, In, float>(name, train);
}

}  // namespace

TEST_CASE("the seeds' convolutional autoencoder, layer by layer (28→10→5→3→2→5→15→28)") {
  run_both<Conv2d<16, 3, 3, 1>, Shape<1, 28, 28>>("ae_conv1");
  run_both<MaxPool2d<2, 2>, Shape<16, 10, 10>>("ae_pool1");
  run_both<Conv2d<8, 3, 2, 1>, Shape<16, 5, 5>>("ae_conv2");
  run_both<MaxPool2d<2, 1>, Shape<8, 3, 3>>("ae_pool2");
  run_both<ConvTranspose2d<16, 3, 2>, Shape<8, 2, 2>>("ae_convt1");
  run_both<ConvTranspose2d<8, 5, 3, 1>, Shape<16, 5, 5>>("ae_convt2");
  run_both<ConvTranspose2d<1, 2, 2, 1>, Shape<8, 15, 15>>("ae_convt3");
}

TEST_CASE("DCGAN: 5x5 valid convs and 4x4 stride-2 transposed convs") {
  run_both<Conv2d<32, 5>, Shape<1, 28, 28>>("dc_conv1");
  run_both<Conv2d<64, 5>, Shape<32, 12, 12>>("dc_conv2");
  run_both<ConvTranspose2d<64, 4, 2, 1>, Shape<128, 7, 7>>("dc_convt1");
  run_both<ConvTranspose2d<1, 4, 2, 1>, Shape<64, 14, 14>>("dc_convt2");
}

TEST_CASE("Conv2d and ConvTranspose2d options") {
  run_both<Conv2d<6, 3, 1, 2, 2, 2>, Shape<4, 7, 7>>("conv_dil_groups");
  run_both<Conv2d<5, 3, 2, 1, 1, 1, false>, Shape<3, 8, 7>>("conv_nobias");
  run_both<Conv2d<4, 1>, Shape<6, 5, 5>>("conv_1x1");
  run_both<Conv2dHW<5, 3, 1, 3, 1>, Shape<4, 9, 5>>("conv_k31_s31");
  run_both<ConvTranspose2d<2, 3, 2, 1, 1>, Shape<3, 4, 5>>("convt_outpad");
}

TEST_CASE("pooling") {
  run_both<MaxPool2d<3, 2, 1>, Shape<3, 7, 6>>("maxpool_pad");
  run_both<AvgPool2d<2>, Shape<3, 6, 6>>("avgpool");
  run_both<AvgPool2d<3, 2, 1>, Shape<3, 7, 6>>("avgpool_pad");
}

TEST_CASE("GroupNorm, BatchNorm2d (train and eval), Upsample") {
  run_both<GroupNorm<4>, Shape<8, 5, 5>>("groupnorm");
  run_both<BatchNorm, Shape<8, 5, 5>>("batchnorm2d_train");
  run_both<BatchNorm, Shape<8, 5, 5>>("batchnorm2d_eval", false);
  run_both<Upsample<2>, Shape<3, 4, 5>>("upsample");
}
