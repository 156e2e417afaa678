// Every loss of zoo/losses/losses.hpp: golden values and gradients against PyTorch 1.13
// (tests/fixtures/core_losses.txt), a finite-difference gradient check in double, and
// the run-time errors on bad input.
#include <doctest/doctest.h>

#include <cmath>
#include <functional>
#include <limits>
#include <span>
#include <string>
#include <vector>
#include <zoo/zoo.hpp>

#include "support/fixtures.hpp"

using namespace zoo;
using zoo::test::check_close;
using zoo::test::Fixture;
using zoo::test::Golden;

namespace {

const Fixture& fx() {
  static const Fixture f("core_losses.txt");
  return f;
}

template <class T>
Tensor<T> tensor(const std::string& key) {
  const Golden& g = fx()[key];
  Tensor<T> t(std::span<const std::size_t>(g.shape.data(), g.shape.size()));
  fx().copy_to(key, t.data());
  return t;
}

template <class T>
void check_loss(const std::string& key, T got, double rtol) {
  const double want = fx()[key].values.at(0);
  INFO(key << ": got " << got << ", PyTorch " << want);
  CHECK(std::abs(static_cast<double>(got) - want) <= rtol * (1 + std::abs(want)));
}

// Central differences of a scalar loss in double against its analytic gradient:
// f(x) is the loss, `analytic` its gradient with respect to `x`, both at x.
// Perturbs every entry; reports the worst few.
void loss_gradcheck(const std::string& what, Tensor<double>& x, const Tensor<double>& analytic,
                    const std::function<double()>& f, double eps = 1e-6, double tol = 1e-7) {
  REQUIRE(analytic.size() == x.size());
  int bad = 0;
  for (std::size_t i = 0; i < x.size(); ++i) {
    const double saved = x[i];
    x[i] = saved + eps;
    const double fp = f();
    x[i] = saved - eps;
    const double fm = f();
    x[i] = saved;
    const double numeric = (fp - fm) / (2 * eps);
    if (std::abs(numeric - analytic[i]) > tol * std::max(1.0, std::abs(numeric) + std::abs(analytic[i]))) {
      if (bad < 5) MESSAGE(what << "[" << i << "]: analytic " << analytic[i] << ", numeric " << numeric);
      ++bad;
    }
  }
  CHECK_MESSAGE(bad == 0, what << ": " << bad << " of " << x.size()
                               << " gradient entries disagree with finite differences");
}

Tensor<double> uniform(std::initializer_list<std::size_t> shape, double lo, double hi,
                       std::uint64_t seed) {
  Tensor<double> t(shape);
  Rng r(seed);
  r.fill_uniform(t.data(), t.size(), lo, hi);
  return t;
}

// Losses WRITE their gradient: pre-fill it with garbage of a different shape.
template <class T>
Tensor<T> garbage_grad() {
  Tensor<T> g({7});
  g.fill(T(123));
  return g;
}

}  // namespace

// ------------------------------------------------------------------ golden values
TEST_CASE_TEMPLATE("mse_loss matches F.mse_loss (mean and sum)", T, float, double) {
  const double tol = std::is_same_v<T, double> ? 1e-12 : 1e-5;
  const auto p = tensor<T>("mse.pred"), y = tensor<T>("mse.target");
  for (auto [name, red] : {std::pair{"mean", Reduction::mean}, std::pair{"sum", Reduction::sum}}) {
    auto g = garbage_grad<T>();
    check_loss("mse." + std::string(name) + ".loss", mse_loss(p, y, &g, red), tol);
    CHECK(g.shape_str() == p.shape_str());
    check_close("mse." + std::string(name) + ".grad", g.data(), fx()["mse." + std::string(name) + ".grad"],
                tol, tol);
  }
}

