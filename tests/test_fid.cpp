// Classifier-feature FID and conditional accuracy (include/zoo/metrics): FID of
// a set with itself is 0, it equals the closed form for known Gaussians, it is
// symmetric, and its sample estimate approaches the closed form.
#include <doctest/doctest.h>

#include <cmath>
#include <zoo/metrics/classifier.hpp>
#include <zoo/metrics/fid.hpp>
#include <zoo/zoo.hpp>

using namespace zoo;
using namespace zoo::metrics;

namespace {
// n samples of N(μ, A Aᵀ) as (n, f) floats.
Tensor<float> gaussian_samples(const Eigen::VectorXd& mu, const Eigen::MatrixXd& a, std::size_t n,
                               std::uint64_t seed) {
  const auto f = static_cast<std::size_t>(mu.size());
  Tensor<float> x({n, f});
  Rng r(seed);
  Eigen::VectorXd e(f);
  for (std::size_t i = 0; i < n; ++i) {
    for (std::size_t j = 0; j < f; ++j) e(static_cast<Eigen::Index>(j)) = r.normal();
    const Eigen::VectorXd v = mu + a * e;
    for (std::size_t j = 0; j < f; ++j) x[i * f + j] = static_cast<float>(v(static_cast<Eigen::Index>(j)));
  }
  return x;
}
Eigen::MatrixXd m2(double a, double b, double c, double d) {
  Eigen::MatrixXd m(2, 2);
  m << a, b, c, d;
  return m;
}
Eigen::VectorXd v2(double a, double b) {
  Eigen::VectorXd v(2);
  v << a, b;
  return v;
}
}  // namespace

TEST_CASE("fit_gaussian: mean and unbiased covariance, as np.mean / np.cov(rowvar=False)") {
  const float x[8] = {1, 2, 3, 5, 5, 4, 7, 9};  // (4, 2)
  const auto g = fit_gaussian(x, 4, 2);
  CHECK(g.mean(0) == doctest::Approx(4.0));
  CHECK(g.mean(1) == doctest::Approx(5.0));
  // np.cov([[1,3,5,7],[2,5,4,9]]) = [[6.6667, 6.6667], [6.6667, 8.6667]]
  CHECK(g.cov(0, 0) == doctest::Approx(20.0 / 3));
  CHECK(g.cov(0, 1) == doctest::Approx(20.0 / 3));
  CHECK(g.cov(1, 0) == doctest::Approx(20.0 / 3));
  CHECK(g.cov(1, 1) == doctest::Approx(26.0 / 3));
  CHECK_THROWS_AS(fit_gaussian(x, 1, 2), std::invalid_argument);
}

TEST_CASE("FID of a feature set with itself is 0, also with singular covariance") {
  Eigen::MatrixXd a = Eigen::MatrixXd::Random(6, 6);
  auto x = gaussian_samples(Eigen::VectorXd::Constant(6, 0.5), a, 500, 1);
  CHECK(fid(x, x) < 1e-9);
  // A dead feature (always 0) and a duplicated one: Σ is singular.
  for (std::size_t i = 0; i < 500; ++i) x[i * 6 + 2] = 0, x[i * 6 + 4] = x[i * 6 + 3];
  CHECK(fid(x, x) < 1e-9);
}

