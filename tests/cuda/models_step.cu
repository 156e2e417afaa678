// Every model of the zoo, instantiated in a CUDA translation unit and trained for a few
// steps on the CPU. nvcc compiles it (the zoo headers must parse under its front end,
// without warnings); nothing here needs a GPU, and g++ compiles the same file as C++:
//
//   nvcc -std=c++20 -O2 -arch=sm_90 -Iinclude -isystem /usr/include/eigen3
//        -Xcompiler -fopenmp,-march=native -Werror all-warnings tests/cuda/models_step.cu -o models_step
//   g++ -std=c++20 -O2 -x c++ -Iinclude -isystem /usr/include/eigen3 -fopenmp -march=native
//        -Wall -Wextra tests/cuda/models_step.cu -o models_step
//
// Each check trains one model on one fixed synthetic batch (seeded "strokes" on 28×28,
// in the model's input range) and fails unless every loss is finite, the last loss is
// below the first and the parameters stay finite. Where a step draws random numbers
// (VAE noise, diffusion t and ε, GAN noise) the stream is reseeded before every step, so
// all steps see the same batch and only the parameters change:
//   autoencoders, VAEs   AutoencoderStep / VaeStep, Adam (the examples' settings)
//   GANs                 D steps on a fixed real batch and fixed fakes (GanTrainer's rng
//                        reseeded), then G steps on fixed noise through the frozen D
//                        (generator_loss + opt_g); both losses must fall; one full step
//   DDPM                 DiffusionStep on ContextUnet (n_feat 16), then a DDPM sampling
//                        run (T = 10 schedule) and DDIM (4 steps of T = 500, guided)
//   LeNet, AKConv net    cross-entropy on fixed labels
// One line per check (`model <name>: params P, loss first -> last`); the last line is
// `N passed, M failed`, and the exit status is non-zero when any check failed.
//
// No pragmas around the includes: the headers must compile warning-free as they are (the
// intrinsic-header false positive of g++ 12 is handled once, in zoo/core/vendor.hpp).
#include <zoo/zoo.hpp>
#include <zoo/layers/akconv.hpp>
#include <zoo/models/ae_training.hpp>
#include <zoo/models/autoencoder.hpp>
#include <zoo/models/diffusion/blocks.hpp>
#include <zoo/models/diffusion/context_unet.hpp>
#include <zoo/models/diffusion/ddpm.hpp>
#include <zoo/models/gan.hpp>
#include <zoo/models/gan_training.hpp>
#include <zoo/models/lenet.hpp>
#include <zoo/models/vae.hpp>
// The rest of the public headers, so that this one nvcc build covers them all (zoo/cuda/
// aside: it has its own test).
#include <zoo/data/idx.hpp>
#include <zoo/distributed.hpp>
#include <zoo/data/loader.hpp>
#include <zoo/io/png.hpp>
#include <zoo/io/progress.hpp>
#include <zoo/io/safetensors.hpp>
#include <zoo/io/state_dict.hpp>
#include <zoo/io/torch_pt.hpp>
#include <zoo/metrics/classifier.hpp>
#include <zoo/metrics/fid.hpp>
#include <zoo/metrics/sample_quality.hpp>

#include <array>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <exception>
#include <span>
#include <string>
#include <type_traits>
#include <vector>

