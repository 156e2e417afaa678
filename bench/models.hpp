// bench/models.hpp — the dense seed models as users run them, for the benchmarks.
//
// Thin wrappers over the real model headers and their training helpers, so a
// benchmark measures exactly what examples/ and users execute:
//   AE   zoo::models::MlpAutoencoder + AutoencoderStep (MSE(sum)/N), Adam 1e-3
//   VAE  zoo::models::VaeMse + VaeStep (recon MSE), Adam 1e-3
//   VAE_BCE  zoo::models::VaeBce + VaeStep (recon BCE, inputs in [0, 1]), Adam 1e-3, batch 64
//   GAN  zoo::models::MlpGenerator / MlpDiscriminator + GanTrainer (vanilla,
//        Adam 3e-4, betas (0.5, 0.999)): one D step then one G step
// Each mirrors its PyTorch twin in bench/pytorch/torch_bench.py. The AE and VAE
// offer five steps, so the benchmarks (and the PyTorch side) split a training step:
//   fwd()     forward + loss (+ loss gradient)      fwdbwd()  zero_grad + fwd + backward
//   opt()     the optimizer step alone               train()   fwdbwd + opt
//   infer()   forward only (eval mode), batch images
// The GAN offers d_step(), g_step(), train() and infer().
// step_flops(): ≈ FLOPs of one train() (forward 1×, backward 2× of Model::flops).
//   YoloTrain<Net>  zoo::yolo's yolov5n variants (issue 19), 128×128, batch 16: forward in
//        train mode, the v7.0 loss (zoo::yolo::ComputeLoss) on fixed targets, backward, one
//        GroupSGD step (nesterov, momentum 0.937, train.py's three groups); train() only.
#pragma once
#include <array>
#include <type_traits>
#include <utility>
#include <vector>

#include "zoo/graph/model.hpp"
#include "zoo/models/ae_training.hpp"
#include "zoo/models/autoencoder.hpp"
#include "zoo/models/gan.hpp"
#include "zoo/models/gan_training.hpp"
#include "zoo/models/vae.hpp"
#include "zoo/models/yolo/loss.hpp"
#include "zoo/models/yolo/train.hpp"
#include "zoo/models/yolo/yolov5.hpp"
#include "zoo/optim/optimizers.hpp"

namespace zoo_bench {

using zoo::Shape;

inline void uniform(zoo::Tensor<float>& t, zoo::Rng& r, double lo = -1, double hi = 1) {
  r.fill_uniform(t.data(), t.size(), lo, hi);
}

// ------------------------------------------------------------------ MLP autoencoder
struct AE {
  using M = zoo::Model<zoo::models::MlpAutoencoder, Shape<784>>;
  M model{1};
  zoo::Adam<float> adam{model.parameters(), {.lr = 1e-3}};
  zoo::models::AutoencoderStep<M> steps{};  // MSE(sum)/N
  zoo::Tensor<float> x;                     // (N, 784)
  zoo::Rng rng{7};
  std::size_t n;
  float loss = 0;

  explicit AE(std::size_t batch) : x({batch, 784}), n(batch) { uniform(x, rng); }
  double step_flops() const { return 3.0 * M::flops * n; }
  double infer_flops() const { return M::flops * n; }
  void fwd() { loss = steps.loss(model, x, true); }
  void fwdbwd() {
    model.zero_grad();
    fwd();
    std::array<const zoo::Tensor<float>*, M::num_outputs> d{};
    d[0] = &steps.dy;
    model.backward_ptrs(d);
  }
  void opt() { adam.step(); }
  void train() { loss = steps.step(model, adam, x); }
  void infer() { model.forward(x); }
};

// ------------------------------------------------------------------ VAE (MSE), and the BCE VAE
template <class Net, zoo::models::Recon R>
struct VaeBench {
  using M = zoo::Model<Net, Shape<784>>;
  M model{1};
  zoo::Adam<float> adam{model.parameters(), {.lr = 1e-3}};
  zoo::models::VaeStep<M> steps{.recon = R};
  zoo::Tensor<float> x;  // (N, 784)
  zoo::Rng rng{7};
  std::size_t n;
  float loss = 0;

