// The training helpers (models/ae_training.hpp, models/gan_training.hpp) driving device
// models: the same trainer type, given zoo::cuda::Models, must take the steps its CPU twin
// takes. Built by g++ with Thrust's OpenMP device system (as test_cuda_backend), each case
// runs a CPU model and a device model from one seed on one batch for a few optimizer steps
// and compares every loss (relative error ≤ 1e-5 in float: the device GEMM may sum in
// another order) and, at the end, every parameter (≤ 2e-3: Adam divides each gradient by
// its own scale, so a parameter whose gradient is rounding noise — a bias ahead of a
// BatchNorm has a true gradient of 0 — moves by ±lr whichever way the noise points).
// Samples are compared after the device takes the CPU's weights, to 1e-5.
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <span>
#include <stdexcept>
#include <vector>
#include <zoo/cuda.hpp>
#include <zoo/cuda/checkpoint.hpp>
#include <zoo/models/ae_training.hpp>
#include <zoo/models/autoencoder.hpp>
#include <zoo/models/diffusion/context_unet.hpp>
#include <zoo/models/diffusion/ddpm.hpp>
#include <zoo/models/gan.hpp>
#include <zoo/models/gan_training.hpp>
#include <zoo/models/lenet.hpp>
#include <zoo/models/vae.hpp>
#include <zoo/models/yolo/loss.hpp>
#include <zoo/models/yolo/train.hpp>
#include <zoo/models/yolo/yolov5.hpp>
#include <zoo/zoo.hpp>

#include "support/compare.hpp"

namespace {

using zoo::Shape;
namespace models = zoo::models;

using zoo_test::rel_err;
double rel(double a, double b) { return std::abs(a - b) / std::max(std::abs(b), 1e-30); }

zoo::Tensor<float> uniform(std::initializer_list<std::size_t> shape, std::uint64_t seed, double lo,
                           double hi) {
  zoo::Tensor<float> t(shape);
  zoo::Rng r(seed);
  r.fill_uniform(t.data(), t.size(), lo, hi);
  return t;
}
// The device model's parameters, brought back through its host mirror.
template <class DM>
std::vector<typename DM::scalar> device_params(DM& m) {
  m.to_host();
  const auto p = m.host().parameters();
  return {p.data, p.data + p.size};
}
template <class CM, class DM>
double param_err(CM& cpu, DM& dev) {
  const auto pd = device_params(dev);
  REQUIRE(pd.size() == cpu.parameters().size);
  return rel_err(pd.data(), cpu.parameters().data, pd.size());
}

constexpr double kTol = 1e-5;
constexpr double kParamTol = 2e-3;
// The device model takes the CPU model's parameters and buffers (running statistics).
template <class CM, class DM>
void copy_weights(CM& cpu, DM& dev) {
  const auto pc = cpu.parameters();
  std::copy(pc.data, pc.data + pc.size, dev.host().parameters().data);
  std::copy(cpu.buffer_data(), cpu.buffer_data() + cpu.buffer_size(), dev.host().buffer_data());
  dev.to_device();
}

}  // namespace

