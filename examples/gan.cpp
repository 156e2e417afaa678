// examples/gan.cpp — trains one of the seed GANs on MNIST digits (default),
// Fashion-MNIST or any IDX data set, and writes what a person wants to look at:
// a 4×4 grid of samples every N iterations (a row per class for the conditional
// model), the losses as CSV and a curve, checkpoints of both networks, and a
// final metrics line: classifier-feature FID against the test set (and the
// conditional accuracy for cdc), with the classifier of examples/classifier.cpp.
//
//   gan --variant dc --data mnist --epochs 5 --out runs/dcgan
//   gan --variant cdc --epochs 20 --sample-every 100
//   gan --variant vanilla --iters 3000          # MLP GAN; ls: least-squares MLP GAN
//   gan --variant dc --resume --epochs 10       # continue OUT/{generator,discriminator}.safetensors
//   mpirun -np 4 gan --variant dc --sync-bn     # data-parallel (examples/ranks.hpp); --batch stays global
//   gan --variant dc --device cuda              # on a GPU (a build with -DZOO_CUDA=ON; examples/device.hpp)
//   gan --help                                  # every option; bad values exit 2
//
// A non-finite D or G loss (an --lr far too large) stops the run with exit 3 and one
// line on stderr naming the step, both losses and the last good checkpoint, which
// stays as it was: nothing is written from non-finite weights (examples/guard.hpp).
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <zoo/data/loader.hpp>
#include <zoo/io/png.hpp>
#include <zoo/metrics/sample_quality.hpp>
#include <zoo/models/gan.hpp>
#include <zoo/models/gan_training.hpp>
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
using models::GanObjective;

struct Args {
  std::string variant = "dc", data = "mnist", out, classifier, device = "cpu";
  int epochs = 5, threads = 0;
  long iters = 0;             // stop after this many iterations (0: run the epochs)
  long sample_every = 250;    // iterations between sample grids
  std::size_t batch = 128, samples = 0;  // samples for the metrics (0: the test set's size)
  std::uint64_t seed = 1;
  double minutes = 0;         // stop after this many minutes (0: no limit)
  double lr = 3e-4;           // both Adams (the seed models' value)
  bool lr_given = false, resume = false;
  bool sync_bn = false;       // BatchNorm statistics over the global batch (mpirun)
};

// The variant's name from any of its spellings ("" if none).
std::string canonical_variant(const std::string& v) {
  if (v == "vanilla" || v == "gan" || v == "vanilla_gan") return "vanilla";
  if (v == "ls" || v == "lsgan" || v == "ls_gan") return "ls";
  if (v == "dc" || v == "dcgan") return "dc";
  if (v == "cdc" || v == "cdcgan" || v == "cgan") return "cdc";
  return "";
}

