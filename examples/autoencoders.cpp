// examples/autoencoders.cpp — trains one of the four seed autoencoders on MNIST
// digits (default), Fashion-MNIST or any IDX data set, and writes what a person
// wants to look at: reconstructions, prior samples (VAEs), the 3-d codes (MLP
// autoencoder), a loss CSV and curve, and a checkpoint.
//
//   autoencoders --model vae_bce --data mnist --epochs 10 --out runs/vae_bce
//   autoencoders --model mlp_ae --data fashion --epochs 5
//   autoencoders --model conv_ae --data /path/to/idx/dir     # {train,t10k}-{images,labels}-...
//   autoencoders --model vae_bce --resume                    # continue runs/vae_bce/checkpoint.safetensors
//   autoencoders --model vae_mse --load weights.pt --epochs 1  # PyTorch weights (.pt or .safetensors)
//   autoencoders --help                                      # every option; bad values exit 2
//
// A non-finite loss (an --lr far too large) stops the run with exit 3 and one line on
// stderr naming the step, the loss parts and the last good checkpoint, which stays
// as it was: nothing is written from non-finite weights (examples/guard.hpp).
//
//   mpirun -np 2 autoencoders --model vae_bce             # data-parallel: the same run on 2 processes
//   autoencoders --model vae_bce --device cuda            # on a GPU (-DZOO_CUDA=ON; examples/device.hpp)
//
// Under mpirun each process takes its share of every batch (--batch stays the whole
// batch) and the gradients are reduced over processes; rank 0 prints and writes
// (examples/ranks.hpp, docs/distributed.md).
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <zoo/data/loader.hpp>
#include <zoo/io/png.hpp>
#include <zoo/io/progress.hpp>
#include <zoo/io/safetensors.hpp>
#include <zoo/io/torch_pt.hpp>
#include <zoo/models/ae_training.hpp>
#include <zoo/models/autoencoder.hpp>
#include <zoo/models/vae.hpp>
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
using data::Range;

struct Args {
  std::string model = "vae_bce", data = "mnist", out, device = "cpu";
  int epochs = 10, sample_every = 1, threads = 0;
  std::size_t batch = 0;  // 0: the model's own default
  double lr = 1e-3;
  std::uint64_t seed = 1;
  double minutes = 0;  // stop after this many minutes (0: no limit)
  bool resume = false, lr_given = false;
  std::string load;  // initial weights: .safetensors or a torch.save(state_dict) .pt
};

Args parse(int argc, char** argv) {
  Args a;
  CLI::App app{"Trains one of the four seed autoencoders and writes reconstructions, samples (VAEs), "
               "the 3-d codes (mlp_ae), a loss CSV and curve, and a checkpoint.",
               "autoencoders"};
  cli::setup(app);
  app.add_option("--model", a.model, "the autoencoder")
      ->check(CLI::IsMember({"mlp_ae", "conv_ae", "vae_mse", "vae_bce"}))->capture_default_str();
  cli::data(app, a.data);
  cli::epochs(app, a.epochs);
  cli::batch(app, a.batch)->description("images per training step (default: the model's, 128; vae_bce 64)");
  cli::lr(app, a.lr)->description("Adam's learning rate (with --resume: replaces the checkpoint's)");
  cli::seed(app, a.seed);
  cli::out(app, a.out, "runs/MODEL");
  app.add_option("--sample-every", a.sample_every, "epochs between reconstruction/sample pictures")
      ->check(cli::integer(1))->capture_default_str();
  cli::threads(app, a.threads);
  device::option(app, a.device);
  cli::minutes(app, a.minutes);
  app.add_flag("--resume", a.resume, "continue OUT/checkpoint.safetensors (weights, Adam, counters, noise)");
  app.add_option("--load", a.load, "initial weights: .safetensors or a torch.save(state_dict) .pt")
      ->check(CLI::ExistingFile);
  app.footer("examples:\n"
             "  autoencoders --model vae_bce --data mnist --epochs 10 --out runs/vae_bce\n"
             "  autoencoders --model conv_ae --data /path/to/idx/dir\n"
             "  autoencoders --model vae_bce --resume --epochs 20\n"
             "  autoencoders --model vae_mse --load weights.pt --epochs 1");
  cli::parse_or_exit(app, argc, argv);
  device::check(app, a.device, ranks::size());
  a.lr_given = app.count("--lr") > 0;
  if (a.out.empty()) a.out = "runs/" + a.model;
  if (a.resume && !fs::is_regular_file(a.out + "/checkpoint.safetensors"))
    cli::fail(app, "--resume: no checkpoint " + a.out + "/checkpoint.safetensors");
  return a;
}

