// zoo/models/diffusion/ddpm.hpp — the diffusion process around a noise-prediction
// network: schedule, noising, DDPM and DDIM samplers, and one training step.
//
// Schedule (the course's, index 0..T):  β_t = β₁ + (β₂ − β₁)·t/T,  α_t = 1 − β_t,
//   ᾱ_t = exp(Σ_{s=0..t} log α_s) (a cumulative product through the sum of logs), ᾱ₀ := 1.
// Noising (DDPM paper, eq. 4):          x_t = √ᾱ_t·x₀ + √(1 − ᾱ_t)·ε,  ε ~ N(0, I)
// Training: t ~ U{1..T}, the network sees (x_t, t/T, c), loss = mean (ε̂ − ε)²; the
//   context c (one-hot) is replaced by zeros for a fraction (10%) of samples.
// DDPM step (t = T..1):   x_{t−1} = (x_t − ε̂·(1 − α_t)/√(1 − ᾱ_t))/√α_t + √β_t·z,  z = 0 at t = 1
// DDIM step (η = 0):      x_prev = √ᾱ_prev/√ᾱ_t·(x_t − √(1 − ᾱ_t)·ε̂) + √(1 − ᾱ_prev)·ε̂
//   over t = T, T − k, …, with k = T/n (integer division) and the last step landing on t = 0,
//   so T not a multiple of k costs one more step, never a negative index.
// Classifier-free guidance:  ε̂ = (1 + w)·ε(x, t, c) − w·ε(x, t, 0);  w = 0 is the course.
#pragma once
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <stdexcept>
#include <string>
#include <type_traits>
#include <vector>

#include "../../core/collective.hpp"
#include "../../core/layer.hpp"
#include "../../core/rng.hpp"
#include "../../core/tensor.hpp"
#include "../../losses/losses.hpp"

namespace zoo::models::diffusion {

// ------------------------------------------------------------------ schedule
struct NoiseSchedule {
  int T = 0;
  std::vector<double> beta, alpha, alpha_bar;  // (T + 1), index 0..T