namespace {

using zoo::Model;
using zoo::Rng;
using zoo::Shape;
using zoo::Tensor;
namespace zm = zoo::models;
namespace zd = zoo::models::diffusion;

constexpr int kSteps = 5;  // optimizer steps per model on its fixed batch

int g_passed = 0, g_failed = 0;

// ------------------------------------------------------------------ synthetic data
// MNIST-like images: a dark background with 2–4 bright thick strokes, anti-aliased,
// values in [lo, hi] (lo: background). `flat` gives (n, 784), else (n, 1, 28, 28).
Tensor<float> strokes(std::size_t n, std::uint64_t seed, float lo, float hi, bool flat) {
  Tensor<float> x;
  if (flat) x.resize({n, 784});
  else x.resize({n, 1, 28, 28});
  Rng r(seed);
  for (std::size_t i = 0; i < n; ++i) {
    float* img = x.sample(i);
    std::vector<double> v(784, 0.0);
    const int k = 2 + static_cast<int>(r.below(3));
    for (int s = 0; s < k; ++s) {
      const double x0 = r.uniform(5, 23), y0 = r.uniform(5, 23);
      const double x1 = r.uniform(5, 23), y1 = r.uniform(5, 23);
      const double w = r.uniform(1.0, 2.2);
      for (int py = 0; py < 28; ++py)
        for (int px = 0; px < 28; ++px) {
          // distance from (px, py) to the segment
          const double dx = x1 - x0, dy = y1 - y0, len2 = dx * dx + dy * dy + 1e-12;
          double t = ((px - x0) * dx + (py - y0) * dy) / len2;
          t = t < 0 ? 0 : (t > 1 ? 1 : t);
          const double ex = px - (x0 + t * dx), ey = py - (y0 + t * dy);
          const double d = std::sqrt(ex * ex + ey * ey);
          const double a = d <= w ? 1.0 : (d < w + 1 ? w + 1 - d : 0.0);
          double& p = v[static_cast<std::size_t>(py * 28 + px)];
          if (a > p) p = a;
        }
    }
    for (std::size_t j = 0; j < 784; ++j) img[j] = lo + (hi - lo) * static_cast<float>(v[j]);
  }
  return x;
}

std::vector<int> labels_for(std::size_t n, std::uint64_t seed) {
  Rng r(seed);
  std::vector<int> l(n);
  for (auto& c : l) c = static_cast<int>(r.below(10));
  return l;
}

// ------------------------------------------------------------------ checks
template <class M>
bool params_finite(M& m) {
  const auto p = m.parameters();
  for (std::size_t i = 0; i < p.size; ++i)
    if (!std::isfinite(p.data[i])) return false;
  return true;
}

bool all_finite(const std::vector<float>& v) {
  for (float x : v)
    if (!std::isfinite(x)) return false;
  return true;
}
bool all_finite(const Tensor<float>& t) {
  for (std::size_t i = 0; i < t.size(); ++i)
    if (!std::isfinite(t[i])) return false;
  return true;
}

// Finite losses, last below first.
bool decreases(const std::vector<float>& l) {
  return l.size() >= 2 && all_finite(l) && l.back() < l.front();
}

struct Result {
  bool ok = false;
  bool sampler = false;     // a sampler run: no loss, `sample <name>: …`
  std::size_t params = 0;
  std::vector<float> loss;  // the main loss, one per step
  std::string extra;        // more detail on the line
  std::string why;          // the reason of a failure
};

zoo::AdamOptions adam(double lr, double weight_decay = 0) {
  zoo::AdamOptions o;
  o.lr = lr;
  o.weight_decay = weight_decay;
  return o;
}

std::string fmt(const char* f, double a, double b) {
  char buf[128];
  std::snprintf(buf, sizeof buf, f, a, b);
  return buf;
}

template <class F>
void run_check(const char* name, F&& f) {
  const auto t0 = std::chrono::steady_clock::now();
  Result r;
  try {
    r = f();
  } catch (const std::exception& e) {
    r.ok = false;
    r.why = std::string("exception: ") + e.what();
  }
  const double s =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  if (!r.ok && r.why.empty()) r.why = "loss not finite or not decreasing";
  std::string loss;
  if (!r.sampler)
    loss = r.loss.empty() ? std::string(", loss n/a")
                          : fmt(", loss %.5g -> %.5g", static_cast<double>(r.loss.front()),
                                static_cast<double>(r.loss.back()));
  std::printf("%s %s: params %zu%s%s  (%.2f s)  %s%s\n", r.sampler ? "sample" : "model", name,
              r.params, loss.c_str(), r.extra.c_str(), s, r.ok ? "ok" : "FAILED: ",
              r.ok ? "" : r.why.c_str());
  std::fflush(stdout);
  (r.ok ? g_passed : g_failed) += 1;
}

// ------------------------------------------------------------------ autoencoders, VAEs
template <class Net, class In>
Result autoencoder(std::uint64_t seed, zoo::Reduction reduction, double weight_decay) {
  using M = Model<Net, In>;
  M m(seed);
  zoo::Adam opt(m.parameters(), adam(1e-3, weight_decay));
  zm::AutoencoderStep<M> step;
  step.reduction = reduction;
  const Tensor<float> x = strokes(16, seed + 100, -1.0f, 1.0f, In::rank == 1);
  Result r;
  r.params = M::num_params;
  for (int k = 0; k < kSteps; ++k) r.loss.push_back(step.step(m, opt, x));
  r.ok = decreases(r.loss) && params_finite(m);
  return r;
}

template <class Net>
Result vae(std::uint64_t seed, zm::Recon recon) {
  using M = Model<Net, Shape<784>>;
  M m(seed);
  zoo::Adam opt(m.parameters(), adam(1e-3));
  zm::VaeStep<M> step;
  step.recon = recon;
  const bool bce = recon == zm::Recon::bce;
  const Tensor<float> x = strokes(16, seed + 100, bce ? 0.0f : -1.0f, 1.0f, true);
  Result r;
  r.params = M::num_params;
  std::vector<float> kl;
  for (int k = 0; k < kSteps; ++k) {
    m.noise_rng().reseed(seed + 7);  // the same ε every step
    const zm::AeLoss l = step.step(m, opt, x);
    r.loss.push_back(l.total);
    kl.push_back(l.kl);
  }
  r.extra = fmt(" (KL %.4g -> %.4g)", static_cast<double>(kl.front()), static_cast<double>(kl.back()));
  r.ok = decreases(r.loss) && all_finite(kl) && params_finite(m);
  return r;
}

// ------------------------------------------------------------------ GANs
template <class Gen, class Disc, class Image, bool Conditional>
Result gan(std::uint64_t seed, zm::GanObjective objective) {
  using GM = std::conditional_t<Conditional, Model<Gen, Shape<zm::gan_noise_dim>, Shape<10>>,
                                Model<Gen, Shape<zm::gan_noise_dim>>>;
  using DM = std::conditional_t<Conditional, Model<Disc, Image, Shape<10>>, Model<Disc, Image>>;
  using Trainer = zm::GanTrainer<GM, DM>;
  static_assert(Trainer::conditional == Conditional);
  GM g(seed);
  DM d(seed + 1);
  zm::GanOptions o;
  o.objective = objective;
  o.seed = seed + 2;
  Trainer tr(g, d, o);
  constexpr std::size_t n = 8;
  const Tensor<float> real = strokes(n, seed + 100, -1.0f, 1.0f, Image::rank == 1);
  Tensor<float> y;
  zm::one_hot(y, labels_for(n, seed + 3));
  const Tensor<float>* yp = Conditional ? &y : nullptr;

  Result r;
  r.params = GM::num_params + DM::num_params;
  // D on the fixed real batch and fixed fakes: the trainer's stream restarts every step,
  // so G(z) and the fake labels repeat; G's parameters do not move in a D step.
  for (int k = 0; k < kSteps; ++k) {
    tr.rng.reseed(seed + 5);
    r.loss.push_back(static_cast<float>(tr.discriminator_step(real, yp)));
  }
  // G on fixed noise through the (now frozen) D: the step generator_step takes, minus the draw.
  Tensor<float> z, yz;
  Rng nr(seed + 6);
  zm::sample_noise(z, n, nr, Trainer::noise_dim);
  zm::one_hot(yz, labels_for(n, seed + 8));
  std::vector<float> lg;
  for (int k = 0; k < kSteps; ++k) {
    lg.push_back(static_cast<float>(tr.generator_loss(z, Conditional ? &yz : nullptr)));
    tr.opt_g.step();
  }
  // And one ordinary training iteration (fresh noise).
  const zm::GanLosses full = tr.step(real, yp);
  r.extra = fmt(" (D), G %.5g -> %.5g", static_cast<double>(lg.front()), static_cast<double>(lg.back()));
  r.extra += fmt(", step D %.4g G %.4g", static_cast<double>(full.d), static_cast<double>(full.g));
  const bool d_ok = decreases(r.loss), g_ok = decreases(lg);
  const bool step_ok = std::isfinite(full.d) && std::isfinite(full.g);
  r.ok = d_ok && g_ok && step_ok && params_finite(g) && params_finite(d);
  if (!r.ok) {
    r.why = !d_ok ? "D loss not finite or not decreasing"
            : !g_ok ? "G loss not finite or not decreasing"
            : !step_ok ? "GanTrainer::step gave a non-finite loss"
                       : "non-finite parameters";
  }
  return r;
}

// ------------------------------------------------------------------ diffusion
using Unet = zd::ContextUnetModel<1, 28, 16>;  // n_feat 16, 10 classes

Result ddpm_train(Unet& m) {
  zoo::Adam opt(m.parameters(), adam(1e-3));
  const auto s = zd::NoiseSchedule::linear();
  zd::DiffusionStep<Unet> step;
  step.schedule = &s;
  constexpr std::size_t n = 4;
  const Tensor<float> x0 = strokes(n, 300, -1.0f, 1.0f, false);
  const Tensor<float> c = zd::one_hot(labels_for(n, 301), 10);
  Result r;
  r.params = Unet::num_params;
  m.train();
  for (int k = 0; k < kSteps; ++k) {
    Rng rng(302);  // the same t, ε and context drop every step
    r.loss.push_back(step.step(m, opt, x0, &c, rng));
  }
  r.ok = decreases(r.loss) && params_finite(m);
  return r;
}

// A sampler run from x_T ~ N(0, I) at batch 2: the expected number of network calls,
// finite output, and x₀ different from x_T.
Result ddpm_sample(Unet& m, bool ddim) {
  m.eval();
  const auto s = ddim ? zd::NoiseSchedule::linear() : zd::NoiseSchedule::linear(10);
  zd::UnetDenoiser<Unet> eps;
  eps.model = &m;
  eps.schedule = &s;
  eps.c = zd::one_hot({3, -1}, 10);  // class 3, and no context
  eps.guidance = ddim ? 1.0 : 0.0;
  Tensor<float> x({2, 1, 28, 28});
  Rng rng(400);
  rng.fill_normal(x.data(), x.size());
  const Tensor<float> xT = x;
  const int calls = ddim ? zd::sample_ddim(s, x, 4, eps) : zd::sample_ddpm(s, x, eps, rng);
  const int want = ddim ? 4 : 10;
  double moved = 0, norm = 0;
  for (std::size_t i = 0; i < x.size(); ++i) {
    moved += std::abs(static_cast<double>(x[i] - xT[i]));
    norm += std::abs(static_cast<double>(x[i]));
  }
  Result r;
  r.sampler = true;
  r.params = Unet::num_params;
  r.extra = fmt(", %g network calls, mean |x0| %.4g", static_cast<double>(calls),
                norm / static_cast<double>(x.size()));
  r.ok = calls == want && all_finite(x) && moved > 0;
  if (!r.ok)
    r.why = calls != want ? "wrong number of network calls"
                          : !all_finite(x) ? "non-finite samples" : "samples equal x_T";
  m.train();
  return r;
}

// ------------------------------------------------------------------ classifiers
template <class M>
Result classifier(M& m, std::size_t n, std::uint64_t seed) {
  zoo::Adam opt(m.parameters(), adam(1e-3));
  const Tensor<float> x = strokes(n, seed + 100, -1.0f, 1.0f, false);
  const std::vector<int> labels = labels_for(n, seed + 101);
  Tensor<float> dlogits;
  Result r;
  r.params = M::num_params;
  m.train();
  for (int k = 0; k < kSteps; ++k) {
    m.zero_grad();
    const auto& logits = m.forward(x);
    r.loss.push_back(zoo::cross_entropy_loss(logits, std::span<const int>(labels), &dlogits));
    std::array<const Tensor<float>*, M::num_outputs> d{};
    d[0] = &dlogits;
    m.backward_ptrs(d);
    opt.step();
  }
  r.ok = decreases(r.loss) && params_finite(m);
  return r;
}

// Two AKConv stages (each p_conv 3×3, gather, (N,1) conv, BN, SiLU), then a linear head.
using AKConvNet = zoo::Sequential<zoo::AKConv<8, 5, 2>,   // (N, 8, 14, 14)
                                  zoo::AKConv<16, 3, 2>,  // (N, 16, 7, 7)
                                  zoo::Flatten,           // (N, 784)
                                  zoo::Linear<10>>;       // (N, 10) logits

}  // namespace