TEST_CASE("bce_loss matches F.binary_cross_entropy, including the −100 log clamp at p = 0 and 1") {
  const auto p = tensor<double>("bce.pred"), y = tensor<double>("bce.target");
  for (auto [name, red] : {std::pair{"mean", Reduction::mean}, std::pair{"sum", Reduction::sum}}) {
    const std::string k = std::string("bce.") + name;
    auto g = garbage_grad<double>();
    const double l = bce_loss(p, y, &g, red);
    CHECK(std::isfinite(l));
    check_loss(k + ".loss", l, 1e-12);
    // At p ∈ {0, 1} with the wrong target the gradient is ±1/1e-12; PyTorch's EPSILON
    // is the float 1e-12 (9.99999996e-13), hence the 1e-8 relative tolerance.
    check_close(k + ".grad", g.data(), fx()[k + ".grad"], 1e-12, 1e-8);
  }
  // A single confident mistake costs exactly 100 per element, as PyTorch's clamp says.
  Tensor<double> p1({1}), y1({1});
  p1[0] = 0, y1[0] = 1;
  CHECK(bce_loss(p1, y1) == doctest::Approx(100.0));
  // Float: same values at the interior points.
  const auto pf = tensor<float>("bce.pred"), yf = tensor<float>("bce.target");
  Tensor<float> gf;
  const float lf = bce_loss(pf, yf, &gf);
  CHECK(std::isfinite(lf));
}

TEST_CASE_TEMPLATE("bce_loss in SIMD lanes equals the per-element double formula", T, float, double) {
  // 1000 values (many full lanes plus a tail), p spread over [0, 1] with the ends
  // themselves (the −100 clamp), targets in [0, 1] as the BCE VAE's pixels.
  const std::size_t n = 1000;
  Tensor<T> p({n}), y({n});
  zoo::Rng rng(7);
  rng.fill_uniform(p.data(), n, 0.0, 1.0);
  rng.fill_uniform(y.data(), n, 0.0, 1.0);
  p[3] = 0, p[17] = 1, p[n - 1] = 1, y[3] = 1, y[17] = 0.25;
  double want = 0;
  std::vector<double> gw(n);
  for (std::size_t i = 0; i < n; ++i) {
    const double pi = p[i], yi = y[i];
    want -= yi * std::max(std::log(pi), -100.0) + (1 - yi) * std::max(std::log1p(-pi), -100.0);
    gw[i] = (pi - yi) / std::max(pi * (1 - pi), 1e-12) / 2;
  }
  Tensor<T> g;
  const T got = bce_loss(p, y, &g, Reduction::sum, T(0.5));
  const double tol = std::is_same_v<T, float> ? 1e-5 : 1e-12;
  CHECK(got == doctest::Approx(want / 2).epsilon(tol));
  for (std::size_t i = 0; i < n; ++i) CHECK(g[i] == doctest::Approx(gw[i]).epsilon(tol));
  // One bad value inside the lanes is found and named.
  p[40] = T(1.5);
  CHECK_THROWS_WITH_AS(bce_loss(p, y), doctest::Contains("at 40"), std::invalid_argument);
  p[40] = std::numeric_limits<T>::quiet_NaN();
  CHECK_THROWS_WITH_AS(bce_loss(p, y), doctest::Contains("at 40"), std::invalid_argument);
}

TEST_CASE_TEMPLATE("bce_with_logits_loss matches PyTorch, stable at |x| up to 800", T, float, double) {
  const double tol = std::is_same_v<T, double> ? 1e-12 : 2e-6;
  const auto x = tensor<T>("bcel.logits"), y = tensor<T>("bcel.target");
  for (auto [name, red] : {std::pair{"mean", Reduction::mean}, std::pair{"sum", Reduction::sum}}) {
    const std::string k = std::string("bcel.") + name;
    auto g = garbage_grad<T>();
    const T l = bce_with_logits_loss(x, y, &g, red);
    CHECK(std::isfinite(l));
    check_loss(k + ".loss", l, tol);
    check_close(k + ".grad", g.data(), fx()[k + ".grad"], tol, tol);
    for (T v : g) CHECK(std::isfinite(v));
  }
  // The scalar-target form a GAN uses ("all real" / "all fake").
  for (int tv : {1, 0}) {
    const std::string k = "bcel.const" + std::to_string(tv);
    auto g = garbage_grad<T>();
    check_loss(k + ".loss", bce_with_logits_loss(x, T(tv), &g), tol);
    check_close(k + ".grad", g.data(), fx()[k + ".grad"], tol, tol);
  }
}

