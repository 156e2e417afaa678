// examples/diffusion.cpp — trains the diffusion course's ContextUnet as a DDPM
// noise predictor on MNIST digits (default) or Fashion-MNIST, conditioned on the
// class, and samples from it with DDPM (T = 500 steps) and DDIM (n steps).
//
//   diffusion --data mnist --n-feat 16 --epochs 8 --out runs/ddpm         # train (CPU budget)
//   diffusion --data mnist --n-feat 64 --epochs 20 --out runs/ddpm64     # the course's size
//   diffusion --resume --out runs/ddpm --epochs 30                        # continue
//   diffusion --sample --checkpoint runs/ddpm/checkpoint.safetensors
//             --sampler ddim --steps 25 --guidance 0                      # pictures
//   diffusion --help                                                      # every option; bad values exit 2
//   mpirun -np 4 diffusion --data mnist --epochs 8 --sync-bn             # data-parallel; --batch stays global
//   diffusion --n-feat 64 --epochs 20 --device cuda                      # on a GPU (-DZOO_CUDA=ON; examples/device.hpp)
//
// Training writes <out>/loss.csv, loss.png, checkpoint.safetensors (every epoch,
// atomically, with the Adam state and the RNG, so --resume continues the same run),
// and samples_epoch<E>.png (DDIM, a row per class). Sampling writes one grid per
// sampler (samples_ddpm.png, samples_ddim<n>.png: a row per class), the samples as
// IDX files for `classifier --score` (samples_<sampler>-images-idx3-ubyte, and
// -labels-idx1-ubyte with the classes asked for), and samples_<sampler>_frames.png,
// a strip per class of x_t from noise (left) to the digit (right).
//
// A non-finite loss (an --lr far too large) stops training with exit 3 and one line on
// stderr naming the step, the loss and the last good checkpoint, which stays as it
// was: nothing is written from non-finite weights (examples/guard.hpp).
//
// Under mpirun each process takes its share of every batch and draws its own t, ε and
// context drops; the gradients are reduced over processes, and rank 0 prints, samples
// and writes (examples/ranks.hpp, docs/distributed.md). --sample and --time run on
// rank 0 alone.
#include <algorithm>
#include <chrono>
#include <ctime>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <zoo/data/loader.hpp>
#include <zoo/io/png.hpp>
#include <zoo/io/progress.hpp>
#include <zoo/io/safetensors.hpp>
#include <zoo/models/diffusion/context_unet.hpp>
#include <zoo/models/diffusion/ddpm.hpp>
#include <zoo/zoo.hpp>

#include "cli.hpp"
#include "device.hpp"
#include "guard.hpp"
#include "progress_loops.hpp"
#include "ranks.hpp"