  explicit VaeBench(std::size_t batch) : x({batch, 784}), n(batch) {
    // MSE: images in [-1, 1] (Tanh output); BCE: in [0, 1] (Sigmoid output).
    if constexpr (R == zoo::models::Recon::bce) uniform(x, rng, 0, 1);
    else uniform(x, rng);
  }
  double step_flops() const { return 3.0 * M::flops * n; }
  double infer_flops() const { return M::flops * n; }
  void fwd() { loss = steps.loss(model, x, true).total; }
  void fwdbwd() {
    model.zero_grad();
    fwd();
    model.backward(steps.drecon, steps.dmu, steps.dlogvar);
  }
  void opt() { adam.step(); }
  void train() { loss = steps.step(model, adam, x).total; }
  // The PyTorch twin decodes the mean; zoo's graph samples z, which costs the
  // same GEMMs plus one pass over (N, 20).
  void infer() { model.forward(x); }
};

using VAE = VaeBench<zoo::models::VaeMse, zoo::models::Recon::mse>;
using VAE_BCE = VaeBench<zoo::models::VaeBce, zoo::models::Recon::bce>;

// ------------------------------------------------------------------ vanilla GAN (MLPs)
struct GAN {
  using GM = zoo::Model<zoo::models::MlpGenerator, Shape<zoo::models::gan_noise_dim>>;
  using DM = zoo::Model<zoo::models::MlpDiscriminator, Shape<784>>;
  GM g{1};
  DM d{2};
  zoo::models::GanTrainer<GM, DM> trainer{g, d, {.seed = 7}};
  zoo::Tensor<float> real, zn;  // (N, 784) (N, 96)
  zoo::Rng rng{7};
  std::size_t n;
  float loss_d = 0, loss_g = 0;

  explicit GAN(std::size_t batch) : real({batch, 784}), n(batch) { uniform(real, rng); }
  // D step: G fwd + 2× D fwd/bwd (no dx); G step: G fwd/bwd + D fwd/bwd with dx.
  double step_flops() const { return (4.0 * GM::flops + 9.0 * DM::flops) * n; }
  double infer_flops() const { return GM::flops * n; }
  void d_step() { loss_d = trainer.discriminator_step(real); }
  void g_step() { loss_g = trainer.generator_step(n); }
  void train() {
    const auto l = trainer.step(real);
    loss_d = l.d, loss_g = l.g;
  }
  void infer() {
    zoo::models::sample_noise(zn, n, rng);
    g.forward(zn);
  }
};

// ------------------------------------------------------------------ YOLOv5n (issue 19)
// The fixed targets of the YOLO benchmarks, (image, class, x, y, w, h) normalised: 3 or 4
// digit-sized boxes per image (sides 14–56 px of 128, as the digits set), the same formula
// as yolo_targets() in bench/pytorch/torch_bench.py.
inline std::vector<zoo::yolo::Target<float>> yolo_bench_targets(std::size_t batch) {
  std::vector<zoo::yolo::Target<float>> t;
  for (std::size_t b = 0; b < batch; ++b)
    for (std::size_t k = 0; k < 3 + b % 2; ++k) {
      const double side = double(14 + (b * 7 + k * 11) % 43) / 128.0;
      t.push_back({b, int((b * 4 + k) % 10), float(0.125 + 0.25 * double(k) + 0.01 * double(b % 7)),
                   float(0.2 + 0.2 * double((b + k) % 4) + 0.005 * double(b)), float(0.75 * side),
                   float(side)});
    }
  return t;
}

template <class Net, std::size_t S = 128>
struct YoloTrain {
  static constexpr std::size_t kBatch = 16;
  using M = zoo::Model<Net, Shape<3, S, S>>;
  using Det = zoo::yolo::detect_of<std::remove_cvref_t<decltype(std::declval<M&>().net())>>;
  M model{1};
  zoo::yolo::GroupSGD<float> sgd{model, zoo::yolo::Hyp{}};
  zoo::yolo::ComputeLoss<float> loss{Det::nc, Det::na, levels(), anchors(),
                                     zoo::yolo::LossHyp::scaled(Det::nl, Det::nc, S)};
  zoo::Tensor<float> x, dy;  // (N, 3, S, S), (N, rows·no)
  std::vector<zoo::yolo::Target<float>> targets;
  std::size_t n;
  float total = 0;

  static std::vector<zoo::yolo::LevelGeom> levels() {
    std::vector<zoo::yolo::LevelGeom> g;
    for (std::size_t l = 0; l < Det::nl; ++l) g.push_back({Det::ny[l], Det::nx[l]});
    return g;
  }
  static std::vector<float> anchors() {  // grid units: pixels / stride, stride = S / ny
    std::vector<float> a;
    for (std::size_t l = 0; l < Det::nl; ++l)
      for (std::size_t i = 0; i < 2 * Det::na; ++i)
        a.push_back(float(zoo::yolo::AnchorsP5::pixels[l * 2 * Det::na + i] / double(S / Det::ny[l])));
    return a;
  }

  explicit YoloTrain(std::size_t batch = kBatch)
      : x({batch, 3, S, S}), dy({batch, Det::rows * Det::no}), targets(yolo_bench_targets(batch)), n(batch) {
    zoo::Rng r(7);
    r.fill_uniform(x.data(), x.size(), 0, 1);
    sgd.group_lr = {0.01, 0.01, 0.01};
    sgd.momentum = 0.937;
    sgd.weight_decay = 5e-4;
    model.train();
  }
  double step_flops() const { return 3.0 * M::flops * double(n); }
  void train() {
    model.zero_grad();
    const auto& out = model.forward(x);
    total = loss(out.data(), dy.data(), n, targets).total;
    model.backward(dy);
    sgd.step();
  }
};

}  // namespace zoo_bench