TEST_CASE("device trainers: AutoencoderStep and VaeStep take the CPU's steps") {
  const auto x = uniform({16, 784}, 5, 0, 1);
  const zoo::cuda::Tensor<float> xd(x);
  SUBCASE("MLP autoencoder, MSE(sum)/N") {
    zoo::Model<models::MlpAutoencoder, Shape<784>> cpu(1);
    zoo::cuda::Model<models::MlpAutoencoder, Shape<784>> dev(1);
    models::AutoencoderStep<decltype(cpu)> sc;
    models::AutoencoderStep<decltype(dev)> sd;
    zoo::Adam<float> oc(cpu.parameters(), {.lr = 1e-3});
    zoo::cuda::Adam<float> od(dev.parameters(), {.lr = 1e-3});
    float first = 0, last = 0;
    for (int s = 0; s < 4; ++s) {
      const float lc = sc.step(cpu, oc, x), ld = sd.step(dev, od, xd);
      CHECK(rel(ld, lc) <= kTol);
      if (s == 0) first = ld;
      last = ld;
    }
    CHECK(last < first);  // the steps do train
    CHECK(param_err(cpu, dev) <= kParamTol);
    CHECK(rel(sd.loss(dev, xd, false), sc.loss(cpu, x, false)) <= kTol);
  }
  SUBCASE("VAE with BCE reconstruction and KL (noise from the mirror's stream)") {
    zoo::Model<models::VaeBce, Shape<784>> cpu(2);
    zoo::cuda::Model<models::VaeBce, Shape<784>> dev(2);
    models::VaeStep<decltype(cpu)> sc;
    models::VaeStep<decltype(dev)> sd;
    zoo::Adam<float> oc(cpu.parameters(), {.lr = 1e-3});
    zoo::cuda::Adam<float> od(dev.parameters(), {.lr = 1e-3});
    for (int s = 0; s < 3; ++s) {
      const auto lc = sc.step(cpu, oc, x);
      const auto ld = sd.step(dev, od, xd);
      CHECK(rel(ld.recon, lc.recon) <= kTol);
      CHECK(rel(ld.kl, lc.kl) <= kTol);
      CHECK(lc.kl > 0);
    }
    CHECK(param_err(cpu, dev) <= kParamTol);
  }
  SUBCASE("VAE with MSE reconstruction") {
    zoo::Model<models::VaeMse, Shape<784>> cpu(3);
    zoo::cuda::Model<models::VaeMse, Shape<784>> dev(3);
    models::VaeStep<decltype(cpu)> sc;
    models::VaeStep<decltype(dev)> sd;
    sc.recon = sd.recon = models::Recon::mse;
    zoo::Adam<float> oc(cpu.parameters(), {.lr = 1e-3});
    zoo::cuda::Adam<float> od(dev.parameters(), {.lr = 1e-3});
    for (int s = 0; s < 3; ++s) CHECK(rel(sd.step(dev, od, xd).total, sc.step(cpu, oc, x).total) <= kTol);
    CHECK(param_err(cpu, dev) <= kParamTol);
  }
}

TEST_CASE("device losses: KL and the least-squares GAN terms equal the CPU's") {
  const auto mu = uniform({6, 20}, 1, -2, 2), lv = uniform({6, 20}, 2, -3, 1);
  const zoo::cuda::Tensor<float> mud(mu), lvd(lv);
  zoo::Tensor<float> gm, gl;
  zoo::cuda::Tensor<float> gmd, gld;
  const float kc = zoo::kl_normal_loss(mu, lv, &gm, &gl, zoo::Reduction::mean, 0.5f);
  const float kd = zoo::cuda::kl_normal_loss(mud, lvd, &gmd, &gld, zoo::Reduction::mean, 0.5f);
  CHECK(rel(kd, kc) <= 1e-6);
  CHECK(rel_err(gmd.to_host().data(), gm.data(), gm.size()) <= 1e-6);
  CHECK(rel_err(gld.to_host().data(), gl.data(), gl.size()) <= 1e-6);
  zoo::Tensor<float> dr, df;
  zoo::cuda::Tensor<float> drd, dfd;
  const float lc = zoo::ls_discriminator_loss(mu, lv, &dr, &df);
  const float ld = zoo::cuda::ls_discriminator_loss(mud, lvd, &drd, &dfd);
  CHECK(rel(ld, lc) <= 1e-6);
  CHECK(rel_err(drd.to_host().data(), dr.data(), dr.size()) <= 1e-6);
  CHECK(rel_err(dfd.to_host().data(), df.data(), df.size()) <= 1e-6);
  CHECK(rel(zoo::cuda::ls_generator_loss(lvd, &dfd), zoo::ls_generator_loss(lv, &df)) <= 1e-6);
  CHECK(rel_err(dfd.to_host().data(), df.data(), df.size()) <= 1e-6);
  const zoo::cuda::Tensor<float> small(uniform({2, 3}, 1, 0, 1));
  CHECK_THROWS_WITH_AS(zoo::cuda::kl_normal_loss(mud, small), doctest::Contains("kl_normal_loss"),
                       std::invalid_argument);
}