namespace fs = std::filesystem;
// The program lives in a namespace: a `using namespace zoo;` at global scope would make
// nvcc's generated host code, which names ::cuda unqualified, ambiguous with zoo::cuda
// once the backend is included (--device cuda builds).
namespace example {
using namespace zoo;
using namespace zoo::models::diffusion;

struct Args {
  std::string device = "cpu";
  std::string data = "mnist", out = "runs/ddpm", checkpoint, sampler = "both", model = "ddpm";
  int n_feat = 16, epochs = 20, sample_every = 1, threads = 0, steps = 25, per_class = 8;
  std::size_t batch = 100;
  double lr = 1e-3, guidance = 0, minutes = 0, context_drop = 0.1;
  std::uint64_t seed = 1;
  bool resume = false, sample = false, unconditional = false, time = false;
  bool sync_bn = false;  // BatchNorm statistics over the global batch (mpirun)
  int reps = 5;
};

Args parse(int argc, char** argv) {
  Args a;
  CLI::App app{"Trains the diffusion course's ContextUnet as a class-conditional DDPM noise predictor "
               "(default), samples from a checkpoint with DDPM and DDIM (--sample), or times one training "
               "and one sampling step (--time).",
               "diffusion"};
  cli::setup(app);
  cli::data(app, a.data);
  app.add_option("--n-feat,--n_feat", a.n_feat, "the UNet's width (each is a compiled model type)")
      ->check(CLI::IsMember({16, 32, 64}))->capture_default_str();
  cli::epochs(app, a.epochs);
  cli::batch(app, a.batch)->capture_default_str();
  cli::lr(app, a.lr);
  cli::seed(app, a.seed);
  cli::out(app, a.out, "runs/ddpm");
  auto* resume = app.add_flag("--resume", a.resume, "continue OUT/checkpoint.safetensors (size and kind from it)");
  app.add_flag("--unconditional", a.unconditional, "train without the class (default: class-conditional)");
  cli::minutes(app, a.minutes);
  app.add_option("--sample-every", a.sample_every, "epochs between sample grids")
      ->check(cli::integer(1))->capture_default_str();
  cli::threads(app, a.threads);
  device::option(app, a.device);
  app.add_option("--model", a.model, "the model family (scripts/demo.sh passes it)")
      ->check(CLI::IsMember({"ddpm", "diffusion"}))->capture_default_str();
  app.add_flag("--sync-bn", a.sync_bn,
               "under mpirun: the UNet's BatchNorm (in its residual blocks) normalizes by the whole batch's "
               "statistics, as one process does, not by each process's share");

  auto* sample = app.add_flag("--sample", a.sample, "sample from --checkpoint instead of training")
                     ->group("Sampling (--sample)");
  auto* checkpoint = app.add_option("--checkpoint", a.checkpoint, "the checkpoint to sample from")
                         ->check(CLI::ExistingFile)->group("Sampling (--sample)");
  app.add_option("--sampler", a.sampler, "which samplers to run")
      ->check(CLI::IsMember({"ddpm", "ddim", "both"}))->capture_default_str()->group("Sampling (--sample)");
  app.add_option("--steps", a.steps, "DDIM steps")
      ->check(cli::integer(1, 500, "T = 500"))->capture_default_str()->group("Sampling (--sample)");
  app.add_option("--guidance", a.guidance, "classifier-free guidance weight w (0: none)")
      ->check(cli::number(true))->capture_default_str()->group("Sampling (--sample)");
  app.add_option("--per-class", a.per_class, "samples of each class (a row each)")
      ->check(cli::integer(1, 1000))->capture_default_str()->group("Sampling (--sample)");
  sample->needs(checkpoint);
  checkpoint->needs(sample);

  auto* timing = app.add_flag("--time", a.time, "time a training step and a sampling step on random data")
                     ->group("Timing (--time)");
  app.add_option("--reps", a.reps, "timed repetitions (median and min are printed)")
      ->check(cli::integer(1, 100000))->capture_default_str()->group("Timing (--time)");
  timing->excludes(sample)->excludes(resume);
  sample->excludes(resume);

  app.footer("examples:\n"
             "  diffusion --data mnist --n-feat 16 --epochs 8 --out runs/ddpm\n"
             "  diffusion --resume --out runs/ddpm --epochs 30\n"
             "  diffusion --sample --checkpoint runs/ddpm/checkpoint.safetensors --sampler ddim --steps 25\n"
             "  diffusion --time --n-feat 64 --batch 100 --threads 2");
  cli::parse_or_exit(app, argc, argv);
  device::check(app, a.device, ranks::size());
  if (a.resume && !fs::is_regular_file(a.out + "/checkpoint.safetensors"))
    cli::fail(app, "--resume: no checkpoint " + a.out + "/checkpoint.safetensors");
  return a;
}

constexpr std::size_t kClasses = 10, kHeight = 28;
constexpr std::size_t kSampleChunk = 200;  // images per network call when sampling
const io::GridOptions kGrid{.nrow = 8, .padding = 2, .normalize = true, .value_range = std::pair{-1.f, 1.f}};

// Samples `per_class` images of every class (a row each; c = 0 rows if unconditional)
// with one sampler, and a strip of frames for the first sample of each class.
// `frames_too` is set when sampling is what the program does (--sample): then its
// bar is a Progress; during training, a QuickBar (the epoch's grid, seconds).
template <class Eps>
void sample_grids_with(Eps& eps, const NoiseSchedule& s, const std::string& sampler, int steps, std::size_t k,
                       const std::vector<int>& labels, bool conditional, std::uint64_t seed,
                       const std::string& prefix, bool frames_too);

template <class M>
void sample_grids(M& m, const NoiseSchedule& s, const std::string& sampler, int steps, double w,
                  int per_class, bool conditional, std::uint64_t seed, const std::string& prefix,
                  bool frames_too) {
  const std::size_t k = static_cast<std::size_t>(per_class), n = kClasses * k;
  std::vector<int> labels(n);
  for (std::size_t i = 0; i < n; ++i) labels[i] = conditional ? static_cast<int>(i / k) : -1;
  if constexpr (requires { m.host(); }) {
    // A device model samples as itself in eval mode, kSampleChunk images per call.
    const bool was_training = m.training();
    m.eval();
    UnetDenoiser<M> eps{&m, &s, one_hot(labels, kClasses), conditional ? w : 0.0, kSampleChunk};
    sample_grids_with(eps, s, sampler, steps, k, labels, conditional, seed, prefix, frames_too);
    m.train(was_training);
  } else {
    // An inference model sharing m's weights: no gradients, a planned arena, and at most
    // kSampleChunk images per network call, so memory stays bounded for any --per-class.
    zoo::inference_model_t<M> inf(m);
    UnetDenoiser<zoo::inference_model_t<M>> eps{&inf, &s, one_hot(labels, kClasses),
                                                conditional ? w : 0.0, kSampleChunk};
    sample_grids_with(eps, s, sampler, steps, k, labels, conditional, seed, prefix, frames_too);
  }
}

template <class Eps>
void sample_grids_with(Eps& eps, const NoiseSchedule& s, const std::string& sampler, int steps, std::size_t k,
                       const std::vector<int>& labels, bool conditional, std::uint64_t seed,
                       const std::string& prefix, bool frames_too) {
  const std::size_t n = labels.size();
  Tensor<float> x({n, 1, kHeight, kHeight});
  Rng rng(seed);
  rng.fill_normal(x.data(), x.size());
  Frames frames{.every = frames_too ? (sampler == "ddpm" ? s.T / 10 : 1) : 0};
  const auto t0 = std::chrono::steady_clock::now();
  // A bar step per network call.
  const std::size_t total =
      sampler == "ddpm" ? static_cast<std::size_t>(s.T) : ddim_timesteps(s.T, steps).size() - 1;
  const io::ProgressOptions po{
      .desc = sampler == "ddpm" ? "DDPM sampling" : "DDIM-" + std::to_string(steps) + " sampling"};
  auto run = [&](auto& bar) {
    auto eps_bar = [&](const Tensor<float>& xt, int t, Tensor<float>& e) {
      eps(xt, t, e);
      bar.update();
    };
    const int c = sampler == "ddpm" ? sample_ddpm(s, x, eps_bar, rng, &frames)
                                    : sample_ddim(s, x, steps, eps_bar, &frames);
    bar.close();
    return c;
  };
  int calls = 0;
  if (frames_too) {
    io::Progress bar(total, po);
    calls = run(bar);
  } else {
    loops::QuickBar bar(total, po);
    calls = run(bar);
  }
  const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  io::GridOptions g = kGrid;
  g.nrow = k;
  io::save_image(x, prefix + ".png", g);
  // The samples as IDX bytes (round(127.5·(x + 1))) and the classes asked for, for
  // `classifier --score <prefix>` (conditional accuracy and FID, include/zoo/metrics).
  std::vector<std::uint8_t> bytes(x.size()), asked;
  for (std::size_t i = 0; i < x.size(); ++i)
    bytes[i] = static_cast<std::uint8_t>(std::lround(std::clamp((x[i] + 1.0f) * 127.5f, 0.0f, 255.0f)));
  data::write_idx_images(prefix + "-images-idx3-ubyte", {n, kHeight, kHeight, std::move(bytes)});
  if (conditional) {
    for (int l : labels) asked.push_back(static_cast<std::uint8_t>(l));
    data::write_idx_labels(prefix + "-labels-idx1-ubyte", asked);
  }
  std::printf("  %s: %d network calls for %zu images, %.1f s -> %s.png\n", sampler.c_str(), calls, n, secs,
              prefix.c_str());
  if (!frames_too || frames.x.empty()) return;
  // Frames: a row per class (its first sample), x_T on the left, x_0 on the right.
  const std::size_t F = frames.x.size();
  Tensor<float> strip({kClasses * F, 1, kHeight, kHeight});
  for (std::size_t r = 0; r < kClasses; ++r)
    for (std::size_t f = 0; f < F; ++f)
      std::copy_n(frames.x[f].sample(r * k), kHeight * kHeight, strip.sample(r * F + f));
  g.nrow = F;
  io::save_image(strip, prefix + "_frames.png", g);
  std::printf("  frames at t =");
  for (int t : frames.t) std::printf(" %d", t);
  std::printf(" -> %s_frames.png\n", prefix.c_str());
}

// The stream of the per-sample draws (t, ε, context drops). Rank 0's is the one-process
// stream, continued across epochs and saved in the checkpoint. Rank r > 0 starts its own
// each epoch from (seed, rank, epoch): ranks draw different numbers, and a resumed run
// draws what an uninterrupted one would without a state per rank in the checkpoint.
Rng rank_stream(std::uint64_t seed, int rank, int epoch) {
  return Rng(seed + 12345 + 0x9e3779b97f4a7c15ULL * static_cast<std::uint64_t>(rank) +
             0xbf58476d1ce4e5b9ULL * static_cast<std::uint64_t>(epoch));
}

// The model type of n_feat NF: a zoo::Model, or with Cuda (--device cuda) a zoo::cuda::Model.
template <std::size_t NF, bool Cuda>
using UnetModel = device::model_t<Cuda, ContextUnet<NF, kClasses>, Shape<1, kHeight, kHeight>, Shape<1>,
                                  Shape<kClasses>>;

template <std::size_t NF, bool Cuda>
int train(const Args& a, bool conditional) {
  using M = UnetModel<NF, Cuda>;
  const std::string dir = data::dataset_dir(a.data);
  const data::Dataset ds = data::load_mnist(dir, "train");
  if (ds.rows != kHeight || ds.cols != kHeight)
    throw std::runtime_error(dir + ": images are " + std::to_string(ds.rows) + "x" + std::to_string(ds.cols) +
                             ", the model is built for 28x28");
  if (ranks::root()) fs::create_directories(a.out);
  const std::string ckpt = a.out + "/checkpoint.safetensors";
  M m(a.seed);
  adam_for_t<M> opt(m.parameters(), {.lr = a.lr});
  const auto s = NoiseSchedule::linear();
  DiffusionStep<M> step{&s, a.context_drop, ranks::comm()};
  Rng rng(a.seed + 12345);
  int first_epoch = 1;
  std::int64_t global_step = 0;
  if (a.resume) {
    const TrainState st = load_checkpoint(ckpt, m, opt);
    if (st.rng) rng.set_state(st.rng->data());
    first_epoch = static_cast<int>(st.epoch) + 1;
    global_step = st.step;
    std::printf("resumed %s at epoch %d (step %lld)\n", ckpt.c_str(), first_epoch,
                static_cast<long long>(global_step));
  }
  // After the checkpoint, so the per-rank reseed of the model's own noise is not overwritten.
  if constexpr (!Cuda) distributed::replicate(ranks::world(), m, a.sync_bn);  // a device run is one process
  ranks::world().check_same("--seed", a.seed);
  ranks::world().check_same("--batch", a.batch);
  ranks::world().check_same("the step resumed from", static_cast<std::uint64_t>(global_step));
  data::DataLoader loader(ds, {.batch_size = a.batch, .shuffle = true, .seed = a.seed,
                               .range = data::Range::minus_one_one, .flatten = false,
                               .labels = data::Labels::one_hot, .rank = ranks::rank(), .world = ranks::size()});
  const LinearDecay lr{a.lr, static_cast<std::int64_t>(loader.num_batches()) * a.epochs};
  std::printf("DDPM ContextUnet n_feat %zu on %s: %zu images, batch %zu, lr %g -> 0 over %d epochs, %s, "
              "%d threads, %s, %zu parameters, %.0f MFLOPs/image forward\n",
              NF, dir.c_str(), ds.size(), a.batch, a.lr, a.epochs,
              conditional ? "class-conditional (10% context dropped)" : "unconditional", num_threads(),
              device::where(Cuda).c_str(), M::num_params, ContextUnetModel<1, kHeight, NF, kClasses>::flops * 1e-6);
  if (ranks::size() > 1)
    std::printf("data-parallel on %d processes%s\n", ranks::size(), a.sync_bn ? ", synchronized BatchNorm" : "");
  std::ofstream csv;
  if (ranks::root()) {
    csv.open(a.out + "/loss.csv", a.resume ? std::ios::app : std::ios::trunc);
    if (!a.resume) csv << "epoch,step,loss,lr\n";
  }
  io::Series curve{"train", {}, {}};
  data::Batch b;
  const auto t_start = std::chrono::steady_clock::now();
  auto minutes = [&] {
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - t_start).count() / 60;
  };
  for (int epoch = first_epoch; epoch <= a.epochs; ++epoch) {
    m.train();
    loader.start_epoch(static_cast<std::uint64_t>(epoch));
    if (ranks::rank() > 0) rng = rank_stream(a.seed, ranks::rank(), epoch);
    double sum = 0;
    std::size_t seen = 0, batches = 0;
    const auto t0 = std::chrono::steady_clock::now();
    bool out_of_time = false;
    io::Progress bar(loader.num_batches(),
                     {.epoch = epoch, .epochs = a.epochs, .desc = "ddpm", .out = ranks::bars()});
    while (!out_of_time && loader.next(b)) {
      opt.lr = lr(global_step);
      // The global batch's loss, on every rank: a divergence stops all of them at once.
      const float l = static_cast<float>(
          ranks::mean(step.step(m, opt, b.x, conditional ? &b.y : nullptr, rng), double(b.size())));
      guard::check_loss("diffusion", epoch, global_step + 1, {{"loss", l}}, ckpt);
      sum += static_cast<double>(l) * b.global_size;
      seen += b.global_size;
      ++global_step, ++batches;
      curve.x.push_back(static_cast<double>(global_step));
      curve.y.push_back(l);
      if (ranks::root()) csv << epoch << "," << global_step << "," << l << "," << opt.lr << "\n";
      bar.update(l);
      // --minutes ends a run mid-epoch (a demo of a few minutes may not see a whole epoch).
      out_of_time = a.minutes > 0 && minutes() >= a.minutes;
      // All ranks stop at one step (one going on alone would wait in its next all-reduce).
      if (a.minutes > 0 && ranks::size() > 1) out_of_time = ranks::world().sum(out_of_time ? 1.0 : 0.0) > 0;
    }
    bar.close();
    const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    std::printf("epoch %d/%d  loss %.4f  (%.1f s, %.0f img/s, %.2f s/step)\n", epoch, a.epochs,
                sum / static_cast<double>(seen), secs, static_cast<double>(seen) / secs,
                secs / static_cast<double>(batches));
    csv.flush();
    // The last update may have overflowed after the last loss was checked. Every rank
    // checks (the weights are the same), so all stop alike.
    guard::check_state("diffusion", epoch, global_step, m, opt, ckpt);
    TrainState st{.epoch = epoch, .step = global_step};
    st.rng = std::array<std::uint64_t, 4>{};
    std::copy_n(rng.state(), 4, st.rng->begin());
    st.extra = {{"n_feat", std::to_string(NF)}, {"conditional", conditional ? "1" : "0"}, {"data", dir}};
    if (ranks::root()) save_checkpoint(ckpt, m, opt, st);  // rank 0's stream: see rank_stream
    const bool last = epoch == a.epochs || out_of_time;
    // Rank 0 alone, in eval mode (no collective); the others wait in the next step.
    if (ranks::root() && (epoch % a.sample_every == 0 || last))
      sample_grids(m, s, "ddim", 25, 0.0, 4, conditional, a.seed + 7,
                   a.out + "/samples_epoch" + std::to_string(epoch), false);
    if (last) break;
  }
  if (!ranks::root()) return 0;
  io::save_line_plot(a.out + "/loss.png", {curve},
                     {.title = "DDPM noise-prediction loss (MSE)", .xlabel = "step", .ylabel = "loss"});
  std::printf("wrote %s/{checkpoint.safetensors,loss.csv,loss.png,samples_epoch*.png}\n", a.out.c_str());
  return 0;
}

