// GAN models and training steps: shapes and parameter names as the PyTorch
// originals, the Expand2d layer's gradient, which parameters a D step and a G
// step change (the other network stays bit-identical), and that the G step's
// gradient is the true derivative of L_G through the frozen D.
#include <cstring>
#include <zoo/models/gan.hpp>
#include <zoo/models/gan_training.hpp>

#include "support/gradcheck.hpp"

using namespace zoo;
using namespace zoo::models;

TEST_CASE("Expand2d: gradient check, and each value fills its whole map") {
  zoo::test::grad_check<bind_t<Expand2d<3, 4>, double, Shape<5>>>();
  bind_t<Expand2d<2, 3>, float, Shape<2>> e;
  const float x[4] = {1, 2, 3, 4};
  float y[24];
  e.forward(x, y, 2);
  for (int i = 0; i < 24; ++i) CHECK(y[i] == x[i / 6]);
}

TEST_CASE("GAN model types: shapes, parameter counts and state_dict names of the originals") {
  using DG = Model<DcGenerator, Shape<96>>;
  using DD = Model<DcDiscriminator, Shape<1, 28, 28>>;
  static_assert(std::is_same_v<DG::output_shape, Shape<1, 28, 28>>);
  static_assert(std::is_same_v<DD::output_shape, Shape<1>>);
  // Counts of sum(p.numel() for p in net.parameters()) in PyTorch.
  static_assert(Model<MlpDiscriminator, Shape<784>>::num_params == 784 * 256 + 256 + 256 * 256 + 256 + 257);
  static_assert(Model<MlpGenerator, Shape<96>>::num_params ==
                96 * 1024 + 1024 + 1024 * 1024 + 1024 + 1024 * 784 + 784);
  static_assert(DD::num_params == 832 + 51264 + 1049600 + 1025);
  static_assert(DG::num_params == 99328 + 2048 + 6428800 + 12544 + 131136 + 128 + 1025);
  static_assert(Model<CondDcGenerator, Shape<96>, Shape<10>>::num_params == DG::num_params + 10 * 1024);
  static_assert(Model<CondDcDiscriminator, Shape<1, 28, 28>, Shape<10>>::num_params ==
                DD::num_params + 10 * 32 * 25);
  // Each half is a Sequential, which fuses Linear with the activation after it, as the
  // flat Sequential did: G's fc.0+fc.1 and fc.3+fc.4, D's fc.0+fc.1.
  using GL = bind_t<DcGenerator, float, Shape<96>>;
  using DL = bind_t<DcDiscriminator, float, Shape<1, 28, 28>>;
  static_assert(GL::layer_t<0>::fuses<0>() && GL::layer_t<0>::fuses<3>());
  static_assert(DL::layer_t<2>::fuses<0>());
  DG g;
  std::vector<std::string> names;
  for (const auto& t : g.state_dict()) names.push_back(t.name);
  // The reference modules' keys: self.fc and self.conv, each an nn.Sequential
  // (tests/test_dcgan_names.cpp checks them against PyTorch's own list).
  const std::vector<std::string> want{
      "fc.0.weight", "fc.0.bias", "fc.2.weight", "fc.2.bias", "fc.3.weight", "fc.3.bias",
      "fc.5.weight", "fc.5.bias", "conv.0.weight", "conv.0.bias", "conv.2.weight", "conv.2.bias",
      "conv.3.weight", "conv.3.bias",
      "fc.2.running_mean", "fc.2.running_var", "fc.2.num_batches_tracked",
      "fc.5.running_mean", "fc.5.running_var", "fc.5.num_batches_tracked",
      "conv.2.running_mean", "conv.2.running_var", "conv.2.num_batches_tracked"};
  CHECK(names == want);
  DD d;
  names.clear();
  for (const auto& t : d.state_dict()) names.push_back(t.name);
  CHECK(names == std::vector<std::string>{"conv.0.weight", "conv.0.bias", "conv.3.weight",
                                          "conv.3.bias", "fc.0.weight", "fc.0.bias", "fc.2.weight",
                                          "fc.2.bias"});
  Model<CondDcGenerator, Shape<96>, Shape<10>> cg;
  CHECK(cg.state_dict().front().name == "net.fc.0.weight");
  CHECK(cg.state_dict().front().shape == std::vector<std::size_t>{1024, 106});
  Model<CondDcDiscriminator, Shape<1, 28, 28>, Shape<10>> cd;
  CHECK(cd.state_dict().front().name == "net.conv.0.weight");
  CHECK(cd.state_dict().front().shape == std::vector<std::size_t>{32, 11, 5, 5});
}