TEST_CASE_TEMPLATE("cross_entropy_loss matches F.cross_entropy, also for logits of ±300", T, float,
                   double) {
  const double tol = std::is_same_v<T, double> ? 1e-12 : 2e-6;
  const auto x = tensor<T>("ce.logits");
  std::vector<int> labels;
  for (double v : fx()["ce.labels"].values) labels.push_back(static_cast<int>(v));
  for (auto [name, red] : {std::pair{"mean", Reduction::mean}, std::pair{"sum", Reduction::sum}}) {
    const std::string k = std::string("ce.") + name;
    auto g = garbage_grad<T>();
    check_loss(k + ".loss", cross_entropy_loss(x, std::span<const int>(labels), &g, red), tol);
    check_close(k + ".grad", g.data(), fx()[k + ".grad"], tol, tol);
  }
}

TEST_CASE_TEMPLATE("kl_normal_loss matches −½·Σ(1 + lv − μ² − e^lv) (sum and mean)", T, float,
                   double) {
  const double tol = std::is_same_v<T, double> ? 1e-12 : 2e-6;
  const auto mu = tensor<T>("kl.mu"), lv = tensor<T>("kl.logvar");
  for (auto [name, red] : {std::pair{"sum", Reduction::sum}, std::pair{"mean", Reduction::mean}}) {
    const std::string k = std::string("kl.") + name;
    auto dmu = garbage_grad<T>(), dlv = garbage_grad<T>();
    check_loss(k + ".loss", kl_normal_loss(mu, lv, &dmu, &dlv, red), tol);
    check_close(k + ".dmu", dmu.data(), fx()[k + ".dmu"], tol, tol);
    check_close(k + ".dlogvar", dlv.data(), fx()[k + ".dlogvar"], tol, tol);
  }
  // The default reduction is the VAE's sum.
  CHECK(kl_normal_loss(mu, lv) == doctest::Approx(fx()["kl.sum.loss"].values[0]).epsilon(1e-5));
}

TEST_CASE_TEMPLATE("least-squares GAN losses match ½E(D(x)−1)² + ½E D(G(z))² and ½E(D(G(z))−1)²",
                   T, float, double) {
  const double tol = std::is_same_v<T, double> ? 1e-12 : 2e-6;
  const auto real = tensor<T>("lsgan.real"), fake = tensor<T>("lsgan.fake");
  auto dr = garbage_grad<T>(), df = garbage_grad<T>();
  check_loss("lsgan.d.loss", ls_discriminator_loss(real, fake, &dr, &df), tol);
  check_close("lsgan.d.dreal", dr.data(), fx()["lsgan.d.dreal"], tol, tol);
  check_close("lsgan.d.dfake", df.data(), fx()["lsgan.d.dfake"], tol, tol);
  auto dg = garbage_grad<T>();
  check_loss("lsgan.g.loss", ls_generator_loss(fake, &dg), tol);
  check_close("lsgan.g.dfake", dg.data(), fx()["lsgan.g.dfake"], tol, tol);
}

