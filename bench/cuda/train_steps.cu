// Training steps of the zoo's models on the CUDA backend, timed on the GPU: the models that
// run on the device today (docs/gpu.md lists them). Each case runs a few warm-up steps,
// then `iters` steps between two cudaDeviceSynchronize calls, and prints ms per step; the
// PyTorch side of the same steps is bench/pytorch/cuda_steps.py.
//
//   mlp_ae_train      MLP autoencoder (784-128-64-12-3 and back), MSE, Adam, batch 128
//   dcgan_train       one DCGAN iteration, batch 128: D on real, D on G(z) (separate batches),
//                     Adam on D; then G through the frozen D, Adam on G; noise drawn on the
//                     host and uploaded each step, as a training loop would
//   ddpm_train        the DDPM ContextUnet (n_feat 64) training step, batch 100 of 28×28: forward
//                     on (x_t, t, c), MSE against ε, backward, Adam (x_t, t, c, ε made once on
//                     the device: the network's step, as bench/pytorch/cuda_steps.py times it)
//   conv3x3_64        Conv2d(64, 64, 3, pad 1) forward + backward on (100, 64, 28, 28), the
//                     DDPM ContextUnet's typical convolution, on the im2col + cuBLAS path
//
// Build: nvcc -std=c++20 -O2 -arch=sm_90 -Iinclude -isystem <eigen3> -Xcompiler=-fopenmp
//        bench/cuda/train_steps.cu -lcublas -lcublasLt (scripts/gpu_check.sh does)
// With no GPU it says so and exits 0. -DZOO_TRAIN_STEPS_NFEAT=0 leaves the DDPM case out.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <zoo/zoo.hpp>
#include <zoo/models/autoencoder.hpp>
#include <zoo/models/diffusion/context_unet.hpp>
#include <zoo/models/gan.hpp>
#include <zoo/cuda.hpp>