int main() {
  const auto t0 = std::chrono::steady_clock::now();
  std::printf("models_step: %d steps per model on fixed synthetic 28x28 batches, %d threads%s\n",
              kSteps, zoo::num_threads(),
#if defined(__CUDACC__)
              ", built by nvcc"
#else
              ", built as C++"
#endif
  );
  using zoo::Reduction;
  run_check("mlp_ae", [] { return autoencoder<zm::MlpAutoencoder, Shape<784>>(1, Reduction::sum, 0); });
  run_check("conv_ae",
            [] { return autoencoder<zm::ConvAutoencoder, Shape<1, 28, 28>>(2, Reduction::mean, 1e-5); });
  run_check("vae_mse", [] { return vae<zm::VaeMse>(3, zm::Recon::mse); });
  run_check("vae_bce", [] { return vae<zm::VaeBce>(4, zm::Recon::bce); });
  run_check("vanilla_gan", [] {
    return gan<zm::MlpGenerator, zm::MlpDiscriminator, Shape<784>, false>(5, zm::GanObjective::vanilla);
  });
  run_check("ls_gan", [] {
    return gan<zm::MlpGenerator, zm::MlpDiscriminator, Shape<784>, false>(6, zm::GanObjective::least_squares);
  });
  run_check("dcgan", [] {
    return gan<zm::DcGenerator, zm::DcDiscriminator, Shape<1, 28, 28>, false>(7, zm::GanObjective::vanilla);
  });
  run_check("cdcgan", [] {
    return gan<zm::CondDcGenerator, zm::CondDcDiscriminator, Shape<1, 28, 28>, true>(
        8, zm::GanObjective::vanilla);
  });
  {
    Unet unet(9);
    run_check("ddpm", [&] { return ddpm_train(unet); });
    run_check("ddpm (T = 10)", [&] { return ddpm_sample(unet, false); });
    run_check("ddim (4 of T = 500, guided)", [&] { return ddpm_sample(unet, true); });
  }
  run_check("lenet", [] {
    zm::LeNetModel m(10);
    return classifier(m, 16, 10);
  });
  run_check("akconv", [] {
    Model<AKConvNet, Shape<1, 28, 28>> m(11);
    return classifier(m, 8, 11);
  });
  const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  std::printf("total %.1f s\n", s);
  std::printf("%d passed, %d failed\n", g_passed, g_failed);
  return g_failed == 0 ? 0 : 1;
}
