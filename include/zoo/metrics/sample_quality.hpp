// zoo/metrics/sample_quality.hpp — the numbers a generative model is compared by,
// computed the same way for zoo's samples and for samples another program (the
// PyTorch reference) wrote as IDX files.
//
//   FID      classifier-feature FID (fid.hpp) of generated images vs the test set
//   floor    the same between two halves of the test set, and between the first
//            n training images and the test set: what a perfect generator scores
//   cond acc share of conditional samples the classifier puts in the class asked for
//
// Generated images are quantized to bytes first (round(127.5·(x + 1))), exactly
// as IDX files and PNG grids store them, so in-memory and on-disk samples score alike.
// The classifier is models::LeNet, loaded from its safetensors checkpoint, or
// trained on the data set's training split and saved there when the file is missing.
#pragma once
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "../data/idx.hpp"
#include "../data/loader.hpp"
#include "../io/safetensors.hpp"
#include "../models/lenet.hpp"
#include "classifier.hpp"
#include "fid.hpp"

namespace zoo::metrics {

// A data set's images as (N, 1, H, W) floats in [−1, 1] (rows [begin, end)).
inline Tensor<float> images_of(const data::Dataset& ds, std::size_t begin = 0,
                               std::size_t end = static_cast<std::size_t>(-1)) {
  end = std::min(end, ds.size());
  if (begin >= end) throw std::invalid_argument("zoo::metrics::images_of: empty range");
  Tensor<float> x({end - begin, 1, ds.rows, ds.cols});
  const std::size_t hw = ds.image_size();
  for (std::size_t i = 0; i < (end - begin) * hw; ++i)
    x[i] = static_cast<float>(ds.pixels[begin * hw + i] / 127.5 - 1.0);
  return x;
}

// [−1, 1] floats to the bytes an IDX file or PNG holds.
inline std::vector<std::uint8_t> to_bytes(const Tensor<float>& x) {
  std::vector<std::uint8_t> b(x.size());
  for (std::size_t i = 0; i < x.size(); ++i)
    b[i] = static_cast<std::uint8_t>(std::lround(std::clamp((x[i] + 1.0f) * 127.5f, 0.0f, 255.0f)));
  return b;
}
inline Tensor<float> quantize(const Tensor<float>& x) {
  const auto b = to_bytes(x);
  Tensor<float> q(x.shape());
  for (std::size_t i = 0; i < b.size(); ++i) q[i] = static_cast<float>(b[i] / 127.5 - 1.0);
  return q;
}

// Writes samples (N, 1, 28, 28) or (N, 784) as <prefix>-images-idx3-ubyte and,
// when given, the asked-for labels as <prefix>-labels-idx1-ubyte.
inline void write_samples(const std::string& prefix, const Tensor<float>& x,
                          const std::vector<int>* labels = nullptr) {
  const std::size_t n = x.batch();
  if (x.sample_size() != 784) throw std::invalid_argument("zoo::metrics::write_samples: expects 28x28 images");
  data::write_idx_images(prefix + "-images-idx3-ubyte", {n, 28, 28, to_bytes(x)});
  if (labels) {
    std::vector<std::uint8_t> l(labels->begin(), labels->end());
    data::write_idx_labels(prefix + "-labels-idx1-ubyte", l);
  }
}
struct Samples {
  Tensor<float> images;           // (N, 1, 28, 28) in [−1, 1]
  std::optional<std::vector<int>> labels;
};
inline Samples read_samples(const std::string& prefix) {
  const auto im = data::read_idx_images(prefix + "-images-idx3-ubyte");
  if (im.rows != 28 || im.cols != 28 || im.count < 2)
    throw IoError(prefix + "-images-idx3-ubyte", "expects at least 2 images of 28x28");
  Samples s;
  s.images.resize({im.count, 1, 28, 28});
  for (std::size_t i = 0; i < im.pixels.size(); ++i)
    s.images[i] = static_cast<float>(im.pixels[i] / 127.5 - 1.0);
  const std::string lp = prefix + "-labels-idx1-ubyte";
  if (std::filesystem::exists(lp)) {
    const auto l = data::read_idx_labels(lp);
    if (l.size() != im.count)
      throw IoError(lp, "has " + std::to_string(l.size()) + " labels for " + std::to_string(im.count) + " images");
    s.labels = std::vector<int>(l.begin(), l.end());
  }
  return s;
}

// The classifier of `data_dir`: loaded from `path`, or trained and saved there.
inline void load_or_train_classifier(models::LeNetModel& clf, const std::string& path,
                                     const std::string& data_dir, bool verbose = true) {
  if (std::filesystem::exists(path)) {
    load_safetensors(path, clf);
    if (verbose) std::printf("classifier: loaded %s\n", path.c_str());
    return;
  }
  if (verbose) std::printf("classifier: %s not found; training it on %s\n", path.c_str(), data_dir.c_str());
  const auto train = data::load_mnist(data_dir, "train"), test = data::load_mnist(data_dir, "t10k");
  models::train_classifier(clf, train, {.epochs = 5, .verbose = verbose}, &test);
  const auto parent = std::filesystem::path(path).parent_path();
  if (!parent.empty()) std::filesystem::create_directories(parent);
  save_safetensors(path, clf, {{"data", data_dir}});
  if (verbose)
    std::printf("classifier: test accuracy %.4f, saved %s\n", models::evaluate_classifier(clf, test), path.c_str());
}

struct Reference {
  GaussianFit test;        // all test images
  double floor_halves = 0;  // first vs second half of the test set
  double floor_train = 0;   // first N_test training images vs the test set (same N)
};
inline Reference reference_stats(models::LeNetModel& clf, const data::Dataset& train,
                                 const data::Dataset& test) {
  Reference r;
  const auto ft = classify(clf, images_of(test)).features;
  r.test = fit_gaussian(ft);
  const std::size_t h = test.size() / 2, f = ft.sample_size();
  r.floor_halves = frechet_distance(fit_gaussian(ft.data(), h, f), fit_gaussian(ft.data() + h * f, test.size() - h, f));
  r.floor_train = frechet_distance(fit_gaussian(classify(clf, images_of(train, 0, test.size())).features), r.test);
  return r;
}

struct SampleScore {
  double fid = 0;
  std::optional<double> conditional_accuracy;
  std::size_t count = 0;
};
// Scores (already quantized) samples against the test set's fit.
inline SampleScore score_samples(models::LeNetModel& clf, const Tensor<float>& images,
                                 const GaussianFit& test, const std::vector<int>* asked = nullptr) {
  const auto out = classify(clf, images);
  SampleScore s;
  s.count = images.batch();
  s.fid = frechet_distance(fit_gaussian(out.features), test);
  if (asked) s.conditional_accuracy = conditional_accuracy(out.logits, *asked);
  return s;
}

}  // namespace zoo::metrics