  static NoiseSchedule linear(int T = 500, double beta1 = 1e-4, double beta2 = 0.02) {
    if (T < 1) throw std::invalid_argument("zoo::diffusion::NoiseSchedule: T must be at least 1");
    if (!(beta1 > 0 && beta2 < 1 && beta1 <= beta2))
      throw std::invalid_argument("zoo::diffusion::NoiseSchedule: need 0 < beta1 <= beta2 < 1");
    NoiseSchedule s;
    s.T = T;
    s.beta.resize(T + 1), s.alpha.resize(T + 1), s.alpha_bar.resize(T + 1);
    double log_sum = 0;
    for (int t = 0; t <= T; ++t) {
      s.beta[t] = (beta2 - beta1) * static_cast<double>(t) / T + beta1;
      s.alpha[t] = 1 - s.beta[t];
      log_sum += std::log(s.alpha[t]);  // a product of 500 factors near 1: summed in logs
      s.alpha_bar[t] = std::exp(log_sum);
    }
    s.alpha_bar[0] = 1;
    return s;
  }
  void check_t(int t, const char* who) const {
    if (t < 0 || t > T)
      throw std::out_of_range(std::string("zoo::diffusion::") + who + ": timestep " +
                              std::to_string(t) + " is outside 0.." + std::to_string(T));
  }
};

namespace detail {
inline void check_same_size(const Tensor<float>& a, const Tensor<float>& b, const char* who,
                            const char* what) {
  if (a.size() != b.size())
    throw std::invalid_argument(std::string("zoo::diffusion::") + who + ": " + what + " has shape " +
                                b.shape_str() + ", x has " + a.shape_str());
}
}  // namespace detail

// x_t = √ᾱ_t·x₀ + √(1 − ᾱ_t)·ε, with a timestep t[i] per sample.
inline void add_noise(const NoiseSchedule& s, const Tensor<float>& x0, const Tensor<float>& eps,
                      const std::vector<int>& t, Tensor<float>& xt) {
  detail::check_same_size(x0, eps, "add_noise", "eps");
  if (t.size() != x0.batch())
    throw std::invalid_argument("zoo::diffusion::add_noise: " + std::to_string(t.size()) +
                                " timesteps for a batch of " + std::to_string(x0.batch()));
  xt.resize(x0.shape());
  const std::size_t m = x0.sample_size();
  for (std::size_t i = 0; i < x0.batch(); ++i) {
    s.check_t(t[i], "add_noise");
    const float a = static_cast<float>(std::sqrt(s.alpha_bar[t[i]]));
    const float b = static_cast<float>(std::sqrt(1 - s.alpha_bar[t[i]]));
    const float* x = x0.sample(i);
    const float* e = eps.sample(i);
    float* y = xt.sample(i);
    for (std::size_t j = 0; j < m; ++j) y[j] = a * x[j] + b * e[j];
  }
}

// One DDPM step from t to t − 1 (in place allowed: out may be x). z == nullptr: no noise.
inline void ddpm_step(const NoiseSchedule& s, const Tensor<float>& x, const Tensor<float>& eps,
                      int t, const Tensor<float>* z, Tensor<float>& out) {
  s.check_t(t, "ddpm_step");
  if (t < 1) throw std::out_of_range("zoo::diffusion::ddpm_step: t must be at least 1");
  detail::check_same_size(x, eps, "ddpm_step", "eps");
  if (z) detail::check_same_size(x, *z, "ddpm_step", "z");
  if (&out != &x) out.resize(x.shape());
  const double c_eps = (1 - s.alpha[t]) / std::sqrt(1 - s.alpha_bar[t]);
  const double inv_sqrt_a = 1 / std::sqrt(s.alpha[t]);
  const double sigma = std::sqrt(s.beta[t]);
  const float ce = static_cast<float>(c_eps), ia = static_cast<float>(inv_sqrt_a),
              sg = static_cast<float>(sigma);
  for (std::size_t j = 0; j < x.size(); ++j)
    out[j] = (x[j] - eps[j] * ce) * ia + (z ? sg * (*z)[j] : 0.0f);
}

// One DDIM (η = 0) step from t to t_prev < t (in place allowed).
inline void ddim_step(const NoiseSchedule& s, const Tensor<float>& x, const Tensor<float>& eps,
                      int t, int t_prev, Tensor<float>& out) {
  s.check_t(t, "ddim_step");
  s.check_t(t_prev, "ddim_step");
  if (t_prev >= t) throw std::out_of_range("zoo::diffusion::ddim_step: t_prev must be below t");
  detail::check_same_size(x, eps, "ddim_step", "eps");
  if (&out != &x) out.resize(x.shape());
  const double ab = s.alpha_bar[t], ab_prev = s.alpha_bar[t_prev];
  const float a = static_cast<float>(std::sqrt(ab_prev) / std::sqrt(ab));
  const float b = static_cast<float>(std::sqrt(1 - ab));
  const float c = static_cast<float>(std::sqrt(1 - ab_prev));
  for (std::size_t j = 0; j < x.size(); ++j) out[j] = a * (x[j] - b * eps[j]) + c * eps[j];
}

// The DDIM timesteps T, T − k, …, 0 with k = max(1, T/n): one network call per pair.
inline std::vector<int> ddim_timesteps(int T, int n) {
  if (n < 1) throw std::invalid_argument("zoo::diffusion::ddim_timesteps: need at least 1 step");
  const int k = std::max(1, T / n);
  std::vector<int> ts;
  for (int t = T; t > 0; t -= k) ts.push_back(t);
  ts.push_back(0);
  return ts;
}

// ------------------------------------------------------------------ samplers
// Intermediate x's of a sampler run: x_T first, then every `every` timesteps, then x₀.
struct Frames {
  int every = 0;  // 0: record nothing
  std::vector<Tensor<float>> x;
  std::vector<int> t;
  void record(const Tensor<float>& v, int at, bool force) {
    if (every <= 0 || !(force || at % every == 0)) return;
    x.push_back(v);
    t.push_back(at);
  }
};

// eps_fn(const Tensor<float>& x, int t, Tensor<float>& eps) predicts the noise of x at t.
// x holds x_T on entry and x₀ on return; the result is the number of eps_fn calls.
template <class EpsFn>
int sample_ddpm(const NoiseSchedule& s, Tensor<float>& x, EpsFn&& eps_fn, Rng& rng,
                Frames* frames = nullptr) {
  Tensor<float> eps, z(x.shape());
  int calls = 0;
  if (frames) frames->record(x, s.T, true);
  for (int t = s.T; t >= 1; --t) {
    eps_fn(x, t, eps);
    ++calls;
    if (t > 1) rng.fill_normal(z.data(), z.size());
    ddpm_step(s, x, eps, t, t > 1 ? &z : nullptr, x);
    if (frames) frames->record(x, t - 1, t == 1);
  }
  return calls;
}

template <class EpsFn>
int sample_ddim(const NoiseSchedule& s, Tensor<float>& x, int n, EpsFn&& eps_fn,
                Frames* frames = nullptr) {
  const std::vector<int> ts = ddim_timesteps(s.T, n);
  Tensor<float> eps;
  int calls = 0;
  if (frames) frames->record(x, s.T, true);
  for (std::size_t k = 0; k + 1 < ts.size(); ++k) {
    eps_fn(x, ts[k], eps);
    ++calls;
    ddim_step(s, x, eps, ts[k], ts[k + 1], x);
    // DDIM frames: every step (there are few), whatever `every` says.
    if (frames && frames->every > 0) frames->record(x, ts[k + 1], true);
  }
  return calls;
}

// ------------------------------------------------------------------ the network as ε̂
// Wraps a ContextUnet model as an eps_fn: t → t/T, context rows (zeros: none), and
// classifier-free guidance with weight w (one forward of a doubled batch when w ≠ 0).
// M is a zoo::Model or, for sampling, a zoo::InferenceModel (graph/inference.hpp: no
// gradients, a planned arena). max_batch > 0 runs the network on at most that many samples
// per call (2·max_batch rows with guidance), so memory stays bounded for any sample count;
// the result is the same, sample for sample, as one call over all of them.
// M may also be a zoo::cuda::Model (in eval mode): each call's rows are copied to the
// device and the prediction back; the sampler's arithmetic stays on the host.
template <class M>
struct UnetDenoiser {
  M* model;
  const NoiseSchedule* schedule;
  Tensor<float> c;  // (N, n_cfeat): one-hot rows, or zeros
  double guidance = 0;
  std::size_t max_batch = 0;  // samples per network call; 0: all at once
  Tensor<float> xx, tt, cc;
  typename M::tensor_type dxx, dtt, dcc;  // a device model's copies (unused on the host)
  Tensor<float> yh;                       // a device model's prediction, copied back

