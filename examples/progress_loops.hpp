// examples/progress_loops.hpp — the library loops the examples run that take
// seconds to minutes (training the metrics' classifier, classifying, generating),
// spelled out with a progress bar (zoo/io/progress.hpp) on stderr.
//
// Each computes exactly what its library twin does, in the same order and the
// same batches, so the numbers do not change:
//   train_lenet          models::train_classifier
//   load_or_train_lenet  metrics::load_or_train_classifier
//   test_accuracy        models::evaluate_classifier
//   classify             metrics::classify (500 images a call)
//   reference_stats      metrics::reference_stats
//   score_samples        metrics::score_samples
// (and examples/gan.cpp's generate: models::generate)
//
// Loops run once per program get a Progress: redrawn on a terminal, a plain
// line every 10 s and at the end in a log. Loops run every epoch, whose result
// the epoch's line prints anyway, get a QuickBar: drawn on a terminal only,
// erased when done.
#pragma once
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>
#include <zoo/data/loader.hpp>
#include <zoo/io/progress.hpp>
#include <zoo/io/safetensors.hpp>
#include <zoo/metrics/sample_quality.hpp>
#include <zoo/models/lenet.hpp>

namespace loops {

// A bar for a loop of seconds inside the epoch loop: on a terminal only, and
// erased when done (the epoch's line follows).
class QuickBar {
 public:
  explicit QuickBar(std::size_t total, zoo::io::ProgressOptions o = {}) {
    o.leave = false;
    if (::isatty(::fileno(o.out)) == 1) bar_.emplace(total, std::move(o));
  }
  void update(double loss = NAN, std::size_t steps = 1) {
    if (bar_) bar_->update(loss, steps);
  }
  void close() {
    if (bar_) bar_->close();
  }

