// bench/memory_peak.cpp — peak resident memory of one zoo workload in one process
// (issue 22). Not a Google Benchmark program: a plain main, one case per run.
//
//   memory_peak <case>    runs the case, then prints one line
//                         case=<name> peak_rss_mb=<ru_maxrss / 1024> baseline_rss_mb=<VmRSS at start>
//   memory_peak --list    the case names, one a line
//
// The PyTorch side is bench/pytorch/memory_peak.py (same case names, same output line), and
// scripts/memory.sh runs every case in a fresh process for each side and prints the table.
// peak_rss_mb is getrusage(RUSAGE_SELF).ru_maxrss (the process's high-water mark, KiB) / 1024;
// baseline_rss_mb is VmRSS from /proc/self/status at the top of main, before any model is built
// (the program's code, libstdc++, libgomp, OpenBLAS mapped in).
//
// Cases (2 threads, as the PyTorch side's torch.set_num_threads(2)):
//   ddpm_guided_sample_eval   ContextUnet n_feat 64, 28×28, 10 classes, the training model in
//                             eval(); 200 images with classifier-free guidance (w = 2), so each
//                             network call is ONE forward of a doubled batch of 400
//                             (diffusion::UnetDenoiser). 3 DDPM steps (t = 500, 499, 498): the peak
//                             is reached on the first call; a full run makes 500 calls.
//   dcgan_generate_eval       models::generate(DCGAN G, 10,000 samples) in its default batches
//                             (models::kGenerateBatch, 64; 500 before 2026-12-05 evening),
//                             G the training model (generate() puts it in eval()); the (10000, 1,
//                             28, 28) result (31 MB) is part of the peak, as it is in PyTorch's.
//   ddpm_guided_sample_infer, dcgan_generate_infer   the same through a zoo::InferenceModel that
//                             owns its weights (a sampling program after load_safetensors: no
//                             training model, no gradients).
//   ddpm_guided_sample_shared, dcgan_generate_shared  through an InferenceModel sharing the weights
//                             of a training model that stays alive (sampling during training).
//   dcgan_generate_stream     the _infer case's 10,000 samples handed to a consumer batch by
//                             batch (models::generate_each) and never stored together.
//   dcgan_generate_infer_b500, dcgan_generate_stream_b500   the same in batches of 500.
//   (The _eval cases run generate()/UnetDenoiser on the training Model; since issue 22
//   generate() wraps it in an InferenceModel itself, so dcgan_generate_eval = _shared.)
//   <model>_train             3 training steps (forward, loss, backward, optimizer step; the GANs
//                             one D step and one G step each) at the examples' default batch:
//     mlp_ae 128, conv_ae 128, vae_mse 128, vae_bce 64 (examples/autoencoders.cpp, Adam 1e-3),
//     gan (vanilla MLP) 128, ls_gan 128, dcgan 128, cdcgan 128 (examples/gan.cpp, Adam 3e-4),
//     ddpm 100 (examples/diffusion.cpp at --n-feat 64, Adam 1e-3, 10% context drop),
//     lenet 64 (examples/classifier.cpp, Adam 1e-3, cross-entropy),
//     yolo, yolo_akconv 16 (examples/yolo.cpp defaults: 128×128, AKConv N = 3; bench/models.hpp
//     YoloTrain: v7.0 loss on fixed targets, GroupSGD nesterov 0.937).
#include <sys/resource.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "models.hpp"
#include "zoo/core/parallel.hpp"
#include "zoo/models/diffusion/context_unet.hpp"
#include "zoo/models/diffusion/ddpm.hpp"
#include "zoo/models/lenet.hpp"
#include "zoo/zoo.hpp"

#if defined(ZOO_USE_CBLAS)
// OpenBLAS's own; weak, so that another CBLAS links too (as bench_common.hpp).
extern "C" void openblas_set_num_threads(int) __attribute__((weak));
#endif

