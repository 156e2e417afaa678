// zoo/models/gan_training.hpp — one GAN training iteration (D once, then G once),
// shared by examples/gan.cpp, the tests and the benchmarks.
//
// Objectives (D(·) are logits; means over the batch):
//   vanilla        L_D = bce(D(x), 1) + bce(D(G(z)), 0)          L_G = bce(D(G(z)), 1)
//   least squares  L_D = ½ mean((D(x) − 1)²) + ½ mean(D(G(z))²)   L_G = ½ mean((D(G(z)) − 1)²)
// with z ~ U[−1, 1]^96, images in [−1, 1], Adam(lr 3e-4, betas (0.5, 0.999)) for each net.
//
// D step: G runs forward (train mode, so its BatchNorm statistics move, as with
// PyTorch's G(z).detach()); D runs on the real batch and on the fakes — as one batch
// of 2N when D has no BatchNorm (the same gradient sums), else as two — and only D's
// optimizer steps.
// G step: fresh noise; D is frozen (no parameter gradients, its parameters stay
// bit-identical) but computes its input gradient ∂L_G/∂G(z), which is G's
// output gradient — the chain rule through D done by hand, as dlib's DCGAN.
//
// Conditional models (two inputs: z or x, and the one-hot label y (10)): real
// images go to D with their own labels; fakes are drawn for uniformly random labels.
//
// Data-parallel (`comm` set, zoo/distributed.hpp): each rank passes its share of the
// real batch. Every rank draws the noise and labels of the whole global batch from the
// same stream and keeps its own rows, so K processes draw what one process draws; D's
// and G's gradients are reduced over ranks before their optimizers step, and their
// running statistics averaged — D and G stay in step on every rank.
//
// G and D are zoo::Models or zoo::cuda::Models (the trainer is written once over the
// model type). On the device the noise and fake labels are drawn on the host from the
// same stream, in the same order, and copied over: a device run and a CPU run with one
// seed see the same z.
#pragma once
#include <algorithm>
#include <stdexcept>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include "../core/collective.hpp"
#include "../core/rng.hpp"
#include "../core/tensor.hpp"
#include "../graph/inference.hpp"
#include "../losses/losses.hpp"
#include "../optim/optimizers.hpp"
#include "gan.hpp"

namespace zoo::models {

enum class GanObjective { vanilla, least_squares };

struct GanOptions {
  GanObjective objective = GanObjective::vanilla;
  double lr = 3e-4;
  double beta1 = 0.5, beta2 = 0.999;
  std::uint64_t seed = 1;  // noise and fake labels
};

struct GanLosses {
  float d = 0, g = 0;
};

// Noise (n, 96) ~ U[−1, 1].
template <class T>
void sample_noise(Tensor<T>& z, std::size_t n, Rng& rng, std::size_t dim = gan_noise_dim) {
  z.resize({n, dim});
  rng.fill_uniform(z.data(), z.size(), -1.0, 1.0);
}
// One-hot rows (n, classes) of `labels`.
template <class T>
void one_hot(Tensor<T>& y, const std::vector<int>& labels,
                    std::size_t classes = gan_num_classes) {
  y.resize({labels.size(), classes});
  y.fill(T(0));
  for (std::size_t i = 0; i < labels.size(); ++i) {
    if (labels[i] < 0 || static_cast<std::size_t>(labels[i]) >= classes)
      throw std::invalid_argument("zoo::models::one_hot: label " + std::to_string(labels[i]) +
                                  " is outside [0, " + std::to_string(classes) + ")");
    y[i * classes + static_cast<std::size_t>(labels[i])] = T(1);
  }
}

template <class GM, class DM>
class GanTrainer {
 public:
  using T = typename GM::scalar;
  using tensor = typename GM::tensor_type;  // what G and D take: host or device tensors
  static constexpr bool on_host = std::is_same_v<tensor, Tensor<T>>;
  static_assert(std::is_same_v<tensor, typename DM::tensor_type>,
                "zoo::models::GanTrainer: G and D must live on one backend (both zoo::Model or both "
                "zoo::cuda::Model)");
  static constexpr bool conditional = GM::num_inputs == 2;
  static_assert(GM::num_inputs == DM::num_inputs,
                "zoo::models::GanTrainer: G and D must both be conditional (2 inputs) or both not");
  static_assert(std::is_same_v<typename GM::output_shape,
                               type_at_t<0, typename DM::input_shapes>>,
                "zoo::models::GanTrainer: G's output shape must be D's (first) input shape");
  using image_shape = typename GM::output_shape;
  static constexpr std::size_t noise_dim = type_at_t<0, typename GM::input_shapes>::size;