Args parse(int argc, char** argv) {
  Args a;
  CLI::App app{"Trains one of the seed GANs and writes sample grids, the losses (CSV and curve), checkpoints "
               "of both networks, and a metrics line (classifier-feature FID; conditional accuracy for cdc).",
               "gan"};
  cli::setup(app);
  app.add_option("--variant,--model", a.variant,
                 "vanilla (MLP GAN), ls (least-squares MLP GAN), dc (DCGAN) or cdc (conditional DCGAN); "
                 "also as vanilla_gan, ls_gan, dcgan, cdcgan (scripts/demo.sh)")
      ->type_name("vanilla|ls|dc|cdc")
      ->transform(CLI::Validator(
          [](std::string& v) -> std::string {
            const std::string c = canonical_variant(v);
            if (c.empty()) return "must be vanilla, ls, dc or cdc (or vanilla_gan, ls_gan, dcgan, cdcgan), got " + v;
            v = c;
            return {};
          },
          ""))
      ->capture_default_str();
  cli::data(app, a.data);
  cli::epochs(app, a.epochs);
  app.add_option("--iters", a.iters, "stop after this many iterations (default: run the epochs)")
      ->check(cli::integer(1));
  cli::minutes(app, a.minutes);
  cli::batch(app, a.batch, 2, "batch norm needs 2 images")->capture_default_str();
  cli::seed(app, a.seed);
  cli::lr(app, a.lr)->description("the learning rate of both Adams (with --resume: replaces the checkpoint's)");
  cli::out(app, a.out, "runs/gan_VARIANT");
  app.add_flag("--resume", a.resume,
               "continue OUT/{generator,discriminator}.safetensors (weights, both Adams, the iteration and "
               "the noise; the data order goes on at the epoch after the saved one)");
  app.add_option("--sample-every", a.sample_every, "iterations between sample grids")
      ->check(cli::integer(1))->capture_default_str();
  app.add_option("--samples", a.samples, "samples the metrics score (default: the test set's size)")
      ->check(cli::integer(2, 10000000, "FID needs 2"));
  app.add_option("--classifier", a.classifier,
                 "the metrics' classifier; trained and saved there when missing "
                 "(default: runs/classifier/<data>.safetensors)")
      ->type_name("FILE");
  cli::threads(app, a.threads);
  device::option(app, a.device);
  app.add_flag("--sync-bn", a.sync_bn,
               "under mpirun: BatchNorm (dc, cdc) normalizes by the whole batch's statistics, as one process "
               "does, not by each process's share");
  app.footer("examples:\n"
             "  gan --variant dc --data mnist --epochs 5 --out runs/dcgan\n"
             "  gan --variant cdc --epochs 20 --sample-every 100\n"
             "  gan --variant vanilla --iters 3000");
  cli::parse_or_exit(app, argc, argv);
  device::check(app, a.device, ranks::size());
  if (a.out.empty()) a.out = "runs/gan_" + a.variant;
  a.lr_given = app.count("--lr") > 0;
  if (a.resume && !(fs::is_regular_file(a.out + "/generator.safetensors") &&
                    fs::is_regular_file(a.out + "/discriminator.safetensors")))
    cli::fail(app, "--resume: no checkpoint " + a.out + "/{generator,discriminator}.safetensors");
  if (!a.classifier.empty() && fs::is_directory(a.classifier))
    cli::fail(app, "--classifier: " + a.classifier + " is a directory, not a .safetensors file");
  return a;
}

// What differs between the four variants.
struct Vanilla {
  using G = models::MlpGenerator;
  using D = models::MlpDiscriminator;
  using image = Shape<784>;
  static constexpr GanObjective objective = GanObjective::vanilla;
  static constexpr bool conditional = false;
};
struct LeastSquares : Vanilla {
  static constexpr GanObjective objective = GanObjective::least_squares;
};
struct Dc {
  using G = models::DcGenerator;
  using D = models::DcDiscriminator;
  using image = Shape<1, 28, 28>;
  static constexpr GanObjective objective = GanObjective::vanilla;
  static constexpr bool conditional = false;
};
struct Cdc : Dc {
  using G = models::CondDcGenerator;
  using D = models::CondDcDiscriminator;
  static constexpr bool conditional = true;
};

// models::generate with a bar: the bar moves as each batch arrives.
template <class GM>
Tensor<typename GM::scalar> generate_with_bar(GM& g, std::size_t n, Rng& rng, const std::vector<int>* labels) {
  constexpr std::size_t batch = models::kGenerateBatch;
  Tensor<typename GM::scalar> out;
  out.template resize_batch<typename GM::output_shape>(n);
  io::Progress bar((n + batch - 1) / batch, {.desc = "generating samples"});
  models::generate_each(
      g, n, rng,
      [&](std::size_t first, const Tensor<typename GM::scalar>& images) {
        std::copy(images.begin(), images.end(), out.sample(first));
        bar.update();
      },
      labels, batch);
  bar.close();
  return out;
}

