// zoo/models/lenet.hpp — a LeNet-5-style classifier for 28×28 digits and
// clothes, the feature extractor of zoo's sample-quality metrics (metrics/).
//
//   features   0 Conv2d(1,6,5,p2) ReLU MaxPool(2)     (6, 14, 14)
//              3 Conv2d(6,16,5) ReLU MaxPool(2)       (16, 5, 5)
//              Flatten 7 Linear(400,120) ReLU 9 Linear(120,84) ReLU   (84)  ← FID features
//   classifier Linear(84,10)                          (10) logits
// Outputs: (logits, features). Images in [−1, 1] (the GANs' range).
// train_classifier: cross-entropy, Adam; evaluate_classifier: test accuracy.
#pragma once
#include <chrono>
#include <cstdio>

#include "../data/loader.hpp"
#include "../graph/graph.hpp"
#include "../graph/model.hpp"
#include "../graph/sequential.hpp"
#include "../layers/activations.hpp"
#include "../layers/conv2d.hpp"
#include "../layers/linear.hpp"
#include "../layers/pool.hpp"
#include "../layers/reshape.hpp"
#include "../losses/losses.hpp"
#include "../optim/optimizers.hpp"

namespace zoo::models {

using LeNetFeatures = Sequential<Conv2d<6, 5, 1, 2>, ReLU, MaxPool2d<2>,  // (N, 6, 14, 14)
                                 Conv2d<16, 5>, ReLU, MaxPool2d<2>,       // (N, 16, 5, 5)
                                 Flatten,                                 // (N, 400)
                                 Linear<120>, ReLU,                       // (N, 120)
                                 Linear<84>, ReLU>;                       // (N, 84)
using LeNet = Graph<Node<"features", LeNetFeatures>,    // (N, 84)
                    Node<"classifier", Linear<10>>,     // (N, 10)
                    Outputs<"classifier", "features">>;
using LeNetModel = Model<LeNet, Shape<1, 28, 28>>;

struct ClassifierOptions {
  int epochs = 5;
  std::size_t batch = 64;
  double lr = 1e-3;
  std::uint64_t seed = 1;
  bool verbose = false;  // a line per epoch on stdout
};

// Share of `ds` classified correctly, in eval mode. M: a zoo::Model or a zoo::cuda::Model
// (batches copied over, logits back).
template <class M>
double evaluate_classifier(M& m, const data::Dataset& ds, std::size_t batch = 500) {
  data::DataLoader dl(ds, {.batch_size = batch, .shuffle = false,
                           .range = data::Range::minus_one_one, .flatten = false});
  m.eval();
  data::Batch b;
  Staged<M> st;
  std::size_t right = 0;
  while (dl.next(b)) {
    const Tensor<float>& logits = st.back(m.forward(st(b.x)));
    for (std::size_t i = 0; i < b.size(); ++i) {
      const float* l = logits.sample(i);
      const auto k = static_cast<std::size_t>(std::max_element(l, l + 10) - l);
      right += k == static_cast<std::size_t>(b.y[i]);
    }
  }
  m.train();
  return ds.size() ? static_cast<double>(right) / static_cast<double>(ds.size()) : 0.0;
}

// Cross-entropy of logits against the batch's labels (class indices): the host labels
// themselves for a CPU model, their device copy for a device model.
template <class M>
float classifier_loss(const typename M::tensor_type& logits, const Tensor<float>& labels, Staged<M>& sy,
                      typename M::tensor_type& dlogits) {
  if constexpr (Staged<M>::on_host)
    return cross_entropy_loss(logits, std::span<const float>(labels.data(), labels.size()), &dlogits);
  else
    return cross_entropy_loss(logits, sy(labels), &dlogits);
}

// Trains with cross-entropy and Adam; returns the last epoch's mean training loss.
// M: a zoo::Model, or a zoo::cuda::Model (its Adam and loss on the device, the batch's
// images and labels copied over).
template <class M>
double train_classifier(M& m, const data::Dataset& train, const ClassifierOptions& o = {},
                        const data::Dataset* test = nullptr) {
  AdamOptions adam;  // (not {.lr = …}: g++ -Wextra warns on the omitted members)
  adam.lr = o.lr;
  adam_for_t<M> opt(m.parameters(), adam);
  data::DataLoader dl(train, {.batch_size = o.batch, .shuffle = true, .seed = o.seed,
                              .range = data::Range::minus_one_one, .flatten = false});
  data::Batch b;
  Staged<M> sx, sy;
  typename M::tensor_type dlogits;
  double mean = 0;
  for (int e = 1; e <= o.epochs; ++e) {
    const auto t0 = std::chrono::steady_clock::now();
    m.train();
    dl.start_epoch(static_cast<std::uint64_t>(e));
    double sum = 0;
    std::size_t seen = 0;
    while (dl.next(b)) {
      m.zero_grad();
      const auto& logits = m.forward(sx(b.x));
      const float l = classifier_loss<M>(logits, b.y, sy, dlogits);
      m.backward_ptrs({&dlogits, nullptr});
      opt.step();
      sum += static_cast<double>(l) * b.size();
      seen += b.size();
    }
    mean = sum / static_cast<double>(seen);
    if (o.verbose) {
      const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
      if (test)
        std::printf("epoch %d/%d  loss %.4f  test accuracy %.4f  (%.1f s)\n", e, o.epochs, mean,
                    evaluate_classifier(m, *test), s);
      else
        std::printf("epoch %d/%d  loss %.4f  (%.1f s)\n", e, o.epochs, mean, s);
      std::fflush(stdout);
    }
  }
  return mean;
}

}  // namespace zoo::models