namespace {
template <class M>
std::vector<float> params_of(M& m) {
  auto p = m.parameters();
  return {p.data, p.data + p.size};
}
bool bit_identical(const std::vector<float>& a, const std::vector<float>& b) {
  return a.size() == b.size() && std::memcmp(a.data(), b.data(), a.size() * sizeof(float)) == 0;
}
// Share of entries that differ.
double changed(const std::vector<float>& a, const std::vector<float>& b) {
  std::size_t c = 0;
  for (std::size_t i = 0; i < a.size(); ++i) c += a[i] != b[i];
  return static_cast<double>(c) / static_cast<double>(a.size());
}

template <class GM, class DM>
void check_steps(GanObjective objective) {
  GM g(1);
  DM d(2);
  GanTrainer tr(g, d, {.objective = objective, .seed = 3});
  const std::size_t n = 8;
  Tensor<float> real, y;
  real.resize_batch<type_at_t<0, typename DM::input_shapes>>(n);
  Rng r(4);
  r.fill_uniform(real.data(), real.size(), -1, 1);
  std::vector<int> labels(n);
  for (std::size_t i = 0; i < n; ++i) labels[i] = static_cast<int>(i % 10);
  one_hot(y, labels);
  const Tensor<float>* yp = GanTrainer<GM, DM>::conditional ? &y : nullptr;

  auto g0 = params_of(g), d0 = params_of(d);
  const float ld = tr.discriminator_step(real, yp);
  CHECK(std::isfinite(ld));
  auto g1 = params_of(g), d1 = params_of(d);
  CHECK_MESSAGE(bit_identical(g0, g1), "a D step changed G's parameters");
  // Adam moves every parameter whose gradient is non-zero (ReLU units dead on
  // all of a small batch have none).
  CHECK(changed(d0, d1) > 0.5);
  CHECK(tr.opt_g.steps() == 0);
  CHECK(tr.opt_d.steps() == 1);

  const float lg = tr.generator_step(n);
  CHECK(std::isfinite(lg));
  auto g2 = params_of(g), d2 = params_of(d);
  CHECK_MESSAGE(bit_identical(d1, d2), "a G step changed D's parameters");
  CHECK(changed(g1, g2) > 0.5);
  CHECK(tr.opt_g.steps() == 1);
  CHECK(!d.frozen());  // D is trainable again for the next D step
}
}  // namespace

TEST_CASE("a D step changes only D, a G step only G (frozen net bit-identical)") {
  SUBCASE("MLP, vanilla") {
    check_steps<Model<MlpGenerator, Shape<96>>, Model<MlpDiscriminator, Shape<784>>>(GanObjective::vanilla);
  }
  SUBCASE("MLP, least squares") {
    check_steps<Model<MlpGenerator, Shape<96>>, Model<MlpDiscriminator, Shape<784>>>(
        GanObjective::least_squares);
  }
  SUBCASE("DCGAN") {
    check_steps<Model<DcGenerator, Shape<96>>, Model<DcDiscriminator, Shape<1, 28, 28>>>(
        GanObjective::vanilla);
  }
  SUBCASE("conditional DCGAN") {
    check_steps<Model<CondDcGenerator, Shape<96>, Shape<10>>,
                Model<CondDcDiscriminator, Shape<1, 28, 28>, Shape<10>>>(GanObjective::vanilla);
  }
}

namespace {
// ∂L_G/∂θ_G from generator_loss (through the frozen D's input gradient) against
// central differences of L_G, in double, on a sample of G's parameters.
template <class GM, class DM>
void check_generator_gradient(GanObjective objective, std::size_t n) {
  GM g(5);
  DM d(6);
  GanTrainer tr(g, d, {.objective = objective});
  Tensor<double> z, y;
  Rng r(7);
  sample_noise(z, n, r, GanTrainer<GM, DM>::noise_dim);
  std::vector<int> labels(n);
  for (std::size_t i = 0; i < n; ++i) labels[i] = static_cast<int>((3 * i) % 10);
  one_hot(y, labels);
  const Tensor<double>* yp = GanTrainer<GM, DM>::conditional ? &y : nullptr;

  const auto d_before = [&] {
    auto p = d.parameters();
    return std::vector<double>(p.data, p.data + p.size);
  }();
  tr.generator_loss(z, yp);
  auto gp = g.parameters();
  const std::vector<double> analytic(gp.grad, gp.grad + gp.size);
  {
    auto dp = d.parameters();
    CHECK(std::vector<double>(dp.data, dp.data + dp.size) == d_before);
    // Frozen: D accumulates no parameter gradient while G learns.
    CHECK(std::all_of(dp.grad, dp.grad + dp.size, [](double v) { return v == 0; }));
  }
  // Every parameter tensor, a few entries each.
  int bad = 0, probed = 0;
  for (const auto& t : g.named_parameters()) {
    for (std::size_t k = 0; k < 3; ++k) {
      const std::size_t i = (k * 7919 + 13) % t.size;
      double& v = t.data[i];
      const double saved = v, eps = 1e-6;
      v = saved + eps;
      const double fp = tr.generator_loss(z, yp);
      v = saved - eps;
      const double fm = tr.generator_loss(z, yp);
      v = saved;
      const double numeric = (fp - fm) / (2 * eps);
      const double a = analytic[static_cast<std::size_t>(&t.data[i] - gp.data)];
      ++probed;
      if (!zoo::test::close_enough(a, numeric, 1e-5)) {
        if (bad++ < 6) MESSAGE(t.name << "[" << i << "]: backward " << a << ", numeric " << numeric);
      }
    }
  }
  CHECK(probed > 10);
  CHECK_MESSAGE(bad == 0, bad << " of G's gradient entries disagree with finite differences");
}
}  // namespace

