// The diffusion process: the schedule, noising, the DDPM and DDIM steps and
// samplers, against values computed by hand on a tiny schedule and against
// PyTorch 1.13 on the course's T = 500 schedule (tests/fixtures/diffusion_schedule.txt).
#include <doctest/doctest.h>

#include <cmath>
#include <support/fixtures.hpp>
#include <zoo/models/diffusion/ddpm.hpp>

using namespace zoo;
using namespace zoo::models::diffusion;
using zoo::test::Fixture;

namespace {
// T = 4, β from 0.1 to 0.4: β = [0.1, 0.175, 0.25, 0.325, 0.4], α = 1 − β,
// ᾱ_t = α_0·α_1·…·α_t (the course includes index 0), then ᾱ_0 := 1.
constexpr double kBeta[5] = {0.1, 0.175, 0.25, 0.325, 0.4};
constexpr double kAlpha[5] = {0.9, 0.825, 0.75, 0.675, 0.6};
constexpr double kAlphaBar[5] = {1.0, 0.7425, 0.556875, 0.375890625, 0.225534375};

NoiseSchedule tiny() { return NoiseSchedule::linear(4, 0.1, 0.4); }

Tensor<float> filled(std::initializer_list<float> v) {
  Tensor<float> t({v.size(), 1});
  std::size_t i = 0;
  for (float x : v) t[i++] = x;
  return t;
}
}  // namespace

TEST_CASE("tiny schedule: beta, alpha, alpha_bar by hand") {
  const auto s = tiny();
  REQUIRE(s.T == 4);
  REQUIRE(s.beta.size() == 5);
  for (int t = 0; t <= 4; ++t) {
    CHECK(s.beta[t] == doctest::Approx(kBeta[t]).epsilon(1e-14));
    CHECK(s.alpha[t] == doctest::Approx(kAlpha[t]).epsilon(1e-14));
    CHECK(s.alpha_bar[t] == doctest::Approx(kAlphaBar[t]).epsilon(1e-13));
  }
  CHECK(s.alpha_bar[0] == 1.0);
}

TEST_CASE("course schedule (T = 500) matches PyTorch, alpha_bar_0 = 1, decreasing") {
  const Fixture f("diffusion_schedule.txt");
  const auto s = NoiseSchedule::linear();
  REQUIRE(s.T == 500);
  REQUIRE(s.alpha_bar.size() == 501);
  zoo::test::check_close("beta", s.beta.data(), f["beta"], 1e-15, 1e-13);
  zoo::test::check_close("alpha", s.alpha.data(), f["alpha"], 1e-15, 1e-13);
  zoo::test::check_close("alpha_bar", s.alpha_bar.data(), f["alpha_bar"], 1e-15, 1e-11);
  CHECK(s.beta[0] == doctest::Approx(1e-4));
  CHECK(s.beta[500] == doctest::Approx(0.02));
  CHECK(s.alpha_bar[0] == 1.0);
  for (int t = 1; t <= 500; ++t) CHECK(s.alpha_bar[t] < s.alpha_bar[t - 1]);
  CHECK(s.alpha_bar[500] < 1e-2);  // x_T is nearly pure noise
}

TEST_CASE("bad schedules and timesteps are errors") {
  CHECK_THROWS_AS(NoiseSchedule::linear(0), std::invalid_argument);
  CHECK_THROWS_AS(NoiseSchedule::linear(10, 0.5, 0.1), std::invalid_argument);
  const auto s = tiny();
  Tensor<float> x = filled({1}), e = filled({0}), out;
  CHECK_THROWS_AS(ddpm_step(s, x, e, 5, nullptr, out), std::out_of_range);
  CHECK_THROWS_AS(ddpm_step(s, x, e, 0, nullptr, out), std::out_of_range);
  CHECK_THROWS_AS(ddim_step(s, x, e, 2, 2, out), std::out_of_range);
  CHECK_THROWS_AS(ddim_step(s, x, e, 2, -1, out), std::out_of_range);
  CHECK_THROWS_AS(add_noise(s, x, e, {7}, out), std::out_of_range);
  CHECK_THROWS_AS(add_noise(s, x, e, {1, 2}, out), std::invalid_argument);
  Tensor<float> e2 = filled({0, 0});
  CHECK_THROWS_AS(ddim_step(s, x, e2, 2, 1, out), std::invalid_argument);
  CHECK_THROWS_AS(ddim_timesteps(500, 0), std::invalid_argument);
}

