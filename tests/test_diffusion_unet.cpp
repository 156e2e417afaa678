// The ContextUnet against PyTorch 1.13 (tests/fixtures/make_diffusion_fixtures.py):
// n_feat 16, height 16, batch 2, weights from the fixture's hash pattern. Checks the
// state_dict names and sizes, the training-mode output (BatchNorm on batch
// statistics), the gradients of all three inputs and of parameters across the
// network, the running statistics, and the eval-mode output after them. Run in
// double (tight tolerances: the same arithmetic) and in float.
#include <doctest/doctest.h>

#include <set>
#include <support/fixtures.hpp>
#include <zoo/models/diffusion/context_unet.hpp>
#include <zoo/models/diffusion/ddpm.hpp>
#include <zoo/zoo.hpp>

using namespace zoo;
using namespace zoo::models::diffusion;
using zoo::test::check_close;
using zoo::test::Fixture;

namespace {
// The fixture script's pattern(): values in [-1, 1) on a 2^-23 grid, exact in float.
double pattern(std::size_t i, std::uint64_t seed) {
  const std::uint64_t h = (i * 2654435761ULL + seed * 1013904223ULL + 12345ULL) % (1ULL << 32);
  return (static_cast<double>(h >> 8) - static_cast<double>(1 << 23)) / static_cast<double>(1 << 23);
}

template <class M>
void load_pattern_weights(M& m, const Fixture& f) {
  std::size_t count = 0;
  for (const auto& p : m.named_parameters()) {
    REQUIRE_MESSAGE(f.has("p." + p.name), "PyTorch has no parameter named " << p.name);
    const auto& v = f["p." + p.name].values;  // seed, scale, offset, numel
    CHECK_MESSAGE(static_cast<std::size_t>(v[3]) == p.size, p.name << ": zoo has " << p.size
                                                                    << " values, PyTorch " << v[3]);
    for (std::size_t i = 0; i < p.size; ++i)
      p.data[i] = static_cast<typename M::scalar>(v[2] + v[1] * pattern(i, static_cast<std::uint64_t>(v[0])));
    ++count;
  }
  CHECK(count == static_cast<std::size_t>(f["num_param_tensors"].values[0]));
}

// Forward values at (atol, rtol); gradients at (gatol, grtol).
template <class T>
void run_golden(double atol, double rtol, double gatol, double grtol) {
  const Fixture f("diffusion_unet.txt");
  using M = ContextUnetModel<1, 16, 16, 10, T>;
  M m(0);
  load_pattern_weights(m, f);
  Tensor<T> x({2, 1, 16, 16}), t({2, 1}), c({2, 10}), dy({2, 1, 16, 16});
  f.copy_to("x", x.data());
  f.copy_to("t", t.data());
  f.copy_to("c", c.data());
  f.copy_to("dy", dy.data());
  m.train();
  m.requires_input_grad(true);
  m.zero_grad();
  const auto& y = m.forward(x, t, c);
  check_close("y", y.data(), f["y"], atol, rtol);
  m.backward(dy);
  check_close("dx", m.input_grad(0).data(), f["dx"], gatol, grtol);
  check_close("dt", m.input_grad(1).data(), f["dt"], gatol, grtol);
  check_close("dc", m.input_grad(2).data(), f["dc"], gatol, grtol);
  int grads_checked = 0;
  for (const auto& p : m.named_parameters()) {
    if (!f.has("g." + p.name)) continue;
    const auto stride = static_cast<std::size_t>(f["g." + p.name + ".stride"].values[0]);
    std::vector<T> sub;
    for (std::size_t i = 0; i < p.size; i += stride) sub.push_back(p.grad[i]);
    REQUIRE(sub.size() == f["g." + p.name].values.size());
    check_close("grad " + p.name, sub.data(), f["g." + p.name], gatol, grtol);
    ++grads_checked;
  }
  CHECK(grads_checked == 19);
  std::map<std::string, const T*> bufs;
  for (const auto& b : m.named_buffers()) bufs[b.name] = b.data;
  for (const char* bn : {"init_conv.conv1.1", "down2.model.1.conv2.1", "up2.model.2.conv2.1"}) {
    const std::string s(bn);
    REQUIRE(bufs.count(s + ".running_mean"));
    check_close("running_mean " + s, bufs[s + ".running_mean"], f["rm." + s], atol, rtol);
    check_close("running_var " + s, bufs[s + ".running_var"], f["rv." + s], atol, rtol);
  }
  m.eval();
  check_close("y (eval)", m.forward(x, t, c).data(), f["y_eval"], atol, rtol);
}
}  // namespace

TEST_CASE("ContextUnet (n_feat 16, height 16) matches PyTorch in double") {
  run_golden<double>(1e-9, 1e-7, 1e-9, 1e-7);
}

TEST_CASE("ContextUnet (n_feat 16, height 16) matches PyTorch in float") {
  // Float rounding is amplified in the gradients by BatchNorm over a batch of 2
  // (a 1/σ of few values at every block): ~1% worst case; the double run above
  // is the exact comparison.
  run_golden<float>(2e-4, 2e-3, 1e-2, 1e-2);
}