  GanTrainer(GM& g, DM& d, GanOptions o = {})
      : opt(o),
        opt_g(g.parameters(), {.lr = o.lr, .betas = {o.beta1, o.beta2}}),
        opt_d(d.parameters(), {.lr = o.lr, .betas = {o.beta1, o.beta2}}),
        rng(o.seed),
        g_(&g),
        d_(&d) {}

  // One update of D on a real batch (and, for conditional models, its one-hot labels).
  T discriminator_step(const tensor& real, const tensor* y_real = nullptr) {
    const std::size_t n = real.batch();
    check_real(real, y_real);
    require_host_reduction<DM>(comm);
    if (comm) comm->begin_step(n);
    draw(n);
    GM& g = *g_;
    DM& d = *d_;
    g.train();
    d.unfreeze();
    d.requires_input_grad(false);  // nobody reads ∂L_D/∂x: skip that GEMM
    forward_g();
    d.zero_grad();
    T loss = 0;
    if constexpr (DM::num_buffers == 0) {
      // D without batch statistics (no BatchNorm) sees real and fake as one batch of 2n:
      // the same sums as two passes, but half the GEMM calls, each twice as tall.
      joint(real, y_real, n);
      if constexpr (conditional) d.forward(both_, y_both_);
      else d.forward(both_);
      split_rows(d.output(), 0, n, logits_);
      loss += d_loss(logits_, true, dlogits_);
      copy_values(dlogits_, 0, dlogits_.size(), dboth_, 0);
      split_rows(d.output(), n, n, logits_);
      loss += d_loss(logits_, false, dlogits_);
      copy_values(dlogits_, 0, dlogits_.size(), dboth_, dlogits_.size());
      d.backward(dboth_);
    } else {
      // With BatchNorm in D, real and fake keep separate batches, as the originals do.
      if constexpr (conditional) d.forward(real, *y_real);
      else d.forward(real);
      loss += d_loss(d.output(), true, dlogits_);
      d.backward(dlogits_);
      if constexpr (conditional) d.forward(g.output(), y_fake_);
      else d.forward(g.output());
      loss += d_loss(d.output(), false, dlogits_);
      d.backward(dlogits_);
    }
    reduce_model(comm, d);  // null comm: nothing
    opt_d.step();
    return loss;
  }

  // One update of G on a batch of n fresh samples, through a frozen D.
  T generator_step(std::size_t n) {
    require_host_reduction<GM>(comm);
    if (comm) comm->begin_step(n);
    draw(n);
    const T loss = generator_loss(z_, conditional ? &y_fake_ : nullptr);
    reduce_model(comm, *g_);
    // D's forward through the fakes moved its running statistics too (train mode).
    average_buffers(comm, d_->buffer_data(), d_->buffer_size());
    opt_g.step();
    return loss;
  }

  // L_G on given noise (and labels), leaving ∂L_G/∂θ_G in G's gradients and
  // D's parameters and gradients untouched; no optimizer step.
  T generator_loss(const tensor& z, const tensor* y = nullptr) {
    GM& g = *g_;
    DM& d = *d_;
    g.train();
    g.zero_grad();
    if constexpr (conditional) g.forward(z, *y);
    else g.forward(z);
    d.freeze();
    d.requires_input_grad(true);
    if constexpr (conditional) d.forward(g.output(), *y);
    else d.forward(g.output());
    const T loss = opt.objective == GanObjective::vanilla
                       ? bce_with_logits_loss(d.output(), T(1), &dlogits_)
                       : ls_generator_loss(d.output(), &dlogits_);
    d.backward(dlogits_);
    g.backward(d.input_grad(0));  // ∂L_G/∂G(z), (N, image)
    d.unfreeze();
    d.requires_input_grad(false);
    return loss;
  }