namespace {
// `iters` GanTrainer iterations on one real batch, CPU and device, losses and weights compared.
template <class G, class D, class Image, bool Cond>
void gan_case(models::GanObjective obj, std::size_t n, int iters) {
  using Noise = Shape<models::gan_noise_dim>;
  using Label = Shape<models::gan_num_classes>;
  using CG = std::conditional_t<Cond, zoo::Model<G, Noise, Label>, zoo::Model<G, Noise>>;
  using CD = std::conditional_t<Cond, zoo::Model<D, Image, Label>, zoo::Model<D, Image>>;
  using DG = std::conditional_t<Cond, zoo::cuda::Model<G, Noise, Label>, zoo::cuda::Model<G, Noise>>;
  using DD = std::conditional_t<Cond, zoo::cuda::Model<D, Image, Label>, zoo::cuda::Model<D, Image>>;
  CG gc(1);
  CD dc(2);
  DG gd(1, "G");
  DD dd(2, "D");
  const models::GanOptions o{.objective = obj, .seed = 7};
  models::GanTrainer tc(gc, dc, o);
  models::GanTrainer td(gd, dd, o);
  static_assert(std::is_same_v<decltype(td.opt_g), zoo::cuda::Adam<float>>);
  zoo::Tensor<float> real({n, Image::size});
  zoo::Rng r(11);
  r.fill_uniform(real.data(), real.size(), -1, 1);
  std::vector<int> labels(n);
  for (std::size_t i = 0; i < n; ++i) labels[i] = static_cast<int>((3 * i) % 10);
  zoo::Tensor<float> y;
  models::one_hot(y, labels);
  const zoo::cuda::Tensor<float> real_d(real), y_d(y);
  for (int it = 0; it < iters; ++it) {
    const auto lc = tc.step(real, Cond ? &y : nullptr);
    const auto ld = td.step(real_d, Cond ? &y_d : nullptr);
    INFO("iteration " << it);
    CHECK(rel(ld.d, lc.d) <= kTol);
    CHECK(rel(ld.g, lc.g) <= kTol);
  }
  CHECK(param_err(gc, gd) <= kParamTol);
  CHECK(param_err(dc, dd) <= kParamTol);
  // Samples: the device G's images come back to the host, equal to the CPU G's.
  copy_weights(gc, gd);
  std::vector<int> asked{0, 1, 2, 3, 4};
  zoo::Rng ra(5), rb(5);
  const auto sc = models::generate(gc, 5, ra, Cond ? &asked : nullptr, 2);
  const auto sd = models::generate(gd, 5, rb, Cond ? &asked : nullptr, 2);
  REQUIRE(sd.size() == sc.size());
  CHECK(rel_err(sd.data(), sc.data(), sc.size()) <= kTol);
  CHECK(gd.training());  // generate puts G back in train mode
}
}  // namespace

TEST_CASE("device trainers: GanTrainer takes the CPU's iterations") {
  SUBCASE("MLP GAN, vanilla (D sees real and fake as one batch)") {
    gan_case<models::MlpGenerator, models::MlpDiscriminator, Shape<784>, false>(
        models::GanObjective::vanilla, 8, 3);
  }
  SUBCASE("MLP GAN, least squares") {
    gan_case<models::MlpGenerator, models::MlpDiscriminator, Shape<784>, false>(
        models::GanObjective::least_squares, 8, 2);
  }
  SUBCASE("conditional DCGAN (labels on the device; G's BatchNorm)") {
    gan_case<models::CondDcGenerator, models::CondDcDiscriminator, Shape<1, 28, 28>, true>(
        models::GanObjective::vanilla, 4, 2);
  }
}