TEST_CASE("ContextUnet shapes: heights 28 and 16, learned shortcut only when channels differ") {
  using M28 = ContextUnetModel<1, 28, 64>;
  static_assert(std::same_as<M28::output_shape, Shape<1, 28, 28>>);
  using M16 = ContextUnetModel<3, 16, 64, 5>;  // the course's sprites: RGB, 5 context features
  static_assert(std::same_as<M16::output_shape, Shape<3, 16, 16>>);
  M16 m(1);
  std::set<std::string> names;
  for (const auto& p : m.named_parameters()) names.insert(p.name);
  CHECK(names.count("init_conv.shortcut.weight"));       // 3 → 64: a learned 1×1 conv
  CHECK(!names.count("down1.model.0.shortcut.weight"));  // UnetDown's blocks are not residual
  CHECK(names.count("up0.0.weight"));
  CHECK(names.count("contextembed1.model.0.weight"));
  // AvgPool2d(height/4) covers the whole 7×7 map of a 28×28 input.
  using Net = M28::net_type;
  using ToVec = std::remove_reference_t<decltype(std::declval<Net&>().template get<"to_vec">())>;
  static_assert(std::same_as<ToVec::output_shape, Shape<128, 1, 1>>);
  static_assert(std::same_as<ToVec::input_shape, Shape<128, 7, 7>>);
}

TEST_CASE("ContextUnet: FiLM products are per channel and c = 0 means no context") {
  // Same x and t; sample 0 has context class 3, sample 1 zeros. In train mode
  // (BatchNorm renormalizes the small activations of an untrained net) the two
  // outputs differ; in eval mode, sample 1 equals a run with the whole batch at
  // zeros, so c = 0 is exactly "no context" and samples do not mix.
  using M = ContextUnetModel<1, 16, 16>;
  M m(3);
  Tensor<float> x({2, 1, 16, 16}), t({2, 1});
  Rng r(5);
  r.fill_normal(x.data(), 256);
  std::copy_n(x.data(), 256, x.data() + 256);
  t.fill(0.5f);
  const Tensor<float> c = one_hot({3, -1}, 10), c0 = one_hot({-1, -1}, 10);
  m.train();
  const Tensor<float> yt = m.forward(x, t, c);
  double diff = 0, scale = 0;
  for (std::size_t i = 0; i < 256; ++i) {
    diff = std::max(diff, static_cast<double>(std::abs(yt[i] - yt[256 + i])));
    scale = std::max(scale, static_cast<double>(std::abs(yt[i])));
  }
  CHECK(diff > 1e-3 * scale);
  m.eval();
  const Tensor<float> y = m.forward(x, t, c);
  const Tensor<float> y0 = m.forward(x, t, c0);
  double same = 0;
  for (std::size_t i = 0; i < 256; ++i)
    same = std::max(same, static_cast<double>(std::abs(y[256 + i] - y0[256 + i])));
  CHECK(same <= 1e-7);
}

TEST_CASE("guidance: (1 + w) eps(x, c) - w eps(x, 0) from one doubled batch") {
  using M = ContextUnetModel<1, 16, 16>;
  M m(4);
  m.eval();
  const auto s = NoiseSchedule::linear();
  Tensor<float> x({3, 1, 16, 16}), t({3, 1}), eps;
  Rng r(6);
  r.fill_normal(x.data(), x.size());
  t.fill(200.0f / 500.0f);
  UnetDenoiser<M> d{&m, &s, one_hot({1, 7, 9}, 10), 2.0};
  d(x, 200, eps);
  const Tensor<float> ec = m.forward(x, t, d.c);
  const Tensor<float> e0 = m.forward(x, t, one_hot({-1, -1, -1}, 10));
  for (std::size_t i = 0; i < eps.size(); i += 37)
    CHECK(eps[i] == doctest::Approx(3.0 * ec[i] - 2.0 * e0[i]).epsilon(1e-4));
  d.guidance = 0;
  d(x, 200, eps);
  for (std::size_t i = 0; i < eps.size(); i += 37) CHECK(eps[i] == ec[i]);
}

TEST_CASE("training step: context dropped for about 10% of samples, finite loss, grads flow") {
  using M = ContextUnetModel<1, 16, 16>;
  M m(7);
  Adam opt(m.parameters(), {.lr = 1e-3});
  const auto s = NoiseSchedule::linear();
  DiffusionStep<M> step{&s};
  Tensor<float> x0({50, 1, 16, 16});
  Rng r(8);
  r.fill_uniform(x0.data(), x0.size(), -1, 1);
  std::vector<int> labels(50);
  for (int i = 0; i < 50; ++i) labels[i] = i % 10;
  const Tensor<float> c = one_hot(labels, 10);
  std::size_t dropped = 0, total = 0;
  for (int k = 0; k < 4; ++k) {
    const float l = step.step(m, opt, x0, &c, r);
    CHECK(std::isfinite(l));
    CHECK(l > 0.1f);  // an untrained network is far from the noise
    for (std::size_t i = 0; i < 50; ++i) {
      float sum = 0;
      for (std::size_t j = 0; j < 10; ++j) sum += step.c[i * 10 + j];
      dropped += sum == 0.0f;
      ++total;
    }
    for (int ti : step.t) CHECK((ti >= 1 && ti <= 500));
  }
  CHECK(dropped >= 8);   // 10% of 200 is 20
  CHECK(dropped <= 36);
  // Unconditional: every context row is zero.
  step.step(m, opt, x0, nullptr, r);
  for (float v : step.c) CHECK(v == 0.0f);
  Tensor<float> bad({50, 9});
  CHECK_THROWS_AS(step.step(m, opt, x0, &bad, r), std::invalid_argument);
}