  // One training iteration: D once, then G once, on the batch size of `real`.
  GanLosses step(const tensor& real, const tensor* y_real = nullptr) {
    GanLosses l;
    l.d = static_cast<float>(discriminator_step(real, y_real));
    l.g = static_cast<float>(generator_step(real.batch()));
    return l;
  }

  GanOptions opt;
  adam_for_t<GM> opt_g;  // zoo::Adam, or zoo::cuda::Adam for device models
  adam_for_t<DM> opt_d;
  Rng rng;
  Collective* comm = nullptr;  // data-parallel: the process group (null: one process)

 private:
  void check_real(const tensor& real, const tensor* y_real) const {
    if (real.batch() == 0 || real.sample_size() != image_shape::size)
      throw std::invalid_argument("zoo::models::GanTrainer: real batch has shape " +
                                  real.shape_str() + ", G makes (N, " +
                                  image_shape::str().substr(1));
    if constexpr (conditional) {
      if (!y_real || y_real->batch() != real.batch() || y_real->sample_size() != gan_num_classes)
        throw std::invalid_argument(
            "zoo::models::GanTrainer: a conditional GAN needs one-hot labels (N, 10) for the "
            "real batch");
    }
  }
  // z (and fake labels) for n samples; data-parallel, rows [offset, offset + n) of the
  // global batch's draw, in the order one process draws them.
  void draw(std::size_t n) {
    const bool shared = comm && comm->size() > 1;
    const std::size_t all = shared ? comm->global_batch() : n, lo = shared ? comm->offset() : 0;
    // On the host, z_ itself; on the device, drawn on the host and copied over.
    Tensor<T>& hz = [&]() -> Tensor<T>& {
      if constexpr (on_host) return z_;
      else return hz_;
    }();
    sample_noise(shared ? z_all_ : hz, all, rng, noise_dim);
    if (shared) {
      hz.resize({n, noise_dim});
      std::copy(z_all_.begin() + static_cast<std::ptrdiff_t>(lo * noise_dim),
                z_all_.begin() + static_cast<std::ptrdiff_t>((lo + n) * noise_dim), hz.begin());
    }
    if constexpr (!on_host) z_.upload(hz);
    if constexpr (conditional) {
      labels_.resize(all);
      for (auto& c : labels_) c = static_cast<int>(rng.below(gan_num_classes));
      if (shared) {
        labels_.erase(labels_.begin(), labels_.begin() + static_cast<std::ptrdiff_t>(lo));
        labels_.resize(n);
      }
      if constexpr (on_host) {
        one_hot(y_fake_, labels_);
      } else {
        one_hot(hy_, labels_);
        y_fake_.upload(hy_);
      }
    }
  }
  void forward_g() {
    if constexpr (conditional) g_->forward(z_, y_fake_);
    else g_->forward(z_);
  }
  T d_loss(const tensor& logits, bool real, tensor& grad) {
    if (opt.objective == GanObjective::vanilla)
      return bce_with_logits_loss(logits, real ? T(1) : T(0), &grad);
    return least_squares_loss(logits, real ? T(1) : T(0), &grad);
  }

  // both_ = [real; G(z)] (2n rows), and for conditional models their labels.
  void joint(const tensor& real, const tensor* y_real, std::size_t n) {
    using DOut = typename DM::output_shape;
    both_.template resize_batch<image_shape>(2 * n);
    copy_values(real, 0, real.size(), both_, 0);
    copy_values(g_->output(), 0, g_->output().size(), both_, real.size());
    if constexpr (conditional) {
      y_both_.resize({2 * n, gan_num_classes});
      copy_values(*y_real, 0, y_real->size(), y_both_, 0);
      copy_values(y_fake_, 0, y_fake_.size(), y_both_, y_real->size());
    }
    dboth_.template resize_batch<DOut>(2 * n);
  }
  // out ← rows [r0, r0 + n) of t.
  static void split_rows(const tensor& t, std::size_t r0, std::size_t n, tensor& out) {
    const std::size_t w = t.sample_size();
    out.resize({n, w});
    copy_values(t, r0 * w, n * w, out, 0);
  }