  void operator()(const Tensor<float>& x, int t, Tensor<float>& eps) {
    const std::size_t n = x.batch();
    if (c.batch() != n)
      throw std::invalid_argument("zoo::diffusion::UnetDenoiser: context has " +
                                  std::to_string(c.batch()) + " rows, x has " + std::to_string(n));
    eps.resize(x.shape());
    const std::size_t step = max_batch == 0 ? n : max_batch;
    for (std::size_t b = 0; b < n; b += step) chunk(x, t, b, std::min(step, n - b), eps);
  }

 private:
  // Samples [b, b + n) of x into the same rows of eps.
  void chunk(const Tensor<float>& x, int t, std::size_t b, std::size_t n, Tensor<float>& eps) {
    const float tv = static_cast<float>(t) / static_cast<float>(schedule->T);
    const std::size_t m = x.sample_size(), k = c.sample_size();
    const std::size_t rows = guidance == 0 ? n : 2 * n;
    std::vector<std::size_t> shape(x.shape().begin(), x.shape().end());
    shape[0] = rows;
    xx.resize(shape);
    tt.resize({rows, 1});
    cc.resize({rows, k});
    tt.fill(tv);
    std::copy_n(x.sample(b), n * m, xx.begin());
    std::copy_n(c.sample(b), n * k, cc.begin());
    if (guidance != 0) {
      std::copy_n(x.sample(b), n * m, xx.begin() + n * m);
      std::fill(cc.begin() + n * k, cc.end(), 0.0f);
    }
    const Tensor<float>& y = predict();
    float* e = eps.sample(b);
    if (guidance == 0) {
      std::copy_n(y.begin(), n * m, e);
      return;
    }
    const float w = static_cast<float>(guidance);
    for (std::size_t j = 0; j < n * m; ++j) e[j] = (1 + w) * y[j] - w * y[n * m + j];
  }
  const Tensor<float>& predict() {
    if constexpr (std::is_same_v<typename M::tensor_type, Tensor<float>>) {
      return model->forward(xx, tt, cc);
    } else {
      dxx.upload(xx);
      dtt.upload(tt);
      dcc.upload(cc);
      model->forward(dxx, dtt, dcc).download(yh);
      return yh;
    }
  }
};

// One-hot rows for the given labels (label < 0: a zero row, no context).
inline Tensor<float> one_hot(const std::vector<int>& labels, std::size_t classes) {
  Tensor<float> c({labels.size(), classes});
  c.fill(0.0f);
  for (std::size_t i = 0; i < labels.size(); ++i)
    if (labels[i] >= 0) {
      if (static_cast<std::size_t>(labels[i]) >= classes)
        throw std::invalid_argument("zoo::diffusion::one_hot: label " + std::to_string(labels[i]) +
                                    " is not below " + std::to_string(classes) + " classes");
      c[i * classes + static_cast<std::size_t>(labels[i])] = 1.0f;
    }
  return c;
}

// ------------------------------------------------------------------ training
// One step of noise-prediction training: draws t and ε, noises x₀, predicts ε,
// MSE(mean), backward, optimizer step. The scratch tensors live here, so a
// steady-state step allocates nothing.
// Data-parallel (`comm` set, zoo/distributed.hpp): x₀ is this rank's share of the batch
// and `rng` this rank's own stream (ranks drawing the same t and ε would waste the
// split); the gradients are reduced over ranks (weighted by share) before the optimizer
// steps, and BatchNorm's running statistics averaged. Null: one process, as before.
// M may be a zoo::cuda::Model: x₀ and the draws stay on the host (the same numbers as a
// CPU run's), the network's inputs and the target noise are copied to the device, and
// the forward, loss and backward run there.
template <class M>
struct DiffusionStep {
  using tensor = typename M::tensor_type;
  static constexpr bool on_host = std::is_same_v<tensor, Tensor<float>>;
  const NoiseSchedule* schedule;
  double context_drop = 0.1;  // fraction of samples trained without context
  Collective* comm = nullptr;  // data-parallel: the process group
  std::vector<int> t;
  Tensor<float> noise, xt, tt, c;
  tensor dy;
  tensor d_noise, d_xt, d_tt, d_c;  // a device model's inputs (unused on the host)