TEST_CASE("Fréchet distance equals the closed form for known Gaussians") {
  SUBCASE("1-d: (μ₁ − μ₂)² + (σ₁ − σ₂)²") {
    Eigen::VectorXd m1(1), m2_(1);
    m1 << 1.5, m2_ << -0.5;
    Eigen::MatrixXd s1(1, 1), s2(1, 1);
    s1 << 4.0, s2 << 0.25;
    CHECK(frechet_distance(m1, s1, m2_, s2) == doctest::Approx(4.0 + 2.25));
  }
  SUBCASE("diagonal: ‖μ₁ − μ₂‖² + Σ (σ₁ᵢ − σ₂ᵢ)²") {
    Eigen::VectorXd a = Eigen::VectorXd::LinSpaced(5, 0, 1), b = Eigen::VectorXd::Zero(5);
    Eigen::VectorXd s1(5), s2(5);
    s1 << 1, 2, 3, 4, 5;
    s2 << 5, 1, 0.5, 4, 0;
    double want = (a - b).squaredNorm();
    for (int i = 0; i < 5; ++i) want += std::pow(s1(i) - s2(i), 2);
    Eigen::MatrixXd c1 = s1.cwiseProduct(s1).asDiagonal(), c2 = s2.cwiseProduct(s2).asDiagonal();
    CHECK(frechet_distance(a, c1, b, c2) == doctest::Approx(want));
  }
  SUBCASE("2-d, non-commuting covariances: tr √(Σ₁Σ₂) = √(tr Σ₁Σ₂ + 2√det Σ₁Σ₂)") {
    const Eigen::MatrixXd s1 = m2(2.0, 0.8, 0.8, 1.0), s2 = m2(0.5, -0.3, -0.3, 3.0);
    REQUIRE((s1 * s2 - s2 * s1).norm() > 0.1);
    const Eigen::MatrixXd p = s1 * s2;
    const double tr_sqrt = std::sqrt(p.trace() + 2 * std::sqrt(p.determinant()));
    const double want = (v2(1, -2) - v2(0.5, 0.5)).squaredNorm() + s1.trace() + s2.trace() - 2 * tr_sqrt;
    CHECK(frechet_distance(v2(1, -2), s1, v2(0.5, 0.5), s2) == doctest::Approx(want).epsilon(1e-12));
    CHECK(frechet_distance(v2(0.5, 0.5), s2, v2(1, -2), s1) == doctest::Approx(want).epsilon(1e-12));
  }
  SUBCASE("dimension mismatch is an error") {
    CHECK_THROWS_AS(frechet_distance(v2(0, 0), m2(1, 0, 0, 1), Eigen::VectorXd::Zero(3),
                                     Eigen::MatrixXd::Identity(3, 3)),
                    std::invalid_argument);
  }
}

TEST_CASE("sample FID approaches the population value and is symmetric") {
  Eigen::MatrixXd a1 = Eigen::MatrixXd::Random(4, 4), a2 = Eigen::MatrixXd::Random(4, 4);
  Eigen::VectorXd mu1 = Eigen::VectorXd::Zero(4), mu2 = Eigen::VectorXd::Constant(4, 0.3);
  const double truth = frechet_distance(mu1, a1 * a1.transpose(), mu2, a2 * a2.transpose());
  const auto x = gaussian_samples(mu1, a1, 20000, 2), y = gaussian_samples(mu2, a2, 20000, 3);
  const double est = fid(x, y);
  MESSAGE("population FID " << truth << ", from 20000 samples each " << est);
  CHECK(est == doctest::Approx(truth).epsilon(0.05));
  CHECK(fid(y, x) == doctest::Approx(est).epsilon(1e-9));
  // Two samples of one Gaussian: small, and shrinking with the sample size.
  const double small = fid(gaussian_samples(mu1, a1, 500, 4), gaussian_samples(mu1, a1, 500, 5));
  const double large = fid(gaussian_samples(mu1, a1, 8000, 6), gaussian_samples(mu1, a1, 8000, 7));
  CHECK(large < small);
  CHECK(small < 0.1 * truth);
}

TEST_CASE("conditional accuracy: share of samples classified as the class asked for") {
  // 6 samples, 3 classes; argmax per row: 0, 1, 2, 2, 1, 0.
  Tensor<float> logits({6, 3});
  const float v[18] = {5, 1, 0, 0, 3, 1, 0, 0, 2, 1, 1, 4, -1, 0, -2, 9, 8, 7};
  std::copy(v, v + 18, logits.data());
  CHECK(predictions(logits) == std::vector<int>{0, 1, 2, 2, 1, 0});
  const std::vector<int> asked{0, 1, 2, 0, 1, 2};
  CHECK(conditional_accuracy(logits, asked) == doctest::Approx(4.0 / 6));
  const auto per = per_class_accuracy(logits, asked, 3);
  CHECK(per[0] == doctest::Approx(0.5));
  CHECK(per[1] == doctest::Approx(1.0));
  CHECK(per[2] == doctest::Approx(0.5));
  CHECK_THROWS_AS(conditional_accuracy(logits, std::vector<int>{0, 1}), std::invalid_argument);
}