 private:
  std::optional<zoo::io::Progress> bar_;
};

constexpr std::size_t kEvalBatch = 500;  // the library's batch for classify and generate
inline std::size_t chunks(std::size_t n) { return (n + kEvalBatch - 1) / kEvalBatch; }

// models::evaluate_classifier with a bar.
template <class M, class Bar = QuickBar>
double test_accuracy(M& m, const zoo::data::Dataset& ds, const std::string& desc = "test accuracy") {
  zoo::data::DataLoader dl(ds, {.batch_size = kEvalBatch, .shuffle = false,
                                .range = zoo::data::Range::minus_one_one, .flatten = false});
  Bar bar(dl.num_batches(), {.desc = desc});
  m.eval();
  zoo::data::Batch b;
  zoo::Staged<M> st;  // a device model's batches and logits cross here
  std::size_t right = 0;
  while (dl.next(b)) {
    const zoo::Tensor<float>& logits = st.back(m.forward(st(b.x)));
    for (std::size_t i = 0; i < b.size(); ++i) {
      const float* l = logits.sample(i);
      const auto k = static_cast<std::size_t>(std::max_element(l, l + 10) - l);
      right += k == static_cast<std::size_t>(b.y[i]);
    }
    bar.update();
  }
  bar.close();
  m.train();
  return ds.size() ? static_cast<double>(right) / static_cast<double>(ds.size()) : 0.0;
}

// models::train_classifier with a bar per epoch.
// `on_step(epoch, step, loss)` runs after every step (step counted from 1 over
// the run), so a caller can stop a diverging run at its first non-finite loss.
struct NoStepHook {
  void operator()(int, long long, double) const {}
};
template <class M, class OnStep = NoStepHook>
double train_lenet(M& m, const zoo::data::Dataset& train, const zoo::models::ClassifierOptions& o = {},
                   const zoo::data::Dataset* test = nullptr, OnStep on_step = {}) {
  using namespace zoo;
  adam_for_t<M> opt(m.parameters(), {.lr = o.lr});
  data::DataLoader dl(train, {.batch_size = o.batch, .shuffle = true, .seed = o.seed,
                              .range = data::Range::minus_one_one, .flatten = false});
  data::Batch b;
  Staged<M> sx, sy;
  typename M::tensor_type dlogits;
  double mean = 0;
  long long step = 0;
  for (int e = 1; e <= o.epochs; ++e) {
    const auto t0 = std::chrono::steady_clock::now();
    m.train();
    dl.start_epoch(static_cast<std::uint64_t>(e));
    io::Progress bar(dl.num_batches(), {.epoch = e, .epochs = o.epochs, .desc = "classifier"});
    double sum = 0;
    std::size_t seen = 0;
    while (dl.next(b)) {
      m.zero_grad();
      const auto& logits = m.forward(sx(b.x));
      const float l = models::classifier_loss<M>(logits, b.y, sy, dlogits);
      m.backward_ptrs({&dlogits, nullptr});
      opt.step();
      sum += static_cast<double>(l) * b.size();
      seen += b.size();
      bar.update(l);
      on_step(e, ++step, static_cast<double>(l));
    }
    bar.close();
    mean = sum / static_cast<double>(seen);
    if (o.verbose) {
      const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
      if (test)
        std::printf("epoch %d/%d  loss %.4f  test accuracy %.4f  (%.1f s)\n", e, o.epochs, mean,
                    test_accuracy(m, *test), s);
      else
        std::printf("epoch %d/%d  loss %.4f  (%.1f s)\n", e, o.epochs, mean, s);
      std::fflush(stdout);
    }
  }
  return mean;
}

// metrics::load_or_train_classifier with bars. (These are templates only so that
// a program that does not call them does not compile them.)
template <class M = zoo::models::LeNetModel>
void load_or_train_lenet(M& clf, const std::string& path, const std::string& data_dir) {
  if (std::filesystem::exists(path)) {
    zoo::load_safetensors(path, clf);
    std::printf("classifier: loaded %s\n", path.c_str());
    return;
  }
  std::printf("classifier: %s not found; training it on %s\n", path.c_str(), data_dir.c_str());
  std::fflush(stdout);
  const auto train = zoo::data::load_mnist(data_dir, "train"), test = zoo::data::load_mnist(data_dir, "t10k");
  train_lenet(clf, train, {.epochs = 5, .verbose = true}, &test);
  const auto parent = std::filesystem::path(path).parent_path();
  if (!parent.empty()) std::filesystem::create_directories(parent);
  zoo::save_safetensors(path, clf, {{"data", data_dir}});
  std::printf("classifier: test accuracy %.4f, saved %s\n", test_accuracy(clf, test), path.c_str());
}

// metrics::classify, a call per 500 images, each a step of `bar`.
template <class M>
zoo::metrics::ClassifierOutputs classify(M& clf, const zoo::Tensor<float>& images, zoo::io::Progress& bar) {
  const std::size_t n = images.batch(), k = images.sample_size();
  if (n == 0 || k != 28 * 28)
    throw std::invalid_argument("loops::classify: expects (N, 1, 28, 28) or (N, 784) images, got " +
                                images.shape_str());
  zoo::metrics::ClassifierOutputs out;
  zoo::Tensor<float> xb;
  for (std::size_t b = 0; b < n; b += kEvalBatch) {
    const std::size_t m = std::min(kEvalBatch, n - b);
    xb.resize({m, 1, 28, 28});
    std::copy_n(images.sample(b), m * k, xb.data());
    auto part = zoo::metrics::classify(clf, xb);
    if (b == 0) {
      out.logits.resize({n, part.logits.sample_size()});
      out.features.resize({n, part.features.sample_size()});
    }
    std::copy(part.logits.begin(), part.logits.end(), out.logits.sample(b));
    std::copy(part.features.begin(), part.features.end(), out.features.sample(b));
    bar.update();
  }
  return out;
}

// metrics::reference_stats with a bar.
template <class M = zoo::models::LeNetModel>
zoo::metrics::Reference reference_stats(M& clf, const zoo::data::Dataset& train, const zoo::data::Dataset& test) {
  using namespace zoo::metrics;
  zoo::io::Progress bar(2 * chunks(test.size()), {.desc = "reference statistics"});
  Reference r;
  const auto ft = loops::classify(clf, images_of(test), bar).features;
  r.test = fit_gaussian(ft);
  const std::size_t h = test.size() / 2, f = ft.sample_size();
  r.floor_halves = frechet_distance(fit_gaussian(ft.data(), h, f), fit_gaussian(ft.data() + h * f, test.size() - h, f));
  r.floor_train =
      frechet_distance(fit_gaussian(loops::classify(clf, images_of(train, 0, test.size()), bar).features), r.test);
  bar.close();
  return r;
}

// metrics::score_samples with a bar.
template <class M = zoo::models::LeNetModel>
zoo::metrics::SampleScore score_samples(M& clf, const zoo::Tensor<float>& images, const zoo::metrics::GaussianFit& test,
                                        const std::vector<int>* asked = nullptr) {
  using namespace zoo::metrics;
  zoo::io::Progress bar(chunks(images.batch()), {.desc = "scoring samples"});
  const auto out = loops::classify(clf, images, bar);
  bar.close();
  SampleScore s;
  s.count = images.batch();
  s.fid = frechet_distance(fit_gaussian(out.features), test);
  if (asked) s.conditional_accuracy = conditional_accuracy(out.logits, *asked);
  return s;
}

}  // namespace loops
