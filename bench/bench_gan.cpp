// bench/bench_gan.cpp — one training iteration (D step + G step) of the DCGAN and
// the conditional DCGAN with zoo::models::GanTrainer, batch 128, as examples/gan
// runs them. The PyTorch side is bench/pytorch/gan.py (same names).
//   dcgan_train, cdcgan_train   one iteration: G fwd, D fwd/bwd ×2, Adam(D); G fwd/bwd, D fwd/bwd (dx), Adam(G)
#include <zoo/graph/model.hpp>
#include <zoo/models/gan.hpp>
#include <zoo/models/gan_training.hpp>

#include "bench_common.hpp"

namespace {
using namespace zoo;
constexpr std::size_t kBatch = 128;

template <class GM, class DM>
void run(benchmark::State& s) {
  GM g(1);
  DM d(2);
  models::GanTrainer tr(g, d);
  Tensor<float> real({kBatch, 1, 28, 28}), y;
  zoo_bench::fill(real, 3);
  std::vector<int> labels(kBatch);
  for (std::size_t i = 0; i < kBatch; ++i) labels[i] = static_cast<int>(i % 10);
  models::one_hot(y, labels);
  const Tensor<float>* yp = models::GanTrainer<GM, DM>::conditional ? &y : nullptr;
  for (int i = 0; i < 3; ++i) tr.step(real, yp);  // sizes every buffer
  for (auto _ : s) benchmark::DoNotOptimize(tr.step(real, yp));
  // G: 2 forwards + 1 backward (2×); D: 3 forwards + 3 backwards (2×, one with dx).
  const double flops = (4.0 * GM::flops + 9.0 * DM::flops) * kBatch;
  zoo_bench::set_counters(s, flops, kBatch, kBatch);
}

const bool registered = [] {
  zoo_bench::register_threads("dcgan_train", [](benchmark::State& s, int) {
    run<Model<models::DcGenerator, Shape<96>>, Model<models::DcDiscriminator, Shape<1, 28, 28>>>(s);
  });
  zoo_bench::register_threads("cdcgan_train", [](benchmark::State& s, int) {
    run<Model<models::CondDcGenerator, Shape<96>, Shape<10>>,
        Model<models::CondDcDiscriminator, Shape<1, 28, 28>, Shape<10>>>(s);
  });
  return true;
}();
}  // namespace

BENCHMARK_MAIN();