template <std::size_t NF, bool Cuda>
int sample(const Args& a, bool conditional) {
  using M = UnetModel<NF, Cuda>;
  M m(0);
  adam_for_t<M> opt(m.parameters());
  const TrainState st = load_checkpoint(a.checkpoint, m, opt);
  fs::create_directories(a.out);
  std::printf("%s: n_feat %zu, epoch %lld, %s; guidance %g\n", a.checkpoint.c_str(), NF,
              static_cast<long long>(st.epoch), conditional ? "conditional" : "unconditional", a.guidance);
  const auto s = NoiseSchedule::linear();
  for (const std::string sm : {"ddpm", "ddim"}) {
    if (a.sampler != "both" && a.sampler != sm) continue;
    const std::string name = sm == "ddim" ? "ddim" + std::to_string(a.steps) : sm;
    sample_grids(m, s, sm, a.steps, a.guidance, a.per_class, conditional, a.seed, a.out + "/samples_" + name, true);
  }
  return 0;
}

// Wall time of one training step and one sampling step (a network call in eval
// mode plus the DDPM update) on random data; median and min of --reps runs, after
// a warm-up that sizes every buffer. scripts/pytorch/train_diffusion.py --time is the twin.
template <std::size_t NF, bool Cuda>
int time_steps(const Args& a) {
  using M = UnetModel<NF, Cuda>;
  M m(a.seed);
  adam_for_t<M> opt(m.parameters(), {.lr = a.lr});
  const auto s = NoiseSchedule::linear();
  DiffusionStep<M> step{&s};
  Rng rng(a.seed);
  Tensor<float> x0({a.batch, 1, kHeight, kHeight});
  rng.fill_uniform(x0.data(), x0.size(), -1, 1);
  std::vector<int> labels(a.batch);
  for (auto& l : labels) l = static_cast<int>(rng.below(kClasses));
  const Tensor<float> c = one_hot(labels, kClasses);
  using clock = std::chrono::steady_clock;
  auto stats = [](std::vector<double> v) {
    std::sort(v.begin(), v.end());
    return std::pair{v[v.size() / 2] * 1e3, v.front() * 1e3};
  };
  // CPU time of the process: on a loaded machine a 1-thread step often waits for a core.
  auto cpu = [] { return static_cast<double>(std::clock()) / CLOCKS_PER_SEC; };
  double tr_cpu = 0, sa_cpu = 0;
  // A bar step per step, warm-ups included (drawn between the timed regions).
  io::Progress bar(2 * static_cast<std::size_t>(a.reps) + 2, {.desc = "timing"});
  m.train();
  step.step(m, opt, x0, &c, rng);
  bar.update();
  std::vector<double> tr, sa;
  for (int r = 0; r < a.reps; ++r) {
    const auto t0 = clock::now();
    const double c0 = cpu();
    step.step(m, opt, x0, &c, rng);
    tr_cpu += (cpu() - c0) / a.reps;
    tr.push_back(std::chrono::duration<double>(clock::now() - t0).count());
    bar.update();
  }
  // The sampling step's network: an inference model on the CPU, the model itself in eval
  // mode on the device (each call copies x over and ε̂ back, and so waits for the device).
  auto inf = [&]() -> auto {
    if constexpr (Cuda) return &m;
    else return std::make_unique<zoo::inference_model_t<M>>(m);
  }();
  m.eval();
  UnetDenoiser<std::remove_reference_t<decltype(*inf)>> eps_fn{&*inf, &s, c, 0.0};
  Tensor<float> x = x0, eps, z(x0.shape());
  eps_fn(x, 250, eps);
  bar.update();
  for (int r = 0; r < a.reps; ++r) {
    const auto t0 = clock::now();
    const double c0 = cpu();
    eps_fn(x, 250, eps);
    rng.fill_normal(z.data(), z.size());
    ddpm_step(s, x, eps, 250, &z, x);
    sa_cpu += (cpu() - c0) / a.reps;
    sa.push_back(std::chrono::duration<double>(clock::now() - t0).count());
    bar.update();
  }
  bar.close();
  const auto [tm, tmin] = stats(tr);
  const auto [sm, smin] = stats(sa);
  std::printf("zoo threads %d n_feat %zu batch %zu (%s): train step median %.0f ms (min %.0f, CPU %.0f), "
              "sampling step median %.0f ms (min %.0f, CPU %.0f)\n",
              num_threads(), NF, a.batch, device::where(Cuda).c_str(), tm, tmin, tr_cpu * 1e3, sm, smin,
              sa_cpu * 1e3);
  return 0;
}

}  // namespace example

