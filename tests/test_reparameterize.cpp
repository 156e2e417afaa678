// Reparameterize: z = μ + exp(½·lv)·ε with ε from the layer's seeded stream;
// gradients checked by finite differences with the stream replayed per probe.
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <vector>

#include <zoo/layers/reparameterize.hpp>

using namespace zoo;
using L = bind_t<Reparameterize, double, Shape<5>, Shape<5>>;

TEST_CASE("forward draws ε from its own stream and applies z = μ + σ·ε") {
  L layer;
  layer.resize(2);
  Rng replay(0);
  replay.set_state(layer.rng->state());
  std::vector<double> mu(10), lv(10), z(10);
  for (int i = 0; i < 10; ++i) mu[i] = 0.1 * i, lv[i] = -1.0 + 0.2 * i;
  layer.forward({mu.data(), lv.data()}, z.data(), 2);
  for (int i = 0; i < 10; ++i) CHECK(z[i] == doctest::Approx(mu[i] + std::exp(0.5 * lv[i]) * replay.normal()));
  layer.sample = false;
  layer.forward({mu.data(), lv.data()}, z.data(), 2);
  for (int i = 0; i < 10; ++i) CHECK(z[i] == mu[i]);
}

TEST_CASE("backward matches finite differences and adds into the gradients") {
  L layer;
  layer.resize(2);
  std::uint64_t saved[4];
  std::copy(layer.rng->state(), layer.rng->state() + 4, saved);
  std::vector<double> mu(10), lv(10), z(10), dz(10);
  Rng r(3);
  r.fill_uniform(mu.data(), 10, -1, 1);
  r.fill_uniform(lv.data(), 10, -1, 1);
  r.fill_uniform(dz.data(), 10, -1, 1);
  auto f = [&] {
    layer.rng->set_state(saved);
    layer.forward({mu.data(), lv.data()}, z.data(), 2);
    double s = 0;
    for (int i = 0; i < 10; ++i) s += z[i] * dz[i];
    return s;
  };
  f();
  std::vector<double> dmu(10, 0.5), dlv(10, 0.5);
  layer.backward({mu.data(), lv.data()}, z.data(), dz.data(), {dmu.data(), dlv.data()}, 2);
  const double h = 1e-6;
  for (int i = 0; i < 10; ++i) {
    for (auto [v, g] : {std::pair{&mu[i], dmu[i]}, std::pair{&lv[i], dlv[i]}}) {
      const double s = *v;
      *v = s + h;
      const double fp = f();
      *v = s - h;
      const double fm = f();
      *v = s;
      CHECK(g - 0.5 == doctest::Approx((fp - fm) / (2 * h)).epsilon(1e-6));
    }
  }
}

TEST_CASE("fill_normal: the same draws as normal(), one by one, and the same stream position after") {
  // The lane path (log/cos on SIMD) and the scalar tail, against normal() replayed.
  for (std::size_t n : {std::size_t{0}, std::size_t{5}, std::size_t{64}, std::size_t{1003}}) {
    Rng a(42), b(42);
    std::vector<double> v(n);
    a.fill_normal(v.data(), n, 0.5, 2.0);
    double worst = 0;
    for (std::size_t i = 0; i < n; ++i)
      worst = std::max(worst, std::abs(v[i] - b.normal(0.5, 2.0)) / (1.0 + std::abs(v[i])));
    INFO("n " << n);
    CHECK(worst < 1e-14);
    CHECK(a.next_u64() == b.next_u64());
  }
  // Moments of 200 000 draws (float): mean 0 ± 0.01, variance 1 ± 0.02.
  Rng r(7);
  std::vector<float> f(200000);
  r.fill_normal(f.data(), f.size());
  double m = 0, v2 = 0;
  for (float x : f) m += x;
  m /= double(f.size());
  for (float x : f) v2 += (x - m) * (x - m);
  v2 /= double(f.size());
  CHECK(std::abs(m) < 0.01);
  CHECK(std::abs(v2 - 1.0) < 0.02);
}