namespace {
// The D step runs real and fake as one batch of 2N (D has no BatchNorm); its loss and
// D's gradients must equal two separate passes, as the originals compute them.
template <class GM, class DM>
void check_joint_d_step(GanObjective objective) {
  using T = typename GM::scalar;
  const std::size_t n = 6;
  GM g(1), g_ref(1);
  DM d(2), d_ref(2);
  GanTrainer tr(g, d, {.objective = objective, .seed = 3});
  Tensor<T> real;
  real.template resize_batch<type_at_t<0, typename DM::input_shapes>>(n);
  Rng r(4);
  r.fill_uniform(real.data(), real.size(), -1, 1);
  const T loss = tr.discriminator_step(real);

  Rng noise(3);  // the trainer's stream: its first draw is this step's z
  Tensor<T> z, dl;
  sample_noise(z, n, noise, type_at_t<0, typename GM::input_shapes>::size);
  g_ref.forward(z);
  d_ref.zero_grad();
  const auto d_loss = [&](const Tensor<T>& logits, bool is_real) {
    return objective == GanObjective::vanilla
               ? bce_with_logits_loss(logits, is_real ? T(1) : T(0), &dl)
               : least_squares_loss(logits, is_real ? T(1) : T(0), &dl);
  };
  T want = d_loss(d_ref.forward(real), true);
  d_ref.backward(dl);
  want += d_loss(d_ref.forward(g_ref.output()), false);
  d_ref.backward(dl);
  CHECK(loss == doctest::Approx(want).epsilon(1e-12));
  auto p = d.parameters(), q = d_ref.parameters();
  double worst = 0;
  for (std::size_t i = 0; i < p.size; ++i) worst = std::max(worst, std::abs(double(p.grad[i] - q.grad[i])));
  CHECK(worst < 1e-12);
}
}  // namespace

TEST_CASE("the D step's joint real+fake batch gives the loss and gradients of two passes") {
  SUBCASE("MLP, vanilla") {
    check_joint_d_step<BasicModel<double, MlpGenerator, Shape<96>>,
                       BasicModel<double, MlpDiscriminator, Shape<784>>>(GanObjective::vanilla);
  }
  SUBCASE("MLP, least squares") {
    check_joint_d_step<BasicModel<double, MlpGenerator, Shape<96>>,
                       BasicModel<double, MlpDiscriminator, Shape<784>>>(GanObjective::least_squares);
  }
  SUBCASE("DCGAN, vanilla") {
    static_assert(BasicModel<double, DcDiscriminator, Shape<1, 28, 28>>::num_buffers == 0);
    check_joint_d_step<BasicModel<double, DcGenerator, Shape<96>>,
                       BasicModel<double, DcDiscriminator, Shape<1, 28, 28>>>(GanObjective::vanilla);
  }
}

TEST_CASE("G's gradient through the frozen D matches finite differences of L_G") {
  SUBCASE("MLP, vanilla") {
    check_generator_gradient<BasicModel<double, MlpGenerator, Shape<96>>,
                             BasicModel<double, MlpDiscriminator, Shape<784>>>(GanObjective::vanilla, 3);
  }
  SUBCASE("DCGAN, least squares (BatchNorm in train mode)") {
    check_generator_gradient<BasicModel<double, DcGenerator, Shape<96>>,
                             BasicModel<double, DcDiscriminator, Shape<1, 28, 28>>>(
        GanObjective::least_squares, 4);
  }
  SUBCASE("conditional DCGAN, vanilla") {
    check_generator_gradient<BasicModel<double, CondDcGenerator, Shape<96>, Shape<10>>,
                             BasicModel<double, CondDcDiscriminator, Shape<1, 28, 28>, Shape<10>>>(
        GanObjective::vanilla, 3);
  }
}

TEST_CASE("GanTrainer rejects a real batch of the wrong shape or without labels") {
  Model<DcGenerator, Shape<96>> g;
  Model<DcDiscriminator, Shape<1, 28, 28>> d;
  GanTrainer tr(g, d);
  Tensor<float> bad({4, 100});
  CHECK_THROWS_WITH_AS(tr.discriminator_step(bad), doctest::Contains("real batch has shape (4, 100)"),
                       std::invalid_argument);
  Model<CondDcGenerator, Shape<96>, Shape<10>> cg;
  Model<CondDcDiscriminator, Shape<1, 28, 28>, Shape<10>> cd;
  GanTrainer ctr(cg, cd);
  Tensor<float> x({4, 1, 28, 28});
  CHECK_THROWS_WITH_AS(ctr.discriminator_step(x), doctest::Contains("one-hot labels"),
                       std::invalid_argument);
  Tensor<float> y;
  CHECK_THROWS_AS(one_hot(y, std::vector<int>{3, 10}), std::invalid_argument);
}
