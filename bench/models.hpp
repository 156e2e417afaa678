// bench/models.hpp — the dense seed models, written with zoo's types for the benchmarks.
//
// Stand-ins until include/zoo/models lands (then these become thin wrappers over
// those headers). Each mirrors its PyTorch original in bench/pytorch/torch_bench.py
// layer for layer, loss for loss, optimizer for optimizer:
//   AE   784→128→64→12→3→12→64→128→784, ReLU inside, Tanh out; MSE(sum)/N; Adam 1e-3
//   VAE  fc1 784→400 ReLU, fc21/fc22 400→20 (one 400→40 Linear here: [μ | log σ²]),
//        z = μ + e^{½ log σ²}·ε, fc3 20→400 ReLU, fc4 400→784 Tanh; (MSE(sum) + KL)/N; Adam 1e-3
//   GAN  D 784→256→256→1 LeakyReLU(0.2); G 96→1024→1024→784 ReLU/Tanh;
//        BCE-with-logits; Adam 3e-4, betas (0.5, 0.999); one D step then one G step
// Every model offers the same five steps, so the benchmarks (and the PyTorch
// side) can split a training step into forward, backward and optimizer:
//   fwd()     forward + loss (+ loss gradient)      fwdbwd()  fwd + zero_grad + backward
//   opt()     the optimizer step alone               train()   fwdbwd + opt
//   infer()   forward only (eval mode), batch images
// step_flops(): ≈ FLOPs of one train() (forward 1×, backward 2× of Model::flops).
#pragma once
#include <cmath>

#include "zoo/graph/model.hpp"
#include "zoo/graph/sequential.hpp"
#include "zoo/layers/activations.hpp"
#include "zoo/layers/linear.hpp"
#include "zoo/losses/losses.hpp"
#include "zoo/optim/optimizers.hpp"

namespace zoo_bench {

using zoo::Linear;
using zoo::ReLU;
using zoo::Sequential;
using zoo::Shape;
using zoo::Tanh;

inline void uniform(zoo::Tensor<float>& t, zoo::Rng& r, double lo = -1, double hi = 1) {
  r.fill_uniform(t.data(), t.size(), lo, hi);
}

// ------------------------------------------------------------------ MLP autoencoder
struct AE {
  using Net = Sequential<Linear<128>, ReLU, Linear<64>, ReLU, Linear<12>, ReLU, Linear<3>,  //
                         Linear<12>, ReLU, Linear<64>, ReLU, Linear<128>, ReLU, Linear<784>, Tanh>;
  zoo::Model<Net, Shape<784>> model{1};
  zoo::Adam<float> adam{model.parameters(), {.lr = 1e-3}};
  zoo::Tensor<float> x, dy;  // (N, 784)
  zoo::Rng rng{7};
  std::size_t n;
  float loss = 0;

  explicit AE(std::size_t batch) : x({batch, 784}), n(batch) { uniform(x, rng); }
  double step_flops() const { return 3.0 * model.flops * n; }
  double infer_flops() const { return model.flops * n; }
  void fwd() {
    const auto& y = model.forward(x);
    loss = zoo::mse_loss(y, x, &dy, zoo::Reduction::sum) / n;
    const float s = 1.0f / n;
    for (auto& g : dy) g *= s;
  }
  void fwdbwd() {
    fwd();
    model.zero_grad();
    model.backward(dy);
  }
  void opt() { adam.step(); }
  void train() {
    fwdbwd();
    opt();
  }
  void infer() { model.forward(x); }
};

// ------------------------------------------------------------------ VAE (MSE)
struct VAE {
  static constexpr std::size_t Z = 20;
  using Encoder = Sequential<Linear<400>, ReLU, Linear<2 * Z>>;           // fc1, [fc21 | fc22]
  using Decoder = Sequential<Linear<400>, ReLU, Linear<784>, Tanh>;       // fc3, fc4
  zoo::Model<Encoder, Shape<784>> enc{1};
  zoo::Model<Decoder, Shape<Z>> dec{2};
  zoo::Adam<float> adam{{enc.parameters(), dec.parameters()}, {.lr = 1e-3}};
  zoo::Tensor<float> x, z, eps, dy, dh;  // (N,784) (N,Z) (N,Z) (N,784) (N,2Z)
  zoo::Rng rng{7};
  std::size_t n;
  float loss = 0;

