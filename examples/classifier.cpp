// examples/classifier.cpp — trains the LeNet-style classifier whose features
// zoo's sample-quality metrics use (include/zoo/metrics), reports its test
// accuracy and the FID floors of the data set, and saves it; or scores a file
// of generated samples with it (FID vs the test set, conditional accuracy).
//
//   classifier --data mnist                      # → runs/classifier/mnist.safetensors
//   classifier --data mnist --score runs/torch_dcgan/samples
//       reads samples-images-idx3-ubyte (+ samples-labels-idx1-ubyte: the classes asked for)
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <zoo/metrics/sample_quality.hpp>
#include <zoo/zoo.hpp>

using namespace zoo;

struct Args {
  std::string data = "mnist", out = "runs/classifier", score;
  int epochs = 5, threads = 0;
  std::size_t batch = 64;
  double lr = 1e-3;
  std::uint64_t seed = 1;
  bool retrain = false;
};

[[noreturn]] void usage(const std::string& why) {
  std::fprintf(stderr,
               "%s\nusage: classifier [--data mnist|fashion|DIR] [--epochs N] [--batch B] [--lr LR]\n"
               "       [--seed S] [--out DIR] [--threads T] [--retrain] [--score PREFIX]\n",
               why.c_str());
  std::exit(2);
}

Args parse(int argc, char** argv) {
  Args a;
  for (int i = 1; i < argc; ++i) {
    const std::string k = argv[i];
    auto val = [&]() -> std::string {
      if (i + 1 >= argc) usage("missing value for " + k);
      return argv[++i];
    };
    try {
      if (k == "--data") a.data = val();
      else if (k == "--out") a.out = val();
      else if (k == "--score") a.score = val();
      else if (k == "--epochs") a.epochs = std::stoi(val());
      else if (k == "--batch") a.batch = std::stoul(val());
      else if (k == "--lr") a.lr = std::stod(val());
      else if (k == "--seed") a.seed = std::stoull(val());
      else if (k == "--threads") a.threads = std::stoi(val());
      else if (k == "--retrain") a.retrain = true;
      else if (k == "--help" || k == "-h") usage("");
      else usage("unknown option " + k);
    } catch (const std::logic_error&) {
      usage("bad value for " + k);
    }
  }
  if (a.epochs < 1 || a.batch < 1) usage("--epochs and --batch must be positive");
  return a;
}

std::string data_name(const std::string& d) { return std::filesystem::path(d).filename().string(); }

int main(int argc, char** argv) {
  const Args a = parse(argc, argv);
  if (a.threads > 0) set_num_threads(a.threads);
  try {
    const std::string dir = data::dataset_dir(a.data);
    const auto train = data::load_mnist(dir, "train"), test = data::load_mnist(dir, "t10k");
    const std::string path = a.out + "/" + data_name(a.data) + ".safetensors";
    models::LeNetModel clf(a.seed);
    if (a.retrain || !std::filesystem::exists(path)) {
      std::printf("LeNet on %s: %zu train / %zu test images, batch %zu, lr %g, %d epochs, %d threads\n%s",
                  dir.c_str(), train.size(), test.size(), a.batch, a.lr, a.epochs, num_threads(),
                  clf.summary().c_str());
      models::train_classifier(clf, train, {.epochs = a.epochs, .batch = a.batch, .lr = a.lr, .seed = a.seed,
                                            .verbose = true}, &test);
      std::filesystem::create_directories(a.out);
      save_safetensors(path, clf, {{"data", dir}, {"epochs", std::to_string(a.epochs)}});
      std::printf("saved %s\n", path.c_str());
    } else {
      load_safetensors(path, clf);
      std::printf("loaded %s\n", path.c_str());
    }
    const double acc = models::evaluate_classifier(clf, test);
    const auto ref = metrics::reference_stats(clf, train, test);
    std::printf("test accuracy %.4f | FID floors: test half vs half %.3f (n=%zu), train[:%zu] vs test %.3f\n",
                acc, ref.floor_halves, test.size() / 2, test.size(), ref.floor_train);
    if (!a.score.empty()) {
      const auto s = metrics::read_samples(a.score);
      const auto sc = metrics::score_samples(clf, s.images, ref.test, s.labels ? &*s.labels : nullptr);
      std::printf("metrics %s: FID %.3f (%zu samples vs %zu test images)", a.score.c_str(), sc.fid, sc.count,
                  test.size());
      if (sc.conditional_accuracy) std::printf(", conditional accuracy %.4f", *sc.conditional_accuracy);
      std::printf("\n");
    }
    return 0;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "classifier: %s\n", e.what());
    return 1;
  }
}