int main(int argc, char** argv) {
  using namespace example;
  ranks::init(argc, argv);
  const Args a = parse(argc, argv);
  if (a.threads > 0) set_num_threads(a.threads);
  // Pictures and timings are one process's work: the other ranks have none.
  if ((a.sample || a.time) && !ranks::root()) return 0;
  try {
    int nf = a.n_feat;
    bool conditional = !a.unconditional;
    if (a.sample || a.resume) {  // the checkpoint knows the model's size and kind
      const auto f = io::read_safetensors(a.sample ? a.checkpoint : a.out + "/checkpoint.safetensors");
      if (const auto v = f.meta("n_feat")) nf = std::stoi(*v);
      if (const auto v = f.meta("conditional")) conditional = *v == "1";
    }
    auto go = [&]<std::size_t NF>() {
#if ZOO_EXAMPLE_CUDA  // else device::check has refused --device cuda
      if (a.device == "cuda")
        return a.time ? time_steps<NF, true>(a) : a.sample ? sample<NF, true>(a, conditional)
                                                           : train<NF, true>(a, conditional);
#endif
      return a.time ? time_steps<NF, false>(a) : a.sample ? sample<NF, false>(a, conditional)
                                                          : train<NF, false>(a, conditional);
    };
    switch (nf) {
      case 16: return go.template operator()<16>();
      case 32: return go.template operator()<32>();
      case 64: return go.template operator()<64>();
      default:
        throw std::runtime_error("the checkpoint's n_feat is " + std::to_string(nf) +
                                 "; this program is compiled for 16, 32 and 64");
    }
  } catch (const guard::Diverged& e) {
    return ranks::diverged(e);
  } catch (const std::exception& e) {
    return ranks::failed("diffusion", e);
  }
}