  explicit VAE(std::size_t batch)
      : x({batch, 784}), z({batch, Z}), eps({batch, Z}), dh({batch, 2 * Z}), n(batch) {
    uniform(x, rng);
    dec.requires_input_grad(true);
  }
  double step_flops() const { return 3.0 * (enc.flops + dec.flops) * n; }
  double infer_flops() const { return (enc.flops + dec.flops) * n; }
  void fwd() {
    const auto& h = enc.forward(x);  // (N, 2Z): μ then log σ²
    rng.fill_normal(eps.data(), eps.size());
    double kl = 0;
    for (std::size_t i = 0; i < n; ++i)
      for (std::size_t j = 0; j < Z; ++j) {
        const float mu = h[i * 2 * Z + j], lv = h[i * 2 * Z + Z + j];
        z[i * Z + j] = mu + std::exp(0.5f * lv) * eps[i * Z + j];
        kl += -0.5 * (1.0 + lv - double(mu) * mu - std::exp(double(lv)));
      }
    const auto& y = dec.forward(z);
    loss = static_cast<float>((zoo::mse_loss(y, x, &dy, zoo::Reduction::sum) + kl) / n);
    const float s = 1.0f / n;
    for (auto& g : dy) g *= s;
  }
  void fwdbwd() {
    fwd();
    dec.zero_grad();
    dec.backward(dy);
    const auto& dz = dec.input_grad();
    const auto& h = enc.output();
    const float s = 1.0f / n;
    for (std::size_t i = 0; i < n; ++i)
      for (std::size_t j = 0; j < Z; ++j) {
        const float mu = h[i * 2 * Z + j], lv = h[i * 2 * Z + Z + j], sd = std::exp(0.5f * lv);
        dh[i * 2 * Z + j] = dz[i * Z + j] + mu * s;
        dh[i * 2 * Z + Z + j] = dz[i * Z + j] * 0.5f * sd * eps[i * Z + j] + 0.5f * (sd * sd - 1) * s;
      }
    enc.zero_grad();
    enc.backward(dh);
  }
  void opt() { adam.step(); }
  void train() {
    fwdbwd();
    opt();
  }
  void infer() {  // reconstruction through the mean, as model.eval() users decode μ
    const auto& h = enc.forward(x);
    for (std::size_t i = 0; i < n; ++i)
      for (std::size_t j = 0; j < Z; ++j) z[i * Z + j] = h[i * 2 * Z + j];
    dec.forward(z);
  }
};

// ------------------------------------------------------------------ vanilla GAN (MLPs)
struct GAN {
  static constexpr std::size_t noise = 96;
  using D = Sequential<Linear<256>, zoo::LeakyReLU<0.2>, Linear<256>, zoo::LeakyReLU<0.2>,
                       Linear<1>>;
  using G = Sequential<Linear<1024>, ReLU, Linear<1024>, ReLU, Linear<784>, Tanh>;
  zoo::Model<D, Shape<784>> d{1};
  zoo::Model<G, Shape<noise>> g{2};
  zoo::Adam<float> adam_d{d.parameters(), {.lr = 3e-4, .betas = {0.5, 0.999}}};
  zoo::Adam<float> adam_g{g.parameters(), {.lr = 3e-4, .betas = {0.5, 0.999}}};
  zoo::Tensor<float> real, zn, dl;  // (N,784) (N,96) (N,1)
  zoo::Rng rng{7};
  std::size_t n;
  float loss_d = 0, loss_g = 0;

  explicit GAN(std::size_t batch) : real({batch, 784}), zn({batch, noise}), n(batch) {
    uniform(real, rng);
  }
  // D step: G fwd + 2× D fwd/bwd (no dx); G step: G fwd/bwd + D fwd/bwd with dx.
  double step_flops() const { return (4.0 * g.flops + 9.0 * d.flops) * n; }
  double infer_flops() const { return g.flops * n; }
  void d_step() {
    uniform(zn, rng);
    const auto& fake = g.forward(zn);
    d.zero_grad();
    loss_d = zoo::bce_with_logits_loss(d.forward(real), 1.0f, &dl);
    d.backward(dl);
    loss_d += zoo::bce_with_logits_loss(d.forward(fake), 0.0f, &dl);
    d.backward(dl);
    adam_d.step();
  }
  void g_step() {
    uniform(zn, rng);
    const auto& fake = g.forward(zn);
    d.freeze();  // gradients flow through D to G; D's parameters get none
    d.requires_input_grad(true);
    loss_g = zoo::bce_with_logits_loss(d.forward(fake), 1.0f, &dl);
    d.backward(dl);
    g.zero_grad();
    g.backward(d.input_grad());
    d.requires_input_grad(false);
    d.unfreeze();
    adam_g.step();
  }
  void train() {
    d_step();
    g_step();
  }
  void infer() {
    uniform(zn, rng);
    g.forward(zn);
  }
};

}  // namespace zoo_bench