  // c_in: (N, n_cfeat) one-hot rows, or nullptr for unconditional training (c = 0).
  float loss(M& m, const Tensor<float>& x0, const Tensor<float>* c_in, Rng& rng, bool with_grad) {
    const std::size_t n = x0.batch();
    const std::size_t k = type_at_t<2, typename M::input_shapes>::size;  // n_cfeat
    t.resize(n);
    for (auto& v : t) v = 1 + static_cast<int>(rng.below(static_cast<std::uint64_t>(schedule->T)));
    noise.resize(x0.shape());
    rng.fill_normal(noise.data(), noise.size());
    add_noise(*schedule, x0, noise, t, xt);
    tt.resize({n, 1});
    for (std::size_t i = 0; i < n; ++i)
      tt[i] = static_cast<float>(t[i]) / static_cast<float>(schedule->T);
    c.resize({n, k});
    c.fill(0.0f);
    if (c_in) {
      if (c_in->size() != n * k)
        throw std::invalid_argument("zoo::diffusion::DiffusionStep: context has shape " +
                                    c_in->shape_str() + ", expected (" + std::to_string(n) + ", " +
                                    std::to_string(k) + ")");
      for (std::size_t i = 0; i < n; ++i)
        if (!(rng.uniform() < context_drop)) std::copy_n(c_in->sample(i), k, c.sample(i));
    }
    if constexpr (on_host) {
      const auto& y = m.forward(xt, tt, c);
      return mse_loss(y, noise, with_grad ? &dy : nullptr, Reduction::mean);
    } else {
      d_xt.upload(xt);
      d_tt.upload(tt);
      d_c.upload(c);
      d_noise.upload(noise);
      const auto& y = m.forward(d_xt, d_tt, d_c);
      return mse_loss(y, d_noise, with_grad ? &dy : nullptr, Reduction::mean);
    }
  }
  template <class Opt>
  float step(M& m, Opt& opt, const Tensor<float>& x0, const Tensor<float>* c_in, Rng& rng) {
    require_host_reduction<M>(comm);
    if (comm) comm->begin_step(x0.batch());
    m.zero_grad();
    const float l = loss(m, x0, c_in, rng, true);
    m.backward(dy);
    reduce_model(comm, m);  // null comm: nothing
    opt.step();
    return l;
  }
};

}  // namespace zoo::models::diffusion