TEST_CASE("noising by hand: x_t = sqrt(ab_t) x0 + sqrt(1 - ab_t) eps, a t per sample") {
  const auto s = tiny();
  Tensor<float> x0 = filled({1.0f, -2.0f, 0.5f}), eps = filled({0.5f, 1.0f, -1.0f}), xt;
  add_noise(s, x0, eps, {2, 4, 0}, xt);
  CHECK(xt[0] == doctest::Approx(std::sqrt(0.556875) * 1.0 + std::sqrt(1 - 0.556875) * 0.5));
  CHECK(xt[1] == doctest::Approx(std::sqrt(0.225534375) * -2.0 + std::sqrt(1 - 0.225534375) * 1.0));
  CHECK(xt[2] == doctest::Approx(0.5));  // t = 0: ᾱ_0 = 1, no noise
}

TEST_CASE("DDPM step by hand, with and without z") {
  const auto s = tiny();
  Tensor<float> x = filled({1.0f, -0.5f}), eps = filled({0.5f, 0.25f}), z = filled({1.0f, -2.0f}),
                out;
  ddpm_step(s, x, eps, 2, &z, out);
  // (x − ε·(1 − α_2)/√(1 − ᾱ_2))/√α_2 + √β_2·z,  α_2 = 0.75, ᾱ_2 = 0.556875, β_2 = 0.25
  const double c = 0.25 / std::sqrt(1 - 0.556875);
  CHECK(out[0] == doctest::Approx((1.0 - 0.5 * c) / std::sqrt(0.75) + 0.5 * 1.0));
  CHECK(out[1] == doctest::Approx((-0.5 - 0.25 * c) / std::sqrt(0.75) + 0.5 * -2.0));
  ddpm_step(s, x, eps, 1, nullptr, out);  // the last step adds no noise
  const double c1 = 0.175 / std::sqrt(1 - 0.7425);
  CHECK(out[0] == doctest::Approx((1.0 - 0.5 * c1) / std::sqrt(0.825)));
  // In place gives the same.
  Tensor<float> y = x;
  ddpm_step(s, y, eps, 1, nullptr, y);
  CHECK(y[0] == out[0]);
}

TEST_CASE("DDIM step by hand: x0-prediction form") {
  const auto s = tiny();
  Tensor<float> x = filled({1.0f, -0.5f}), eps = filled({0.5f, 0.25f}), out;
  ddim_step(s, x, eps, 4, 2, out);
  // √ᾱ_2/√ᾱ_4·(x − √(1−ᾱ_4)·ε) + √(1−ᾱ_2)·ε
  const double a = std::sqrt(0.556875 / 0.225534375), b = std::sqrt(1 - 0.225534375),
               c = std::sqrt(1 - 0.556875);
  CHECK(out[0] == doctest::Approx(a * (1.0 - b * 0.5) + c * 0.5));
  CHECK(out[1] == doctest::Approx(a * (-0.5 - b * 0.25) + c * 0.25));
  ddim_step(s, x, eps, 3, 0, out);  // landing on t = 0 gives the x0 prediction itself
  CHECK(out[0] == doctest::Approx((1.0 - std::sqrt(1 - 0.375890625) * 0.5) / std::sqrt(0.375890625)));
}

TEST_CASE("steps on the T = 500 schedule match PyTorch") {
  const Fixture f("diffusion_schedule.txt");
  const auto s = NoiseSchedule::linear();
  Tensor<float> x({2, 4}), eps({2, 4}), z({2, 4}), out;
  f.copy_to("x", x.data());
  f.copy_to("eps", eps.data());
  f.copy_to("z", z.data());
  add_noise(s, x, eps, {1, 500}, out);
  zoo::test::check_close("noised", out.data(), f["noised_t_1_500"], 1e-6, 1e-5);
  ddpm_step(s, x, eps, 250, &z, out);
  zoo::test::check_close("ddpm t=250", out.data(), f["ddpm_t_250"], 1e-6, 1e-5);
  ddpm_step(s, x, eps, 1, nullptr, out);
  zoo::test::check_close("ddpm t=1", out.data(), f["ddpm_t_1"], 1e-6, 1e-5);
  ddim_step(s, x, eps, 500, 480, out);
  zoo::test::check_close("ddim 500->480", out.data(), f["ddim_500_480"], 1e-6, 1e-5);
  ddim_step(s, x, eps, 4, 0, out);
  zoo::test::check_close("ddim 4->0", out.data(), f["ddim_4_0"], 1e-6, 1e-5);
}