TEST_CASE("device trainers: a data-parallel group is refused, not run on device pointers") {
  struct TwoRanks : zoo::Collective {
    int rank() const override { return 0; }
    int size() const override { return 2; }
    void allreduce_sum(float*, std::size_t) override { FAIL("no reduction may run"); }
    void allreduce_sum(double*, std::size_t) override { FAIL("no reduction may run"); }
    void broadcast(float*, std::size_t, int) override {}
    void broadcast(double*, std::size_t, int) override {}
    void allgather(std::uint64_t, std::uint64_t*) override { FAIL("refused before the step's first collective"); }
  } two;
  zoo::cuda::Model<models::MlpAutoencoder, Shape<784>> dev(1);
  zoo::cuda::Adam<float> od(dev.parameters(), {});
  models::AutoencoderStep<decltype(dev)> sd;
  sd.comm = &two;
  const zoo::cuda::Tensor<float> xd(uniform({4, 784}, 5, 0, 1));
  CHECK_THROWS_WITH_AS(sd.step(dev, od, xd), doctest::Contains("zoo::cuda::Nccl"), std::logic_error);
  zoo::reduce_model(nullptr, dev);  // one process: nothing to do, no error
}

TEST_CASE("device trainers: DiffusionStep and the UNet denoiser take the CPU's steps") {
  namespace dm = zoo::models::diffusion;
  using Spec = dm::ContextUnet<16, 10>;
  using X = Shape<1, 16, 16>;
  zoo::Model<Spec, X, Shape<1>, Shape<10>> cpu(4);
  zoo::cuda::Model<Spec, X, Shape<1>, Shape<10>> dev(4, "unet");
  const auto s = dm::NoiseSchedule::linear();
  dm::DiffusionStep<decltype(cpu)> sc{&s, 0.5};
  dm::DiffusionStep<decltype(dev)> sd{&s, 0.5};
  zoo::Adam<float> oc(cpu.parameters(), {.lr = 1e-3});
  zoo::cuda::Adam<float> od(dev.parameters(), {.lr = 1e-3});
  const auto x0 = uniform({6, 1, 16, 16}, 3, -1, 1);
  const zoo::Tensor<float> c = dm::one_hot({0, 1, 2, 3, -1, 5}, 10);
  zoo::Rng rc(9), rd(9);  // the step draws t, ε and the context drops on the host: same streams
  for (int k = 0; k < 3; ++k) {
    const float lc = sc.step(cpu, oc, x0, &c, rc), ld = sd.step(dev, od, x0, &c, rd);
    INFO("step " << k);
    CHECK(rel(ld, lc) <= kTol);
  }
  CHECK(param_err(cpu, dev) <= kParamTol);
  // One DDIM sampling run with guidance: the device model in eval mode against the CPU's.
  copy_weights(cpu, dev);
  cpu.eval();
  dev.eval();
  dm::UnetDenoiser<decltype(cpu)> ec{&cpu, &s, c, 1.5, 4};
  dm::UnetDenoiser<decltype(dev)> ed{&dev, &s, c, 1.5, 4};
  zoo::Tensor<float> xc({6, 1, 16, 16});
  zoo::Rng(5).fill_normal(xc.data(), xc.size());
  zoo::Tensor<float> xd = xc;
  CHECK(dm::sample_ddim(s, xc, 5, ec) == 5);
  CHECK(dm::sample_ddim(s, xd, 5, ed) == 5);
  CHECK(rel_err(xd.data(), xc.data(), xc.size()) <= kTol);
}

TEST_CASE("device losses: cross-entropy equals the CPU's; a bad label is an error, NaN logits a NaN loss") {
  auto logits = uniform({7, 10}, 21, -3, 3);
  const std::vector<float> labels{0, 9, 3, 3, 5, 1, 8};
  zoo::Tensor<float> lab({7});
  std::copy(labels.begin(), labels.end(), lab.data());
  const zoo::cuda::Tensor<float> ld(logits), labd(lab);
  zoo::Tensor<float> g;
  zoo::cuda::Tensor<float> gd;
  for (auto r : {zoo::Reduction::mean, zoo::Reduction::sum}) {
    const float c = zoo::cross_entropy_loss(logits, std::span<const float>(labels), &g, r);
    const float d = zoo::cuda::cross_entropy_loss(ld, labd, &gd, r);
    CHECK(rel(d, c) <= 1e-6);
    CHECK(rel_err(gd.to_host().data(), g.data(), g.size()) <= 1e-6);
  }
  for (float bad : {10.0f, -1.0f, 2.5f, std::nanf("")}) {
    zoo::Tensor<float> l2 = lab;
    l2[4] = bad;
    CHECK_THROWS_WITH_AS(zoo::cuda::cross_entropy_loss(ld, zoo::cuda::Tensor<float>(l2)),
                         doctest::Contains("not a class index in [0, 10)"), std::invalid_argument);
  }
  CHECK_THROWS_WITH_AS(zoo::cuda::cross_entropy_loss(ld, zoo::cuda::Tensor<float>(uniform({3}, 1, 0, 1))),
                       doctest::Contains("3 labels for a batch of 7"), std::invalid_argument);
  logits[12] = std::nanf("");
  CHECK(std::isnan(zoo::cuda::cross_entropy_loss(zoo::cuda::Tensor<float>(logits), labd)));
}

