// A short DDPM training run learns: the ContextUnet (n_feat 16) on 16×16 digits
// (MNIST from data/mnist when scripts/fetch_data.sh has run, else Debian's
// Fashion-MNIST; 28×28 averaged 2×2 to 14×14 and padded with background to 16×16)
// must cut the held-out noise-prediction loss by a factor of at least 4 in 80
// steps of batch 32. The held-out loss uses fixed t and ε, in eval mode (BatchNorm
// on running statistics), as sampling does. About 7 s of CPU on one thread.
#include <doctest/doctest.h>

#include <filesystem>
#include <zoo/data/loader.hpp>
#include <zoo/models/diffusion/context_unet.hpp>
#include <zoo/models/diffusion/ddpm.hpp>
#include <zoo/zoo.hpp>

using namespace zoo;
using namespace zoo::models::diffusion;

namespace {
data::Dataset load(const std::string& split) {
  const std::string mnist = std::string(ZOO_SOURCE_DIR) + "/data/mnist";
  if (std::filesystem::exists(mnist + "/" + split + "-images-idx3-ubyte.gz")) {
    MESSAGE("MNIST digits from " << mnist);
    return data::load_mnist(mnist, split);
  }
  MESSAGE("data/mnist absent: Fashion-MNIST from /usr/share/datasets/fashion-mnist");
  return data::load_mnist("/usr/share/datasets/fashion-mnist", split);
}

// Images first..first+n of `ds` as (n, 1, 16, 16) in [−1, 1], with one-hot labels.
void images16(const data::Dataset& ds, std::size_t first, std::size_t n, Tensor<float>& x, Tensor<float>& c) {
  REQUIRE(ds.size() >= first + n);
  x.resize({n, 1, 16, 16});
  x.fill(-1.0f);
  std::vector<int> labels(n);
  for (std::size_t i = 0; i < n; ++i) {
    const std::uint8_t* p = ds.pixels.data() + (first + i) * 784;
    for (std::size_t r = 0; r < 14; ++r)
      for (std::size_t q = 0; q < 14; ++q) {
        const float v = (p[2 * r * 28 + 2 * q] + p[2 * r * 28 + 2 * q + 1] + p[(2 * r + 1) * 28 + 2 * q] +
                         p[(2 * r + 1) * 28 + 2 * q + 1]) / (4 * 127.5f) - 1.0f;
        x[i * 256 + (r + 1) * 16 + (q + 1)] = v;
      }
    labels[i] = ds.labels[first + i];
  }
  c = one_hot(labels, 10);
}
}  // namespace

TEST_CASE("DDPM training lowers the held-out noise-prediction loss 4x in 80 steps") {
  using M = ContextUnetModel<1, 16, 16>;
  const auto train = load("train"), test = load("t10k");
  M m(1);
  Adam opt(m.parameters(), {.lr = 2e-3});
  const auto s = NoiseSchedule::linear();
  DiffusionStep<M> step{&s};

  Tensor<float> tx, tc;
  images16(test, 0, 256, tx, tc);
  auto held_out = [&] {
    m.eval();
    Rng r(99);  // the same t, ε and context drops every time
    DiffusionStep<M> probe{&s, 0.0};
    const float l = probe.loss(m, tx, &tc, r, false);
    m.train();
    return l;
  };
  const double before = held_out();
  Tensor<float> xb, cb;
  Rng rng(2);
  double first10 = 0, last10 = 0;
  constexpr int kSteps = 80;
  constexpr std::size_t kBatch = 32;
  for (int k = 0; k < kSteps; ++k) {
    images16(train, (static_cast<std::size_t>(k) * kBatch) % (train.size() - kBatch), kBatch, xb, cb);
    const float l = step.step(m, opt, xb, &cb, rng);
    REQUIRE(std::isfinite(l));
    if (k < 10) first10 += l / 10;
    if (k >= kSteps - 10) last10 += l / 10;
  }
  const double after = held_out();
  MESSAGE("held-out loss: untrained " << before << ", after " << kSteps << " steps " << after
                                      << "; training loss first 10 steps " << first10 << ", last 10 " << last10);
  CHECK(after < before / 4);  // measured: 1.25 -> 0.145 on MNIST (8.6x)
  CHECK(last10 < first10 / 2);
}
