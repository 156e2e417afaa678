// bench/bench_conv.cpp — the convolution layers of the seed models, one at a time, and the
// model steps made of them. Names pair with bench/pytorch/conv.py (same names, same work).
//
// Layers (fresh parameter gradients every step, input gradient on, as inside a network):
//   conv2d_1to16_k3s3p1_28    Conv2d(1,16,3,s3,p1) on 28×28     conv autoencoder encoder.0
//   conv2d_16to8_k3s2p1_5     Conv2d(16,8,3,s2,p1) on 5×5       encoder.3
//   convt_8to16_k3s2_2        ConvTranspose2d(8,16,3,s2) 2×2    decoder.0
//   convt_16to8_k5s3p1_5      ConvTranspose2d(16,8,5,s3,p1) 5×5 decoder.2
//   convt_8to1_k2s2p1_15      ConvTranspose2d(8,1,2,s2,p1) 15×15 decoder.4   (all batch 128)
//   conv2d_1to32_k5_28        Conv2d(1,32,5) on 28×28           DCGAN D.0
//   conv2d_32to64_k5_12       Conv2d(32,64,5) on 12×12          DCGAN D.3
//   convt_128to64_k4s2p1_7    ConvTranspose2d(128,64,4,2,1) 7×7 DCGAN G.7
//   convt_64to1_k4s2p1_14     ConvTranspose2d(64,1,4,2,1) 14×14 DCGAN G.10  (all batch 128)
//   conv2d_64to64_k3p1_28     Conv2d(64,64,3,1,1) on 28×28, batch 32 (issue 4's 3×3 case)
// each as <name>_fwd (forward) and <name>_fwdbwd (forward + backward).
// Steps:
//   conv_ae_train   models::ConvAutoencoder, MSE(mean), Adam(1e-3, wd 1e-5), batch 128
//   ddpm_train      ContextUnet(n_feat 64) on (1, 28, 28), batch 100: draw t and ε, noise,
//                   forward, MSE, backward, Adam(1e-3)  (models::diffusion::DiffusionStep)
//   ddpm_sample     one DDPM sampling step, batch 100: an eval-mode network call + the update
// Counters: flops = forward FLOPs (fwd) or 3× forward (fwdbwd, train) per second.
#include <memory>
#include <string>

#include "bench_common.hpp"
#include "zoo/graph/model.hpp"
#include "zoo/graph/sequential.hpp"
#include "zoo/layers/conv2d.hpp"
#include "zoo/layers/conv_transpose2d.hpp"
#include "zoo/models/ae_training.hpp"
#include "zoo/models/autoencoder.hpp"
#include "zoo/models/diffusion/context_unet.hpp"
#include "zoo/models/diffusion/ddpm.hpp"
#include "zoo/optim/optimizers.hpp"