TEST_CASE("DDIM timesteps: T not a multiple of T/n ends on 0, never below") {
  const Fixture f("diffusion_schedule.txt");
  const auto ts = ddim_timesteps(500, 30);  // k = 16: 500, 484, …, 20, 4, 0
  const auto& want = f["ddim_timesteps_500_30"];
  REQUIRE(ts.size() == want.values.size());
  for (std::size_t i = 0; i < ts.size(); ++i) CHECK(ts[i] == static_cast<int>(want.values[i]));
  CHECK(ts.back() == 0);
  CHECK(ts[ts.size() - 2] == 4);
  const auto t25 = ddim_timesteps(500, 25);  // 20× fewer calls than DDPM's 500
  CHECK(t25.size() == 26);
  CHECK(t25[1] == 480);
  CHECK(ddim_timesteps(4, 10).size() == 5);  // more steps than T: one per timestep
}

TEST_CASE("DDIM sampler: network calls, the timesteps it sees, eps = 0 telescopes") {
  const auto s = NoiseSchedule::linear(10, 0.1, 0.4);
  std::vector<int> seen;
  auto zero = [&](const Tensor<float>& x, int t, Tensor<float>& e) {
    seen.push_back(t);
    e.resize(x.shape());
    e.fill(0.0f);
  };
  Tensor<float> x = filled({1.0f, -2.0f});
  Frames frames{.every = 1};
  const int calls = sample_ddim(s, x, 3, zero, &frames);  // k = 3: 10, 7, 4, 1 → 0
  CHECK(calls == 4);
  CHECK(seen == std::vector<int>{10, 7, 4, 1});
  // With ε̂ = 0 each step multiplies by √(ᾱ_prev/ᾱ_t): the product is 1/√ᾱ_10.
  CHECK(x[0] == doctest::Approx(1.0 / std::sqrt(s.alpha_bar[10])).epsilon(1e-5));
  CHECK(x[1] == doctest::Approx(-2.0 / std::sqrt(s.alpha_bar[10])).epsilon(1e-5));
  CHECK(frames.t == std::vector<int>{10, 7, 4, 1, 0});
  CHECK(frames.x.size() == 5);
  CHECK(frames.x.front()[0] == 1.0f);
}

TEST_CASE("DDPM sampler on T = 2 by hand: calls T..1, noise only before the last step") {
  const auto s = NoiseSchedule::linear(2, 0.1, 0.3);  // β = [0.1, 0.2, 0.3]
  std::vector<int> seen;
  auto half = [&](const Tensor<float>& x, int t, Tensor<float>& e) {
    seen.push_back(t);
    e.resize(x.shape());
    e.fill(0.5f);
  };
  Tensor<float> x = filled({1.0f});
  Rng rng(42), copy(42);
  const int calls = sample_ddpm(s, x, half, rng);
  CHECK(calls == 2);
  CHECK(seen == std::vector<int>{2, 1});
  const double z = static_cast<float>(copy.normal());  // the one z drawn (for t = 2)
  const double a1 = 0.8, a2 = 0.7, ab1 = 0.9 * 0.8, ab2 = 0.9 * 0.8 * 0.7;
  const double x1 = (1.0 - 0.5 * (1 - a2) / std::sqrt(1 - ab2)) / std::sqrt(a2) + std::sqrt(0.3) * z;
  const double x0 = (x1 - 0.5 * (1 - a1) / std::sqrt(1 - ab1)) / std::sqrt(a1);
  CHECK(x[0] == doctest::Approx(x0).epsilon(1e-5));
}

TEST_CASE("DDPM frames: x_T, every k-th timestep and x_0") {
  const auto s = NoiseSchedule::linear(10);
  auto zero = [](const Tensor<float>& x, int, Tensor<float>& e) {
    e.resize(x.shape());
    e.fill(0.0f);
  };
  Tensor<float> x = filled({0.3f});
  Rng rng(1);
  Frames frames{.every = 4};
  CHECK(sample_ddpm(s, x, zero, rng, &frames) == 10);
  CHECK(frames.t == std::vector<int>{10, 8, 4, 0});
  CHECK(frames.x.back()[0] == x[0]);
}

TEST_CASE("one_hot rows; a negative label is a zero row; a label out of range is an error") {
  const auto c = one_hot({2, -1, 0}, 3);
  const float want[9] = {0, 0, 1, 0, 0, 0, 1, 0, 0};
  for (int i = 0; i < 9; ++i) CHECK(c[i] == want[i]);
  CHECK_THROWS_AS(one_hot({3}, 3), std::invalid_argument);
}
