// End to end: a small zoo MLP learns the two-spirals problem (Lang & Witbrock, 1988), a
// classic task no linear model solves (a linear classifier stays near 50%), from data
// generated here with a fixed seed: cross-entropy over logits + Adam, float, CPU.
// The test set is drawn from the same distribution with a different seed.
#include <doctest/doctest.h>

#include <cmath>
#include <numbers>
#include <span>
#include <vector>
#include <zoo/zoo.hpp>

using namespace zoo;

namespace {

struct Spirals {
  Tensor<float> x;          // (N, 2)
  std::vector<int> labels;  // N, 0 or 1
};

// Two interleaved arms of 1.5 turns each: r = t, angle = t·3π (+π for the second
// arm), t ∈ [0.05, 1], with Gaussian noise of 0.02 on both coordinates.
Spirals make_spirals(std::size_t n, std::uint64_t seed) {
  Spirals d;
  d.x.resize({n, 2});
  d.labels.resize(n);
  Rng r(seed);
  for (std::size_t i = 0; i < n; ++i) {
    const int c = static_cast<int>(r.below(2));
    const double t = r.uniform(0.05, 1.0);
    const double a = t * 3 * std::numbers::pi + c * std::numbers::pi;
    d.x[2 * i] = static_cast<float>(t * std::cos(a) + r.normal(0, 0.02));
    d.x[2 * i + 1] = static_cast<float>(t * std::sin(a) + r.normal(0, 0.02));
    d.labels[i] = c;
  }
  return d;
}

template <class M>
double accuracy(M& m, const Spirals& d) {
  m.eval();
  const auto& y = m.forward(d.x);  // (N, 2) logits
  std::size_t right = 0;
  for (std::size_t i = 0; i < d.labels.size(); ++i)
    right += static_cast<int>(y[2 * i + 1] > y[2 * i]) == d.labels[i];
  m.train();
  return static_cast<double>(right) / static_cast<double>(d.labels.size());
}

}  // namespace

TEST_CASE("an MLP learns two spirals to ≥ 97% test accuracy with cross-entropy and Adam") {
  // One thread: these (100 × 64) GEMMs are too small to gain from OpenMP, and on a
  // loaded machine every parallel region waits for a descheduled thread (measured:
  // 1 s on one thread, 52 s on two while other jobs held the cores).
  const int threads = num_threads();
  set_num_threads(1);
  using Net = Sequential<Linear<64>, Tanh, Linear<64>, Tanh, Linear<2>>;
  Model<Net, Shape<2>> m(7);
  Adam opt(m.parameters(), {.lr = 1e-2});

  const Spirals train = make_spirals(2000, 1), test = make_spirals(1000, 2);
  const double before = accuracy(m, test);

  constexpr std::size_t batch = 100, epochs = 150;
  Tensor<float> xb({batch, 2}), dlogits;
  std::vector<int> lb(batch);
  std::vector<std::size_t> order(train.labels.size());
  for (std::size_t i = 0; i < order.size(); ++i) order[i] = i;
  Rng shuffle(3);
  const LinearDecay sched{.base = 1e-2, .total = static_cast<std::int64_t>(epochs), .end = 1e-3};
  double first_loss = 0, last_loss = 0;
  for (std::size_t e = 0; e < epochs; ++e) {
    opt.lr = sched(static_cast<std::int64_t>(e));
    for (std::size_t i = order.size() - 1; i > 0; --i)  // Fisher-Yates
      std::swap(order[i], order[shuffle.below(i + 1)]);
    double epoch_loss = 0;
    for (std::size_t b = 0; b + batch <= order.size(); b += batch) {
      for (std::size_t k = 0; k < batch; ++k) {
        const std::size_t j = order[b + k];
        xb[2 * k] = train.x[2 * j], xb[2 * k + 1] = train.x[2 * j + 1];
        lb[k] = train.labels[j];
      }
      m.zero_grad();
      epoch_loss += cross_entropy_loss(m.forward(xb), std::span<const int>(lb), &dlogits);
      m.backward(dlogits);
      opt.step();
    }
    epoch_loss /= static_cast<double>(order.size() / batch);
    if (e == 0) first_loss = epoch_loss;
    last_loss = epoch_loss;
  }
  const double after = accuracy(m, test), train_acc = accuracy(m, train);
  MESSAGE("two spirals: test accuracy " << before << " -> " << after << " (train " << train_acc
                                        << "), loss " << first_loss << " -> " << last_loss);
  CHECK(before < 0.75);   // an untrained network is not already good at it
  CHECK(last_loss < 0.25 * first_loss);
  CHECK(after >= 0.97);
  set_num_threads(threads);
}