// ------------------------------------------------------------------ finite differences
TEST_CASE("every loss: gradient equals finite differences (double)") {
  auto y = uniform({4, 3}, 0, 1, 2);
  for (Reduction red : {Reduction::mean, Reduction::sum}) {
    CAPTURE(red == Reduction::mean);
    {
      auto p = uniform({4, 3}, -2, 2, 1);
      Tensor<double> g;
      mse_loss(p, y, &g, red);
      loss_gradcheck("mse", p, g, [&] { return mse_loss(p, y, nullptr, red); });
    }
    {
      auto p = uniform({4, 3}, 0.05, 0.95, 3);  // inside (0, 1), away from the clamp
      Tensor<double> g;
      bce_loss(p, y, &g, red);
      loss_gradcheck("bce", p, g, [&] { return bce_loss(p, y, nullptr, red); });
    }
    {
      auto x = uniform({4, 3}, -6, 6, 4);
      Tensor<double> g;
      bce_with_logits_loss(x, y, &g, red);
      loss_gradcheck("bce_with_logits", x, g, [&] { return bce_with_logits_loss(x, y, nullptr, red); });
      bce_with_logits_loss(x, 1.0, &g, red);
      loss_gradcheck("bce_with_logits(x, 1)", x, g,
                     [&] { return bce_with_logits_loss(x, 1.0, nullptr, red); });
    }
    {
      auto x = uniform({5, 4}, -3, 3, 5);
      const std::vector<long> labels{0, 3, 1, 2, 3};
      const std::span<const long> ls(labels);
      Tensor<double> g;
      cross_entropy_loss(x, ls, &g, red);
      loss_gradcheck("cross_entropy", x, g, [&] { return cross_entropy_loss(x, ls, nullptr, red); });
    }
    {
      auto mu = uniform({3, 4}, -1.5, 1.5, 6), lv = uniform({3, 4}, -2, 1, 7);
      Tensor<double> dmu, dlv;
      kl_normal_loss(mu, lv, &dmu, &dlv, red);
      loss_gradcheck("kl dmu", mu, dmu, [&] { return kl_normal_loss(mu, lv, nullptr, nullptr, red); });
      loss_gradcheck("kl dlogvar", lv, dlv,
                     [&] { return kl_normal_loss(mu, lv, nullptr, nullptr, red); });
    }
  }
  {
    auto real = uniform({6, 1}, -1, 2, 8), fake = uniform({6, 1}, -1, 2, 9);
    Tensor<double> dr, df;
    ls_discriminator_loss(real, fake, &dr, &df);
    loss_gradcheck("ls_discriminator dreal", real, dr, [&] { return ls_discriminator_loss(real, fake); });
    loss_gradcheck("ls_discriminator dfake", fake, df, [&] { return ls_discriminator_loss(real, fake); });
    Tensor<double> dg;
    ls_generator_loss(fake, &dg);
    loss_gradcheck("ls_generator", fake, dg, [&] { return ls_generator_loss(fake); });
  }
}

// ------------------------------------------------------------------ errors
TEST_CASE("losses reject bad input with clear messages") {
  Tensor<double> a({2, 3}), b({2, 4});
  a.fill(0.5), b.fill(0.5);
  CHECK_THROWS_WITH_AS(mse_loss(a, b), doctest::Contains("differ in size"), std::invalid_argument);
  CHECK_THROWS_AS(bce_loss(a, b), std::invalid_argument);
  CHECK_THROWS_AS(bce_with_logits_loss(a, b), std::invalid_argument);
  CHECK_THROWS_AS(kl_normal_loss(a, b), std::invalid_argument);
  Tensor<double> p({1, 2}), t({1, 2});
  p[0] = 0.5, p[1] = 1.5;
  t.fill(1);
  CHECK_THROWS_WITH_AS(bce_loss(p, t), doctest::Contains("must lie in [0, 1]"), std::invalid_argument);
  p[1] = std::numeric_limits<double>::quiet_NaN();
  CHECK_THROWS_AS(bce_loss(p, t), std::invalid_argument);
  const std::vector<int> bad_label{0, 3}, too_few{0};
  CHECK_THROWS_WITH_AS(cross_entropy_loss(a, std::span<const int>(bad_label)),
                       doctest::Contains("outside [0, 3)"), std::invalid_argument);
  const std::vector<int> negative{0, -1};
  CHECK_THROWS_AS(cross_entropy_loss(a, std::span<const int>(negative)), std::invalid_argument);
  CHECK_THROWS_WITH_AS(cross_entropy_loss(a, std::span<const int>(too_few)),
                       doctest::Contains("1 labels for a batch of 2"), std::invalid_argument);
}

TEST_CASE("a float loss takes nullptr for its gradient and a plain double target") {
  // Regression: T used to be deduced from the gradient pointer and the scalar target
  // too, so `mse_loss(p, y, nullptr, Reduction::sum)` and `bce_with_logits_loss(x, 1.0)`
  // did not compile for Tensor<float>.
  Tensor<float> p({2, 2}), y({2, 2});
  p.fill(0.25f), y.fill(0.75f);
  CHECK(mse_loss(p, y, nullptr, Reduction::sum) == doctest::Approx(1.0));
  CHECK(bce_with_logits_loss(p, 1.0, nullptr, Reduction::sum) ==
        doctest::Approx(4 * std::log1p(std::exp(-0.25))));
  CHECK(least_squares_loss(p, 1.0) == doctest::Approx(0.5 * 0.75 * 0.75));
  CHECK(kl_normal_loss(p, y, nullptr, nullptr, Reduction::mean) > 0);
}
