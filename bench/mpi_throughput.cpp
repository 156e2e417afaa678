// bench/mpi_throughput.cpp — training throughput of data-parallel zoo on this machine:
// the same global batch on 1 process or split over K (mpirun -np K), with the time the
// gradient all-reduce takes on its own. Not a Google Benchmark program: every rank must
// run the same number of steps, in lockstep.
//
//   mpirun -np 2 bench/mpi_throughput [MODEL...] [--steps N] [--bucket VALUES]
//   OMP_NUM_THREADS=2 bench/mpi_throughput            # one process, two threads
//
// MODEL: ae vae_bce gan conv_ae dcgan yolo (default: all). For each, one line on rank 0:
//   model procs threads batch  ms/step  images/s  reduce ms/step (its share of the step)
// The step is the benchmarks' train() (bench/models.hpp) with the ranks' process group set:
// forward, loss, backward, the all-reduce, the optimizer step. `reduce` times
// zoo::distributed::reduce alone on the model's buffers, as often as the step calls it.
#include <chrono>
#include <cstdio>
#include <cstring>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include <zoo/distributed.hpp>
#include <zoo/models/gan.hpp>
#include <zoo/models/gan_training.hpp>

#include "models.hpp"
#include "zoo/models/autoencoder.hpp"

namespace dist = zoo::distributed;
using clk = std::chrono::steady_clock;

struct Case {
  std::string name;
  std::size_t batch;
  std::function<void()> step;    // one training step of this rank's share
  std::function<void()> reduce;  // the step's all-reduce(s) alone
};

// This rank's share of a global batch: the loader's split (sizes differ by at most one).
static std::size_t share(std::size_t global, const dist::World& w) {
  const auto r = static_cast<std::size_t>(w.rank()), k = static_cast<std::size_t>(w.size());
  return global * (r + 1) / k - global * r / k;
}

template <class B>
static Case ae_case(const std::string& name, std::size_t batch, dist::World& w) {
  auto b = std::make_shared<B>(share(batch, w));
  dist::replicate(w, b->model);
  b->steps.comm = w.size() > 1 ? &w : nullptr;
  return {name, batch, [b] { b->train(); }, [b, &w] { dist::reduce(w, b->model); }};
}

template <class GM, class DM>
struct GanRun {
  GM g{1};
  DM d{2};
  zoo::models::GanTrainer<GM, DM> trainer{g, d, {.seed = 7}};
  zoo::Tensor<float> real;
};

template <class GM, class DM, class Shape>
static Case gan_case(const std::string& name, std::size_t batch, dist::World& w) {
  auto b = std::make_shared<GanRun<GM, DM>>();
  const std::size_t n = share(batch, w);
  b->real.template resize_batch<Shape>(n);
  zoo::Rng r(7 + static_cast<std::uint64_t>(w.rank()));
  r.fill_uniform(b->real.data(), b->real.size(), -1, 1);
  dist::replicate(w, b->g);
  dist::replicate(w, b->d);
  b->trainer.comm = w.size() > 1 ? &w : nullptr;
  return {name, batch, [b] { b->trainer.step(b->real); },
          [b, &w] {
            dist::reduce(w, b->d);
            dist::reduce(w, b->g);
          }};
}

template <class Net>
struct YoloRun : zoo_bench::YoloTrain<Net> {
  using zoo_bench::YoloTrain<Net>::YoloTrain;
  dist::World* w = nullptr;
  void train_dp() {
    this->model.zero_grad();
    w->begin_step(this->n);
    const auto& out = this->model.forward(this->x);
    this->total = this->loss(out.data(), this->dy.data(), this->n, this->targets).total;
    this->model.backward(this->dy);
    dist::reduce(*w, this->model);
    this->sgd.step();
  }
};

static Case yolo_case(std::size_t batch, dist::World& w) {
  using Net = zoo::yolo::YOLOv5n<10>;
  auto b = std::make_shared<YoloRun<Net>>(share(batch, w));
  dist::replicate(w, b->model);
  b->w = &w;
  return {"yolo", batch, [b] { b->train_dp(); }, [b, &w] { dist::reduce(w, b->model); }};
}

int main(int argc, char** argv) {
  auto& w = dist::init(argc, argv);
  std::vector<std::string> models;
  int steps = 20;
  for (int i = 1; i < argc; ++i) {
    if (!std::strcmp(argv[i], "--steps") && i + 1 < argc) steps = std::atoi(argv[++i]);
    else if (!std::strcmp(argv[i], "--bucket") && i + 1 < argc) w.bucket_values = std::strtoull(argv[++i], nullptr, 10);
    else models.emplace_back(argv[i]);
  }
  if (models.empty()) models = {"ae", "vae_bce", "gan", "conv_ae", "dcgan", "yolo"};
  if (w.is_root())
    std::printf("%-8s %5s %7s %5s %9s %9s %10s\n", "model", "procs", "threads", "batch", "ms/step", "img/s",
                "reduce ms");
  for (const auto& m : models) {
    Case c;
    if (m == "ae") c = ae_case<zoo_bench::AE>("ae", 128, w);
    else if (m == "vae_bce") c = ae_case<zoo_bench::VAE_BCE>("vae_bce", 64, w);
    else if (m == "gan")
      c = gan_case<zoo_bench::GAN::GM, zoo_bench::GAN::DM, zoo::Shape<784>>("gan", 128, w);
    else if (m == "conv_ae") {
      struct ConvAe {
        using M = zoo::Model<zoo::models::ConvAutoencoder, zoo::Shape<1, 28, 28>>;
        M model{1};
        zoo::Adam<float> adam{model.parameters(), {.lr = 1e-3, .weight_decay = 1e-5}};
        zoo::models::AutoencoderStep<M> steps{.reduction = zoo::Reduction::mean};
        zoo::Tensor<float> x;
        explicit ConvAe(std::size_t n) : x({n, 1, 28, 28}) {
          zoo::Rng r(7);
          r.fill_uniform(x.data(), x.size(), -1, 1);
        }
        void train() { steps.step(model, adam, x); }
      };
      c = ae_case<ConvAe>("conv_ae", 128, w);
    } else if (m == "dcgan") {
      using GM = zoo::Model<zoo::models::DcGenerator, zoo::Shape<zoo::models::gan_noise_dim>>;
      using DM = zoo::Model<zoo::models::DcDiscriminator, zoo::Shape<1, 28, 28>>;
      c = gan_case<GM, DM, zoo::Shape<1, 28, 28>>("dcgan", 128, w);
    } else if (m == "yolo") c = yolo_case(16, w);
    else {
      if (w.is_root()) std::fprintf(stderr, "mpi_throughput: unknown model %s\n", m.c_str());
      return 2;
    }
    for (int i = 0; i < 3; ++i) c.step();
    w.barrier();
    auto t0 = clk::now();
    for (int i = 0; i < steps; ++i) c.step();
    w.barrier();
    const double step_ms = std::chrono::duration<double, std::milli>(clk::now() - t0).count() / steps;
    t0 = clk::now();
    for (int i = 0; i < steps; ++i) c.reduce();
    w.barrier();
    const double red_ms = std::chrono::duration<double, std::milli>(clk::now() - t0).count() / steps;
    if (w.is_root())
      std::printf("%-8s %5d %7d %5zu %9.2f %9.0f %10.2f\n", c.name.c_str(), w.size(), zoo::num_threads(), c.batch,
                  step_ms, double(c.batch) / step_ms * 1e3, w.size() > 1 ? red_ms : 0.0);
    std::fflush(stdout);
  }
  return 0;
}