// What differs between the four models.
struct MlpAe {
  using net = models::MlpAutoencoder;
  using input = Shape<784>;
  static constexpr const char* name = "mlp_ae";
  static constexpr bool vae = false, flat = true;
  static constexpr Range range = Range::minus_one_one;
  static constexpr std::size_t batch = 128;
  static constexpr double weight_decay = 0;
};
struct ConvAe {
  using net = models::ConvAutoencoder;
  using input = Shape<1, 28, 28>;
  static constexpr const char* name = "conv_ae";
  static constexpr bool vae = false, flat = false;
  static constexpr Range range = Range::minus_one_one;
  static constexpr std::size_t batch = 128;
  static constexpr double weight_decay = 1e-5;
};
struct VaeMse {
  using net = models::VaeMse;
  using input = Shape<784>;
  static constexpr const char* name = "vae_mse";
  static constexpr bool vae = true, flat = true;
  static constexpr Range range = Range::minus_one_one;
  static constexpr std::size_t batch = 128;
  static constexpr double weight_decay = 0;
};
struct VaeBce {
  using net = models::VaeBce;
  using input = Shape<784>;
  static constexpr const char* name = "vae_bce";
  static constexpr bool vae = true, flat = true;
  static constexpr Range range = Range::zero_one;
  static constexpr std::size_t batch = 64;
  static constexpr double weight_decay = 0;
};

