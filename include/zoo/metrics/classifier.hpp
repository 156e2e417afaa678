// zoo/metrics/classifier.hpp — what a trained classifier says about a set of
// images: its logits and penultimate features (for FID), accuracy, and the
// conditional accuracy of a class-conditional generator.
//
//   conditional accuracy = (1/N) Σ_i [argmax_k logits_ik = asked_i]
//
// The classifier is any model whose outputs are (logits (N, K), features (N, F)),
// such as models::LeNet; images are (N, 1, 28, 28) or (N, 784) in its input range.
#pragma once
#include <algorithm>
#include <span>
#include <stdexcept>
#include <string>
#include <vector>

#include "../core/layer.hpp"
#include "../core/tensor.hpp"
#include "../graph/inference.hpp"

namespace zoo::metrics {

struct ClassifierOutputs {
  Tensor<float> logits;    // (N, K)
  Tensor<float> features;  // (N, F)
};

// Runs the classifier in eval mode, `batch` images at a time.
// A training Model runs as an InferenceModel sharing its weights (no gradients, a planned
// arena of `batch` images).
template <class M>
ClassifierOutputs classify(M& clf, const Tensor<float>& images, std::size_t batch = 500) {
  if constexpr (has_inference_model_v<M>) {
    inference_model_t<M> inf(clf);
    return classify(inf, images, batch);
  }
  using In = type_at_t<0, typename M::input_shapes>;
  if (images.batch() == 0 || images.sample_size() != In::size)
    throw std::invalid_argument("zoo::metrics::classify: images have shape " + images.shape_str() +
                                ", the classifier takes (N, " + In::str().substr(1));
  const std::size_t n = images.batch();
  ClassifierOutputs out;
  out.logits.template resize_batch<typename M::template output_shape_at<0>>(n);
  out.features.template resize_batch<typename M::template output_shape_at<1>>(n);
  const bool was_training = clf.training();
  clf.eval();
  Tensor<float> xb;
  for (std::size_t b = 0; b < n; b += batch) {
    const std::size_t m = std::min(batch, n - b);
    xb.template resize_batch<In>(m);
    std::copy_n(images.sample(b), m * In::size, xb.data());
    clf.forward(xb);
    std::copy(clf.output(0).begin(), clf.output(0).end(), out.logits.sample(b));
    std::copy(clf.output(1).begin(), clf.output(1).end(), out.features.sample(b));
  }
  clf.train(was_training);
  return out;
}

// argmax of each row of (N, K) logits.
inline std::vector<int> predictions(const Tensor<float>& logits) {
  std::vector<int> p(logits.batch());
  const std::size_t k = logits.sample_size();
  for (std::size_t i = 0; i < p.size(); ++i) {
    const float* l = logits.sample(i);
    p[i] = static_cast<int>(std::max_element(l, l + k) - l);
  }
  return p;
}

// Share of rows whose argmax is the given label: test accuracy for true labels,
// conditional accuracy for the labels a conditional generator was asked for.
inline double accuracy(const Tensor<float>& logits, std::span<const int> labels) {
  if (labels.size() != logits.batch() || labels.empty())
    throw std::invalid_argument("zoo::metrics::accuracy: " + std::to_string(labels.size()) +
                                " labels for " + std::to_string(logits.batch()) + " rows of logits");
  const auto p = predictions(logits);
  std::size_t right = 0;
  for (std::size_t i = 0; i < p.size(); ++i) right += p[i] == labels[i];
  return static_cast<double>(right) / static_cast<double>(p.size());
}
inline double conditional_accuracy(const Tensor<float>& logits, std::span<const int> asked) {
  return accuracy(logits, asked);
}
// Per class c: the share of samples asked to be c that the classifier calls c.
inline std::vector<double> per_class_accuracy(const Tensor<float>& logits, std::span<const int> asked,
                                              std::size_t classes) {
  if (asked.size() != logits.batch())
    throw std::invalid_argument("zoo::metrics::per_class_accuracy: label count differs from rows");
  const auto p = predictions(logits);
  std::vector<double> right(classes, 0), count(classes, 0);
  for (std::size_t i = 0; i < p.size(); ++i) {
    if (asked[i] < 0 || static_cast<std::size_t>(asked[i]) >= classes)
      throw std::invalid_argument("zoo::metrics::per_class_accuracy: label " +
                                  std::to_string(asked[i]) + " out of range");
    count[static_cast<std::size_t>(asked[i])] += 1;
    right[static_cast<std::size_t>(asked[i])] += p[i] == asked[i];
  }
  for (std::size_t c = 0; c < classes; ++c) right[c] = count[c] > 0 ? right[c] / count[c] : 0.0;
  return right;
}

}  // namespace zoo::metrics