TEST_CASE("device trainers: train_classifier and evaluate_classifier take the CPU's steps") {
  const auto train = zoo::data::load_mnist(ZOO_FIXTURE_DIR "/tiny_mnist", "train");
  const auto test = zoo::data::load_mnist(ZOO_FIXTURE_DIR "/tiny_mnist", "t10k");
  zoo::models::LeNetModel cpu(6);
  zoo::cuda::Model<zoo::models::LeNet, Shape<1, 28, 28>> dev(6, "lenet");
  const zoo::models::ClassifierOptions o{.epochs = 2, .batch = 16};
  const double lc = zoo::models::train_classifier(cpu, train, o);
  const double ld = zoo::models::train_classifier(dev, train, o);
  CHECK(rel(ld, lc) <= kTol);
  CHECK(param_err(cpu, dev) <= kParamTol);
  copy_weights(cpu, dev);
  CHECK(zoo::models::evaluate_classifier(dev, test, 20) == zoo::models::evaluate_classifier(cpu, test, 20));
  CHECK(dev.training());  // evaluation puts the model back in train mode
}

TEST_CASE("device checkpoints: the CPU's format both ways; a file that does not fit changes nothing") {
  using Net = zoo::models::MlpAutoencoder;
  zoo::cuda::Model<Net, Shape<784>> dev(1, "ae");
  zoo::cuda::Adam<float> od(dev.parameters(), {.lr = 1e-3});
  zoo::models::AutoencoderStep<decltype(dev)> sd;
  const zoo::cuda::Tensor<float> xd(uniform({8, 784}, 5, 0, 1));
  sd.step(dev, od, xd);
  sd.step(dev, od, xd);
  const std::string path = "cuda_trainers_ckpt.safetensors";
  zoo::cuda::save_checkpoint(path, dev, od, {.epoch = 3, .step = 7});
  // Read by a CPU run: the device's weights, Adam's moments and step count.
  zoo::Model<Net, Shape<784>> cpu(99);
  zoo::Adam<float> oc(cpu.parameters(), {});
  const zoo::TrainState sc = zoo::load_checkpoint(path, cpu, oc);
  CHECK(sc.epoch == 3);
  CHECK(sc.step == 7);
  CHECK(oc.steps() == 2);
  CHECK(param_err(cpu, dev) == 0.0);
  auto m_dev = zoo::cuda::host_optimizer(od, dev.host().parameters());
  CHECK(rel_err(oc.exp_avg()[0].data(), m_dev.exp_avg()[0].data(), oc.exp_avg()[0].size()) == 0.0);
  // Read by another device run: the same next step as the first model's.
  zoo::cuda::Model<Net, Shape<784>> dev2(42, "ae2");
  zoo::cuda::Adam<float> od2(dev2.parameters(), {});
  CHECK(zoo::cuda::load_checkpoint(path, dev2, od2).step == 7);
  CHECK(od2.steps() == 2);
  CHECK(od2.lr == doctest::Approx(1e-3));
  zoo::models::AutoencoderStep<decltype(dev2)> sd2;
  CHECK(sd2.step(dev2, od2, xd) == sd.step(dev, od, xd));
  dev2.to_host();
  CHECK(param_err(dev2.host(), dev) == 0.0);
  // Another model's file: refused, the device model and its optimizer as they were.
  zoo::Model<zoo::models::VaeMse, Shape<784>> other(3);
  zoo::Adam<float> oo(other.parameters(), {});
  const std::string wrong = "cuda_trainers_other.safetensors";
  zoo::save_checkpoint(wrong, other, oo, {});
  const auto before = device_params(dev2);
  CHECK_THROWS_AS(zoo::cuda::load_checkpoint(wrong, dev2, od2), std::exception);
  const auto after = device_params(dev2);
  CHECK(rel_err(after.data(), before.data(), before.size()) == 0.0);
  CHECK(od2.steps() == 3);
  std::remove(path.c_str());
  std::remove(wrong.c_str());
}