// Cuda: the model is a zoo::cuda::Model (--device cuda); pictures, codes and weight files
// are made on the CPU from its host mirror.
template <class Kind, bool Cuda>
int run(const Args& a) {
  const std::string dir = data::dataset_dir(a.data);
  const data::Dataset train = data::load_mnist(dir, "train"), test = data::load_mnist(dir, "t10k");
  fs::create_directories(a.out);
  const std::size_t batch = a.batch ? a.batch : Kind::batch;
  std::printf("%s on %s: %zu train / %zu test images, batch %zu, lr %g, %d epochs, %d threads, %s\n",
              Kind::name, dir.c_str(), train.size(), test.size(), batch, a.lr, a.epochs,
              num_threads(), device::where(Cuda).c_str());

  using M = device::model_t<Cuda, typename Kind::net, typename Kind::input>;
  M m(a.seed);
  std::printf("%s", device::summary(m).c_str());
  if (ranks::size() > 1)
    std::printf("data-parallel on %d processes: %zu images of each batch per process\n", ranks::size(),
                batch / static_cast<std::size_t>(ranks::size()));
  adam_for_t<M> opt(m.parameters(), {.lr = a.lr, .weight_decay = Kind::weight_decay});
  using Step = std::conditional_t<Kind::vae, models::VaeStep<M>, models::AutoencoderStep<M>>;
  Step step;
  step.comm = ranks::comm();
  if constexpr (Kind::vae) step.recon = Kind::range == Range::zero_one ? models::Recon::bce : models::Recon::mse;
  else step.reduction = Kind::flat ? Reduction::sum : Reduction::mean;
  auto total = [](const auto& l) {
    if constexpr (requires { l.total; }) return l.total;
    else return l;
  };

  const int rank = ranks::rank(), world = ranks::size();
  data::DataLoader loader(train, {.batch_size = batch, .shuffle = true, .seed = a.seed,
                                  .range = Kind::range, .flatten = Kind::flat, .rank = rank, .world = world});
  // The test loss is summed over every rank's share; pictures and codes read all of it (rank 0).
  data::DataLoader test_loader(test, {.batch_size = 1000, .shuffle = false, .range = Kind::range,
                                      .flatten = Kind::flat, .rank = rank, .world = world});
  data::DataLoader all_test(test, {.batch_size = 1000, .shuffle = false, .range = Kind::range,
                                   .flatten = Kind::flat});
  std::ofstream csv;
  if (ranks::root()) csv.open(a.out + "/loss.csv");
  csv << "epoch,step,train_loss,test_loss\n";
  io::Series train_curve{"train", {}, {}}, test_curve{"test", {}, {}};
  data::Batch b;
  device::Staged<M> staged;  // the batch where the model reads it
  std::int64_t global_step = 0;
  int first_epoch = 1;
  const std::string ckpt = a.out + "/checkpoint.safetensors";
  if (!a.load.empty()) {
    const bool pt = a.load.size() > 3 && a.load.substr(a.load.size() - 3) == ".pt";
    if (pt) load_pt(a.load, device::host_of(m));
    else load_safetensors(a.load, device::host_of(m));
    device::host_changed(m);
    std::printf("loaded weights from %s\n", a.load.c_str());
  }
  if (a.resume) {
    // Model, Adam state, step counters and the noise stream: the run continues
    // exactly as if it had not stopped (the data order is a function of seed and epoch).
    const TrainState st = load_checkpoint(ckpt, m, opt);
    if (st.rng) device::host_of(m).noise_rng().set_state(st.rng->data());
    first_epoch = static_cast<int>(st.epoch) + 1;
    global_step = st.step;
    if (a.lr_given) opt.lr = a.lr;
    csv.close();
    if (ranks::root()) csv.open(a.out + "/loss.csv", std::ios::app);
    std::printf("resumed from %s at epoch %d, step %lld\n", ckpt.c_str(), first_epoch,
                static_cast<long long>(global_step));
  }
  // Every rank holds rank 0's weights (and, resumed, the same Adam state); the ranks must
  // agree on what shapes the run.
  if constexpr (!Cuda) distributed::replicate(ranks::world(), m);  // a device run is one process
  ranks::world().check_same("--seed", a.seed);
  ranks::world().check_same("--batch", batch);
  const auto t_start = std::chrono::steady_clock::now();
  auto minutes = [&] {
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - t_start).count() / 60;
  };

  for (int epoch = first_epoch; epoch <= a.epochs; ++epoch) {
    m.train();
    loader.start_epoch(static_cast<std::uint64_t>(epoch));
    io::Progress bar(loader.num_batches(), {.epoch = epoch, .epochs = a.epochs, .desc = Kind::name,
                                            .out = ranks::bars()});
    double sum = 0;
    std::size_t seen = 0;
    const auto t0 = std::chrono::steady_clock::now();
    while (loader.next(b)) {
      auto parts = [&] {
        try {
          return step.step(m, opt, staged(b.x));
        } catch (const std::invalid_argument&) {
          // bce_loss refuses predictions outside [0, 1]: a NaN there is the run diverging.
          const auto y = device::host_copy(m.output(0));
          const auto bad = std::find_if(y.begin(), y.end(), [](float v) { return !std::isfinite(v); });
          if (bad != y.end())
            guard::stop("autoencoders", "the loss is not finite at " + guard::where(epoch, global_step + 1) +
                                            " (recon: the reconstruction holds " +
                                            (std::isnan(*bad) ? "nan" : "inf") + ")", ckpt);
          throw;
        }
      }();
      // The global batch's loss, on every rank: a divergence stops all of them at once.
      if constexpr (Kind::vae) {
        parts.recon = static_cast<float>(ranks::mean(parts.recon, double(b.size())));
        parts.kl = static_cast<float>(ranks::mean(parts.kl, double(b.size())));
        parts.total = parts.recon + parts.kl;
      } else {
        parts = static_cast<float>(ranks::mean(parts, double(b.size())));
      }
      // Named, non-dependent values: nvcc's front end garbles a braced list of dependent ones.
      if constexpr (Kind::vae) {
        const float recon = parts.recon, kl = parts.kl;
        guard::check_loss("autoencoders", epoch, global_step + 1, {{"recon", recon}, {"kl", kl}}, ckpt);
      } else {
        const float loss = parts;
        guard::check_loss("autoencoders", epoch, global_step + 1, {{"loss", loss}}, ckpt);
      }
      const float l = total(parts);
      sum += static_cast<double>(l) * b.global_size;
      seen += b.global_size;
      ++global_step;
      train_curve.x.push_back(static_cast<double>(global_step));
      train_curve.y.push_back(l);
      csv << epoch << "," << global_step << "," << l << ",\n";
      bar.update(l);
    }
    bar.close();
    // The last update may have overflowed after the last loss was checked.
    guard::check_state("autoencoders", epoch, global_step, m, opt, ckpt);
    const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    // Held-out loss per image, in eval mode (the VAEs still sample ε, as the originals do).
    m.eval();
    test_loader.start_epoch(0);
    double tsum = 0;
    loops::QuickBar test_bar(test_loader.num_batches(), {.desc = "test loss", .out = ranks::bars()});
    while (test_loader.next(b)) {
      tsum += static_cast<double>(total(step.loss(m, staged(b.x), false))) * b.size();
      test_bar.update();
    }
    test_bar.close();
    if (world > 1) tsum = ranks::world().sum(tsum);
    const double test_loss = tsum / static_cast<double>(test.size());
    guard::check_loss("autoencoders", epoch, global_step, {{"test", test_loss}}, ckpt);
    csv << epoch << "," << global_step << ",," << test_loss << "\n";
    test_curve.x.push_back(static_cast<double>(global_step));
    test_curve.y.push_back(test_loss);
    std::printf("epoch %d/%d  train %.4f  test %.4f  (%.1f s, %.0f img/s)\n", epoch, a.epochs,
                sum / static_cast<double>(seen), test_loss, secs, static_cast<double>(seen) / secs);
    std::fflush(stdout);

    bool last = epoch == a.epochs || (a.minutes > 0 && minutes() >= a.minutes);
    // The time budget ends on every rank when it ends on one: all must leave the loop together.
    if (world > 1) last = ranks::world().sum(last ? 1.0 : 0.0) > 0;
    if (ranks::root() && (epoch % a.sample_every == 0 || last)) {
      // Reconstructions: rows of 8 test images over their reconstructions.
      all_test.start_epoch(0);
      all_test.next(b);
      auto& hm = device::on_host(m);
      using HM = std::remove_reference_t<decltype(hm)>;
      hm.forward(b.x);
      Tensor<float> pairs({64, 1, 28, 28});
      for (std::size_t r = 0; r < 4; ++r)
        for (std::size_t c = 0; c < 8; ++c) {
          std::copy_n(b.x.sample(r * 8 + c), 784, pairs.sample(2 * r * 8 + c));
          std::copy_n(hm.output(0).sample(r * 8 + c), 784, pairs.sample((2 * r + 1) * 8 + c));
        }
      const io::GridOptions g{.nrow = 8, .padding = 2, .normalize = true,
                              .value_range = Kind::range == Range::zero_one ? std::pair{0.f, 1.f}
                                                                             : std::pair{-1.f, 1.f}};
      io::save_image(pairs, a.out + "/reconstructions_epoch" + std::to_string(epoch) + ".png", g);
      if constexpr (Kind::vae) {
        // 256 samples of the prior z ~ N(0, I) through the decoder, 16×16.
        Tensor<float> z({256, 20}), x;
        Rng r(a.seed + 1000);
        r.fill_normal(z.data(), z.size());
        // The decoder alone, in an inference model sharing m's weights (no gradients).
        zoo::inference_model_t<HM> dec(hm);
        if constexpr (std::is_same_v<Kind, VaeBce>) {
          dec.template forward_node<"decoder">(z, x);
        } else {
          Tensor<float> h;
          dec.template forward_node<"fc3">(z, h);
          for (auto& v : h) v = v > 0 ? v : 0;
          dec.template forward_node<"fc4">(h, x);
          for (auto& v : x) v = std::tanh(v);
        }
        x.resize({256, 1, 28, 28});
        io::save_image(x, a.out + "/samples_epoch" + std::to_string(epoch) + ".png",
                       {.nrow = 16, .padding = 2, .normalize = true, .value_range = g.value_range});
      }
    }
    // Saved after everything that draws noise this epoch, so --resume continues exactly.
    TrainState st{.epoch = epoch, .step = global_step};
    std::array<std::uint64_t, 4> noise{};
    std::copy_n(device::host_of(m).noise_rng().state(), 4, noise.begin());
    st.rng = noise;
    st.extra = {{"model", Kind::name}, {"data", dir}};
    if (ranks::root()) save_checkpoint(ckpt, m, opt, st);  // atomic: a crash keeps the previous epoch's file
    if (last) break;
  }

  if (!ranks::root()) return 0;
  if constexpr (std::is_same_v<Kind, MlpAe>) {
    // The 3-d codes of the test images, with labels, as CSV and a picture.
    all_test.start_epoch(0);
    Tensor<float> codes({test.size(), 3});
    std::vector<int> labels;
    std::ofstream cc(a.out + "/codes.csv");
    cc << "label,z0,z1,z2\n";
    std::size_t k = 0;
    auto& hm = device::on_host(m);
    while (all_test.next(b)) {
      hm.forward(b.x);
      for (std::size_t i = 0; i < b.size(); ++i, ++k) {
        const float* z = hm.output(1).sample(i);
        std::copy_n(z, 3, codes.sample(k));
        labels.push_back(test.labels[b.index[i]]);
        cc << labels.back() << "," << z[0] << "," << z[1] << "," << z[2] << "\n";
      }
    }
    io::save_scatter_plot(a.out + "/codes.png", codes, labels, {.title = "mlp_ae: 3-d codes of test images"});
    // Decoding a chosen code gives an image.
    Tensor<float> z({1, 3}), x;
    z[0] = 1.79f, z[1] = 3.36f, z[2] = 2.06f;
    zoo::inference_model_t<std::remove_reference_t<decltype(hm)>>(hm).template forward_node<"decoder">(z, x);
    x.resize({1, 1, 28, 28});
    io::save_image(x, a.out + "/decoded_1.79_3.36_2.06.png", {.nrow = 1, .normalize = true, .value_range = std::pair{-1.f, 1.f}});
  }
  io::save_line_plot(a.out + "/loss.png", {train_curve, test_curve},
                     {.title = std::string(Kind::name) + " loss per image", .xlabel = "step", .ylabel = "loss"});
  save_safetensors(a.out + "/" + Kind::name + ".safetensors", device::on_host(m));  // weights only, PyTorch names
  std::printf("wrote %s/{loss.csv,loss.png,reconstructions_epoch*.png,checkpoint.safetensors%s}\n", a.out.c_str(),
              Kind::vae ? ",samples_epoch*.png" : (std::is_same_v<Kind, MlpAe> ? ",codes.csv,codes.png" : ""));
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
      if (a.model == "mlp_ae") return run<MlpAe, true>(a);
      if (a.model == "conv_ae") return run<ConvAe, true>(a);
      if (a.model == "vae_mse") return run<VaeMse, true>(a);
      return run<VaeBce, true>(a);
    }
#endif
    if (a.model == "mlp_ae") return run<MlpAe, false>(a);
    if (a.model == "conv_ae") return run<ConvAe, false>(a);
    if (a.model == "vae_mse") return run<VaeMse, false>(a);
    return run<VaeBce, false>(a);
  } catch (const guard::Diverged& e) {
    return ranks::diverged(e);
  } catch (const std::exception& e) {
    return ranks::failed("autoencoders", e);
  }
}