// Cuda: G and D are zoo::cuda::Models (--device cuda); the loop is the same.
template <class Kind, bool Cuda>
int run(const Args& a) {
  using Noise = Shape<models::gan_noise_dim>;
  using Label = Shape<models::gan_num_classes>;
  using GM = std::conditional_t<Kind::conditional, device::model_t<Cuda, typename Kind::G, Noise, Label>,
                                device::model_t<Cuda, typename Kind::G, Noise>>;
  using DM = std::conditional_t<Kind::conditional, device::model_t<Cuda, typename Kind::D, typename Kind::image, Label>,
                                device::model_t<Cuda, typename Kind::D, typename Kind::image>>;
  const std::string dir = data::dataset_dir(a.data);
  const data::Dataset train = data::load_mnist(dir, "train"), test = data::load_mnist(dir, "t10k");
  if (ranks::root()) fs::create_directories(a.out);

  GM g(a.seed);
  DM d(a.seed + 1);
  models::GanTrainer tr(g, d, {.objective = Kind::objective, .lr = a.lr, .seed = a.seed + 2});
  const std::string g_file = a.out + "/generator.safetensors", d_file = a.out + "/discriminator.safetensors";
  const std::string ckpt = g_file + "|" + d_file;  // for guard: one checkpoint in two files
  long it = 0;
  int first_epoch = 1;
  if (a.resume) {
    const TrainState sg = load_checkpoint(g_file, g, tr.opt_g);
    const TrainState sd = load_checkpoint(d_file, d, tr.opt_d);
    if (sg.step != sd.step)
      throw std::runtime_error(g_file + " is at iteration " + std::to_string(sg.step) + " but " + d_file +
                               " at " + std::to_string(sd.step) + ": not one checkpoint");
    it = static_cast<long>(sg.step);
    first_epoch = static_cast<int>(sg.epoch) + 1;
    if (sg.rng) tr.rng.set_state(sg.rng->data());
    if (a.lr_given) tr.opt_g.lr = tr.opt_d.lr = a.lr;
    std::printf("resumed %s and %s at iteration %ld (epoch %d on)\n", g_file.c_str(), d_file.c_str(), it,
                first_epoch);
  }
  // After the checkpoint, so the per-rank reseed of the models' own noise is not overwritten.
  // The trainer's noise stream (tr.rng) stays the same on every rank: it draws the global batch.
  if constexpr (!Cuda) {  // a device run is one process (device::check)
    distributed::replicate(ranks::world(), g, a.sync_bn);
    distributed::replicate(ranks::world(), d, a.sync_bn);
  }
  ranks::world().check_same("--seed", a.seed);
  ranks::world().check_same("--batch", a.batch);
  ranks::world().check_same("the iteration resumed from", static_cast<std::uint64_t>(it));
  tr.comm = ranks::comm();
  std::printf("%s GAN on %s: %zu train images, batch %zu, %d epochs%s, %d threads%s, %s\nG:\n%sD:\n%s",
              a.variant.c_str(), dir.c_str(), train.size(), a.batch, a.epochs,
              a.iters ? (" (at most " + std::to_string(a.iters) + " iterations)").c_str() : "", num_threads(),
              ranks::size() > 1 ? (" × " + std::to_string(ranks::size()) + " processes").c_str() : "",
              device::where(Cuda).c_str(), device::summary(g).c_str(), device::summary(d).c_str());

  // As the originals: full batches only, images in [−1, 1].
  data::DataLoader loader(train, {.batch_size = a.batch, .shuffle = true, .drop_last = true, .seed = a.seed,
                                  .range = data::Range::minus_one_one, .flatten = Kind::image::rank == 1,
                                  .labels = data::Labels::one_hot, .rank = ranks::rank(), .world = ranks::size()});
  if (loader.num_batches() == 0) throw std::runtime_error("fewer training images than one batch");
  // Unsynchronized, each process's BatchNorm sees only its share; 1 image per channel cannot train it.
  if (GM::num_buffers + DM::num_buffers > 0 && !a.sync_bn && a.batch / std::size_t(ranks::size()) < 2)
    throw std::runtime_error("--batch " + std::to_string(a.batch) + " leaves a process fewer than 2 images for "
                             "BatchNorm: pass --sync-bn or a larger --batch");
  std::ofstream csv;
  if (ranks::root()) {
    csv.open(a.out + "/loss.csv", a.resume ? std::ios::app : std::ios::trunc);
    if (!a.resume) csv << "iteration,epoch,d_loss,g_loss\n";
  }
  io::Series d_curve{"D", {}, {}}, g_curve{"G", {}, {}};

  // Fixed noise for the grids, so they show one set of samples as training goes on.
  const std::size_t grid_n = Kind::conditional ? 80 : 16;
  std::vector<int> grid_labels(grid_n);
  for (std::size_t i = 0; i < grid_n; ++i) grid_labels[i] = static_cast<int>(i / 8);
  auto save_grid = [&](const std::string& name) {
    Rng r(a.seed + 77);
    auto x = models::generate(g, grid_n, r, Kind::conditional ? &grid_labels : nullptr);
    x.resize({grid_n, 1, 28, 28});
    io::save_image(x, a.out + "/" + name, {.nrow = Kind::conditional ? 8u : 4u, .padding = 2, .normalize = true,
                                           .value_range = std::pair{-1.f, 1.f}});
  };

  const auto t_start = std::chrono::steady_clock::now();
  auto seconds = [&] {
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - t_start).count();
  };
  data::Batch b;
  device::Staged<DM> real, labels;  // the batch where D reads it
  const long it0 = it;
  bool stop = a.iters && it >= a.iters;
  int last_epoch = first_epoch - 1;  // the last epoch begun: the checkpoint's
  double window_d = 0, window_g = 0, ema_d = 0, ema_g = 0;
  // The bar (stderr) shows the losses; the plain lines every 50 iterations (as
  // scripts/pytorch/train_gans.py prints them) go to stdout unless both are one terminal.
  const bool iter_lines = !(::isatty(::fileno(stdout)) == 1 && ::isatty(::fileno(stderr)) == 1);
  for (int epoch = first_epoch; epoch <= a.epochs && !stop; ++epoch) {
    last_epoch = epoch;
    loader.start_epoch(static_cast<std::uint64_t>(epoch));
    std::size_t steps = loader.num_batches();
    if (a.iters) steps = std::min(steps, static_cast<std::size_t>(a.iters - it));
    io::Progress bar(steps, {.epoch = epoch, .epochs = a.epochs, .desc = a.variant + " GAN", .out = ranks::bars()});
    while (loader.next(b)) {
      const auto& x = real(b.x);
      // A named type, not auto: nvcc's front end garbles a braced list of dependent values (below).
      models::GanLosses l = Kind::conditional ? tr.step(x, &labels(b.y)) : tr.step(x);
      // The whole batch's losses: every rank checks, and stops at, the same values.
      l.d = static_cast<float>(ranks::mean(l.d, double(b.size())));
      l.g = static_cast<float>(ranks::mean(l.g, double(b.size())));
      guard::check_loss("gan", epoch, it + 1, {{"D", l.d}, {"G", l.g}}, ckpt);
      ++it;
      if (ranks::root()) csv << it << "," << epoch << "," << l.d << "," << l.g << "\n";
      d_curve.x.push_back(double(it)), d_curve.y.push_back(l.d);
      g_curve.x.push_back(double(it)), g_curve.y.push_back(l.g);
      window_d += l.d, window_g += l.g;
      ema_d = it == it0 + 1 ? l.d : 0.9 * ema_d + 0.1 * l.d;
      ema_g = it == it0 + 1 ? l.g : 0.9 * ema_g + 0.1 * l.g;
      char losses[64];
      std::snprintf(losses, sizeof losses, "D=%.4f, G=%.4f", ema_d, ema_g);
      bar.set_postfix(losses);
      bar.update();
      if (it % 50 == 0) {
        if (iter_lines) {
          std::printf("iter %ld (epoch %d)  D %.4f  G %.4f  (%.3f s/iter)\n", it, epoch, window_d / 50,
                      window_g / 50, seconds() / double(it - it0));
          std::fflush(stdout);
        }
        window_d = window_g = 0;
      }
      if (ranks::root() && it % a.sample_every == 0) save_grid("samples_iter" + std::to_string(it) + ".png");
      bool out_of_time = a.minutes > 0 && seconds() >= 60 * a.minutes;
      // All ranks stop at one iteration (one going on alone would wait in its next all-reduce).
      if (a.minutes > 0 && ranks::size() > 1) out_of_time = ranks::world().sum(out_of_time ? 1.0 : 0.0) > 0;
      if ((a.iters && it >= a.iters) || out_of_time) {
        stop = true;
        break;
      }
    }
    bar.close();
  }
  const int epoch = last_epoch;
  // The last update may have overflowed after the last losses were checked. Every rank
  // checks (the weights are the same), so all stop alike.
  guard::check_state("gan", epoch, it, g, tr.opt_g, ckpt, "the generator's weights");
  guard::check_state("gan", epoch, it, d, tr.opt_d, ckpt, "the discriminator's weights");
  const double train_secs = seconds();
  // The files and the metrics are rank 0's; it calls no collective from here on.
  if (!ranks::root()) return 0;
  save_grid("samples_final.png");
  csv.close();
  io::save_line_plot(a.out + "/loss.png", {d_curve, g_curve},
                     {.title = a.variant + " GAN losses", .xlabel = "iteration", .ylabel = "loss"});
  TrainState st{.epoch = epoch, .step = it};
  st.rng = std::array<std::uint64_t, 4>{};
  std::copy_n(tr.rng.state(), 4, st.rng->begin());
  save_checkpoint(g_file, g, tr.opt_g, st);
  save_checkpoint(d_file, d, tr.opt_d, st);

  // Metrics: n samples (eval mode, quantized to bytes) against the test set.
  const std::size_t n = a.samples ? a.samples : test.size();
  std::vector<int> asked(n);
  for (std::size_t i = 0; i < n; ++i) asked[i] = static_cast<int>(i % models::gan_num_classes);
  Rng r(a.seed + 99);
  auto x = metrics::quantize(generate_with_bar(g, n, r, Kind::conditional ? &asked : nullptr));
  metrics::write_samples(a.out + "/samples", x, Kind::conditional ? &asked : nullptr);
  models::LeNetModel clf(1);
  const std::string clf_path =
      a.classifier.empty() ? "runs/classifier/" + fs::path(a.data).filename().string() + ".safetensors" : a.classifier;
  loops::load_or_train_lenet(clf, clf_path, dir);
  const auto ref = loops::reference_stats(clf, train, test);
  const auto sc = loops::score_samples(clf, x, ref.test, Kind::conditional ? &asked : nullptr);
  std::printf("trained %ld iterations%s in %.1f s (%.3f s/iter); wrote %s/{samples_*.png,loss.csv,loss.png,"
              "generator.safetensors,discriminator.safetensors,samples-*-idx*-ubyte}\n",
              it - it0, it0 ? (" (to iteration " + std::to_string(it) + ")").c_str() : "", train_secs,
              train_secs / double(std::max(1L, it - it0)), a.out.c_str());
  std::printf("metrics: FID %.3f (%zu samples vs %zu test images; floors: test halves %.3f, train vs test %.3f)",
              sc.fid, n, test.size(), ref.floor_halves, ref.floor_train);
  if (sc.conditional_accuracy) std::printf(", conditional accuracy %.4f", *sc.conditional_accuracy);
  std::printf("\n");
  return 0;
}

}  // namespace example

int main(int argc, char** argv) {
  using namespace example;
  ranks::init(argc, argv);
  const Args a = parse(argc, argv);
  if (a.threads > 0) set_num_threads(a.threads);
  try {
#if ZOO_EXAMPLE_CUDA  // else device::check has refused --device cuda
    if (a.device == "cuda") {
      if (a.variant == "vanilla") return run<Vanilla, true>(a);
      if (a.variant == "ls") return run<LeastSquares, true>(a);
      if (a.variant == "dc") return run<Dc, true>(a);
      return run<Cdc, true>(a);
    }
#endif
    if (a.variant == "vanilla") return run<Vanilla, false>(a);
    if (a.variant == "ls") return run<LeastSquares, false>(a);
    if (a.variant == "dc") return run<Dc, false>(a);
    return run<Cdc, false>(a);
  } catch (const guard::Diverged& e) {
    return ranks::diverged(e);
  } catch (const std::exception& e) {
    return ranks::failed("gan", e);
  }
}