namespace {

using zoo::Shape;
template <class T>
using DT = zoo::cuda::Tensor<T>;

template <class F>
double ms_per_step(F&& step, int warm, int iters) {
  for (int i = 0; i < warm; ++i) step();
  zoo::cuda::sync("warm-up");
  const auto t0 = std::chrono::steady_clock::now();
  for (int i = 0; i < iters; ++i) step();
  zoo::cuda::sync("timed steps");
  return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count() /
         iters;
}

zoo::Tensor<float> uniform(std::initializer_list<std::size_t> shape, zoo::Rng& r, double lo, double hi) {
  zoo::Tensor<float> t(shape);
  r.fill_uniform(t.data(), t.size(), lo, hi);
  return t;
}

double mlp_ae(int iters) {
  constexpr std::size_t B = 128;
  zoo::cuda::Model<zoo::models::MlpAutoencoder, Shape<784>> m(1, "mlp_ae");
  zoo::cuda::Adam<float> opt(m.parameters(), {});
  zoo::Rng r(2);
  const DT<float> x(uniform({B, 784}, r, 0, 1));
  zoo::Tensor<float> zh({B, 3});
  zh.fill(0);
  const DT<float> zero(zh);
  DT<float> g;
  return ms_per_step(
      [&] {
        zoo::cuda::mse_loss(m.forward(x), x, &g);
        m.zero_grad();
        m.backward(g, zero);
        opt.step();
      },
      5, iters);
}

double dcgan(int iters) {
  constexpr std::size_t B = 128, Z = zoo::models::gan_noise_dim;
  zoo::cuda::Model<zoo::models::DcGenerator, Shape<Z>> g(1, "dcgan.G");
  zoo::cuda::Model<zoo::models::DcDiscriminator, Shape<1, 28, 28>> d(2, "dcgan.D");
  zoo::AdamOptions o;
  o.lr = 2e-4, o.betas = {0.5, 0.999};
  zoo::cuda::Adam<float> opt_g(g.parameters(), o), opt_d(d.parameters(), o);
  zoo::Rng r(3);
  const DT<float> real(uniform({B, 1, 28, 28}, r, -1, 1));
  zoo::Tensor<float> zh({B, Z});
  DT<float> z, dl;
  return ms_per_step(
      [&] {
        // D: real → 1, G(z) → 0.
        r.fill_uniform(zh.data(), zh.size(), -1, 1);
        z.upload(zh);
        g.train();
        d.unfreeze();
        d.requires_input_grad(false);
        const auto& fake = g.forward(z);
        d.zero_grad();
        zoo::cuda::bce_with_logits_loss(d.forward(real), 1.0f, &dl);
        d.backward(dl);
        zoo::cuda::bce_with_logits_loss(d.forward(fake), 0.0f, &dl);
        d.backward(dl);
        opt_d.step();
        // G through the frozen D: G(z) → 1.
        r.fill_uniform(zh.data(), zh.size(), -1, 1);
        z.upload(zh);
        g.zero_grad();
        d.freeze();
        d.requires_input_grad(true);
        zoo::cuda::bce_with_logits_loss(d.forward(g.forward(z)), 1.0f, &dl);
        d.backward(dl);
        g.backward(d.input_grad());
        opt_g.step();
      },
      3, iters);
}

#ifndef ZOO_TRAIN_STEPS_NFEAT
#define ZOO_TRAIN_STEPS_NFEAT 64
#endif
#if ZOO_TRAIN_STEPS_NFEAT > 0
double ddpm(int iters) {
  constexpr std::size_t B = 100;
  zoo::cuda::Model<zoo::models::diffusion::ContextUnet<ZOO_TRAIN_STEPS_NFEAT, 10>, Shape<1, 28, 28>,
                   Shape<1>, Shape<10>>
      m(1, "ddpm");
  zoo::cuda::Adam<float> opt(m.parameters(), {});
  zoo::Rng r(5);
  const DT<float> xt(uniform({B, 1, 28, 28}, r, -1, 1)), eps(uniform({B, 1, 28, 28}, r, -1, 1));
  const DT<float> t(uniform({B, 1}, r, 0, 1));
  zoo::Tensor<float> ch({B, 10});
  ch.fill(0);
  for (std::size_t i = 0; i < B; ++i) ch[i * 10 + i % 10] = 1;
  const DT<float> c(ch);
  DT<float> g;
  return ms_per_step(
      [&] {
        zoo::cuda::mse_loss(m.forward(xt, t, c), eps, &g);
        m.zero_grad();
        m.backward(g);
        opt.step();
      },
      2, iters);
}

#endif

double conv3x3(int iters) {
  constexpr std::size_t B = 100;
  zoo::cuda::Model<zoo::Conv2d<64, 3, 1, 1>, Shape<64, 28, 28>> m(1, "conv3x3_64");
  m.requires_input_grad(true);
  zoo::Rng r(4);
  const DT<float> x(uniform({B, 64, 28, 28}, r, -1, 1)), dy(uniform({B, 64, 28, 28}, r, -1, 1));
  return ms_per_step(
      [&] {
        m.forward(x);
        m.zero_grad();
        m.backward(dy);
      },
      3, iters);
}

}  // namespace

int main(int argc, char** argv) {
  if (argc > 1 && std::string(argv[1]) == "--help") {
    std::printf("usage: train_steps [steps per case, default 50]\n");
    return 0;
  }
  std::string why;
  if (!zoo::cuda::device_available(&why)) {
    std::printf("train_steps: not run: %s\n", why.c_str());
    return 0;
  }
  const int iters = argc > 1 ? std::max(1, std::atoi(argv[1])) : 50;
  std::printf("zoo CUDA backend on %s, %d steps each (DDPM n_feat %d)\n",
              zoo::cuda::device_name().c_str(), iters, ZOO_TRAIN_STEPS_NFEAT);
  try {
    std::printf("%-14s %10.3f ms/step\n", "mlp_ae_train", mlp_ae(iters));
    std::printf("%-14s %10.3f ms/step\n", "dcgan_train", dcgan(iters));
#if ZOO_TRAIN_STEPS_NFEAT > 0
    std::printf("%-14s %10.3f ms/step\n", "ddpm_train", ddpm(iters));
#endif
    std::printf("%-14s %10.3f ms/step\n", "conv3x3_64", conv3x3(iters));
  } catch (const std::exception& e) {
    std::fprintf(stderr, "train_steps: %s\n", e.what());
    return 1;
  }
  return 0;
}