namespace {

using zoo::Shape;
using zoo::Tensor;
namespace models = zoo::models;
namespace diffusion = zoo::models::diffusion;

constexpr int kThreads = 2;
constexpr int kTrainSteps = 3;

void use_threads(int t) {
  zoo::set_num_threads(t);
#if defined(ZOO_USE_CBLAS)
  if (&openblas_set_num_threads) openblas_set_num_threads(t);
#endif
}

// VmRSS of this process, MiB (0 where /proc is missing).
double vm_rss_mb() {
  std::ifstream f("/proc/self/status");
  std::string line;
  while (std::getline(f, line))
    if (line.rfind("VmRSS:", 0) == 0) return std::strtod(line.c_str() + 6, nullptr) / 1024.0;
  return 0;
}

double peak_rss_mb() {
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  return static_cast<double>(u.ru_maxrss) / 1024.0;  // Linux: KiB
}

void fill(Tensor<float>& t, std::uint64_t seed, double lo = -1, double hi = 1) {
  zoo::Rng r(seed);
  r.fill_uniform(t.data(), t.size(), lo, hi);
}

// ------------------------------------------------------------------ inference
constexpr std::size_t kUnetFeat = 64, kClasses = 10, kHeight = 28;
using UnetModel = diffusion::ContextUnetModel<1, kHeight, kUnetFeat, kClasses>;
using DcG = zoo::Model<models::DcGenerator, Shape<models::gan_noise_dim>>;

// 200 images (20 per class), guidance w = 2: UnetDenoiser runs the doubled batch of 400.
// The body of diffusion::sample_ddpm for its first 3 timesteps.
template <class M>
double guided_sample(M& m) {
  if constexpr (requires { m.eval(); }) m.eval();
  constexpr std::size_t per_class = 20, n = kClasses * per_class;
  constexpr int kSteps = 3;
  const auto s = diffusion::NoiseSchedule::linear();  // T = 500
  std::vector<int> labels(n);
  for (std::size_t i = 0; i < n; ++i) labels[i] = static_cast<int>(i / per_class);
  diffusion::UnetDenoiser<M> eps{&m, &s, diffusion::one_hot(labels, kClasses), 2.0};
  Tensor<float> x({n, 1, kHeight, kHeight}), e, z(x.shape());
  zoo::Rng rng(5);
  rng.fill_normal(x.data(), x.size());
  for (int t = s.T; t > s.T - kSteps; --t) {
    eps(x, t, e);
    rng.fill_normal(z.data(), z.size());
    diffusion::ddpm_step(s, x, e, t, &z, x);
  }
  return x[0];
}

template <class G>
double dcgan_generate(G& g, std::size_t batch = models::kGenerateBatch) {
  zoo::Rng rng(3);
  const Tensor<float> out = models::generate(g, 10000, rng, nullptr, batch);
  return out[out.size() - 1];
}

void ddpm_guided_sample_eval() {
  auto m = std::make_unique<UnetModel>(1);
  guided_sample(*m);
}
void dcgan_generate_eval() {
  auto g = std::make_unique<DcG>(1);
  dcgan_generate(*g);
}

#ifdef ZOO_HAS_INFERENCE_MODEL
using UnetInfer = zoo::InferenceModel<diffusion::ContextUnet<kUnetFeat, kClasses>, Shape<1, kHeight, kHeight>,
                                      Shape<1>, Shape<kClasses>>;
using DcGInfer = zoo::InferenceModel<models::DcGenerator, Shape<models::gan_noise_dim>>;

// A sampling program: the inference model owns its weights (as after load_safetensors) and
// no training model exists, so there are no gradients anywhere.
void ddpm_guided_sample_infer() {
  auto inf = std::make_unique<UnetInfer>(1);
  guided_sample(*inf);
}
void dcgan_generate_infer() {
  auto inf = std::make_unique<DcGInfer>(1);
  dcgan_generate(*inf);
}
// 10,000 samples consumed as they come (models::generate_each; here their sum, as an FID
// would fold them into its statistics): nothing grows with the sample count.
void dcgan_generate_stream(std::size_t batch = models::kGenerateBatch) {
  auto inf = std::make_unique<DcGInfer>(1);
  zoo::Rng rng(3);
  double sum = 0;
  models::generate_each(
      *inf, 10000, rng,
      [&](std::size_t, const Tensor<float>& images) {
        for (const float v : images) sum += v;
      },
      nullptr, batch);
  volatile double keep = sum;
  (void)keep;
}
// The batch of 500 that generate() used before issue 22.
void dcgan_generate_infer_b500() {
  auto inf = std::make_unique<DcGInfer>(1);
  dcgan_generate(*inf, 500);
}
// Beside a training model (sampling during training): the inference model shares its weights.
void ddpm_guided_sample_shared() {
  auto m = std::make_unique<UnetModel>(1);
  auto inf = std::make_unique<UnetInfer>(*m);
  guided_sample(*inf);
}
void dcgan_generate_shared() {
  auto g = std::make_unique<DcG>(1);
  auto inf = std::make_unique<DcGInfer>(*g);
  dcgan_generate(*inf);
}
#endif

// ------------------------------------------------------------------ training
template <class B>
void train_steps(std::size_t batch) {
  auto m = std::make_unique<B>(batch);
  for (int i = 0; i < kTrainSteps; ++i) m->train();
}

// The conv autoencoder: MSE(mean), Adam(1e-3, weight decay 1e-5), as examples/autoencoders.cpp.
void conv_ae_train() {
  using M = zoo::Model<models::ConvAutoencoder, Shape<1, 28, 28>>;
  auto m = std::make_unique<M>(1);
  zoo::Adam<float> opt(m->parameters(), {.lr = 1e-3, .weight_decay = 1e-5});
  models::AutoencoderStep<M> step{.reduction = zoo::Reduction::mean};
  Tensor<float> x({128, 1, 28, 28});
  fill(x, 7);
  for (int i = 0; i < kTrainSteps; ++i) step.step(*m, opt, x);
}

// A GanTrainer iteration (D step + G step), batch 128, as examples/gan.cpp and bench_gan.cpp.
template <class GM, class DM>
void gan_train(models::GanObjective objective) {
  constexpr std::size_t n = 128;
  auto g = std::make_unique<GM>(1);
  auto d = std::make_unique<DM>(2);
  models::GanTrainer<GM, DM> tr(*g, *d, {.objective = objective, .seed = 7});
  using Image = typename GM::output_shape;
  Tensor<float> real, y;
  real.template resize_batch<Image>(n);
  fill(real, 3);
  std::vector<int> labels(n);
  for (std::size_t i = 0; i < n; ++i) labels[i] = static_cast<int>(i % 10);
  models::one_hot(y, labels);
  const Tensor<float>* yp = models::GanTrainer<GM, DM>::conditional ? &y : nullptr;
  for (int i = 0; i < kTrainSteps; ++i) tr.step(real, yp);
}

using MlpG = zoo::Model<models::MlpGenerator, Shape<models::gan_noise_dim>>;
using MlpD = zoo::Model<models::MlpDiscriminator, Shape<784>>;
using DcD = zoo::Model<models::DcDiscriminator, Shape<1, 28, 28>>;
using CondG = zoo::Model<models::CondDcGenerator, Shape<models::gan_noise_dim>, Shape<models::gan_num_classes>>;
using CondD = zoo::Model<models::CondDcDiscriminator, Shape<1, 28, 28>, Shape<models::gan_num_classes>>;

// ContextUnet n_feat 64, batch 100: diffusion::DiffusionStep (t, ε, noising, 10% context
// drop, MSE, backward, Adam 1e-3), as examples/diffusion.cpp.
void ddpm_train() {
  constexpr std::size_t n = 100;
  auto m = std::make_unique<UnetModel>(1);
  zoo::Adam<float> opt(m->parameters(), {.lr = 1e-3});
  const auto s = diffusion::NoiseSchedule::linear();
  diffusion::DiffusionStep<UnetModel> step{&s, 0.1, nullptr};
  Tensor<float> x0({n, 1, kHeight, kHeight});
  fill(x0, 3);
  std::vector<int> labels(n);
  for (std::size_t i = 0; i < n; ++i) labels[i] = static_cast<int>(i % kClasses);
  const Tensor<float> c = diffusion::one_hot(labels, kClasses);
  zoo::Rng rng(12345);
  for (int i = 0; i < kTrainSteps; ++i) step.step(*m, opt, x0, &c, rng);
}

// LeNet, batch 64, cross-entropy, Adam 1e-3: the loop of models::train_classifier.
void lenet_train() {
  constexpr std::size_t n = 64;
  auto m = std::make_unique<models::LeNetModel>(1);
  zoo::AdamOptions o;
  o.lr = 1e-3;
  zoo::Adam<float> opt(m->parameters(), o);
  Tensor<float> x({n, 1, 28, 28}), dlogits;
  fill(x, 3);
  std::vector<int> labels(n);
  for (std::size_t i = 0; i < n; ++i) labels[i] = static_cast<int>(i % 10);
  m->train();
  for (int i = 0; i < kTrainSteps; ++i) {
    m->zero_grad();
    const auto& logits = m->forward(x);
    zoo::cross_entropy_loss(logits, std::span<const int>(labels), &dlogits);
    m->backward_ptrs({&dlogits, nullptr});
    opt.step();
  }
}

using Yolo = zoo_bench::YoloTrain<zoo::yolo::YOLOv5n<10>>;
using YoloAk = zoo_bench::YoloTrain<zoo::yolo::YOLOv5nAKConv<10, 3>>;

const std::vector<std::pair<std::string, std::function<void()>>>& cases() {
  static const std::vector<std::pair<std::string, std::function<void()>>> all = {
      {"ddpm_guided_sample_eval", ddpm_guided_sample_eval},
#ifdef ZOO_HAS_INFERENCE_MODEL
      {"ddpm_guided_sample_infer", ddpm_guided_sample_infer},
#endif
      {"dcgan_generate_eval", dcgan_generate_eval},
#ifdef ZOO_HAS_INFERENCE_MODEL
      {"dcgan_generate_infer", dcgan_generate_infer},
      {"ddpm_guided_sample_shared", ddpm_guided_sample_shared},
      {"dcgan_generate_shared", dcgan_generate_shared},
      {"dcgan_generate_stream", [] { dcgan_generate_stream(); }},
      {"dcgan_generate_infer_b500", dcgan_generate_infer_b500},
      {"dcgan_generate_stream_b500", [] { dcgan_generate_stream(500); }},
#endif
      {"mlp_ae_train", [] { train_steps<zoo_bench::AE>(128); }},
      {"conv_ae_train", conv_ae_train},
      {"vae_mse_train", [] { train_steps<zoo_bench::VAE>(128); }},
      {"vae_bce_train", [] { train_steps<zoo_bench::VAE_BCE>(64); }},
      {"gan_train", [] { gan_train<MlpG, MlpD>(models::GanObjective::vanilla); }},
      {"ls_gan_train", [] { gan_train<MlpG, MlpD>(models::GanObjective::least_squares); }},
      {"dcgan_train", [] { gan_train<DcG, DcD>(models::GanObjective::vanilla); }},
      {"cdcgan_train", [] { gan_train<CondG, CondD>(models::GanObjective::vanilla); }},
      {"ddpm_train", ddpm_train},
      {"lenet_train", lenet_train},
      {"yolo_train", [] { train_steps<Yolo>(Yolo::kBatch); }},
      {"yolo_akconv_train", [] { train_steps<YoloAk>(YoloAk::kBatch); }},
  };
  return all;
}

}  // namespace

int main(int argc, char** argv) {
  const double baseline = vm_rss_mb();
  if (argc != 2) {
    std::fprintf(stderr, "usage: %s <case> | --list\n", argv[0]);
    return 2;
  }
  const std::string name = argv[1];
  if (name == "--list") {
    for (const auto& c : cases()) std::printf("%s\n", c.first.c_str());
    return 0;
  }
  for (const auto& c : cases()) {
    if (c.first != name) continue;
    use_threads(kThreads);
    c.second();
    std::printf("case=%s peak_rss_mb=%.1f baseline_rss_mb=%.1f\n", name.c_str(), peak_rss_mb(), baseline);
    return 0;
  }
  std::fprintf(stderr, "memory_peak: no case '%s' (--list names them)\n", name.c_str());
  return 2;
}