namespace {
using namespace zoo;

// One layer as a one-layer model: x (N, In), dy (N, Out), both uniform in [−1, 1].
template <class Spec, class In, std::size_t Batch>
struct LayerStep {
  Model<Sequential<Spec>, In> model{1};
  Tensor<float> x{Batch, In::C, In::H, In::W}, dy;
  LayerStep() {
    zoo_bench::fill(x, 2);
    model.requires_input_grad(true);
    const auto& y = model.forward(x);
    dy.resize(y.shape());
    zoo_bench::fill(dy, 3);
  }
  void fwd() { model.forward(x); }
  void fwdbwd() {
    model.forward(x);
    model.zero_grad();
    model.backward(dy);
  }
};

template <class Spec, class In, std::size_t Batch = 128>
void register_layer(const std::string& name) {
  using S = LayerStep<Spec, In, Batch>;
  using M = Model<Sequential<Spec>, In>;
  zoo_bench::register_threads(name + "_fwd", [](benchmark::State& s, int) {
    auto st = std::make_unique<S>();
    for (int i = 0; i < 3; ++i) st->fwd();
    for (auto _ : s) {
      st->fwd();
      benchmark::ClobberMemory();
    }
    zoo_bench::set_counters(s, M::flops * Batch, Batch, Batch);
  });
  zoo_bench::register_threads(name + "_fwdbwd", [](benchmark::State& s, int) {
    auto st = std::make_unique<S>();
    for (int i = 0; i < 3; ++i) st->fwdbwd();
    for (auto _ : s) {
      st->fwdbwd();
      benchmark::ClobberMemory();
    }
    zoo_bench::set_counters(s, 3 * M::flops * Batch, Batch, Batch);
  });
}

void conv_ae_train(benchmark::State& s, int) {
  constexpr std::size_t kBatch = 128;
  using M = Model<models::ConvAutoencoder, Shape<1, 28, 28>>;
  auto m = std::make_unique<M>(1);
  Adam opt(m->parameters(), {.lr = 1e-3, .weight_decay = 1e-5});
  models::AutoencoderStep<M> step;
  step.reduction = Reduction::mean;
  Tensor<float> x({kBatch, 1, 28, 28});
  zoo_bench::fill(x, 2);
  for (int i = 0; i < 3; ++i) step.step(*m, opt, x);
  for (auto _ : s) benchmark::DoNotOptimize(step.step(*m, opt, x));
  zoo_bench::set_counters(s, 3 * M::flops * kBatch, kBatch, kBatch);
}

namespace dm = models::diffusion;
constexpr std::size_t kDiffBatch = 100, kNFeat = 64, kClasses = 10;
using Unet = dm::ContextUnetModel<1, 28, kNFeat, kClasses>;

struct Diffusion {
  Unet m{1};
  dm::NoiseSchedule sched = dm::NoiseSchedule::linear();
  Rng rng{7};
  Tensor<float> x0{kDiffBatch, 1, 28, 28}, c;
  Diffusion() {
    zoo_bench::fill(x0, 2);
    std::vector<int> labels(kDiffBatch);
    for (std::size_t i = 0; i < kDiffBatch; ++i) labels[i] = static_cast<int>(i % kClasses);
    c = dm::one_hot(labels, kClasses);
  }
};

void ddpm_train(benchmark::State& s, int) {
  auto d = std::make_unique<Diffusion>();
  Adam opt(d->m.parameters(), {.lr = 1e-3});
  dm::DiffusionStep<Unet> step{&d->sched};
  d->m.train();
  for (int i = 0; i < 2; ++i) step.step(d->m, opt, d->x0, &d->c, d->rng);
  for (auto _ : s) benchmark::DoNotOptimize(step.step(d->m, opt, d->x0, &d->c, d->rng));
  zoo_bench::set_counters(s, 3 * Unet::flops * kDiffBatch, kDiffBatch, kDiffBatch);
}

void ddpm_sample(benchmark::State& s, int) {
  auto d = std::make_unique<Diffusion>();
  d->m.eval();
  dm::UnetDenoiser<Unet> eps_fn{&d->m, &d->sched, d->c, 0.0};
  Tensor<float> x = d->x0, eps, z(d->x0.shape());
  for (int i = 0; i < 2; ++i) eps_fn(x, 250, eps);
  for (auto _ : s) {
    eps_fn(x, 250, eps);
    d->rng.fill_normal(z.data(), z.size());
    dm::ddpm_step(d->sched, x, eps, 250, &z, x);
    benchmark::ClobberMemory();
  }
  zoo_bench::set_counters(s, Unet::flops * kDiffBatch, kDiffBatch, kDiffBatch);
}

const bool registered = [] {
  register_layer<Conv2d<16, 3, 3, 1>, Shape<1, 28, 28>>("conv2d_1to16_k3s3p1_28");
  register_layer<Conv2d<8, 3, 2, 1>, Shape<16, 5, 5>>("conv2d_16to8_k3s2p1_5");
  register_layer<ConvTranspose2d<16, 3, 2>, Shape<8, 2, 2>>("convt_8to16_k3s2_2");
  register_layer<ConvTranspose2d<8, 5, 3, 1>, Shape<16, 5, 5>>("convt_16to8_k5s3p1_5");
  register_layer<ConvTranspose2d<1, 2, 2, 1>, Shape<8, 15, 15>>("convt_8to1_k2s2p1_15");
  register_layer<Conv2d<32, 5>, Shape<1, 28, 28>>("conv2d_1to32_k5_28");
  register_layer<Conv2d<64, 5>, Shape<32, 12, 12>>("conv2d_32to64_k5_12");
  register_layer<ConvTranspose2d<64, 4, 2, 1>, Shape<128, 7, 7>>("convt_128to64_k4s2p1_7");
  register_layer<ConvTranspose2d<1, 4, 2, 1>, Shape<64, 14, 14>>("convt_64to1_k4s2p1_14");
  register_layer<Conv2d<64, 3, 1, 1>, Shape<64, 28, 28>, 32>("conv2d_64to64_k3p1_28");
  zoo_bench::register_threads("conv_ae_train", conv_ae_train);
  zoo_bench::register_threads("ddpm_train", ddpm_train);
  zoo_bench::register_threads("ddpm_sample", ddpm_sample);
  return true;
}();

}  // namespace

BENCHMARK_MAIN();
