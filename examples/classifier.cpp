// examples/classifier.cpp — trains the LeNet-style classifier whose features
// zoo's sample-quality metrics use (include/zoo/metrics), reports its test
// accuracy and the FID floors of the data set, and saves it; or scores a file
// of generated samples with it (FID vs the test set, conditional accuracy).
//
//   classifier --data mnist                      # → runs/classifier/mnist.safetensors
//   classifier --data mnist --score runs/torch_dcgan/samples
//       reads samples-images-idx3-ubyte (+ samples-labels-idx1-ubyte: the classes asked for)
//   classifier --help                            # every option; bad values exit 2
//   classifier --data mnist --retrain --device cuda   # trains on a GPU (-DZOO_CUDA=ON; examples/device.hpp)
//
// A classifier whose training diverges (an --lr far too large) stops at its first
// non-finite loss and is not saved: the run exits 3 with one line on stderr naming the
// epoch, the step, the loss and the classifier file, which stays as it was
// (examples/guard.hpp); the weights are checked again before the save.
//
// Under mpirun (examples/ranks.hpp) rank 0 does the whole job and the other ranks stop at
// once: a LeNet trains in a minute on one core, so it is not shared out.
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <zoo/metrics/sample_quality.hpp>
#include <zoo/zoo.hpp>

#include "cli.hpp"
#include "device.hpp"
#include "guard.hpp"
#include "progress_loops.hpp"
#include "ranks.hpp"

namespace fs = std::filesystem;
// In a namespace: see examples/gan.cpp (a global `using namespace zoo;` and nvcc).
namespace example {
using namespace zoo;

struct Args {
  std::string device = "cpu";
  std::string data = "mnist", out = "runs/classifier", score;
  int epochs = 5, threads = 0;
  std::size_t batch = 64;
  double lr = 1e-3;
  std::uint64_t seed = 1;
  bool retrain = false;
};

Args parse(int argc, char** argv) {
  Args a;
  CLI::App app{"Trains (or loads) the LeNet classifier of zoo's sample-quality metrics and reports its test "
               "accuracy and the data set's FID floors; with --score, scores generated samples.",
               "classifier"};
  cli::setup(app);
  cli::data(app, a.data);
  cli::epochs(app, a.epochs);
  cli::batch(app, a.batch)->capture_default_str();
  cli::lr(app, a.lr);
  cli::seed(app, a.seed);
  cli::out(app, a.out, "runs/classifier; the classifier is OUT/<data>.safetensors");
  cli::threads(app, a.threads);
  device::option(app, a.device);
  app.add_flag("--retrain", a.retrain, "train even when OUT/<data>.safetensors exists");
  app.add_option("--score", a.score,
                 "score PREFIX-images-idx3-ubyte (+ PREFIX-labels-idx1-ubyte: the classes asked for): "
                 "FID vs the test set, conditional accuracy")
      ->type_name("PREFIX")
      ->check(CLI::Validator(
          [](std::string& p) -> std::string {
            if (fs::is_regular_file(p + "-images-idx3-ubyte")) return {};
            return "no file " + p + "-images-idx3-ubyte";
          },
          ""));
  app.footer("examples:\n"
             "  classifier --data mnist                                # -> runs/classifier/mnist.safetensors\n"
             "  classifier --data mnist --score runs/torch_dcgan/samples");
  cli::parse_or_exit(app, argc, argv);
  device::check(app, a.device, ranks::size());
  return a;
}

std::string data_name(const std::string& d) { return fs::path(d).filename().string(); }

// Trains m (a zoo::Model, or with --device cuda a zoo::cuda::Model) and saves it to `path`;
// nothing is written from non-finite weights.
template <class M>
void train_and_save(M& m, const Args& a, const data::Dataset& train, const data::Dataset& test,
                    const std::string& dir, const std::string& path, bool cuda) {
  std::printf("LeNet on %s: %zu train / %zu test images, batch %zu, lr %g, %d epochs, %d threads, %s\n%s",
              dir.c_str(), train.size(), test.size(), a.batch, a.lr, a.epochs, num_threads(),
              device::where(cuda).c_str(), device::summary(m).c_str());
  auto check = [&](int epoch, long long step, double loss) {
    guard::check_loss("classifier", epoch, step, {{"cross-entropy", loss}}, path);
  };
  loops::train_lenet(m, train, {.epochs = a.epochs, .batch = a.batch, .lr = a.lr, .seed = a.seed,
                                .verbose = true}, &test, check);
  const long long steps = static_cast<long long>(a.epochs) *
                          static_cast<long long>((train.size() + a.batch - 1) / a.batch);
  guard::check_model("classifier", a.epochs, steps, m, path);
  fs::create_directories(a.out);
  save_safetensors(path, device::on_host(m), {{"data", dir}, {"epochs", std::to_string(a.epochs)}});
  std::printf("saved %s\n", path.c_str());
}

}  // namespace example

int main(int argc, char** argv) {
  using namespace example;
  ranks::init(argc, argv);
  const Args a = parse(argc, argv);
  if (!ranks::root()) return 0;
  if (a.threads > 0) set_num_threads(a.threads);
  try {
    const std::string dir = data::dataset_dir(a.data);
    const auto train = data::load_mnist(dir, "train"), test = data::load_mnist(dir, "t10k");
    const std::string path = a.out + "/" + data_name(a.data) + ".safetensors";
    models::LeNetModel clf(a.seed);
    if (a.retrain || !fs::exists(path)) {
#if ZOO_EXAMPLE_CUDA  // else device::check has refused --device cuda
      if (a.device == "cuda") {
        // Trained on the device; the scores below run on the CPU from the saved file.
        device::model_t<true, models::LeNet, Shape<1, 28, 28>> dev(a.seed, "classifier");
        train_and_save(dev, a, train, test, dir, path, true);
        load_safetensors(path, clf);
      } else
#endif
      {
        train_and_save(clf, a, train, test, dir, path, false);
      }
    } else {
      load_safetensors(path, clf);
      std::printf("loaded %s\n", path.c_str());
    }
    const double acc = loops::test_accuracy<models::LeNetModel, io::Progress>(clf, test);
    const auto ref = loops::reference_stats(clf, train, test);
    std::printf("test accuracy %.4f | FID floors: test half vs half %.3f (n=%zu), train[:%zu] vs test %.3f\n",
                acc, ref.floor_halves, test.size() / 2, test.size(), ref.floor_train);
    if (!a.score.empty()) {
      const auto s = metrics::read_samples(a.score);
      const auto sc = loops::score_samples(clf, s.images, ref.test, s.labels ? &*s.labels : nullptr);
      std::printf("metrics %s: FID %.3f (%zu samples vs %zu test images)", a.score.c_str(), sc.fid, sc.count,
                  test.size());
      if (sc.conditional_accuracy) std::printf(", conditional accuracy %.4f", *sc.conditional_accuracy);
      std::printf("\n");
    }
    return 0;
  } catch (const guard::Diverged& e) {
    return guard::report(e);
  } catch (const std::exception& e) {
    return ranks::failed("classifier", e);
  }
}