// YOLOv5's recipe on the device: the loss on the host from Detect's output copied down, its
// gradient copied up, clip_grad_norm_ (by a device reduction), GroupSGD's three learning
// rates (distinct here, so a parameter in the wrong group would move by another step) and
// the EMA, against the CPU's classes; then the device optimizer's checkpoint read by a CPU
// run. In double: 64×64 images put 2×2 maps under Detect's P5 BatchNorms, which amplify
// float's last bits (test_cuda_backend's YOLO case), and this test is about the recipe.
TEST_CASE("device trainers: YOLOv5's GroupSGD, gradient clipping and EMA take the CPU's steps") {
  namespace y = zoo::yolo;
  using Net = y::YOLOv5n<2>;
  using In = Shape<3, 64, 64>;
  using CM = zoo::BasicModel<double, Net, In>;
  using DM = zoo::cuda::BasicModel<double, Net, In>;
  static_assert(std::is_same_v<y::group_sgd_for_t<DM>, zoo::cuda::GroupSGD<double>>);
  static_assert(std::is_same_v<y::group_sgd_for_t<CM>, y::GroupSGD<double>>);
  CM cpu(4), cpu_ema(4);
  DM dev(4, "yolo"), dev_ema(4, "yolo.ema");
  y::ModelEMA<CM> ec(cpu_ema);
  y::ModelEMA<DM> ed(dev_ema);
  ec.reset(cpu);
  ed.reset(dev);
  const y::Hyp hyp;
  y::group_sgd_for_t<CM> oc(cpu, hyp);
  y::group_sgd_for_t<DM> od(dev, hyp);
  for (int g = 0; g < 3; ++g) CHECK(od.group_size(g) == oc.group_size(g));
  CHECK(od.group_size(0) > 0);
  CHECK(od.group_size(2) > 0);
  for (auto* o : {&oc.group_lr, &od.group_lr}) *o = {0.05, 0.02, 0.01};
  oc.momentum = od.momentum = 0.9;
  oc.weight_decay = od.weight_decay = 5e-3;

  using Det = y::detect_of<CM::net_type>;
  std::vector<y::LevelGeom> lv;
  for (std::size_t l = 0; l < Det::nl; ++l) lv.push_back({Det::ny[l], Det::nx[l]});
  auto& det = y::detect_layer(cpu.net());
  const std::vector<double> anchors(det.anchors, det.anchors + Det::num_buffers);
  y::ComputeLoss<double> lc(2, Det::na, lv, anchors, y::LossHyp::scaled(Det::nl, 2, 64)),
      ld(2, Det::na, lv, anchors, y::LossHyp::scaled(Det::nl, 2, 64));
  const std::vector<y::Target<double>> targets{
      {0, 1, 0.3, 0.4, 0.2, 0.3}, {0, 0, 0.7, 0.6, 0.4, 0.35}, {1, 1, 0.5, 0.5, 0.6, 0.5}};
  zoo::Tensor<double> x({2, 3, 64, 64});
  zoo::Rng(9).fill_uniform(x.data(), x.size(), 0, 1);

  const auto p0 = cpu.parameters();
  const std::vector<double> start(p0.data, p0.data + p0.size);
  zoo::Tensor<double> gc, gd;
  zoo::Staged<DM> x_in, out_back, dy_in;
  for (int step = 0; step < 3; ++step) {
    cpu.zero_grad();
    dev.zero_grad();
    const auto& yc = cpu.forward(x);
    gc.resize(yc.shape());
    const auto pc = lc(yc.data(), gc.data(), 2, targets);
    const zoo::Tensor<double>& yd = out_back.back(dev.forward(x_in(x)));
    gd.resize(yd.shape());
    const auto pd = ld(yd.data(), gd.data(), 2, targets);
    CHECK(rel(pd.box, pc.box) <= 1e-9);
    CHECK(rel(pd.obj, pc.obj) <= 1e-9);
    CHECK(rel(pd.cls, pc.cls) <= 1e-9);
    cpu.backward(gc);
    dev.backward(dy_in(gd));
    // Clipped at a fifth of the norm: the scaling path runs.
    const double nc = oc.clip_grad_norm(1e300), max_norm = nc / 5;
    const double nd = od.clip_grad_norm(1e300);
    CHECK(rel(nd, nc) <= 1e-9);
    CHECK(rel(oc.clip_grad_norm(max_norm), nc) <= 1e-12);
    CHECK(rel(od.clip_grad_norm(max_norm), nd) <= 1e-12);
    CHECK(rel(od.clip_grad_norm(1e300), max_norm) <= 1e-6);  // now at max_norm
    oc.step();
    od.step();
    ec.update(cpu, step + 1);
    ed.update(dev, step + 1);
  }
  CHECK(od.steps() == 3);
  CHECK(od.finite());
  // What each parameter moved, device against CPU.
  const auto pd = device_params(dev);
  std::vector<double> mc(start.size()), md(start.size());
  for (std::size_t i = 0; i < start.size(); ++i) mc[i] = p0.data[i] - start[i], md[i] = pd[i] - start[i];
  CHECK(rel_err(md.data(), mc.data(), mc.size()) <= 1e-8);
  // The EMA: parameters, running statistics, counters.
  dev_ema.to_host();
  const auto se = cpu_ema.state_dict(), de = dev_ema.host().state_dict();
  REQUIRE(se.size() == de.size());
  double worst = 0;
  for (std::size_t k = 0; k < se.size(); ++k) worst = std::max(worst, rel_err(de[k].data, se[k].data, se[k].size));
  CHECK(worst <= 1e-8);
  bool counted = false;
  for (std::size_t k = 0; k < se.size(); ++k)
    if (se[k].name.ends_with("num_batches_tracked")) {
      CHECK(*de[k].data == 3.0);
      counted = true;
    }
  CHECK(counted);
  CHECK(ed.updates == 3);

  // The device optimizer in the CPU's checkpoint: a CPU run reads its momentum and steps.
  const std::string path = "cuda_trainers_yolo.safetensors";
  zoo::cuda::save_checkpoint(path, dev, od, {.epoch = 1, .step = 3});
  CM back(77);
  y::GroupSGD<double> ob(back, hyp);
  CHECK(zoo::load_checkpoint(path, back, ob).step == 3);
  CHECK(ob.steps() == 3);
  REQUIRE(ob.state().size() == oc.state().size());
  double mom = 0;
  for (std::size_t k = 0; k < ob.state().size(); ++k)
    mom = std::max(mom, rel_err(ob.state()[k].data(), oc.state()[k].data(), oc.state()[k].size()));
  CHECK(mom <= 1e-8);
  // And a fresh device run resumes from it: the next step equal to the first device run's.
  DM dev2(5, "yolo2");
  y::group_sgd_for_t<DM> od2(dev2, hyp);
  CHECK(zoo::cuda::load_checkpoint(path, dev2, od2).epoch == 1);
  CHECK(od2.steps() == 3);
  for (auto* o : {&od, &od2}) o->group_lr = {0.05, 0.02, 0.01}, o->momentum = 0.9, o->weight_decay = 5e-3;
  for (DM* m : {&dev, &dev2}) {
    m->zero_grad();
    const zoo::Tensor<double>& yy = out_back.back(m->forward(x_in(x)));
    gd.resize(yy.shape());
    ld(yy.data(), gd.data(), 2, targets);
    m->backward(dy_in(gd));
  }
  od.step();
  od2.step();
  const auto a = device_params(dev), b = device_params(dev2);
  CHECK(rel_err(b.data(), a.data(), a.size()) == 0.0);
  std::remove(path.c_str());
}