  GM* g_;
  DM* d_;
  tensor z_, y_fake_, dlogits_, both_, y_both_, dboth_, logits_;
  Tensor<T> z_all_, hz_, hy_;  // host draws (hz_, hy_: the device's, before the copy)
  std::vector<int> labels_;
};

// generate's default batch: the smallest that runs large Linear layers on the dense kernel
// (cpu::kDenseMinBatch). Measured on the DCGAN generator (10,000 samples, 2 threads): no
// slower than batches of 500 (1.81 against 1.89–1.97 s), with an arena of 4.7 MB, not 37.
inline constexpr std::size_t kGenerateBatch = 64;

// n samples of G in eval mode (BatchNorm running statistics), `batch` at a time, each
// batch handed to sink(first, images) as it is made: images is (m, image) for samples
// [first, first + m), valid during the call. Memory stays that of one batch for any n
// (an FID over 50,000 samples, PNGs written as they come); `labels` (conditional G only)
// gives each sample's class. A training Model runs as an InferenceModel sharing its
// weights (graph/inference.hpp): no gradients, a planned arena of `batch` samples, the
// same outputs. The noise is drawn batch by batch from one stream, so the samples do not
// depend on how the caller consumes them.
template <class GM, class Sink>
void generate_each(GM& g, std::size_t n, Rng& rng, Sink&& sink,
                   const std::vector<int>* labels = nullptr, std::size_t batch = kGenerateBatch) {
  if constexpr (has_inference_model_v<GM>) {
    inference_model_t<GM> inf(g);
    generate_each(inf, n, rng, sink, labels, batch);
  } else {
    constexpr std::size_t noise_dim = type_at_t<0, typename GM::input_shapes>::size;
    if constexpr (GM::num_inputs == 2) {
      if (!labels || labels->size() != n)
        throw std::invalid_argument("zoo::models::generate: a conditional G needs one label per sample");
    }
    if (batch == 0) throw std::invalid_argument("zoo::models::generate: batch must be positive");
    using S = typename GM::scalar;
    // A device G (zoo::cuda::Model): the noise is drawn on the host and copied over, each
    // batch of images copied back for the sink.
    constexpr bool host = std::is_same_v<typename GM::tensor_type, Tensor<S>>;
    Tensor<S> z, y, images;
    typename GM::tensor_type dz, dy;
    const bool was_training = g.training();
    g.eval();
    for (std::size_t b = 0; b < n; b += batch) {
      const std::size_t m = std::min(batch, n - b);
      sample_noise(z, m, rng, noise_dim);
      if constexpr (GM::num_inputs == 2)
        one_hot(y, std::vector<int>(labels->begin() + static_cast<std::ptrdiff_t>(b),
                                    labels->begin() + static_cast<std::ptrdiff_t>(b + m)));
      if constexpr (host) {
        if constexpr (GM::num_inputs == 2) g.forward(z, y);
        else g.forward(z);
        sink(b, std::as_const(g).output());
      } else {
        dz.upload(z);
        if constexpr (GM::num_inputs == 2) {
          dy.upload(y);
          g.forward(dz, dy);
        } else {
          g.forward(dz);
        }
        g.output().download(images);
        sink(b, std::as_const(images));
      }
    }
    g.train(was_training);
  }
}

// The n samples of generate_each in one (n, image) tensor.
template <class GM>
Tensor<typename GM::scalar> generate(GM& g, std::size_t n, Rng& rng, const std::vector<int>* labels = nullptr,
                       std::size_t batch = kGenerateBatch) {
  Tensor<typename GM::scalar> out;
  out.template resize_batch<typename GM::output_shape>(n);
  generate_each(
      g, n, rng,
      [&](std::size_t first, const Tensor<typename GM::scalar>& images) {
        std::copy(images.begin(), images.end(), out.sample(first));
      },
      labels, batch);
  return out;
}

}  // namespace zoo::models
